/**
 * Verification of a disarm code presented for an account (by an operator on the phone, or an
 * IVR), and the enrolment of users and their codes. Rows live in a VerificationStore (users with
 * their code hashes, one fixed-size row of salt and code slots per account, failure counters) and
 * an AuditTrail; by default both in the data directory's accounts.db.
 *
 * Every attempt does the same work, whatever the account, code or outcome: one fixed-size row
 * read (an unknown account reads a dummy row by the same query), one hash, a compare against
 * every slot, one counter update, one audit row, one journal event. The caller learns valid,
 * invalid or locked; a duress code answers exactly like a valid one and journals a silent
 * `duress` event instead of a `verification`. Hashes (verifying and enrolling) wait their turn in
 * one bounded queue; when it is full, an attempt is refused as busy before any of that work.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { isPrintableText, MAX_PERSON_NAME } from '../accounts/account.js'
import type { AccountStore } from '../accounts/account-store.js'
import type { AuditRow, AuditTrail } from '../audit/audit-trail.js'
import { SqliteAuditTrail } from '../audit/sqlite-audit-trail.js'
import {
  buildSlots, DEFAULT_CODE_RULES, DEFAULT_SCRYPT_N, hashCode, matchSlots, MAX_USERS, weakCode,
  type CodeRules,
} from './codes.js'
import { HashQueue, HashQueueFull } from './hash-queue.js'
import { SqliteVerificationStore } from './sqlite-store.js'
import { accountChanged, type LimitRow, type SlotRow, type UserHashes, type VerificationStore } from './verification-store.js'
import { err, ok, type Result } from '../result.js'

export type { AuditRow } from '../audit/audit-trail.js'

/** The row an unknown account reads: same shape, same cost, matches nothing (no account number has a '~'). */
const DUMMY = '~dummy'

export type Outcome = 'valid' | 'invalid' | 'locked'

export interface VerifyResult {
  readonly result: Outcome
  readonly account: string
  /** The user whose code matched (for a duress code too: the caller cannot tell). */
  readonly user?: number
  /** When a lock ends (locked only). */
  readonly lockedUntil?: string
}

/** The event a verification journals: `verification` (with its outcome) or, silently, `duress`. */
export interface VerificationEvent {
  readonly kind: 'verification' | 'duress'
  readonly account: string
  /** The holder of the number whose codes were checked (the account's createdAt); absent for no account. */
  readonly holder?: string
  readonly data: { readonly outcome: Outcome, readonly user: number | null, readonly caller: string }
}

export interface VerifierOptions {
  /** Needed to enrol and verify codes; managing users and locks works without it. */
  readonly pepper?: Buffer | undefined
  /** scrypt N for new salts (stored per account, so hashes stay checkable when it changes). */
  readonly scryptN?: number
  readonly rules?: CodeRules
  /**
   * Failures within `lockMs` that lock an account's verification, and for how long (at most
   * 100 count: a higher number never locks).
   */
  readonly maxFailures?: number
  readonly lockMs?: number
  /** Failures one caller may have within its window across all accounts, and its lock. */
  readonly callerMaxFailures?: number
  readonly callerWindowMs?: number
  readonly callerLockMs?: number
  readonly clock?: () => number
  /** Hashes run at once, and how many more may wait (see defaultHashLimits). */
  readonly hashConcurrency?: number
  readonly hashQueue?: number
  /** The hash (tests count its calls); hashCode by default. */
  readonly hash?: typeof hashCode
}

/**
 * How much code hashing runs at once. scrypt shares libuv's thread pool (4 threads by default)
 * with the journal's writes and fdatasyncs, whose ACKs panels wait for.
 */
export const defaultHashLimits = Object.freeze({
  // Two of the pool's four threads at most: the other two stay free for the journal's disk work.
  hashConcurrency: 2,
  // About two seconds of waiting at the default scrypt cost; beyond it a request is refused (busy), not queued without bound.
  hashQueue: 64,
})

export type HashLimits = typeof defaultHashLimits

const HASH_BOUNDS: Readonly<Record<keyof HashLimits, readonly [number, number]>> = {
  hashConcurrency: [1, 64],
  hashQueue: [0, 100_000],
}

/** Checks the `verification` object of a limits file: known names, whole numbers within bounds. */
export function validateHashLimits (raw: unknown): Result<Partial<HashLimits>> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return err('DC09_ERR_LIMIT', 'must be a JSON object')
  for (const [k, v] of Object.entries(raw)) {
    const b = Object.hasOwn(HASH_BOUNDS, k) ? HASH_BOUNDS[k as keyof HashLimits] : undefined
    if (b === undefined) return err('DC09_ERR_LIMIT', `no setting ${k} (known: ${Object.keys(HASH_BOUNDS).join(', ')})`)
    if (typeof v !== 'number' || !Number.isInteger(v) || v < b[0] || v > b[1]) return err('DC09_ERR_LIMIT', `${k} is a whole number from ${b[0]} to ${b[1]}`)
  }
  return ok(raw as Partial<HashLimits>)
}

/**
 * The verification policy an admin sets (`dc09 codes policy`), kept in the database so that every
 * process that verifies (a command, the receiver) applies the same one.
 */
export interface Policy {
  /** Failures within lockMinutes that lock an account's verification (a valid code does not wipe them). */
  readonly maxFailures: number
  readonly lockMinutes: number
  /** Failures one caller may have within its window, across all accounts. */
  readonly callerMaxFailures: number
  readonly callerWindowMinutes: number
  readonly callerLockMinutes: number
  /** Fewest digits an enrolled code may have. */
  readonly minLength: number
}

export const DEFAULT_POLICY: Policy = Object.freeze({ maxFailures: 5, lockMinutes: 15, callerMaxFailures: 20, callerWindowMinutes: 60, callerLockMinutes: 60, minLength: DEFAULT_CODE_RULES.minLength })

const POLICY_BOUNDS: Readonly<Record<keyof Policy, readonly [number, number]>> = {
  maxFailures: [1, 100], lockMinutes: [1, 1440], callerMaxFailures: [1, 10_000], callerWindowMinutes: [1, 1440], callerLockMinutes: [1, 1440], minLength: [4, 16],
}

/** An expected failure to open or use the verifier (a missing or wrong pepper). */
export class VerifierError extends Error {
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

/** Where a verifier keeps its rows, when not in a data directory's accounts.db. */
export interface VerifierBackends {
  readonly store: VerificationStore
  readonly audit: AuditTrail
}

/** The most failure times an account's row keeps: the highest maxFailures a policy may set. */
const MAX_RECENT = POLICY_BOUNDS.maxFailures[1]

/**
 * An account's failures still inside the window (after `from`), oldest first. A row from before
 * failure times were kept counts its failures as of its last attempt.
 */
function recentFailures (row: Pick<LimitRow, 'failures' | 'since' | 'recent'>, from: number): number[] {
  const times: number[] = []
  if (row.recent === null) {
    for (let i = 0; i < Math.min(row.failures, MAX_RECENT); i++) if (row.since > from) times.push(row.since)
    return times
  }
  for (let off = 0; off + 8 <= row.recent.length; off += 8) {
    const t = row.recent.readDoubleBE(off)
    if (t > from) times.push(t)
  }
  return times
}

/**
 * Failure times as a row keeps them: always `slots` of them (unused ones 0), so an account's row
 * has the same size after every attempt, whatever its outcome.
 */
function packFailures (times: readonly number[], slots: number): Buffer {
  const b = Buffer.alloc(slots * 8)
  times.slice(-slots).forEach((t, i) => b.writeDoubleBE(t, i * 8))
  return b
}

export class Verifier {
  readonly #store: VerificationStore
  readonly #trail: AuditTrail
  readonly #accounts: AccountStore
  readonly #opts: { pepper: Buffer | undefined, scryptN: number, clock: () => number }
  readonly #overrides: VerifierOptions
  readonly #hashing: HashQueue
  readonly #hash: typeof hashCode
  /** Whether the verifier opened its backends (from a data directory), and so closes them when it cannot start. */
  readonly #owned: boolean

  /** `data`: a data directory (its accounts.db keeps the rows and the audit trail), or the backends to keep them in. */
  constructor (data: string | VerifierBackends, accounts: AccountStore, options: VerifierOptions) {
    if (options.pepper !== undefined && options.pepper.length < 32) throw new VerifierError('DC09_ERR_PEPPER', 'the pepper must be at least 32 bytes')
    const hashLimits = { ...defaultHashLimits, ...(options.hashConcurrency === undefined ? {} : { hashConcurrency: options.hashConcurrency }), ...(options.hashQueue === undefined ? {} : { hashQueue: options.hashQueue }) }
    const checked = validateHashLimits(hashLimits)
    if (!checked.ok) throw new VerifierError('DC09_ERR_LIMIT', checked.reason)
    this.#hashing = new HashQueue(hashLimits.hashConcurrency, hashLimits.hashQueue)
    this.#hash = options.hash ?? hashCode
    this.#accounts = accounts
    this.#opts = {
      pepper: options.pepper,
      scryptN: options.scryptN ?? DEFAULT_SCRYPT_N,
      clock: options.clock ?? Date.now,
    }
    this.#overrides = options
    this.#owned = typeof data === 'string'
    if (typeof data === 'string') {
      this.#store = new SqliteVerificationStore(data)
      this.#trail = new SqliteAuditTrail(data)
    } else {
      this.#store = data.store
      this.#trail = data.audit
    }
    if (options.pepper !== undefined) this.#checkPepper(options.pepper)
    // The row an unknown account reads, made once; it costs what a new account's codes cost.
    this.#store.salt(DUMMY, this.#freshSlots(DUMMY))
    this.#store.setCost(DUMMY, this.#opts.scryptN)
  }

  /** A slot row for an account that has none: a new salt, the current cost, dummies only. */
  #freshSlots (account: string): SlotRow {
    return { account, salt: randomBytes(16), n: this.#opts.scryptN, slots: buildSlots([]) }
  }

  /**
   * A wrong pepper would make every enrolled code fail, silently. The database keeps an HMAC of
   * a constant under the pepper (which says nothing about the pepper) to refuse that at start.
   */
  #checkPepper (pepper: Buffer): void {
    const check = createHmac('sha256', pepper).update('dc09 pepper check v1').digest()
    const stored = this.#store.pepperCheck(check)
    if (stored.length !== check.length || !timingSafeEqual(stored, check)) {
      if (this.#owned) this.close()
      throw new VerifierError('DC09_ERR_PEPPER_MISMATCH', 'this pepper is not the one the codes in this data directory were enrolled with (a different file, or a changed one); use the right pepper, or if it is lost: dc09 codes reset-all and enrol every code again')
    }
  }

  #pepper (): Buffer {
    if (this.#opts.pepper === undefined) throw new VerifierError('DC09_ERR_PEPPER', 'a pepper is needed to enrol or verify codes')
    return this.#opts.pepper
  }

  /** The policy as stored (defaults for what was never set). */
  policy (): Policy {
    const stored = this.#store.policy()
    return { ...DEFAULT_POLICY, ...(stored === undefined ? {} : JSON.parse(stored) as Partial<Policy>) }
  }

  /** Changes the policy (only the given fields); audited. */
  setPolicy (patch: Partial<Policy>, actor: string): Result<Policy> {
    for (const [k, v] of Object.entries(patch)) {
      const b = Object.hasOwn(POLICY_BOUNDS, k) ? POLICY_BOUNDS[k as keyof Policy] : undefined
      if (b === undefined) return err('DC09_ERR_POLICY_INVALID', `no policy setting ${k}`)
      if (!Number.isInteger(v) || (v as number) < b[0] || (v as number) > b[1]) return err('DC09_ERR_POLICY_INVALID', `${k} is a whole number from ${b[0]} to ${b[1]}`)
    }
    const next = { ...this.policy(), ...patch }
    this.#store.setPolicy(JSON.stringify(next))
    this.audit(actor, 'policy-set', null, 'ok', null, JSON.stringify(patch))
    return { ok: true, value: next }
  }

  /** The limits in force: explicit options (tests, benchmarks) over the stored policy. */
  #limitsNow (): { maxFailures: number, lockMs: number, callerMaxFailures: number, callerWindowMs: number, callerLockMs: number, rules: CodeRules } {
    const p = this.policy()
    const o = this.#overrides
    return {
      maxFailures: o.maxFailures ?? p.maxFailures,
      lockMs: o.lockMs ?? p.lockMinutes * 60_000,
      callerMaxFailures: o.callerMaxFailures ?? p.callerMaxFailures,
      callerWindowMs: o.callerWindowMs ?? p.callerWindowMinutes * 60_000,
      callerLockMs: o.callerLockMs ?? p.callerLockMinutes * 60_000,
      rules: o.rules ?? { minLength: p.minLength },
    }
  }

  #now (): string {
    return new Date(this.#opts.clock()).toISOString()
  }

  /** One row of the audit trail: who, what, on which account, the outcome, and from where (never a secret). */
  audit (actor: string, action: string, account: string | null, outcome: string | null, user: number | null, detail: string | null, source: string | null = null): void {
    this.#trail.append({ at: this.#now(), actor, action, account, outcome, user, detail, source })
  }

  // ------------------------------------------------------------ users and codes

  addUser (account: string, user: number, name: string | undefined, actor: string): Result<undefined> {
    const acct = account.toUpperCase()
    if (this.#accounts.get(acct) === undefined) return err('DC09_ERR_ACCOUNT_NOT_FOUND', `no account ${acct}`)
    if (!Number.isInteger(user) || user < 1 || user > 9999) return err('DC09_ERR_USER_INVALID', 'a user number is 1 to 9999')
    // The same rule as for keyholders and sites: what an operator reads is what is stored.
    if (name !== undefined && !isPrintableText(name, MAX_PERSON_NAME)) return err('DC09_ERR_USER_INVALID', `a name is 1 to ${MAX_PERSON_NAME} printable characters, without control or format characters or spaces at either end`)
    const added = this.#store.addUser(acct, user, name ?? null, this.#now(), MAX_USERS)
    if (!added.ok) return added
    this.audit(actor, 'user-add', acct, 'ok', user, null)
    return { ok: true, value: undefined }
  }

  listUsers (account: string): Array<{ user: number, name: string | null, hasCode: boolean, hasDuressCode: boolean }> {
    return this.#store.listUsers(account.toUpperCase())
  }

  /** Whether the account has this user (the cases stage asks: an opening by a valid user). */
  isUser (account: string, user: number): boolean {
    return this.#store.isUser(account.toUpperCase(), user)
  }

  needsNewCodes (account: string): boolean {
    return this.#store.needsNewCodes(account.toUpperCase())
  }

  removeUser (account: string, user: number, actor: string): Result<undefined> {
    const acct = account.toUpperCase()
    const removed = this.#store.removeUser(acct, user)
    if (!removed.ok) return removed
    this.audit(actor, 'user-remove', acct, 'ok', user, null)
    return { ok: true, value: undefined }
  }

  /**
   * Enrols a user's disarm code (or duress code). Refuses weak codes, and a code already used on
   * the account by anyone, as code or as duress code. Write-only: nothing ever reads a code back.
   *
   * The hash is good only under the salt it was made with, for the holder of the number it was
   * asked for. So the salt is read once the hash has its turn (a reset while waiting is no
   * matter), and both are checked again where the hash is written: if codes were reset, the
   * account moved to another tenant, or the number changed hands while hashing, nothing is written
   * and the answer is DC09_ERR_ACCOUNT_CHANGED (the code can be set again, under the new salt).
   */
  async setCode (account: string, user: number, code: string, duress: boolean, actor: string): Promise<Result<undefined>> {
    const acct = account.toUpperCase()
    if (!this.isUser(acct, user)) return err('DC09_ERR_USER_NOT_FOUND', `account ${acct} has no user ${user}`)
    // Which holder of the number the request is for: a number removed and added again is another account.
    const holder = this.#accounts.get(acct)?.createdAt
    if (holder === undefined) return err('DC09_ERR_USER_NOT_FOUND', `account ${acct} has no user ${user}`)
    const weak = weakCode(code, this.#limitsNow().rules)
    if (weak !== undefined) return err('DC09_ERR_CODE_WEAK', weak)
    const pepper = this.#pepper()
    let hashed: { salt: Buffer, hash: Buffer } | undefined
    try {
      hashed = await this.#hashing.run(async () => {
        // No salt row is made for a number whose holder is gone: it would be left to the next one.
        if (this.#accounts.get(acct)?.createdAt !== holder) return undefined
        const { salt, n } = this.#store.salt(acct, this.#freshSlots(acct))
        return { salt, hash: await this.#hash(pepper, salt, code, n) }
      })
    } catch (e) {
      if (e instanceof HashQueueFull) return err(e.code, e.message)
      throw e
    }
    if (hashed === undefined) return accountChanged()
    const { salt, hash } = hashed
    // The store checks and writes in one atomic operation: no other process can reset, move or
    // remove in between (the holder is checked again inside it).
    const done = this.#store.setCode({ account: acct, user, duress, hash, salt, at: this.#now() }, (users) => this.#codeFree(acct, holder, users, user, duress, hash))
    if (done.ok) this.audit(actor, duress ? 'duress-code-set' : 'code-set', acct, 'ok', user, null)
    return done
  }

  /** Whether the hash may be written: the holder is the one it was asked for, and no one else on the account has that code. */
  #codeFree (acct: string, holder: string, users: readonly UserHashes[], user: number, duress: boolean, hash: Buffer): Result<undefined> {
    if (this.#accounts.get(acct)?.createdAt !== holder) return accountChanged()
    for (const o of users) {
      // The user's own slot being replaced does not count; everything else on the account does.
      const against = [duress || o.user !== user ? o.code : null, !duress || o.user !== user ? o.duress : null]
      for (const h of against) {
        if (h !== null && timingSafeEqual(h, hash)) return err('DC09_ERR_CODE_TAKEN', 'that code is already used on this account; choose another')
      }
    }
    return ok(undefined)
  }

  /** Lifts an account's verification lock (an operator's decision, audited). */
  unlock (account: string, actor: string): void {
    const acct = account.toUpperCase()
    // The failures before the unlock are forgiven with the lock.
    const write: LimitRow = { key: `a:${acct}`, failures: 0, lockedUntil: 0, since: this.#opts.clock(), recent: packFailures([], Math.min(this.#limitsNow().maxFailures, MAX_RECENT)) }
    this.#store.updateLimits([write.key], () => ({ writes: [write], value: undefined }))
    this.audit(actor, 'verify-unlock', acct, 'ok', null, null)
  }

  /**
   * Every code on every account becomes invalid at once (a leak is suspected): hashes deleted,
   * salts renewed, accounts marked as needing new codes, and the audit records it.
   */
  resetAll (actor: string): number {
    // One blob of dummies for every account (none holds a code to hide). No hash is left that the
    // pepper keyed, so the store forgets its check: a new pepper may be adopted (the lost-pepper case).
    const n = this.#store.resetAll(this.#opts.scryptN, buildSlots([]), this.#now(), DUMMY)
    this.audit(actor, 'codes-reset-all', null, 'ok', null, `${n} account(s)`)
    return n
  }

  // ------------------------------------------------------------ verification

  /**
   * Checks a code for an account, journals the outcome through `record`, and only then answers.
   * If `record` fails, the error propagates: nothing is answered that was not journaled.
   */
  async verify (account: string, code: string, caller: string, record: (e: VerificationEvent) => Promise<void>, source?: string): Promise<VerifyResult> {
    const acct = account.toUpperCase()
    // Callers check the form first (a bad one is a usage error, not an attempt).
    if (!/^[0-9A-Z]{3,16}$/.test(acct)) throw new VerifierError('DC09_ERR_ACCOUNT_INVALID', 'an account number is 3 to 16 letters or digits')
    const pepper = this.#pepper()
    // The hash waits its turn (the row is read once it has it, so it is the current one). A full
    // queue refuses here, before anything is read, counted, audited or journaled: the refusal
    // is the same whatever the account and code, and it is no attempt.
    let row: SlotRow
    let hash: Buffer
    let holder: string | undefined
    try {
      ({ row, hash, holder } = await this.#hashing.run(async () => {
        const row = this.#store.slots(acct, DUMMY)!
        // Whose codes these are: the event names that holder of the number, whoever holds it when
        // the pipeline gets to the event. Looked up for every account, known or not.
        const holder = this.#accounts.get(acct)?.createdAt
        // Bounded: no enrolled code is longer than 16 digits, so a cut longer input still matches nothing.
        return { row, holder, hash: await this.#hash(pepper, row.salt, code.slice(0, 64), row.n) }
      }))
    } catch (e) {
      if (e instanceof HashQueueFull) throw new VerifierError(e.code, e.message)
      throw e
    }
    const now = this.#opts.clock()
    const lim = this.#limitsNow()
    const m = matchSlots(hash, row.slots)
    // A duress code raises its silent event whatever the answer: a keyholder forced to call while
    // the account is locked (perhaps by whoever forces them) is an emergency all the same.
    const duress = m.found === 1 && m.duress === 1
    // The counters are read and written in one atomic store operation after the hash, so attempts
    // running at the same time (here or in another process) each count: none can overwrite
    // another's failure. Every attempt writes both rows, whatever its outcome.
    const aKey = `a:${acct}`
    const cKey = `c:${caller}`
    const { outcome, lockedUntil } = this.#store.updateLimits([aKey, cKey], (limits) => {
      const accountLimit = limits.get(aKey) ?? { key: aKey, failures: 0, lockedUntil: 0, since: now, recent: null }
      const callerLimit = limits.get(cKey) ?? { key: cKey, failures: 0, lockedUntil: 0, since: now, recent: null }
      const lockedUntil = Math.max(accountLimit.lockedUntil, callerLimit.lockedUntil)
      const outcome: Outcome = lockedUntil > now ? 'locked' : m.found === 1 ? 'valid' : 'invalid'
      const failed = outcome === 'invalid' ? 1 : 0
      // The same writes for every outcome: both counters (the account's failure times always
      // rewritten at the same size), one audit row.
      // The account counts its failures of the last lockMs, each aging out on its own. A valid
      // (or duress) code leaves them be: whoever knows one code, a coerced keyholder or an
      // insider, must not wipe the count of someone guessing between their entries.
      const recent = recentFailures(accountLimit, now - lim.lockMs)
      if (failed === 1) recent.push(now)
      const aLock = failed === 1 && recent.length >= lim.maxFailures
      const aLocked = aLock ? now + lim.lockMs : accountLimit.lockedUntil
      // A lock starts the count again: its failures were paid for.
      const aKept = aLock ? [] : recent
      const cFresh = now - callerLimit.since > lim.callerWindowMs
      const cFailures = (cFresh ? 0 : callerLimit.failures) + failed
      const cLocked = cFailures >= lim.callerMaxFailures && failed === 1 ? now + lim.callerLockMs : callerLimit.lockedUntil
      const writes: LimitRow[] = [
        { key: aKey, failures: aKept.length, lockedUntil: aLocked, since: now, recent: packFailures(aKept, Math.min(lim.maxFailures, MAX_RECENT)) },
        { key: cKey, failures: cFailures >= lim.callerMaxFailures ? 0 : cFailures, lockedUntil: cLocked, since: cFresh ? now : callerLimit.since, recent: null },
      ]
      return { writes, value: { outcome, lockedUntil } }
    })
    // The audit row says what the caller was told, so it is written once the event is journaled:
    // an attempt whose event could not be journaled was not answered, and says so.
    const audited = (result: string, detail: string | null): void => {
      this.#trail.append({ at: new Date(now).toISOString(), actor: caller, action: 'verify', account: acct, outcome: result, user: outcome === 'valid' || duress ? m.user : null, detail, source: source ?? null })
    }
    try {
      await record({ kind: duress ? 'duress' : 'verification', account: acct, ...(holder === undefined ? {} : { holder }), data: { outcome, user: outcome === 'valid' || duress ? m.user : null, caller } })
    } catch (err) {
      audited('unanswered', 'the event could not be journaled')
      throw err
    }
    audited(duress ? 'duress' : outcome, duress && outcome === 'locked' ? 'answered locked' : null)
    if (outcome === 'valid') return { result: 'valid', account: acct, user: m.user }
    if (outcome === 'locked') return { result: 'locked', account: acct, lockedUntil: new Date(lockedUntil).toISOString() }
    return { result: 'invalid', account: acct }
  }

  /** The newest rows first, `limit` of them, before row `before` (pages). */
  auditTrail (limit = 100, before?: number): AuditRow[] {
    return this.#trail.page(limit, before)
  }

  close (): void {
    this.#store.close()
    this.#trail.close()
  }
}

/** Reads the pepper (a file of at least 32 random bytes); never from an argument. */
export function readPepper (file: string): Buffer {
  const pepper = readFileSync(file)
  if (pepper.length < 32) throw new Error(`${file}: a pepper is at least 32 bytes (make one with: head -c 32 /dev/urandom > ${file})`)
  return pepper
}
