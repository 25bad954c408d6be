/**
 * The journal as the services worker sees it: records are read from the journal's files, up to
 * the committed position the receiver's thread last sent (never past it: bytes beyond may be a
 * group still being written); appends are asked of the receiver's thread, which owns the writer,
 * and resolve once it has committed them, as any append does.
 */
import { followJournal, readJournal, readJournalBackwards, type CommittedPosition } from '../journal/file-journal.js'
import { JournalClosedError, type Journal, type JournalReader, type Stored } from '../journal/journal.js'
import type { DerivedRecord, JournalRecord } from '../journal/record.js'

export class RemoteJournal implements Journal<JournalRecord> {
  readonly #dir: string
  readonly #send: (req: number, record: DerivedRecord) => void
  readonly #pending = new Map<number, { resolve: (id: number) => void, reject: (err: Error) => void }>()
  #at: CommittedPosition
  #healthy: boolean
  #req = 0
  #closed = false

  constructor (dir: string, at: CommittedPosition, healthy: boolean, send: (req: number, record: DerivedRecord) => void) {
    this.#dir = dir
    this.#at = at
    this.#healthy = healthy
    this.#send = send
  }

  /** The receiver's thread committed up to here. */
  committed (at: CommittedPosition, healthy: boolean): void {
    if (at.lastId >= this.#at.lastId) this.#at = at
    this.#healthy = healthy
  }

  /** The answer to an append. */
  appended (req: number, id: number | undefined, error: string | undefined): void {
    const p = this.#pending.get(req)
    if (p === undefined) return
    this.#pending.delete(req)
    if (id !== undefined) p.resolve(id)
    else p.reject(new Error(error ?? 'the journal could not commit'))
  }

  append (record: JournalRecord): Promise<number> {
    if (this.#closed) return Promise.reject(new JournalClosedError())
    // Only stages, commands and the interface append from here: never a panel's frame.
    if (record.type !== 'derived') return Promise.reject(new Error('only derived events are journaled from the services worker'))
    const req = ++this.#req
    return new Promise<number>((resolve, reject) => {
      this.#pending.set(req, { resolve, reject })
      this.#send(req, record)
    })
  }

  read (fromId = 1): AsyncIterable<Stored<JournalRecord>> {
    return readJournal<JournalRecord>(this.#dir, fromId, this.#at.lastId)
  }

  readBackwards (): AsyncIterable<Stored<JournalRecord>> {
    return readJournalBackwards<JournalRecord>(this.#dir, this.#at.lastId)
  }

  reader (fromId: number): JournalReader<JournalRecord> {
    return followJournal<JournalRecord>(this.#dir, fromId, () => this.#at)
  }

  get lastId (): number {
    return this.#at.lastId
  }

  get healthy (): boolean {
    return this.#healthy
  }

  async close (): Promise<void> {
    this.#closed = true
    for (const p of this.#pending.values()) p.reject(new JournalClosedError())
    this.#pending.clear()
  }
}
