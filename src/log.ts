/**
 * Logging: pino, JSON lines to stdout. Secrets never reach a log: nothing logs them on purpose,
 * and redaction covers the field names they could travel under by mistake.
 */
import pino, { type Logger } from 'pino'

export type { Logger }

/** Field names that could carry a secret, at any depth pino redaction reaches. */
export const REDACT_PATHS = [
  'key', 'keyText', 'key_text', 'password', 'pin', 'token', 'pepper', 'secret', 'authorization',
  '*.key', '*.keyText', '*.key_text', '*.password', '*.pin', '*.token', '*.pepper', '*.secret', '*.authorization',
  'req.headers.authorization',
]

export function createLogger (opts: { level?: string, destination?: pino.DestinationStream } = {}): Logger {
  return pino({
    level: opts.level ?? 'info',
    base: { service: 'dc09' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  }, opts.destination ?? pino.destination({ fd: 1, sync: false }))
}

/**
 * Logs a thing once per key (peer + what) per window; what happens again within the window is
 * counted and reported with the next line for that key. A flood of bad bytes costs one line a minute.
 */
const OVERFLOW = '(many peers)'

export class RateLimitedLog {
  readonly #windowMs: number
  readonly #max: number
  /** Insertion order is time order, so expired keys are at the front. */
  readonly #seen = new Map<string, { until: number, suppressed: number }>()
  /** Lines held back because the map was full of live keys. */
  #overflow = 0

  constructor (windowMs: number, maxKeys = 10_000) {
    this.#windowMs = windowMs
    this.#max = maxKeys
  }

  /** Whether to log now; `suppressed` is how many were held back since the last line for the key. */
  take (key: string, now: number): { readonly log: boolean, readonly suppressed: number } {
    const e = this.#seen.get(key)
    if (e !== undefined && now < e.until) {
      e.suppressed++
      return { log: false, suppressed: 0 }
    }
    // Forget expired keys from the front: amortised constant time, never a scan of live keys.
    for (const [k, v] of this.#seen) {
      if (v.until > now) break
      this.#seen.delete(k)
    }
    if (e === undefined && this.#seen.size >= this.#max && key !== OVERFLOW) {
      // Many peers at once (a flood from spoofed addresses): their lines share one key.
      this.#overflow++
      if (!this.take(OVERFLOW, now).log) return { log: false, suppressed: 0 }
      const suppressed = this.#overflow - 1
      this.#overflow = 0
      return { log: true, suppressed }
    }
    const suppressed = e?.suppressed ?? 0
    this.#seen.delete(key)
    this.#seen.set(key, { until: now + this.#windowMs, suppressed: 0 })
    return { log: true, suppressed }
  }
}
