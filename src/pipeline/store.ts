/**
 * The pipeline's own state in SQLite (`DIR/pipeline.db`): the cursor into the journal, each
 * stage's state, and the dead-letter list. The state writes of an event and the cursor past it
 * are committed in one transaction.
 */
import { chmodSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { BatchState, checkField, type Batch, type CommittedRows, type DeadLetter, type PipelineStore as Store, type StatePage } from './pipeline-store.js'
import type { StageState } from './stage.js'

export { Batch, type DeadLetter, type StatePage } from './pipeline-store.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS stage_state (stage TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (stage, key));
CREATE TABLE IF NOT EXISTS dead_letter (
  id INTEGER NOT NULL, stage TEXT NOT NULL, timer TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL, at TEXT NOT NULL,
  PRIMARY KEY (id, stage, timer)
);
`

/** How many committed state values the store keeps in memory by default (about 200 bytes each for supervision). */
export const DEFAULT_CACHE_ENTRIES = 100_000

export interface PipelineStoreOptions {
  /** Committed state values kept in memory, least recently used dropped first. */
  readonly cacheEntries?: number
}

export class SqlitePipelineStore implements Store, CommittedRows {
  readonly #db: Database.Database
  /**
   * Committed state, cached (stages read it for every event): a bounded LRU (a Map in use order,
   * the oldest first), so that a million supervised accounts do not mean a million strings held.
   * `undefined`: known to be absent.
   */
  readonly #cache = new Map<string, string | undefined>()
  readonly #cacheEntries: number
  readonly #get: Database.Statement<[string, string], { value: string }>
  readonly #prefix: Database.Statement<[string, string, string], { key: string, value: string }>
  readonly #range: Database.Statement<[string, string, string], { key: string, value: string }>
  readonly #put: Database.Statement<[string, string, string]>
  readonly #del: Database.Statement<[string, string]>
  readonly #dead: Database.Statement<[number, string, string, string, number, string]>
  readonly #move: Database.Statement<[string, number]>

  constructor (dataDir: string, opts: PipelineStoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    this.#db = new Database(join(dataDir, 'pipeline.db'))
    chmodSync(join(dataDir, 'pipeline.db'), 0o600)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    // No fsync per commit (only at checkpoints): a power cut may take back the last commits, and
    // the pipeline then runs those events again from the cursor before them, as after any crash
    // (state and cursor still go back together; what the stages journaled is recognised and not
    // journaled twice). An fsync per batch would compete on the disk with the journal's, which
    // every ACK waits for.
    this.#db.pragma('synchronous = NORMAL')
    this.#db.exec(SCHEMA)
    this.#cacheEntries = Math.max(1, opts.cacheEntries ?? DEFAULT_CACHE_ENTRIES)
    this.#get = this.#db.prepare('SELECT value FROM stage_state WHERE stage = ? AND key = ?')
    this.#prefix = this.#db.prepare('SELECT key, value FROM stage_state WHERE stage = ? AND key >= ? AND key < ? ORDER BY key')
    this.#range = this.#db.prepare('SELECT key, value FROM stage_state WHERE stage = ? AND key >= ? AND key <= ? ORDER BY key')
    this.#put = this.#db.prepare('INSERT INTO stage_state (stage, key, value) VALUES (?, ?, ?) ON CONFLICT (stage, key) DO UPDATE SET value = excluded.value')
    this.#del = this.#db.prepare('DELETE FROM stage_state WHERE stage = ? AND key = ?')
    this.#dead = this.#db.prepare('INSERT INTO dead_letter (id, stage, timer, error, attempts, at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id, stage, timer) DO UPDATE SET error = excluded.error, attempts = excluded.attempts, at = excluded.at')
    this.#move = this.#db.prepare('INSERT INTO cursor (name, id) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET id = excluded.id')
  }

  cursor (name = 'main'): number {
    return (this.#db.prepare('SELECT id FROM cursor WHERE name = ?').get(name) as { id: number } | undefined)?.id ?? 0
  }

  /** Committed state values held in memory now (tests, status). */
  get cached (): number {
    return this.#cache.size
  }

  /** The committed JSON of a key, through the LRU cache. */
  committed (stage: string, key: string, ck: string): string | undefined {
    const c = this.#cache
    let v = c.get(ck)
    if (v !== undefined || c.has(ck)) {
      // Most recently used: to the end.
      c.delete(ck)
      c.set(ck, v)
      return v
    }
    v = this.#get.get(stage, key)?.value
    this.#remember(ck, v)
    return v
  }

  #remember (ck: string, v: string | undefined): void {
    const c = this.#cache
    c.delete(ck)
    c.set(ck, v)
    if (c.size > this.#cacheEntries) {
      for (const k of c.keys()) {
        c.delete(k)
        if (c.size <= this.#cacheEntries) break
      }
    }
  }

  /**
   * A stage's state as seen through uncommitted batches (newest first): writes go to the first.
   * A stage attempt gets its own batch, merged into the event's only when the attempt succeeds.
   */
  state (stage: string, batches: readonly Batch[]): StageState {
    return new BatchState(this, stage, batches)
  }

  /** Committed keys and values under a prefix (for list). */
  prefixRows (stage: string, prefix: string): Array<{ key: string, value: string }> {
    return this.#prefix.all(stage, prefix, prefix + '\uffff')
  }

  /** Committed keys and values from `from` to `to`, both included (for range). */
  rangeRows (stage: string, from: string, to: string): Array<{ key: string, value: string }> {
    return this.#range.all(stage, from, to)
  }

  /** Applies a batch and moves the cursor (and the mark of the last emitted event), in one transaction. */
  commit (batch: Batch, cursor: number | undefined, emitted?: number, name = 'main'): void {
    this.#db.transaction(() => {
      for (const w of batch.writes.values()) {
        if (w.value === undefined) this.#del.run(w.stage, w.key)
        else this.#put.run(w.stage, w.key, w.value)
      }
      for (const d of batch.dead) this.#dead.run(d.id, d.stage, d.timer, d.error, d.attempts, d.at)
      if (cursor !== undefined) this.#move.run(name, cursor)
      if (emitted !== undefined) this.#move.run(`${name}:emitted`, emitted)
    })()
    for (const [ck, w] of batch.writes) this.#remember(ck, w.value)
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
  page<T> (stage: string, prefix: string, after: string | undefined, limit: number, where: Readonly<Record<string, string>> = {}, window = 5000): StatePage<T> {
    const conds: string[] = []
    const args: string[] = []
    for (const [field, value] of Object.entries(where)) {
      const { name, not } = checkField(field)
      conds.push(`json_extract(value, '$.${name}') ${not ? '<>' : '='} ?`)
      args.push(value)
    }
    const from = after ?? prefix
    const scan = 'SELECT key, value FROM stage_state WHERE stage = ? AND key > ? AND key < ? ORDER BY key LIMIT ?'
    const rows = this.#db.prepare(`SELECT key, value FROM (${scan}) ${conds.length === 0 ? '' : 'WHERE ' + conds.join(' AND ')} ORDER BY key LIMIT ?`)
      .all(stage, from, prefix + '\uffff', window, ...args, limit) as Array<{ key: string, value: string }>
    const items = rows.map((r): [string, T] => [r.key, JSON.parse(r.value) as T])
    let next: string | undefined
    if (limit > 0 && items.length === limit) next = items.at(-1)![0]
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

/**
 * The SQLite backend under the name it had before the store was an interface: `new
 * PipelineStore(dir)` opens `DIR/pipeline.db`, and `PipelineStore` as a type is the interface
 * (a value and a type of one name, as the constants with their union types elsewhere), so the
 * places that open the store or name its type need no change.
 */
export const PipelineStore = SqlitePipelineStore

export type PipelineStore = Store
