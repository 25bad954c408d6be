/**
 * The journal: the durable, ordered log every acknowledged event lives in.
 * An append resolves only once the record is on disk; an ACK is sent only after that
 * (invariant 1). Records are JSON objects; the journal gives each a monotonic id.
 */

/** A stored record: what was appended, with its journal id. */
export type Stored<T> = T & { readonly id: number }

export interface Journal<T extends object> {
  /**
   * Appends a record and resolves with its id once it is durably committed. Rejects (with the
   * cause) when the commit failed: nothing of it may then be acknowledged.
   */
  append (record: T): Promise<number>
  /** Records with id >= `fromId`, in order, up to what was committed when the read reached it. */
  read (fromId?: number): AsyncIterable<Stored<T>>
  /**
   * The newest committed records, newest first, for rebuilding state on start: reads back from
   * the end only as far as the caller keeps going.
   */
  readBackwards (): AsyncIterable<Stored<T>>
  /** A reader that keeps its place, for following the journal as it grows (the pipeline). */
  reader (fromId: number): JournalReader<T>
  /** The id of the last committed record (0 when empty). */
  readonly lastId: number
  /** False after a failed commit, until a commit succeeds again. */
  readonly healthy: boolean
  /** Commits what is pending, then closes. Appends after close reject. */
  close (): Promise<void>
}

export class JournalClosedError extends Error {
  readonly code = 'DC09_ERR_JOURNAL_CLOSED'
  constructor () {
    super('the journal is closed')
  }
}

export interface JournalReader<T extends object> {
  /** Up to `max` committed records after the last one returned (none when caught up). */
  next (max: number): Promise<Array<Stored<T>>>
  close (): Promise<void>
}

/**
 * The same journal, telling `onCommit` of every record appended through it once it is committed
 * (the pipeline's wake-up, the interface's recent events), and `observe` of each commit's latency
 * in seconds. On the path of every event: no copies, one callback.
 */
export function tapJournal<T extends object> (j: Journal<T>, onCommit: (record: T, id: number) => void, observe?: (seconds: number) => void): Journal<T> {
  return {
    append: (record) => {
      const t0 = observe === undefined ? 0 : performance.now()
      return j.append(record).then((id) => {
        if (observe !== undefined) observe((performance.now() - t0) / 1000)
        onCommit(record, id)
        return id
      })
    },
    read: (fromId) => j.read(fromId),
    readBackwards: () => j.readBackwards(),
    reader: (fromId) => j.reader(fromId),
    get lastId () { return j.lastId },
    get healthy () { return j.healthy },
    close: () => j.close(),
  }
}
