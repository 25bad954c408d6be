/**
 * Frame-rate limits: a token bucket per key (an account, an address). A key may send `burst`
 * frames at once, then `perSecond`; the bucket refills at that rate up to the burst. The state
 * is bounded: at most `maxKeys` buckets, least recently used first in the map, and a bucket idle
 * long enough to be full again is forgotten (a new one starts full: the same thing).
 */
export interface BucketOptions {
  readonly burst: number
  readonly perSecond: number
  readonly maxKeys: number
}

interface Bucket {
  tokens: number
  at: number
}

export class TokenBuckets {
  readonly #burst: number
  readonly #perMs: number
  readonly #max: number
  /** How long an untouched bucket takes to be full again from empty. */
  readonly #refillMs: number
  /** Least recently used first: each use moves its key to the end. */
  readonly #buckets = new Map<string, Bucket>()

  constructor (opts: BucketOptions) {
    this.#burst = opts.burst
    this.#perMs = opts.perSecond / 1000
    this.#max = opts.maxKeys
    this.#refillMs = Math.ceil(opts.burst / this.#perMs)
  }

  /** Keys followed now. */
  get size (): number {
    return this.#buckets.size
  }

  /** Takes a frame's token for `key`: false when its bucket is empty (over the limit). */
  take (key: string, now: number): boolean {
    let b = this.#buckets.get(key)
    if (b === undefined) {
      this.#forgetIdle(now)
      // Full of recently used keys: the least recently used one is forgotten (it starts full
      // again if it comes back; a bounded gift, where unbounded state would not be).
      if (this.#buckets.size >= this.#max) this.#buckets.delete(this.#buckets.keys().next().value!)
      b = { tokens: this.#burst, at: now }
    } else {
      this.#buckets.delete(key)
      // A clock that goes back counts as no time passed.
      if (now > b.at) b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs)
      b.at = Math.max(b.at, now)
    }
    this.#buckets.set(key, b)
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  /** Forgets, from the least recently used end, buckets full again by now: amortised constant time. */
  #forgetIdle (now: number): void {
    for (const [k, b] of this.#buckets) {
      if (now - b.at < this.#refillMs) break
      this.#buckets.delete(k)
    }
  }
}
