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
export class RateLimitedLog {
  readonly #windowMs: number
  readonly #seen = new Map<string, { until: number, suppressed: number }>()

  constructor (windowMs: number) {
    this.#windowMs = windowMs
  }

  /** Whether to log now; `suppressed` is how many were held back since the last line for the key. */
  take (key: string, now: number): { readonly log: boolean, readonly suppressed: number } {
    const e = this.#seen.get(key)
    if (e !== undefined && now < e.until) {
      e.suppressed++
      return { log: false, suppressed: 0 }
    }
    const suppressed = e?.suppressed ?? 0
    this.#seen.set(key, { until: now + this.#windowMs, suppressed: 0 })
    // Bound the memory: forget expired keys now and then.
    if (this.#seen.size > 10_000) for (const [k, v] of this.#seen) if (v.until <= now) this.#seen.delete(k)
    return { log: true, suppressed }
  }
}
