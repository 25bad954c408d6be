/**
 * The recent events of each account, in memory, for the HTTP interface: the journal is ordered
 * by time, not by account, so reading "the last 50 events of account 1234" from it would mean
 * scanning it. Every record the process journals is added here as it commits; at start the
 * journal's tail fills it. Bounded three times: of the last `total` events journaled, at most
 * `perAccount` per account are kept, in at most `maxBytes` (the oldest go first). What is kept
 * is a compact view (no raw frame, no peer, a frame's events as the JSON text of the journal's
 * compact form, the string the journal wrote), its size estimated from the lengths of its
 * strings: adding costs O(1) and serialises nothing again (it runs for every frame the receiver
 * commits); full views are made when read.
 */
import type { Stored } from '../journal/journal.js'
import { compactEvents, compactJson, expandEvents, type CompactEvents } from '../journal/compact.js'
import type { FrameFields, JournalRecord } from '../journal/record.js'

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
  return viewOf(keep(r, r.id))
}

export interface RecentOptions {
  readonly perAccount: number
  readonly total: number
  /** Estimated bytes of memory all kept events may take (default 64 MiB). */
  readonly maxBytes?: number | undefined
}

export const DEFAULT_RECENT_BYTES = 64 * 1024 * 1024

/**
 * What is kept of a frame: what its view shows, its events as the JSON text of their compact
 * form (the very string the journal wrote; in full only if they do not fit that form).
 */
interface KeptFrame {
  readonly type: 'frame'
  readonly id: number
  readonly account: string
  /** The holder of the number it was for (not shown: `list` lets a reader choose by it). */
  readonly holder: string | undefined
  readonly receivedAt: number
  readonly token: string
  readonly seq: string
  readonly encrypted: boolean
  readonly text: string | undefined
  readonly flags: FrameFields['flags']
  readonly ev: string | undefined
  readonly events: string | undefined
  readonly bytes: number
  /** Its place in the ring. */
  slot: number
}

interface KeptDerived {
  readonly type: 'derived'
  readonly id: number
  readonly account: string
  readonly holder: string | undefined
  readonly receivedAt: number
  readonly kind: string
  readonly stage: string
  readonly causedBy: number
  readonly data: Readonly<Record<string, unknown>>
  readonly bytes: number
  slot: number
}

type Kept = KeptFrame | KeptDerived

/** Estimated cost of a kept event besides its long strings: the object, its short strings, the ring and list slots, its account's list when it is alone in it (measured: about 600 and 440 bytes). */
const FRAME_BYTES = 600
const DERIVED_BYTES = 450

function keep (r: JournalRecord, id: number): Kept {
  if (r.type === 'derived') {
    return { type: 'derived', id, account: r.account, holder: r.holder, receivedAt: r.receivedAt, kind: r.kind, stage: r.stage, causedBy: r.causedBy, data: r.data, bytes: DERIVED_BYTES + 2 * (r.holder?.length ?? 0) + valueBytes(r.data, 3), slot: -1 }
  }
  let ev: string | undefined
  let events: string | undefined
  if (r.events === undefined) {
    if (r.ev !== undefined && r.ev !== null) ev = compactJson(r.ev)
  } else {
    // Read back from a journal written before the compact form: its events in full, made compact.
    const c = compactEvents(r.events)
    if (c !== undefined) ev = compactJson(c)
    else if (r.events.length > 0) events = JSON.stringify(r.events)
  }
  // Two bytes a character: a string with one character beyond Latin-1 is stored two bytes a character.
  const bytes = FRAME_BYTES + 2 * ((r.holder?.length ?? 0) + (r.text?.length ?? 0) + (ev?.length ?? 0) + (events?.length ?? 0))
  return { type: 'frame', id, account: r.account, holder: r.holder, receivedAt: r.receivedAt, token: r.token, seq: r.seq, encrypted: r.encrypted, text: r.text, flags: r.flags, ev, events, bytes, slot: -1 }
}

function viewOf (k: Kept): EventView {
  const base = { id: k.id, receivedAt: new Date(k.receivedAt).toISOString(), account: k.account }
  if (k.type === 'frame') {
    return { ...base, type: 'frame', messageType: (k.encrypted ? '*' : '') + k.token, seq: k.seq, encrypted: k.encrypted, events: k.events !== undefined ? JSON.parse(k.events) as unknown : k.ev === undefined ? [] : expandEvents(JSON.parse(k.ev) as CompactEvents), text: k.text ?? null, flags: k.flags }
  }
  return { ...base, type: 'derived', kind: k.kind, stage: k.stage, causedBy: k.causedBy, data: k.data }
}

/** A rough size of a JSON-like value (derived events' data, made by stages and commands, small). */
function valueBytes (v: unknown, depth: number): number {
  if (typeof v === 'string') return 24 + 2 * v.length
  if (typeof v !== 'object' || v === null) return 16
  if (depth === 0) return 1024
  let n = 64
  for (const x of Array.isArray(v) ? v : Object.values(v)) n += 16 + valueBytes(x, depth - 1)
  return n
}

export class RecentEvents {
  /** Account -> its events, oldest first. */
  readonly #byAccount = new Map<string, Kept[]>()
  /**
   * Every event kept, oldest first, in a ring of `total` slots: a slot is emptied when its event
   * goes by another bound (per account, bytes, a forgotten account), and the oldest slot is
   * reused when the total is reached.
   */
  readonly #ring: Array<Kept | undefined>
  /** The next slot to write, and how many slots (kept or emptied) lie behind it. */
  #head = 0
  #used = 0
  #count = 0
  #bytes = 0
  readonly #perAccount: number
  readonly #maxBytes: number

  constructor (opts: RecentOptions) {
    this.#perAccount = opts.perAccount
    this.#maxBytes = opts.maxBytes ?? DEFAULT_RECENT_BYTES
    this.#ring = new Array<Kept | undefined>(opts.total)
  }

  /** Events kept. */
  get size (): number {
    return this.#count
  }

  /** Their estimated bytes of memory. */
  get bytes (): number {
    return this.#bytes
  }

  add (record: JournalRecord, id: number): void {
    // Events not tied to an account (an API security event) are not anyone's recent events.
    if (record.account === '') return
    this.#insert(keep(record, id))
  }

  #insert (k: Kept | undefined): void {
    const cap = this.#ring.length
    if (this.#used === cap) {
      // The slot to write is the oldest: its event is the oldest kept, the first of its account.
      const old = this.#ring[this.#head]
      if (old !== undefined) this.#evict(old)
      this.#used--
    }
    this.#ring[this.#head] = k
    this.#head = (this.#head + 1) % cap
    this.#used++
    if (k === undefined) return
    k.slot = (this.#head + cap - 1) % cap
    let list = this.#byAccount.get(k.account)
    if (list === undefined) {
      list = []
      this.#byAccount.set(k.account, list)
    }
    list.push(k)
    this.#count++
    this.#bytes += k.bytes
    if (list.length > this.#perAccount) this.#release(list.shift()!)
    while (this.#bytes > this.#maxBytes && this.#used > 0) this.#evictOldest()
  }

  /** Frees an event's slot and bytes (its account's list let go of it already). */
  #release (k: Kept): void {
    if (this.#ring[k.slot] === k) this.#ring[k.slot] = undefined
    this.#count--
    this.#bytes -= k.bytes
  }

  /** Lets go of the oldest event kept (the first of its account's list). */
  #evict (k: Kept): void {
    const list = this.#byAccount.get(k.account)
    if (list !== undefined && list[0] === k) {
      list.shift()
      if (list.length === 0) this.#byAccount.delete(k.account)
    }
    this.#release(k)
  }

  #evictOldest (): void {
    const cap = this.#ring.length
    while (this.#used > 0) {
      const tail = (this.#head + cap - this.#used) % cap
      const k = this.#ring[tail]
      this.#used--
      if (k !== undefined) {
        this.#evict(k)
        return
      }
    }
  }

  /**
   * Fills from the journal's newest records backwards, as far as the bounds hold them: of the
   * last `total` records, the newest `perAccount` of each account, within the byte budget. Only
   * what is kept is held while reading. Returns how many records were read.
   */
  async fill (records: AsyncIterable<Stored<JournalRecord>>): Promise<number> {
    // Newest first; undefined for a record read but not kept (it still takes its ring slot).
    const newestFirst: Array<Kept | undefined> = []
    const perAccount = new Map<string, number>()
    let bytes = 0
    for await (const r of records) {
      if (newestFirst.length >= this.#ring.length) break
      if (r.account === '') continue
      const n = perAccount.get(r.account) ?? 0
      if (n >= this.#perAccount) {
        newestFirst.push(undefined)
        continue
      }
      const k = keep(r, r.id)
      if (bytes + k.bytes > this.#maxBytes) break
      bytes += k.bytes
      perAccount.set(r.account, n + 1)
      newestFirst.push(k)
    }
    for (let i = newestFirst.length - 1; i >= 0; i--) this.#insert(newestFirst[i])
    return newestFirst.length
  }

  /**
   * Newest first: up to `limit` events of the account with ids below `before`, that `keep` lets
   * through (given the event and the holder of the number it names, if it names one).
   */
  list (account: string, limit: number, before = Number.MAX_SAFE_INTEGER, keep: (e: EventView, holder: string | undefined) => boolean = () => true): EventView[] {
    const list = this.#byAccount.get(account) ?? []
    const out: EventView[] = []
    for (let i = list.length - 1; i >= 0 && out.length < limit; i--) {
      const k = list[i]!
      if (k.id >= before) continue
      const e = viewOf(k)
      if (keep(e, k.holder)) out.push(e)
    }
    return out
  }

  /** An account removed: its events are listed no more, and their memory is let go (the journal keeps its history). */
  forget (account: string): void {
    const events = this.#byAccount.get(account)
    if (events === undefined) return
    this.#byAccount.delete(account)
    for (const k of events) this.#release(k)
  }
}
