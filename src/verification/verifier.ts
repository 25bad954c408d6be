/**
 * Verification of a disarm code presented for an account (by an operator on the phone, or an
 * IVR), and the enrolment of users and their codes. State lives in the data directory's
 * accounts.db: users (with their code hashes), one fixed-size row of salt and code slots per
 * account, failure counters, and the audit trail.
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
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { isPrintableText, MAX_PERSON_NAME } from '../accounts/account.js'
import type { AccountStore } from '../accounts/account-store.js'
import {
  buildSlots, DEFAULT_CODE_RULES, DEFAULT_SCRYPT_N, hashCode, matchSlots, MAX_USERS, weakCode,
  type CodeRules, type EnrolledCode,
} from './codes.js'
import { HashQueue, HashQueueFull } from './hash-queue.js'
import { err, ok, type Err, type Result } from '../result.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  account TEXT NOT NULL, user INTEGER NOT NULL, name TEXT,
  code_hash BLOB, duress_hash BLOB, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
  PRIMARY KEY (account, user)
);
CREATE TABLE IF NOT EXISTS code_slots (
  account TEXT PRIMARY KEY, salt BLOB NOT NULL, n INTEGER NOT NULL, slots BLOB NOT NULL,
  needs_new_codes INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS verify_meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS verify_limits (key TEXT PRIMARY KEY, failures INTEGER NOT NULL, locked_until INTEGER NOT NULL, since INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, recent BLOB);
CREATE TABLE IF NOT EXISTS audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
  account TEXT, outcome TEXT, user INTEGER, detail TEXT, source TEXT
);
`

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


/** A code hashed for a holder or salt that is no longer the account's. */
const changed = (): Err => err('DC09_ERR_ACCOUNT_CHANGED', 'the account changed while the code was being set (its codes were reset, it moved to another tenant, or it was removed and added again); nothing was set: set the code again')

export interface AuditRow {
  readonly id: number
  readonly at: string
  readonly actor: string
  readonly action: string
  readonly account: string | null
  readonly outcome: string | null
  readonly user: number | null
  readonly detail: string | null
  readonly source: string | null
}

interface SlotRow { account: string, salt: Buffer, n: number, slots: Buffer }

interface LimitRow { key: string, failures: number, locked_until: number, since: number, recent: Buffer | null }

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
  readonly #db: Database.Database
  readonly #accounts: AccountStore
  readonly #opts: { pepper: Buffer | undefined, scryptN: number, clock: () => number }
  readonly #overrides: VerifierOptions
  readonly #hashing: HashQueue
  readonly #hash: typeof hashCode
  readonly #slots: Database.Statement<[string, string, string], SlotRow>
  readonly #limits: Database.Statement<[string, string], LimitRow>
  readonly #putLimit: Database.Statement<[string, number, number, number, Buffer | null]>
  readonly #audit: Database.Statement<[string, string, string, string | null, string | null, number | null, string | null, string | null]>

  constructor (dataDir: string, accounts: AccountStore, options: VerifierOptions) {
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
    this.#db = new Database(join(dataDir, 'accounts.db'))
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    this.#db.exec(SCHEMA)
    // Audit rows say where a request came from since the HTTP interface; older directories gain the column.
    if (!(this.#db.prepare('PRAGMA table_info(audit)').all() as Array<{ name: string }>).some((c) => c.name === 'source')) {
      try { this.#db.exec('ALTER TABLE audit ADD COLUMN source TEXT') } catch (err) { if (!/duplicate column/i.test((err as Error).message)) throw err }
    }
    if (!(this.#db.prepare('PRAGMA table_info(verify_limits)').all() as Array<{ name: string }>).some((c) => c.name === 'attempts')) {
      try { this.#db.exec('ALTER TABLE verify_limits ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0') } catch (err) { if (!/duplicate column/i.test((err as Error).message)) throw err }
    }
    // An account's failures carry their times, so that each ages out on its own.
    if (!(this.#db.prepare('PRAGMA table_info(verify_limits)').all() as Array<{ name: string }>).some((c) => c.name === 'recent')) {
      try { this.#db.exec('ALTER TABLE verify_limits ADD COLUMN recent BLOB') } catch (err) { if (!/duplicate column/i.test((err as Error).message)) throw err }
    }
    if (options.pepper !== undefined) this.#checkPepper(options.pepper)
    if (this.#db.prepare('SELECT 1 FROM code_slots WHERE account = ?').get(DUMMY) === undefined) {
      this.#db.prepare('INSERT INTO code_slots (account, salt, n, slots) VALUES (?, ?, ?, ?)').run(DUMMY, randomBytes(16), this.#opts.scryptN, buildSlots([]))
    } else {
      // An unknown account costs what a new account's codes cost.
      this.#db.prepare('UPDATE code_slots SET n = ? WHERE account = ?').run(this.#opts.scryptN, DUMMY)
    }
    // One statement, one row, the same size, for known and unknown accounts alike.
    this.#slots = this.#db.prepare('SELECT account, salt, n, slots FROM code_slots WHERE account IN (?, ?) ORDER BY account = ? LIMIT 1')
    this.#limits = this.#db.prepare('SELECT key, failures, locked_until, since, recent FROM verify_limits WHERE key IN (?, ?)')
    // Every attempt changes both rows it writes (`attempts` counts up): a row rewritten with the
    // content it had is measurably cheaper than a changed one (about 2 µs, Welch t 28 in
    // bench:timing), which would tell a valid code's attempt, that leaves the caller's failures
    // as they were, from an invalid one.
    this.#putLimit = this.#db.prepare('INSERT INTO verify_limits (key, failures, locked_until, since, attempts, recent) VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, since = excluded.since, attempts = attempts + 1, recent = excluded.recent')
    this.#audit = this.#db.prepare('INSERT INTO audit (at, actor, action, account, outcome, user, detail, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
  }

  /**
   * A wrong pepper would make every enrolled code fail, silently. The database keeps an HMAC of
   * a constant under the pepper (which says nothing about the pepper) to refuse that at start.
   */
  #checkPepper (pepper: Buffer): void {
    const check = createHmac('sha256', pepper).update('dc09 pepper check v1').digest()
    const row = this.#db.prepare('SELECT value FROM verify_meta WHERE key = ?').get('pepper_check') as { value: Buffer } | undefined
    if (row === undefined) {
      this.#db.prepare('INSERT INTO verify_meta (key, value) VALUES (?, ?)').run('pepper_check', check)
    } else if (!timingSafeEqual(row.value, check)) {
      this.#db.close()
      throw new VerifierError('DC09_ERR_PEPPER_MISMATCH', 'this pepper is not the one the codes in this data directory were enrolled with (a different file, or a changed one); use the right pepper, or if it is lost: dc09 codes reset-all and enrol every code again')
    }
  }

  #pepper (): Buffer {
    if (this.#opts.pepper === undefined) throw new VerifierError('DC09_ERR_PEPPER', 'a pepper is needed to enrol or verify codes')
    return this.#opts.pepper
  }

  /** The policy as stored (defaults for what was never set). */
  policy (): Policy {
    const row = this.#db.prepare('SELECT value FROM verify_meta WHERE key = ?').get('policy') as { value: Buffer } | undefined
    return { ...DEFAULT_POLICY, ...(row === undefined ? {} : JSON.parse(row.value.toString('utf8')) as Partial<Policy>) }
  }

  /** Changes the policy (only the given fields); audited. */
  setPolicy (patch: Partial<Policy>, actor: string): Result<Policy> {
    for (const [k, v] of Object.entries(patch)) {
      const b = Object.hasOwn(POLICY_BOUNDS, k) ? POLICY_BOUNDS[k as keyof Policy] : undefined
      if (b === undefined) return err('DC09_ERR_POLICY_INVALID', `no policy setting ${k}`)
      if (!Number.isInteger(v) || (v as number) < b[0] || (v as number) > b[1]) return err('DC09_ERR_POLICY_INVALID', `${k} is a whole number from ${b[0]} to ${b[1]}`)
    }
    const next = { ...this.policy(), ...patch }
    this.#db.prepare('INSERT INTO verify_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run('policy', Buffer.from(JSON.stringify(next)))
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
    this.#audit.run(this.#now(), actor, action, account, outcome, user, detail, source)
  }

  // ------------------------------------------------------------ users and codes

  addUser (account: string, user: number, name: string | undefined, actor: string): Result<undefined> {
    const acct = account.toUpperCase()
    if (this.#accounts.get(acct) === undefined) return err('DC09_ERR_ACCOUNT_NOT_FOUND', `no account ${acct}`)
    if (!Number.isInteger(user) || user < 1 || user > 9999) return err('DC09_ERR_USER_INVALID', 'a user number is 1 to 9999')
    // The same rule as for keyholders and sites: what an operator reads is what is stored.
    if (name !== undefined && !isPrintableText(name, MAX_PERSON_NAME)) return err('DC09_ERR_USER_INVALID', `a name is 1 to ${MAX_PERSON_NAME} printable characters, without control or format characters or spaces at either end`)
    const count = (this.#db.prepare('SELECT count(*) AS n FROM users WHERE account = ?').get(acct) as { n: number }).n
    if (count >= MAX_USERS) return err('DC09_ERR_USER_INVALID', `an account has at most ${MAX_USERS} users`)
    const now = this.#now()
    const r = this.#db.prepare('INSERT INTO users (account, user, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING').run(acct, user, name ?? null, now, now)
    if (r.changes === 0) return err('DC09_ERR_USER_EXISTS', `account ${acct} already has user ${user}`)
    this.audit(actor, 'user-add', acct, 'ok', user, null)
    return { ok: true, value: undefined }
  }

  listUsers (account: string): Array<{ user: number, name: string | null, hasCode: boolean, hasDuressCode: boolean }> {
    return (this.#db.prepare('SELECT user, name, code_hash IS NOT NULL AS c, duress_hash IS NOT NULL AS d FROM users WHERE account = ? ORDER BY user').all(account.toUpperCase()) as Array<{ user: number, name: string | null, c: number, d: number }>)
      .map((r) => ({ user: r.user, name: r.name, hasCode: r.c === 1, hasDuressCode: r.d === 1 }))
  }

  /** Whether the account has this user (the cases stage asks: an opening by a valid user). */
  isUser (account: string, user: number): boolean {
    return this.#db.prepare('SELECT 1 FROM users WHERE account = ? AND user = ?').get(account.toUpperCase(), user) !== undefined
  }

  needsNewCodes (account: string): boolean {
    return (this.#db.prepare('SELECT needs_new_codes AS n FROM code_slots WHERE account = ?').get(account.toUpperCase()) as { n: number } | undefined)?.n === 1
  }

  removeUser (account: string, user: number, actor: string): Result<undefined> {
    const acct = account.toUpperCase()
    const r = this.#db.prepare('DELETE FROM users WHERE account = ? AND user = ?').run(acct, user)
    if (r.changes === 0) return err('DC09_ERR_USER_NOT_FOUND', `account ${acct} has no user ${user}`)
    this.#rebuild(acct)
    this.audit(actor, 'user-remove', acct, 'ok', user, null)
    return { ok: true, value: undefined }
  }

  /** The account's salt row, made on first use. */
  #saltRow (acct: string): { salt: Buffer, n: number } {
    let row = this.#db.prepare('SELECT salt, n FROM code_slots WHERE account = ?').get(acct) as { salt: Buffer, n: number } | undefined
    if (row === undefined) {
      row = { salt: randomBytes(16), n: this.#opts.scryptN }
      this.#db.prepare('INSERT INTO code_slots (account, salt, n, slots) VALUES (?, ?, ?, ?)').run(acct, row.salt, row.n, buildSlots([]))
    }
    return row
  }

  /** Writes the account's slot blob again from its users' hashes. */
  #rebuild (acct: string): void {
    const users = this.#db.prepare('SELECT user, code_hash, duress_hash FROM users WHERE account = ?').all(acct) as Array<{ user: number, code_hash: Buffer | null, duress_hash: Buffer | null }>
    const codes: EnrolledCode[] = []
    for (const u of users) {
      if (u.code_hash !== null) codes.push({ user: u.user, kind: 1, hash: u.code_hash })
      if (u.duress_hash !== null) codes.push({ user: u.user, kind: 2, hash: u.duress_hash })
    }
    const missing = users.some((u) => u.code_hash === null)
    this.#db.prepare('UPDATE code_slots SET slots = ?, needs_new_codes = needs_new_codes AND ? WHERE account = ?').run(buildSlots(codes), missing ? 1 : 0, acct)
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
        const { salt, n } = this.#saltRow(acct)
        return { salt, hash: await this.#hash(pepper, salt, code, n) }
      })
    } catch (e) {
      if (e instanceof HashQueueFull) return err(e.code, e.message)
      throw e
    }
    if (hashed === undefined) return changed()
    const { salt, hash } = hashed
    // Checked and written in one transaction (that takes the write lock first), so no other
    // process can reset, move or remove in between.
    const done = this.#db.transaction((): Result<undefined> => {
      const current = this.#db.prepare('SELECT salt FROM code_slots WHERE account = ?').get(acct) as { salt: Buffer } | undefined
      if (current === undefined || !current.salt.equals(salt) || this.#accounts.get(acct)?.createdAt !== holder) return changed()
      const others = this.#db.prepare('SELECT user, code_hash, duress_hash FROM users WHERE account = ?').all(acct) as Array<{ user: number, code_hash: Buffer | null, duress_hash: Buffer | null }>
      for (const o of others) {
        // The user's own slot being replaced does not count; everything else on the account does.
        const against = [duress || o.user !== user ? o.code_hash : null, !duress || o.user !== user ? o.duress_hash : null]
        for (const h of against) {
          if (h !== null && timingSafeEqual(h, hash)) return err('DC09_ERR_CODE_TAKEN', 'that code is already used on this account; choose another')
        }
      }
      const r = this.#db.prepare(`UPDATE users SET ${duress ? 'duress_hash' : 'code_hash'} = ?, updated_at = ? WHERE account = ? AND user = ?`).run(hash, this.#now(), acct, user)
      // The user was removed while the code was hashed.
      if (r.changes === 0) return err('DC09_ERR_USER_NOT_FOUND', `account ${acct} has no user ${user}`)
      this.#rebuild(acct)
      return { ok: true, value: undefined }
    }).immediate()
    if (done.ok) this.audit(actor, duress ? 'duress-code-set' : 'code-set', acct, 'ok', user, null)
    return done
  }

  /** Lifts an account's verification lock (an operator's decision, audited). */
  unlock (account: string, actor: string): void {
    const acct = account.toUpperCase()
    // The failures before the unlock are forgiven with the lock.
    this.#putLimit.run(`a:${acct}`, 0, 0, this.#opts.clock(), packFailures([], Math.min(this.#limitsNow().maxFailures, MAX_RECENT)))
    this.audit(actor, 'verify-unlock', acct, 'ok', null, null)
  }

  /**
   * Every code on every account becomes invalid at once (a leak is suspected): hashes deleted,
   * salts renewed, accounts marked as needing new codes, and the audit records it.
   */
  resetAll (actor: string): number {
    let n = 0
    this.#db.transaction(() => {
      this.#db.prepare('UPDATE users SET code_hash = NULL, duress_hash = NULL, updated_at = ?').run(this.#now())
      // One statement, quick enough for the receiver's event loop with many accounts: new salts
      // (SQLite's randomness: a salt must be unique, not secret) and one blob of dummies for every
      // account (none holds a code to hide).
      n = this.#db.prepare('UPDATE code_slots SET salt = randomblob(16), n = ?, slots = ?, needs_new_codes = 1 WHERE account <> ?').run(this.#opts.scryptN, buildSlots([]), DUMMY).changes
      // No hash is left that the pepper keyed: a new pepper may be adopted (the lost-pepper case).
      this.#db.prepare('DELETE FROM verify_meta WHERE key = ?').run('pepper_check')
    })()
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
        const row = this.#slots.get(acct, DUMMY, DUMMY)!
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
    // The counters are read and written in one transaction after the hash, so attempts running at
    // the same time (here or in another process) each count: none can overwrite another's failure.
    const { outcome, lockedUntil } = this.#db.transaction((): { outcome: Outcome, lockedUntil: number } => {
      const limits = this.#limits.all(`a:${acct}`, `c:${caller}`)
      const accountLimit = limits.find((l) => l.key === `a:${acct}`) ?? { failures: 0, locked_until: 0, since: now, recent: null }
      const callerLimit = limits.find((l) => l.key === `c:${caller}`) ?? { failures: 0, locked_until: 0, since: now, recent: null }
      const lockedUntil = Math.max(accountLimit.locked_until, callerLimit.locked_until)
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
      const aLocked = aLock ? now + lim.lockMs : accountLimit.locked_until
      // A lock starts the count again: its failures were paid for.
      const aKept = aLock ? [] : recent
      const cFresh = now - callerLimit.since > lim.callerWindowMs
      const cFailures = (cFresh ? 0 : callerLimit.failures) + failed
      const cLocked = cFailures >= lim.callerMaxFailures && failed === 1 ? now + lim.callerLockMs : callerLimit.locked_until
      this.#putLimit.run(`a:${acct}`, aKept.length, aLocked, now, packFailures(aKept, Math.min(lim.maxFailures, MAX_RECENT)))
      this.#putLimit.run(`c:${caller}`, cFailures >= lim.callerMaxFailures ? 0 : cFailures, cLocked, cFresh ? now : callerLimit.since, null)
      return { outcome, lockedUntil }
    }).immediate()
    // The audit row says what the caller was told, so it is written once the event is journaled:
    // an attempt whose event could not be journaled was not answered, and says so.
    const audited = (result: string, detail: string | null): void => {
      this.#audit.run(new Date(now).toISOString(), caller, 'verify', acct, result, outcome === 'valid' || duress ? m.user : null, detail, source ?? null)
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
    return this.#db.prepare('SELECT id, at, actor, action, account, outcome, user, detail, source FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?').all(before ?? Number.MAX_SAFE_INTEGER, limit) as AuditRow[]
  }

  close (): void {
    this.#db.close()
  }
}

/** Reads the pepper (a file of at least 32 random bytes); never from an argument. */
export function readPepper (file: string): Buffer {
  const pepper = readFileSync(file)
  if (pepper.length < 32) throw new Error(`${file}: a pepper is at least 32 bytes (make one with: head -c 32 /dev/urandom > ${file})`)
  return pepper
}
