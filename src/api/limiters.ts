/**
 * The interface's limiters, in memory and each bounded in entries: the request rate per token
 * (per address for public routes and bad tokens), unauthenticated requests' audit rows, installers'
 * bulk reads, code setting (refusals as in use, attempts per account, places in flight) and
 * account numbers refused as taken.
 */
import type { TokenInfo } from './access.js'
import type { CodeSetEnd } from './contract.js'

/**
 * Requests without a valid token, per address: one audit row a minute, saying how many came in
 * the minute before. Bounded: the windows are dropped all at once when there are many.
 */
export class FailedAuths {
  readonly #windows = new Map<string, { start: number, n: number }>()

  /** Counts one: undefined while the address's minute lasts (no row), else its row's count of the minute before (none: its first). */
  add (source: string, now: number): { readonly before: number | undefined } | undefined {
    const w = this.#windows.get(source)
    if (w !== undefined && now - w.start < 60_000) {
      w.n++
      return undefined
    }
    if (this.#windows.size >= 10_000) this.#windows.clear()
    this.#windows.set(source, { start: now, n: 1 })
    return { before: w?.n }
  }
}

/** Per-token (and, for public routes and bad tokens, per-address) allowance: a bucket of `burst` requests refilled at `perSecond`. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  constructor (readonly burst: number, readonly perSecond: number) {}

  /** 0 when the request may go, else the seconds until it may. */
  take (key: string, now: number): number {
    // Bounded: a full bucket is the same as none, so full ones go when there are many.
    if (this.#buckets.size >= 100_000 && !this.#buckets.has(key)) {
      for (const [k, v] of this.#buckets) if (v.tokens + ((now - v.at) / 1000) * this.perSecond >= this.burst) this.#buckets.delete(k)
    }
    const b = this.#buckets.get(key) ?? { tokens: this.burst, at: now }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond)
    b.at = now
    this.#buckets.set(key, b)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond))
  }
}

/**
 * Distinct accounts each tenant's installers read in the current minute (found or not), all its
 * tokens together: crossing the limit raises one event per minute. Polling one account again and
 * again is not a bulk read. Bounded: a window stops collecting once it has raised.
 */
export class BulkReads {
  readonly #windows = new Map<string, { start: number, accounts: Set<string>, raised: boolean }>()
  constructor (readonly perMinute: number) {}

  add (key: string, accounts: readonly string[], now: number): number | undefined {
    let w = this.#windows.get(key)
    if (w === undefined || now - w.start >= 60_000) {
      if (this.#windows.size >= 100_000) for (const [k, v] of this.#windows) if (now - v.start >= 60_000) this.#windows.delete(k)
      w = { start: now, accounts: new Set(), raised: false }
      this.#windows.set(key, w)
    }
    if (w.raised) return undefined
    for (const a of accounts) w.accounts.add(a)
    if (w.accounts.size <= this.perMinute) return undefined
    w.raised = true
    const n = w.accounts.size
    w.accounts.clear()
    return n
  }
}

interface HourWindow { start: number, n: number, pending: number }

/** Counts per key in hour-long windows. Bounded: expired windows are swept when the map grows. */
class Hourly {
  readonly #windows = new Map<string, HourWindow>()

  get (key: string, now: number): HourWindow {
    let w = this.#windows.get(key)
    if (w === undefined || now - w.start >= 3_600_000) {
      if (this.#windows.size >= 100_000) for (const [k, v] of this.#windows) if (now - v.start >= 3_600_000) this.#windows.delete(k)
      w = { start: now, n: 0, pending: 0 }
      this.#windows.set(key, w)
    }
    return w
  }

  /** Seconds until this window is over. */
  static wait (w: HourWindow, now: number): number {
    return Math.max(1, Math.ceil((w.start + 3_600_000 - now) / 1000))
  }
}

/**
 * Setting codes, per tenant (an admin: per token) per hour. A code refused because another user of
 * the account has it says "this code is in use here": the first such refusal raises a security
 * event, and past a few the tenant may set no more codes for the hour. A place is taken before the
 * code is hashed and held until the answer, so a burst of concurrent requests cannot all pass
 * the limit while the first are still hashing; when only such places fill the limit, the answer
 * is busy (a place is free again when a set ends), not the rest of the hour. Attempts on one
 * account are limited too, so guessing by trying codes that are accepted is slow as well; a set
 * refused as busy did not try its code and does not count.
 */
export class CodeAttempts {
  readonly #hour = new Hourly()
  constructor (readonly conflictsPerHour: number, readonly perAccountPerHour: number) {}

  /**
   * A place to try a code on this account (the attempt counted), the seconds until there is one,
   * or `busy`: the limit is not reached, but sets in flight (each could end refused as in use)
   * hold the rest of it.
   */
  take (scope: string, account: string, now: number): { settle (end: CodeSetEnd): number } | number | 'busy' {
    const c = this.#hour.get(`c:${scope}`, now)
    if (c.n >= this.conflictsPerHour) return Hourly.wait(c, now)
    if (c.n + c.pending >= this.conflictsPerHour) return 'busy'
    const a = this.#hour.get(`a:${scope}:${account}`, now)
    if (a.n >= this.perAccountPerHour) return Hourly.wait(a, now)
    a.n++
    c.pending++
    let open = true
    // The refusals so far this hour, counting this one if it was one.
    return {
      settle: (end) => {
        if (open) {
          open = false
          c.pending--
          if (end === 'in-use') c.n++
          // Refused before its code was hashed: no attempt on the account.
          if (end === 'busy' && a.n > 0) a.n--
        }
        return c.n
      },
    }
  }
}

/**
 * Account numbers an installer's tenant was refused as taken by another tenant, per hour: each
 * says "this number exists". Past the limit the tenant may add no accounts for the hour (a 201
 * for a free number would tell it from a taken one).
 */
export class TakenNumbers {
  readonly #hour = new Hourly()
  constructor (readonly perHour: number) {}

  wait (scope: string, now: number): number {
    const w = this.#hour.get(scope, now)
    return w.n >= this.perHour ? Hourly.wait(w, now) : 0
  }

  /** Counts one; the number this hour. */
  taken (scope: string, now: number): number {
    return ++this.#hour.get(scope, now).n
  }
}

/** What the per-tenant limits count by: an installer's tenant (all its tokens), else the token. */
export const scopeOf = (who: TokenInfo): string => (who.role === 'installer' ? `tenant:${who.tenant ?? ''}` : `token:${who.id}`)
