/**
 * The outcome of work that can fail in an expected way: a value, or a stable `DC09_ERR_*` code
 * with a reason for people. Expected failures are values of this type; exceptions are bugs.
 * Match on `code`, never on `reason` text, and never put a secret in a reason.
 */
export interface Ok<T> {
  readonly ok: true
  readonly value: T
}

export interface Err<C extends string = string> {
  readonly ok: false
  readonly code: C
  readonly reason: string
}

/** `E` may carry more than the code and reason (a protocol rejection carries its answer). */
export type Result<T, E extends Err = Err> = Ok<T> | E

export function ok<T> (value: T): Ok<T> {
  return { ok: true, value }
}

export function err<C extends string> (code: C, reason: string): Err<C> {
  return { ok: false, code, reason }
}
