/**
 * The pipeline's own state in SQLite (`DIR/pipeline.db`): the cursor into the journal, each
 * stage's state, and the dead-letter list. The state writes of an event and the cursor past it
 * are committed in one transaction.
 */
import { chmodSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { StageState } from './stage.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stage_state (stage TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (stage, key));
CREATE TABLE IF NOT EXISTS dead_letter (
  id INTEGER NOT NULL, stage TEXT NOT NULL, timer TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY (id, stage, timer)
);
`

export interface DeadLetter {
  /** The journal id of the event (0 for a timer). */
  readonly id: number
  readonly stage: string
  /** The timer's key, when a timer failed ('' for an event). */
  readonly timer: string
  readonly error: string
  readonly attempts: number
  readonly at: string
}

/** Writes made while running one event, applied together when it is done. */
export class Batch {
  readonly writes = new Map<string, { stage: string, key: string, value: string | undefined }>()
  readonly dead: DeadLetter[] = []
}

export class PipelineStore {
  readonly #db: Database.Database
  /** Committed state, cached: stages read it for every event. */
  readonly #cache = new Map<string, string | undefined>()
  readonly #get: Database.Statement<[string, string], { value: string }>
  readonly #prefix: Database.Statement<[string, string, string], { key: string, value: string }>

  constructor (dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    this.#db = new Database(join(dataDir, 'pipeline.db'))
    chmodSync(join(dataDir, 'pipeline.db'), 0o600)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    this.#db.exec(SCHEMA)
    this.#get = this.#db.prepare('SELECT value FROM stage_state WHERE stage = ? AND key = ?')
    this.#prefix = this.#db.prepare('SELECT key, value FROM stage_state WHERE stage = ? AND key >= ? AND key < ? ORDER BY key')
  }

  cursor (name = 'main'): number {
    return (this.#db.prepare('SELECT id FROM cursor WHERE name = ?').get(name) as { id: number } | undefined)?.id ?? 0
  }

  /**
   * A stage's state as seen through uncommitted batches (newest first): writes go to the first.
   * A stage attempt gets its own batch, merged into the event's only when the attempt succeeds.
   */
  state (stage: string, batches: readonly Batch[]): StageState {
    const k = (key: string) => `${stage}\x00${key}`
    const top = batches[0]!
    return {
      get: <T>(key: string): T | undefined => {
        for (const b of batches) {
          const w = b.writes.get(k(key))
          if (w !== undefined) return w.value === undefined ? undefined : JSON.parse(w.value) as T
        }
        const ck = k(key)
        let v = this.#cache.get(ck)
        if (v === undefined && !this.#cache.has(ck)) {
          v = this.#get.get(stage, key)?.value
          this.#cache.set(ck, v)
        }
        return v === undefined ? undefined : JSON.parse(v) as T
      },
      set: (key, value) => { top.writes.set(k(key), { stage, key, value: JSON.stringify(value) }) },
      delete: (key) => { top.writes.set(k(key), { stage, key, value: undefined }) },
      list: <T>(prefix: string): Array<[string, T]> => {
        const merged = new Map<string, string | undefined>()
        for (const row of this.#prefix.all(stage, prefix, prefix + '\uffff')) merged.set(row.key, row.value)
        for (const b of [...batches].reverse()) for (const w of b.writes.values()) if (w.stage === stage && w.key.startsWith(prefix)) merged.set(w.key, w.value)
        return [...merged].filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, v]) => [key, JSON.parse(v!) as T])
      },
    }
  }

  /** Applies a batch and moves the cursor (and the mark of the last emitted event), in one transaction. */
  commit (batch: Batch, cursor: number | undefined, emitted?: number, name = 'main'): void {
    const put = this.#db.prepare('INSERT INTO stage_state (stage, key, value) VALUES (?, ?, ?) ON CONFLICT (stage, key) DO UPDATE SET value = excluded.value')
    const del = this.#db.prepare('DELETE FROM stage_state WHERE stage = ? AND key = ?')
    const dead = this.#db.prepare('INSERT INTO dead_letter (id, stage, timer, error, attempts, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id, stage, timer) DO UPDATE SET error = excluded.error, attempts = excluded.attempts, at = excluded.at')
    const move = this.#db.prepare('INSERT INTO cursor (name, id) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET id = excluded.id')
    this.#db.transaction(() => {
      for (const w of batch.writes.values()) {
        if (w.value === undefined) del.run(w.stage, w.key)
        else put.run(w.stage, w.key, w.value)
      }
      for (const d of batch.dead) dead.run(d.id, d.stage, d.timer, d.error, d.attempts, d.at)
      if (cursor !== undefined) move.run(name, cursor)
      if (emitted !== undefined) move.run(`${name}:emitted`, emitted)
    })()
    for (const [ck, w] of batch.writes) this.#cache.set(ck, w.value)
    if (this.#cache.size > 1_000_000) this.#cache.clear()
  }

  deadLetters (): DeadLetter[] {
    return this.#db.prepare('SELECT id, stage, timer, error, attempts, at FROM dead_letter ORDER BY at, id, stage').all() as DeadLetter[]
  }

  /** A stage's state, read-only, outside any batch (commands, the API). */
  read<T> (stage: string, prefix: string): Array<[string, T]> {
    return this.#prefix.all(stage, prefix, prefix + '\uffff').map((r) => [r.key, JSON.parse(r.value) as T])
  }

  /**
   * One page of a stage's state, read-only, in key order after `after`: up to `limit` entries
   * whose JSON has each of `where`'s fields equal (or, for `!field`, unequal) to the value given,
   * looking at no more than `window` keys. The work of a call is bounded however many entries
   * there are; `next` is the key to go on after (undefined: nothing more).
   */
  page<T> (stage: string, prefix: string, after: string | undefined, limit: number, where: Readonly<Record<string, string>> = {}, window = 5000): { items: Array<[string, T]>, next: string | undefined } {
    const conds: string[] = []
    const args: string[] = []
    for (const [field, value] of Object.entries(where)) {
      const not = field.startsWith('!')
      const name = not ? field.slice(1) : field
      // Field names come from the code, never from a request; checked all the same.
      if (!/^[a-zA-Z]+$/.test(name)) throw new Error(`bad field ${name}`)
      conds.push(`json_extract(value, '$.${name}') ${not ? '<>' : '='} ?`)
      args.push(value)
    }
    const from = after ?? prefix
    const scan = 'SELECT key, value FROM stage_state WHERE stage = ? AND key > ? AND key < ? ORDER BY key LIMIT ?'
    const rows = this.#db.prepare(`SELECT key, value FROM (${scan}) ${conds.length === 0 ? '' : 'WHERE ' + conds.join(' AND ')} ORDER BY key LIMIT ?`)
      .all(stage, from, prefix + '\uffff', window, ...args, limit) as Array<{ key: string, value: string }>
    const items = rows.map((r): [string, T] => [r.key, JSON.parse(r.value) as T])
    let next: string | undefined
    if (items.length === limit) next = items.at(-1)![0]
    else {
      const last = this.#db.prepare('SELECT key FROM stage_state WHERE stage = ? AND key > ? AND key < ? ORDER BY key LIMIT 1 OFFSET ?').get(stage, from, prefix + '\uffff', window - 1) as { key: string } | undefined
      next = last?.key
    }
    return { items, next }
  }

  /** How many events and timers are in the dead-letter list. */
  deadLetterCount (): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM dead_letter').get() as { n: number }).n
  }

  /** One key of a stage's state, read-only, as committed. */
  readOne<T> (stage: string, key: string): T | undefined {
    const v = this.#get.get(stage, key)?.value
    return v === undefined ? undefined : JSON.parse(v) as T
  }

  close (): void {
    this.#db.close()
  }
}
