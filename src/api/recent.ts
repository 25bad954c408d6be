/**
 * The recent events of each account, in memory, for the HTTP interface: the journal is ordered
 * by time, not by account, so reading "the last 50 events of account 1234" from it would mean
 * scanning it. Every record the process journals is added here as it commits; at start the
 * journal's tail fills it. Bounded twice: of the last `total` events journaled, at most
 * `perAccount` per account are kept. Adding costs O(1) and copies nothing (it runs for every
 * frame the receiver commits); views are made when read.
 */
import type { Stored } from '../journal/journal.js'
import type { JournalRecord } from '../receiver/record.js'

/** An event as the interface shows it: no raw frame bytes, no peer address. */
export interface EventView {
  readonly id: number
  readonly receivedAt: string
  readonly type: 'frame' | 'derived'
  readonly account: string
  /** Frames: the DC-09 message type, sequence number, whether it was encrypted, and the decoded events. */
  readonly messageType?: string
  readonly seq?: string
  readonly encrypted?: boolean
  readonly events?: unknown
  readonly text?: string | null
  readonly flags?: unknown
  /** Derived events: what happened, which stage said so, and its data. */
  readonly kind?: string
  readonly stage?: string
  readonly causedBy?: number
  readonly data?: unknown
}

export function eventView (r: Stored<JournalRecord>): EventView {
  const base = { id: r.id, receivedAt: new Date(r.receivedAt).toISOString(), account: r.account }
  if (r.type === 'frame') {
    return { ...base, type: 'frame', messageType: (r.encrypted ? '*' : '') + r.token, seq: r.seq, encrypted: r.encrypted, events: r.events, text: r.text ?? null, flags: r.flags }
  }
  return { ...base, type: 'derived', kind: r.kind, stage: r.stage, causedBy: r.causedBy, data: r.data }
}

export interface RecentOptions {
  readonly perAccount: number
  readonly total: number
}

/**
 * Kept per event: the record as committed and its id, made into a view only when read (adding
 * runs for every frame the receiver commits; reading is rare).
 */
interface Kept { readonly id: number, readonly record: JournalRecord }

export class RecentEvents {
  /** Account -> its events, oldest first. */
  readonly #byAccount = new Map<string, Kept[]>()
  /** Every event kept, oldest first, in a ring: the oldest goes when the total is reached. */
  readonly #ring: Array<Kept | undefined>
  #head = 0
  #total = 0
  readonly #opts: RecentOptions

  constructor (opts: RecentOptions) {
    this.#opts = opts
    this.#ring = new Array<Kept | undefined>(opts.total)
  }

  get size (): number {
    return this.#total
  }

  add (record: JournalRecord, id: number): void {
    // Events not tied to an account (an API security event) are not anyone's recent events.
    if (record.account === '') return
    let list = this.#byAccount.get(record.account)
    if (list === undefined) {
      list = []
      this.#byAccount.set(record.account, list)
    }
    const r: Kept = { id, record }
    list.push(r)
    if (list.length > this.#opts.perAccount) {
      list.shift()
      this.#total--
    }
    // The ring's slot holds the oldest event kept (or one the per-account bound already dropped).
    const old = this.#ring[this.#head]
    if (old !== undefined) this.#drop(old)
    this.#ring[this.#head] = r
    this.#head = (this.#head + 1) % this.#ring.length
    this.#total++
  }

  #drop (old: Kept): void {
    const list = this.#byAccount.get(old.record.account)
    if (list === undefined || list[0] !== old) return
    list.shift()
    this.#total--
    if (list.length === 0) this.#byAccount.delete(old.record.account)
  }

  /** Fills from the journal's newest records backwards, as far as the bounds hold them. */
  async fill (records: AsyncIterable<Stored<JournalRecord>>): Promise<number> {
    const newestFirst: Array<Stored<JournalRecord>> = []
    for await (const r of records) {
      if (newestFirst.length >= this.#opts.total) break
      newestFirst.push(r)
    }
    for (let i = newestFirst.length - 1; i >= 0; i--) this.add(newestFirst[i]!, newestFirst[i]!.id)
    return newestFirst.length
  }

  /** Newest first: up to `limit` events of the account with ids below `before`, that `keep` lets through. */
  list (account: string, limit: number, before = Number.MAX_SAFE_INTEGER, keep: (e: EventView) => boolean = () => true): EventView[] {
    const list = this.#byAccount.get(account) ?? []
    const out: EventView[] = []
    for (let i = list.length - 1; i >= 0 && out.length < limit; i--) {
      if (list[i]!.id >= before) continue
      const e = eventView({ ...list[i]!.record, id: list[i]!.id })
      if (keep(e)) out.push(e)
    }
    return out
  }

  /** An account removed: its events are listed no more (the ring lets go of them as it turns; the journal keeps its history). */
  forget (account: string): void {
    const events = this.#byAccount.get(account)
    if (events === undefined) return
    this.#byAccount.delete(account)
    this.#total -= events.length
  }
}
