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

export class DuplicateWindow {
  readonly #windowMs: number
  readonly #max: number
  /** Insertion order is time order: the oldest entries are first. */
  readonly #entries = new Map<string, Entry>()

  constructor (windowMs: number, max: number) {
    this.#windowMs = windowMs
    this.#max = max
  }

  get size (): number {
    return this.#entries.size
  }

  /** The journal id (or the commit in progress) of an earlier copy within the window. */
  get (key: string, now: number): number | Promise<number> | undefined {
    this.#expire(now)
    return this.#entries.get(key)?.id
  }

  /**
   * Remembers an event, committed (an id) or being committed (its append). Over the memory bound,
   * the oldest entries go first; returns how many of them were still inside the window (each is
   * an event whose retransmission would now be journaled again, so the caller reports it).
   */
  set (key: string, id: number | Promise<number>, at: number): number {
    this.#entries.delete(key)
    this.#entries.set(key, { at, id })
    let early = 0
    while (this.#entries.size > this.#max) {
      const [oldest, e] = this.#entries.entries().next().value!
      this.#entries.delete(oldest)
      if (at - e.at <= this.#windowMs) early++
    }
    return early
  }

  /** Forgets an event whose commit failed: its retransmission must be committed anew. */
  delete (key: string, id: number | Promise<number>): void {
    if (this.#entries.get(key)?.id === id) this.#entries.delete(key)
  }

  #expiredAt = -1

  #expire (now: number): void {
    // Once per millisecond is enough: frames of the same tick share the answer.
    if (now === this.#expiredAt) return
    this.#expiredAt = now
    for (const [k, e] of this.#entries) {
      if (now - e.at <= this.#windowMs) break
      this.#entries.delete(k)
    }
  }
}
