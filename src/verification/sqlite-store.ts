/**
 * The verifier's rows in SQLite, in the data directory's accounts.db (beside the accounts, so that
 * the account store removes, moves and purges them in its own transactions): users, code_slots,
 * verify_limits and verify_meta. Atomic operations are one transaction each, taken with the write
 * lock first (BEGIN IMMEDIATE) where they read before writing.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { ok, type Result } from '../result.js'
import {
  accountChanged, slotsOf, tooManyUsers, userExists, userNotFound,
  type CodeWrite, type LimitRow, type SlotRow, type UserHashes, type UserInfo, type VerificationStore,
} from './verification-store.js'

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
`

interface LimitSql { key: string, failures: number, locked_until: number, since: number, recent: Buffer | null }

export class SqliteVerificationStore implements VerificationStore {
  readonly #db: Database.Database
  readonly #slots: Database.Statement<[string, string, string], SlotRow>
  readonly #putLimit: Database.Statement<[string, number, number, number, Buffer | null]>
  /** The counters' read, by how many keys it reads (every verification reads two). */
  readonly #readLimits = new Map<number, Database.Statement<string[], LimitSql>>()

  readonly #newSalts: string

  /**
   * `salt`: where resetAll's new salts come from (default: SQLite's randomness). A replica of the
   * cluster's state gives one derived from the change it replays, so that every replica makes the
   * same salts.
   */
  constructor (dataDir: string, opts: { readonly salt?: ((account: string) => Buffer) | undefined } = {}) {
    this.#db = new Database(join(dataDir, 'accounts.db'))
    const salt = opts.salt
    if (salt !== undefined) this.#db.function('dc09_salt', { deterministic: false }, (account: unknown) => salt(String(account)))
    this.#newSalts = salt === undefined ? 'randomblob(16)' : 'dc09_salt(account)'
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    this.#db.exec(SCHEMA)
    this.#addColumn('verify_limits', 'attempts', 'INTEGER NOT NULL DEFAULT 0')
    // An account's failures carry their times, so that each ages out on its own.
    this.#addColumn('verify_limits', 'recent', 'BLOB')
    // One statement, one row, the same size, for known and unknown accounts alike.
    this.#slots = this.#db.prepare('SELECT account, salt, n, slots FROM code_slots WHERE account IN (?, ?) ORDER BY account = ? LIMIT 1')
    // Every write changes its row (`attempts` counts up): a row rewritten with the content it had
    // is measurably cheaper than a changed one (about 2 µs, Welch t 28 in bench:timing), which
    // would tell a valid code's attempt, that leaves the caller's failures as they were, from an
    // invalid one.
    this.#putLimit = this.#db.prepare('INSERT INTO verify_limits (key, failures, locked_until, since, attempts, recent) VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, locked_until = excluded.locked_until, since = excluded.since, attempts = attempts + 1, recent = excluded.recent')
  }

  /** Older data directories gain the columns added since (another process may add one at the same time). */
  #addColumn (table: string, column: string, type: string): void {
    if ((this.#db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).some((c) => c.name === column)) return
    try { this.#db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`) } catch (err) { if (!/duplicate column/i.test((err as Error).message)) throw err }
  }

  pepperCheck (check: Buffer): Buffer {
    const read = (): Buffer | undefined => (this.#db.prepare('SELECT value FROM verify_meta WHERE key = ?').get('pepper_check') as { value: Buffer } | undefined)?.value
    // A read first: only the first start of a data directory writes.
    const stored = read()
    if (stored !== undefined) return stored
    this.#db.prepare('INSERT INTO verify_meta (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING').run('pepper_check', check)
    return read()!
  }

  policy (): string | undefined {
    return (this.#db.prepare('SELECT value FROM verify_meta WHERE key = ?').get('policy') as { value: Buffer } | undefined)?.value.toString('utf8')
  }

  setPolicy (json: string): void {
    this.#db.prepare('INSERT INTO verify_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run('policy', Buffer.from(json))
  }

  addUser (account: string, user: number, name: string | null, at: string, maxUsers: number): Result<undefined> {
    return this.#db.transaction((): Result<undefined> => {
      const count = (this.#db.prepare('SELECT count(*) AS n FROM users WHERE account = ?').get(account) as { n: number }).n
      if (count >= maxUsers) return tooManyUsers(maxUsers)
      const r = this.#db.prepare('INSERT INTO users (account, user, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING').run(account, user, name, at, at)
      return r.changes === 0 ? userExists(account, user) : ok(undefined)
    }).immediate()
  }

  listUsers (account: string): UserInfo[] {
    return (this.#db.prepare('SELECT user, name, code_hash IS NOT NULL AS c, duress_hash IS NOT NULL AS d FROM users WHERE account = ? ORDER BY user').all(account) as Array<{ user: number, name: string | null, c: number, d: number }>)
      .map((r) => ({ user: r.user, name: r.name, hasCode: r.c === 1, hasDuressCode: r.d === 1 }))
  }

  isUser (account: string, user: number): boolean {
    return this.#db.prepare('SELECT 1 FROM users WHERE account = ? AND user = ?').get(account, user) !== undefined
  }

  removeUser (account: string, user: number): Result<undefined> {
    return this.#db.transaction((): Result<undefined> => {
      const r = this.#db.prepare('DELETE FROM users WHERE account = ? AND user = ?').run(account, user)
      if (r.changes === 0) return userNotFound(account, user)
      this.#rebuild(account)
      return ok(undefined)
    }).immediate()
  }

  needsNewCodes (account: string): boolean {
    return (this.#db.prepare('SELECT needs_new_codes AS n FROM code_slots WHERE account = ?').get(account) as { n: number } | undefined)?.n === 1
  }

  slots (account: string, fallback: string): SlotRow | undefined {
    return this.#slots.get(account, fallback, fallback)
  }

  salt (account: string, fresh: SlotRow): { salt: Buffer, n: number } {
    const read = (): { salt: Buffer, n: number } | undefined => this.#db.prepare('SELECT salt, n FROM code_slots WHERE account = ?').get(account) as { salt: Buffer, n: number } | undefined
    // A read first: an account that has its row (the usual case) costs no write, nor the write lock.
    const row = read()
    if (row !== undefined) return row
    // Another process may make the row meanwhile: then its salt is the one.
    this.#db.prepare('INSERT INTO code_slots (account, salt, n, slots) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING').run(account, fresh.salt, fresh.n, fresh.slots)
    return read()!
  }

  setCost (account: string, n: number): void {
    this.#db.prepare('UPDATE code_slots SET n = ? WHERE account = ?').run(n, account)
  }

  #users (account: string): UserHashes[] {
    return (this.#db.prepare('SELECT user, code_hash, duress_hash FROM users WHERE account = ?').all(account) as Array<{ user: number, code_hash: Buffer | null, duress_hash: Buffer | null }>)
      .map((u) => ({ user: u.user, code: u.code_hash, duress: u.duress_hash }))
  }

  /** Writes the account's slot blob again from its users' hashes (inside the caller's transaction). */
  #rebuild (account: string): void {
    const users = this.#users(account)
    const missing = users.some((u) => u.code === null)
    this.#db.prepare('UPDATE code_slots SET slots = ?, needs_new_codes = needs_new_codes AND ? WHERE account = ?').run(slotsOf(users), missing ? 1 : 0, account)
  }

  setCode (w: CodeWrite, check: (users: readonly UserHashes[]) => Result<undefined>): Result<undefined> {
    // The write lock first: no other process can reset, move or remove in between.
    return this.#db.transaction((): Result<undefined> => {
      const current = this.#db.prepare('SELECT salt FROM code_slots WHERE account = ?').get(w.account) as { salt: Buffer } | undefined
      if (current === undefined || !current.salt.equals(w.salt)) return accountChanged()
      const checked = check(this.#users(w.account))
      if (!checked.ok) return checked
      const r = this.#db.prepare(`UPDATE users SET ${w.duress ? 'duress_hash' : 'code_hash'} = ?, updated_at = ? WHERE account = ? AND user = ?`).run(w.hash, w.at, w.account, w.user)
      if (r.changes === 0) return userNotFound(w.account, w.user)
      this.#rebuild(w.account)
      return ok(undefined)
    }).immediate()
  }

  resetAll (n: number, slots: Buffer, at: string, keep: string): number {
    return this.#db.transaction((): number => {
      this.#db.prepare('UPDATE users SET code_hash = NULL, duress_hash = NULL, updated_at = ?').run(at)
      // One statement, quick enough for the receiver's event loop with many accounts: new salts
      // (SQLite's randomness: a salt must be unique, not secret) and one blob of dummies for every
      // account (none holds a code to hide).
      const changed = this.#db.prepare(`UPDATE code_slots SET salt = ${this.#newSalts}, n = ?, slots = ?, needs_new_codes = 1 WHERE account <> ?`).run(n, slots, keep).changes
      this.#db.prepare('DELETE FROM verify_meta WHERE key = ?').run('pepper_check')
      return changed
    })()
  }

  updateLimits<T> (keys: readonly string[], update: (rows: ReadonlyMap<string, LimitRow>) => { readonly writes: readonly LimitRow[], readonly value: T }): T {
    return this.#db.transaction((): T => {
      const rows = new Map<string, LimitRow>()
      for (const r of this.#limitsOf(keys.length).all(...keys)) rows.set(r.key, { key: r.key, failures: r.failures, lockedUntil: r.locked_until, since: r.since, recent: r.recent })
      const { writes, value } = update(rows)
      for (const l of writes) this.#putLimit.run(l.key, l.failures, l.lockedUntil, l.since, l.recent)
      return value
    }).immediate()
  }

  #limitsOf (count: number): Database.Statement<string[], LimitSql> {
    let st = this.#readLimits.get(count)
    if (st === undefined) {
      st = this.#db.prepare(`SELECT key, failures, locked_until, since, recent FROM verify_limits WHERE key IN (${Array.from({ length: count }, () => '?').join(', ')})`)
      this.#readLimits.set(count, st)
    }
    return st
  }

  attempts (key: string): number {
    return (this.#db.prepare('SELECT attempts FROM verify_limits WHERE key = ?').get(key) as { attempts: number } | undefined)?.attempts ?? 0
  }

  close (): void {
    this.#db.close()
  }
}
