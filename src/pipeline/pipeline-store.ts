/**
 * The pipeline's own state: a cursor into the journal (and the mark of the last event it
 * emitted), each stage's keys and values, and the dead-letter list. What running one event wrote
 * is gathered in a Batch and committed with the cursor past that event, all at once: after a crash
 * the pipeline starts again from a cursor whose state is exactly the state it left.
 */
import type { StageState } from './stage.js'

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
  /** By `stage + '\x00' + key`; a value of undefined deletes the key. Values are JSON. */
  readonly writes = new Map<string, { stage: string, key: string, value: string | undefined }>()
  readonly dead: DeadLetter[] = []
}

/** One page of a stage's state (see PipelineStore.page). */
export interface StatePage<T> {
  readonly items: Array<[string, T]>
  /** The key to go on after; undefined when there is nothing more. */
  readonly next: string | undefined
}

export interface PipelineStore {
  /** Where the named reader is in the journal (0 before the first commit). */
  cursor (name?: string): number
  /**
   * A stage's state as seen through uncommitted batches (newest first) over what is committed;
   * writes go to the first batch. A stage attempt gets its own batch, merged into the event's only
   * when the attempt succeeds.
   */
  state (stage: string, batches: readonly Batch[]): StageState
  /**
   * Applies a batch's writes and dead letters, and moves the cursor `name` (when given) and the
   * mark `name:emitted` (when given), atomically: all of it is visible afterwards, or (when the
   * commit fails) none of it. A dead letter replaces the one with the same id, stage and timer.
   */
  commit (batch: Batch, cursor: number | undefined, emitted?: number, name?: string): void
  /** The dead letters, by time, then id, then stage. */
  deadLetters (): DeadLetter[]
  deadLetterCount (): number
  /** A stage's committed state under a prefix, in key order (commands, the API). */
  read<T> (stage: string, prefix: string): Array<[string, T]>
  /** One key of a stage's committed state. */
  readOne<T> (stage: string, key: string): T | undefined
  /**
   * One page of a stage's committed state in key order, after `after` (from the prefix when
   * absent): up to `limit` entries whose JSON has each of `where`'s fields equal to the string
   * given (or, for `!field`, present, not null, and not equal to it), looking at no more than
   * `window` keys (5000 by default). The work of a call is bounded however many entries there
   * are. `next`: the last item's key when the page is full; else the last key the window looked
   * at when the window was full; else undefined.
   */
  page<T> (stage: string, prefix: string, after: string | undefined, limit: number, where?: Readonly<Record<string, string>>, window?: number): StatePage<T>
  close (): void
}

/** What a backend gives BatchState: its committed rows. */
export interface CommittedRows {
  /** The committed JSON of a key (`ck`: the stage and key as one string, for a cache). */
  committed (stage: string, key: string, ck: string): string | undefined
  /** Committed keys and values under a prefix, in key order. */
  prefixRows (stage: string, prefix: string): Array<{ key: string, value: string }>
  /** Committed keys and values from `from` to `to`, both included, in key order. */
  rangeRows (stage: string, from: string, to: string): Array<{ key: string, value: string }>
}

/** A stage's view of its state: the uncommitted batches (newest first), then the committed state. */
export class BatchState implements StageState {
  readonly #rows: CommittedRows
  readonly #stage: string
  readonly #batches: readonly Batch[]

  constructor (rows: CommittedRows, stage: string, batches: readonly Batch[]) {
    this.#rows = rows
    this.#stage = stage
    this.#batches = batches
  }

  get<T> (key: string): T | undefined {
    const ck = this.#stage + '\x00' + key
    for (const b of this.#batches) {
      const w = b.writes.get(ck)
      if (w !== undefined) return w.value === undefined ? undefined : JSON.parse(w.value) as T
    }
    const v = this.#rows.committed(this.#stage, key, ck)
    return v === undefined ? undefined : JSON.parse(v) as T
  }

  set (key: string, value: unknown): void {
    this.#batches[0]!.writes.set(this.#stage + '\x00' + key, { stage: this.#stage, key, value: JSON.stringify(value) })
  }

  delete (key: string): void {
    this.#batches[0]!.writes.set(this.#stage + '\x00' + key, { stage: this.#stage, key, value: undefined })
  }

  range<T> (from: string, to: string): Array<[string, T]> {
    const stage = this.#stage
    const merged = new Map<string, string | undefined>()
    for (const row of this.#rows.rangeRows(stage, from, to)) merged.set(row.key, row.value)
    for (const b of [...this.#batches].reverse()) for (const w of b.writes.values()) if (w.stage === stage && w.key >= from && w.key <= to) merged.set(w.key, w.value)
    return [...merged].filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, v]) => [key, JSON.parse(v!) as T])
  }

  list<T> (prefix: string): Array<[string, T]> {
    const stage = this.#stage
    const merged = new Map<string, string | undefined>()
    for (const row of this.#rows.prefixRows(stage, prefix)) merged.set(row.key, row.value)
    for (const b of [...this.#batches].reverse()) for (const w of b.writes.values()) if (w.stage === stage && w.key.startsWith(prefix)) merged.set(w.key, w.value)
    return [...merged].filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : 1)).map(([key, v]) => [key, JSON.parse(v!) as T])
  }
}

/** Field names of a page's filter come from the code, never from a request; checked all the same. */
export function checkField (field: string): { name: string, not: boolean } {
  const not = field.startsWith('!')
  const name = not ? field.slice(1) : field
  if (!/^[a-zA-Z]+$/.test(name)) throw new Error(`bad field ${name}`)
  return { name, not }
}
