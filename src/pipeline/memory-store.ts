/**
 * The pipeline's state in memory, for tests: the same contract as SqlitePipelineStore. A commit
 * runs to its end without awaiting, so it is atomic in one process.
 */
import { BatchState, checkField, type Batch, type CommittedRows, type DeadLetter, type PipelineStore, type StatePage } from './pipeline-store.js'
import type { StageState } from './stage.js'

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

/** A field of a value as the SQLite backend compares it: a string as itself, an object or array as its JSON, other values never equal to a string. */
function fieldMatches (value: unknown, name: string, not: boolean, wanted: string): boolean {
  const v = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)[name] : undefined
  if (v === undefined || v === null) return false
  const same = typeof v === 'string' ? v === wanted : typeof v === 'object' ? JSON.stringify(v) === wanted : false
  return not ? !same : same
}

export class MemoryPipelineStore implements PipelineStore, CommittedRows {
  readonly #cursors = new Map<string, number>()
  /** Per stage, its keys and JSON values. */
  readonly #state = new Map<string, Map<string, string>>()
  /** By `id \0 stage \0 timer`. */
  readonly #dead = new Map<string, DeadLetter>()

  cursor (name = 'main'): number {
    return this.#cursors.get(name) ?? 0
  }

  committed (stage: string, key: string): string | undefined {
    return this.#state.get(stage)?.get(key)
  }

  /** A stage's keys in [from, to] (or under `prefix`), in key order. */
  #rows (stage: string, keep: (key: string) => boolean): Array<{ key: string, value: string }> {
    const rows = [...(this.#state.get(stage) ?? new Map<string, string>())].filter(([k]) => keep(k)).sort(([a], [b]) => byKey(a, b))
    return rows.map(([key, value]) => ({ key, value }))
  }

  prefixRows (stage: string, prefix: string): Array<{ key: string, value: string }> {
    return this.#rows(stage, (k) => k.startsWith(prefix))
  }

  rangeRows (stage: string, from: string, to: string): Array<{ key: string, value: string }> {
    return this.#rows(stage, (k) => k >= from && k <= to)
  }

  state (stage: string, batches: readonly Batch[]): StageState {
    return new BatchState(this, stage, batches)
  }

  commit (batch: Batch, cursor: number | undefined, emitted?: number, name = 'main'): void {
    for (const w of batch.writes.values()) {
      let values = this.#state.get(w.stage)
      if (w.value === undefined) {
        values?.delete(w.key)
        continue
      }
      if (values === undefined) this.#state.set(w.stage, values = new Map())
      values.set(w.key, w.value)
    }
    for (const d of batch.dead) this.#dead.set(`${d.id}\x00${d.stage}\x00${d.timer}`, { ...d })
    if (cursor !== undefined) this.#cursors.set(name, cursor)
    if (emitted !== undefined) this.#cursors.set(`${name}:emitted`, emitted)
  }

  deadLetters (): DeadLetter[] {
    return [...this.#dead.values()].sort((a, b) => byKey(a.at, b.at) || a.id - b.id || byKey(a.stage, b.stage)).map((d) => ({ ...d }))
  }

  deadLetterCount (): number {
    return this.#dead.size
  }

  read<T> (stage: string, prefix: string): Array<[string, T]> {
    return this.prefixRows(stage, prefix).map((r) => [r.key, JSON.parse(r.value) as T])
  }

  readOne<T> (stage: string, key: string): T | undefined {
    const v = this.committed(stage, key)
    return v === undefined ? undefined : JSON.parse(v) as T
  }

  page<T> (stage: string, prefix: string, after: string | undefined, limit: number, where: Readonly<Record<string, string>> = {}, window = 5000): StatePage<T> {
    const filters = Object.entries(where).map(([field, wanted]) => ({ ...checkField(field), wanted }))
    const from = after ?? prefix
    const scanned = this.#rows(stage, (k) => k > from && k.startsWith(prefix)).slice(0, Math.max(0, window))
    const items: Array<[string, T]> = []
    for (const r of scanned) {
      if (items.length >= limit) break
      const value = JSON.parse(r.value) as unknown
      if (filters.every((f) => fieldMatches(value, f.name, f.not, f.wanted))) items.push([r.key, value as T])
    }
    if (limit > 0 && items.length === limit) return { items, next: items.at(-1)![0] }
    return { items, next: scanned.length === window ? scanned.at(-1)!.key : undefined }
  }

  close (): void {}
}
