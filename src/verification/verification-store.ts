/**
 * Where the verifier keeps its rows: users with their code hashes, one slot row per account (its
 * salt, scrypt cost and the fixed-size blob of code slots), failure counters, and two settings
 * (the pepper check and the policy). The Verifier keeps every security decision (hashing,
 * constant-time comparing, duress, lockout); a store keeps rows, and makes the operations below
 * that say so atomic: nothing another process or caller does lands in the middle of one.
 *
 * A store holds hashes only. No code, token or pepper is ever given to it, and none of its errors
 * carries one.
 */
import { buildSlots, type EnrolledCode } from './codes.js'
import { err, type Err, type Result } from '../result.js'

/** An account's slot row: what one verification reads. */
export interface SlotRow {
  readonly account: string
  readonly salt: Buffer
  /** scrypt cost the account's codes were hashed with. */
  readonly n: number
  /** buildSlots of the account's codes: always the same size. */
  readonly slots: Buffer
}

export interface UserInfo {
  readonly user: number
  readonly name: string | null
  readonly hasCode: boolean
  readonly hasDuressCode: boolean
}

/** A user's hashes, as setCode's check sees them. */
export interface UserHashes {
  readonly user: number
  readonly code: Buffer | null
  readonly duress: Buffer | null
}

/** A failure counter: `a:<account>` or `c:<caller>`. */
export interface LimitRow {
  readonly key: string
  readonly failures: number
  /** Epoch ms; 0 when never locked. */
  readonly lockedUntil: number
  readonly since: number
  /** Failure times (8-byte doubles), or null for a counter that keeps none. */
  readonly recent: Buffer | null
}

/** A code hashed under `salt`, to be written for a user. */
export interface CodeWrite {
  readonly account: string
  readonly user: number
  readonly duress: boolean
  readonly hash: Buffer
  /** The salt the hash was made with: the write is refused (ACCOUNT_CHANGED) when the account's is another now. */
  readonly salt: Buffer
  /** When (ISO 8601), the user's updated time. */
  readonly at: string
}

/** A code hashed for a holder or salt that is no longer the account's. */
export const accountChanged = (): Err<'DC09_ERR_ACCOUNT_CHANGED'> => err('DC09_ERR_ACCOUNT_CHANGED', 'the account changed while the code was being set (its codes were reset, it moved to another tenant, or it was removed and added again); nothing was set: set the code again')
export const userNotFound = (account: string, user: number): Err<'DC09_ERR_USER_NOT_FOUND'> => err('DC09_ERR_USER_NOT_FOUND', `account ${account} has no user ${user}`)
export const userExists = (account: string, user: number): Err<'DC09_ERR_USER_EXISTS'> => err('DC09_ERR_USER_EXISTS', `account ${account} already has user ${user}`)
export const tooManyUsers = (max: number): Err<'DC09_ERR_USER_INVALID'> => err('DC09_ERR_USER_INVALID', `an account has at most ${max} users`)

/** The slot blob of these users' codes (the store rebuilds it whenever their hashes change). */
export function slotsOf (users: readonly UserHashes[]): Buffer {
  const codes: EnrolledCode[] = []
  for (const u of users) {
    if (u.code !== null) codes.push({ user: u.user, kind: 1, hash: u.code })
    if (u.duress !== null) codes.push({ user: u.user, kind: 2, hash: u.duress })
  }
  return buildSlots(codes)
}

export interface VerificationStore {
  /**
   * The stored pepper check; `check` is stored first when there is none (atomically: of two
   * processes starting with different peppers, one check wins and the other sees it).
   */
  pepperCheck (check: Buffer): Buffer
  /** The stored policy (JSON), or undefined when it was never set. */
  policy (): string | undefined
  setPolicy (json: string): void

  /**
   * Adds a user without codes. Atomic with its checks: EXISTS when the account has the user,
   * USER_INVALID when it has `maxUsers` already (never more, however many add at once).
   */
  addUser (account: string, user: number, name: string | null, at: string, maxUsers: number): Result<undefined>
  /** The account's users in user order (whether each has a code, never the hash). */
  listUsers (account: string): UserInfo[]
  isUser (account: string, user: number): boolean
  /** Removes a user and, in the same atomic operation, its codes from the slot row. NOT_FOUND when absent. */
  removeUser (account: string, user: number): Result<undefined>
  /**
   * Whether the account's codes were reset (resetAll) and some user has no new code yet: setCode
   * and removeUser clear the mark once every user of the account has a code again.
   */
  needsNewCodes (account: string): boolean

  /**
   * The account's slot row, or `fallback`'s when the account has none: the same single read
   * whichever it is, so an unknown account costs what a known one does.
   */
  slots (account: string, fallback: string): SlotRow | undefined
  /** The account's salt and cost; `fresh` is stored first when it has no slot row (insert if absent). */
  salt (account: string, fresh: SlotRow): { readonly salt: Buffer, readonly n: number }
  /** Sets the scrypt cost of a slot row (the fallback's, so that it costs what a new account's does). */
  setCost (account: string, n: number): void
  /**
   * Writes a user's code or duress code, atomically: the account's salt is still `w.salt` (else
   * ACCOUNT_CHANGED), `check` accepts the account's users as they are now (else its error), the
   * user exists (else USER_NOT_FOUND); then the hash is written and the slot row rebuilt from the
   * users' hashes. When any of it fails nothing is written. `check` runs inside the operation,
   * has no side effects, and may run more than once.
   */
  setCode (w: CodeWrite, check: (users: readonly UserHashes[]) => Result<undefined>): Result<undefined>
  /**
   * Every code on every account but `keep` invalid at once, atomically: hashes deleted, a new
   * random salt and cost `n` and the blob `slots` for each slot row, each marked as needing new
   * codes, and the pepper check forgotten (no hash under the pepper is left). How many slot rows.
   */
  resetAll (n: number, slots: Buffer, at: string, keep: string): number

  /**
   * Reads the counters of `keys` (absent ones are missing from the map), and writes what `update`
   * returns, atomically: concurrent updates each see the previous one's writes, none is lost.
   * Every write counts one more attempt on its row, even when it changes nothing else.
   * `update` has no side effects and may run more than once.
   */
  updateLimits<T> (keys: readonly string[], update: (rows: ReadonlyMap<string, LimitRow>) => { readonly writes: readonly LimitRow[], readonly value: T }): T
  /** How many writes a counter has had (0 for none): every attempt changes its rows, whatever its outcome. */
  attempts (key: string): number

  close (): void
}
