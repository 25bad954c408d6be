/**
 * The duplicate window: a panel that did not get its ACK sends the same event again, with the
 * same sequence number (and, encrypted, a new pad and timestamp). Within the window, the same
 * account, receiver, prefix, sequence, token and content is the same event: journaled once,
 * acknowledged every time. Dual-path panels send one event by two routes; the same applies.
 */
import { createHash } from 'node:crypto'
import type { DecodedFrame } from '../protocol/index.js'

/** Identifies an event for retransmission purposes; undefined for link tests (each proves liveness). */
export function dedupeKey (f: DecodedFrame): string | undefined {
  if (f.token === 'NULL') return undefined
  // The content itself when short (exact, and cheaper than hashing); a 128-bit digest when
  // long: a collision would silently drop a real event, so never a short hash.
  let content = f.data.length <= 128 ? f.data.toString('latin1') : ''
  if (content === '' || f.xdata.length > 0) {
    const h = createHash('sha256')
    h.update(f.data)
    for (const x of f.xdata) h.update(`\x00${x.id}`).update(x.raw)
    content = '#' + h.digest('base64url').slice(0, 22)
  }
  // Upper-case: account numbers, receivers and prefixes are hex, matched without regard to case.
  return `${f.account.toUpperCase()}|${(f.rcvr ?? '').toUpperCase()}|${(f.lpref ?? '').toUpperCase()}|${f.seq}|${f.token}|${content}`
}

type Entry = { at: number, id: number | Promise<number> }

/**
 * Entries of encrypted frames and of plain ones are kept apart, under one bound on their number.
 * The encrypted ones are what makes the timestamp window a replay guard (a captured frame
 * replayed within its window is recognised here), and only a holder of the key can make new ones.
 * Plain frames anyone can forge, so over the bound the oldest plain entries go first: a flood of
 * forged plain frames cannot push out the encrypted entries and reopen the door to replays.
 */
export class DuplicateWindow {
  readonly #windowMs: number
  readonly #max: number
  /** Insertion order is time order: the oldest entries are first. */
  readonly #sealed = new Map<string, Entry>()
  readonly #open = new Map<string, Entry>()

  constructor (windowMs: number, max: number) {
    this.#windowMs = windowMs
    this.#max = max
  }

  get size (): number {
    return this.#sealed.size + this.#open.size
  }

  /** The journal id (or the commit in progress) of an earlier copy within the window. */
  get (key: string, now: number): number | Promise<number> | undefined {
    this.#expire(now)
    return (this.#sealed.get(key) ?? this.#open.get(key))?.id
  }

  /**
   * Remembers an event, committed (an id) or being committed (its append). Over the memory bound,
   * the oldest plain entries go first, then the oldest encrypted ones; returns how many of them
   * were still inside the window (each is an event whose retransmission would now be journaled
   * again, so the caller reports it).
   */
  set (key: string, id: number | Promise<number>, at: number, encrypted = false): number {
    this.#sealed.delete(key)
    this.#open.delete(key)
    ;(encrypted ? this.#sealed : this.#open).set(key, { at, id })
    let early = 0
    while (this.size > this.#max) {
      const from = this.#open.size > 0 ? this.#open : this.#sealed
      const [oldest, e] = from.entries().next().value!
      from.delete(oldest)
      if (at - e.at <= this.#windowMs) early++
    }
    return early
  }

  /** Forgets an event whose commit failed: its retransmission must be committed anew. */
  delete (key: string, id: number | Promise<number>): void {
    if (this.#sealed.get(key)?.id === id) this.#sealed.delete(key)
    if (this.#open.get(key)?.id === id) this.#open.delete(key)
  }

  #expiredAt = -1

  #expire (now: number): void {
    // Once per millisecond is enough: frames of the same tick share the answer.
    if (now === this.#expiredAt) return
    this.#expiredAt = now
    for (const entries of [this.#sealed, this.#open]) {
      for (const [k, e] of entries) {
        if (now - e.at <= this.#windowMs) break
        entries.delete(k)
      }
    }
  }
}
