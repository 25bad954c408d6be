/** A journal in memory, for tests: same contract as FileJournal, durable only as long as the process. */
import { JournalClosedError, type Journal, type JournalReader, type Stored } from './journal.js'

export class MemoryJournal<T extends object> implements Journal<T> {
  readonly #records: Array<Stored<T>> = []
  #nextId = 1
  #closed = false
  #pending = 0
  #idle: Array<() => void> = []
  /** Tests set this to make commits fail, as a full disk would. */
  failWith: Error | undefined

  get lastId (): number {
    return this.#records.at(-1)?.id ?? 0
  }

  get healthy (): boolean {
    return this.failWith === undefined
  }

  append (record: T): Promise<number> {
    if (this.#closed) return Promise.reject(new JournalClosedError())
    const id = this.#nextId++
    const stored = JSON.parse(JSON.stringify({ ...record, id })) as Stored<T>
    this.#pending++
    // Commit asynchronously, as a disk would, so callers cannot depend on synchronous commits.
    return new Promise<number>((resolve, reject) => {
      setImmediate(() => {
        this.#pending--
        if (this.failWith !== undefined) reject(this.failWith)
        else {
          this.#records.push(stored)
          resolve(id)
        }
        if (this.#pending === 0) for (const f of this.#idle.splice(0)) f()
      })
    })
  }

  async * read (fromId = 1): AsyncIterable<Stored<T>> {
    const upTo = this.lastId
    for (const r of this.#records) if (r.id >= fromId && r.id <= upTo) yield r
  }

  reader (fromId: number): JournalReader<T> {
    let next = fromId
    return {
      next: async (max) => {
        const out: Array<Stored<T>> = []
        for (const r of this.#records) {
          if (r.id >= next && out.length < max) out.push(r)
        }
        if (out.length > 0) next = out.at(-1)!.id + 1
        return out
      },
      close: async () => {},
    }
  }

  async * readBackwards (): AsyncIterable<Stored<T>> {
    for (let i = this.#records.length - 1; i >= 0; i--) yield this.#records[i]!
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#pending > 0) await new Promise<void>((resolve) => this.#idle.push(resolve))
  }
}
