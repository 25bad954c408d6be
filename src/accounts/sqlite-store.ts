/**
 * Accounts in SQLite (better-sqlite3), in `DIR/accounts.db`.
 *
 * The receiver reads accounts through a bounded cache (the least recently used goes first) over
 * point reads of the file; unknown numbers are remembered too, within the same bound. Nothing is
 * loaded in bulk, so a million accounts cost what the hot ones cost. The cache follows a change
 * table that triggers fill whenever any process (the CLI, the API) changes an account: a changed
 * account is dropped from the cache and read again when next asked for, so changes take effect
 * without a restart. The receiver only ever reads (WAL readers never wait for a lock, so a long
 * import cannot stall it); writers prune the change table.
 * AES keys are stored in the file (mode 0600, like the rest of the data directory) because the
 * receiver needs them; they never leave this module except expanded inside an AesKey.
 */
import { chmodSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { AesEngine } from '../protocol/index.js'
import {
  AccountError, DEFAULT_WINDOW_AHEAD, DEFAULT_WINDOW_BEHIND, MAX_WINDOW_SECONDS, movesTenant, publicAccount, receiverAccount, validateAccount, visibleChange,
  type Account, type AccountLimits, type AccountInput, type AccountPatch, type AccountFailure, type AccountRow, type Keyholder, type ReceiverAccount,
} from './account.js'
import type { AccountStore, ImportResult, ListOptions, SupervisedAccount } from './account-store.js'
import type { Result } from '../result.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  account TEXT PRIMARY KEY,
  receiver TEXT,
  prefix TEXT,
  key_text TEXT,
  key_format TEXT,
  encryption_required INTEGER NOT NULL,
  window_ahead INTEGER,
  window_behind INTEGER,
  check_plain_timestamp INTEGER NOT NULL DEFAULT 0,
  clock_offset INTEGER,
  time_zone TEXT,
  charset TEXT,
  supervision_seconds INTEGER,
  tenant TEXT,
  site_name TEXT,
  site_fold TEXT,
  site_address TEXT,
  keyholders TEXT,
  vip INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  visible_updated_at TEXT
);
CREATE INDEX IF NOT EXISTS accounts_tenant ON accounts (tenant, account);
CREATE INDEX IF NOT EXISTS accounts_account_tenant ON accounts (account, tenant);
CREATE TABLE IF NOT EXISTS account_changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, account TEXT NOT NULL, at INTEGER NOT NULL DEFAULT (unixepoch()));
CREATE INDEX IF NOT EXISTS account_changes_at ON account_changes (at);
CREATE TRIGGER IF NOT EXISTS accounts_ins AFTER INSERT ON accounts BEGIN INSERT INTO account_changes (account) VALUES (NEW.account); END;
CREATE TRIGGER IF NOT EXISTS accounts_upd AFTER UPDATE ON accounts BEGIN INSERT INTO account_changes (account) VALUES (NEW.account); END;
CREATE TRIGGER IF NOT EXISTS accounts_del AFTER DELETE ON accounts BEGIN INSERT INTO account_changes (account) VALUES (OLD.account); END;
`

/**
 * A search matches the start of the account number or of the folded site name, so each is one
 * range of an index. The tenant leads the tenant's indexes: an installer's search reads only its
 * own tenant's entries, so how long it takes says nothing of other tenants' accounts.
 */
const SEARCH_INDEXES = `
CREATE INDEX IF NOT EXISTS accounts_site ON accounts (site_fold);
CREATE INDEX IF NOT EXISTS accounts_tenant_site ON accounts (tenant, site_fold);
`

/** Above every text that starts with the prefix (U+10FFFF is the highest code point, and sorts last in UTF-8). */
const TOP = '\u{10FFFF}'

/**
 * The statement and arguments of a list: one page in account order, of a tenant or of all, of
 * the accounts whose number or folded site name starts with the search text. Both are ranges of
 * an index (the number's, the site name's) whose results are merged: a search never reads an
 * account that does not match. `INDEXED BY` pins the indexes (a missing one is an error, never a
 * silent scan), and the page mark is kept off the site name's index (`+account`), where it
 * would tempt the planner into walking the account numbers instead.
 */
function listQuery (opts: ListOptions): { sql: string, args: Record<string, unknown> } {
  const limit = Math.max(1, Math.min(opts.limit ?? 1000, 10_000))
  const args: Record<string, unknown> = { after: opts.after?.toUpperCase() ?? '', limit }
  const scoped = opts.tenant !== undefined
  if (scoped) args.tenant = opts.tenant
  const tenant = scoped ? 'tenant = :tenant AND ' : ''
  if (opts.search === undefined) {
    return { sql: `SELECT * FROM accounts WHERE ${tenant}account > :after ORDER BY account LIMIT :limit`, args }
  }
  args.number = opts.search.toUpperCase()
  args.numberTop = args.number + TOP
  args.site = opts.search.toLowerCase()
  args.siteTop = args.site + TOP
  const sql = `SELECT * FROM accounts WHERE account IN (
    SELECT account FROM accounts INDEXED BY ${scoped ? 'accounts_tenant' : 'sqlite_autoindex_accounts_1'}
      WHERE ${tenant}account >= :number AND account < :numberTop AND account > :after
    UNION
    SELECT account FROM accounts INDEXED BY ${scoped ? 'accounts_tenant_site' : 'accounts_site'}
      WHERE ${tenant}site_fold >= :site AND site_fold < :siteTop AND +account > :after
  ) ORDER BY account LIMIT :limit`
  return { sql, args }
}

interface Row {
  account: string
  receiver: string | null
  prefix: string | null
  key_text: string | null
  key_format: string | null
  encryption_required: number
  window_ahead: number | null
  window_behind: number | null
  check_plain_timestamp: number
  clock_offset: number | null
  time_zone: string | null
  charset: string | null
  supervision_seconds: number | null
  tenant: string | null
  site_name: string | null
  site_address: string | null
  keyholders: string | null
  vip: number
  created_at: string
  updated_at: string
  /** NULL in rows from before it was kept: updated_at stands for it. */
  visible_updated_at: string | null
}

const u = <T>(v: T | null): T | undefined => (v === null ? undefined : v)

function toAccountRow (r: Row): AccountRow {
  return {
    account: r.account,
    receiver: u(r.receiver),
    prefix: u(r.prefix),
    keyText: u(r.key_text),
    keyFormat: r.key_format === 'ascii' ? 'ascii' : r.key_format === 'hex' ? 'hex' : undefined,
    encryptionRequired: r.encryption_required === 1,
    windowAhead: u(r.window_ahead),
    windowBehind: u(r.window_behind),
    checkPlainTimestamp: r.check_plain_timestamp === 1,
    clockOffsetSeconds: u(r.clock_offset),
    timeZone: u(r.time_zone),
    charset: u(r.charset),
    supervisionSeconds: u(r.supervision_seconds),
    tenant: u(r.tenant),
    siteName: u(r.site_name),
    siteAddress: u(r.site_address),
    keyholders: r.keyholders === null ? [] : JSON.parse(r.keyholders) as Keyholder[],
    vip: r.vip === 1,
  }
}

/** Columns added after the first release, for data directories made before them. */
const ADDED_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['site_name', 'TEXT'], ['site_fold', 'TEXT'], ['site_address', 'TEXT'], ['keyholders', 'TEXT'], ['vip', 'INTEGER NOT NULL DEFAULT 0'],
  ['visible_updated_at', 'TEXT'],
]

/** The public view of a stored row, and the receiver's. */
const publicOf = (r: Row): Account => publicAccount(toAccountRow(r), r.created_at, r.updated_at, r.visible_updated_at ?? r.updated_at)
const receiverOf = (r: Row, engine: AesEngine | undefined): ReceiverAccount => receiverAccount(toAccountRow(r), r.created_at, r.updated_at, r.visible_updated_at ?? r.updated_at, engine)

/** The statement parameters of a row; `visible`: when a field every role sees last changed. */
function params (row: AccountRow, now: string, visible = now) {
  return {
    account: row.account,
    receiver: row.receiver ?? null,
    prefix: row.prefix ?? null,
    key_text: row.keyText ?? null,
    key_format: row.keyFormat ?? null,
    encryption_required: row.encryptionRequired ? 1 : 0,
    window_ahead: row.windowAhead ?? null,
    window_behind: row.windowBehind ?? null,
    check_plain_timestamp: row.checkPlainTimestamp ? 1 : 0,
    clock_offset: row.clockOffsetSeconds ?? null,
    time_zone: row.timeZone ?? null,
    charset: row.charset ?? null,
    supervision_seconds: row.supervisionSeconds ?? null,
    tenant: row.tenant ?? null,
    site_name: row.siteName ?? null,
    // Case folded here, so a search compares in SQL without calling back into JavaScript per row.
    site_fold: row.siteName?.toLowerCase() ?? null,
    site_address: row.siteAddress ?? null,
    keyholders: row.keyholders.length === 0 ? null : JSON.stringify(row.keyholders),
    vip: row.vip ? 1 : 0,
    now,
    visible,
  }
}

/**
 * What an import writes: each row; for an account that exists, what its update needs of the
 * stored row (little: a million stored rows are not kept in memory), `visible` undefined when a
 * field every role sees changes; and whether it leaves its tenant.
 */
type ImportPlan = Array<{ row: AccountRow, current: { tenant: string | null, visible: string | undefined } | undefined, moves: boolean }>

/**
 * Tables the verifier keeps under an account number in this database: its users (names, code
 * hashes), its salt and code slots, and failure counters (`a:<number>`). The store removes and
 * purges them with the account, in one transaction; the verifier creates them.
 */
const HELD_TABLES = ['users', 'code_slots', 'verify_limits'] as const
const NUMBER_RE = /^[0-9A-Z]{3,16}$/

/** Accounts (known or unknown) the receiver's cache holds by default: sized for 100k hot accounts, about 4.4 KB each with the key expanded. */
export const DEFAULT_CACHE_ENTRIES = 100_000

/**
 * Changes one refresh reads at most. More than that (an import) and the cache is emptied
 * instead: it fills again from point reads, and reading a million changes would hold the
 * receiver's event loop.
 */
const REFRESH_PAGE = 10_000

export interface SqliteStoreOptions {
  readonly engine?: AesEngine | undefined
  /** The receiver's duplicate window in seconds: no account's timestamp window may be wider (default 600). */
  readonly maxWindowSeconds?: number | undefined
  /** The clock for created/updated times (tests). */
  readonly now?: (() => Date) | undefined
  /** Accounts, known or unknown, the receiver's cache holds at most (default DEFAULT_CACHE_ENTRIES). */
  readonly cacheEntries?: number | undefined
  /**
   * Where the new salt of an account moved to another tenant comes from (default: SQLite's
   * randomness). A replica of the cluster's state gives one derived from the change it replays,
   * so that every replica makes the same salt.
   */
  readonly salt?: ((account: string) => Buffer) | undefined
}

export class SqliteAccountStore implements AccountStore {
  readonly #db: Database.Database
  /** The SQL that makes a new salt (see SqliteStoreOptions.salt). */
  readonly #newSalt: string
  readonly #engine: AesEngine | undefined
  readonly #now: () => Date
  readonly #limits: AccountLimits
  /** The receiver's cache, in order of use (the least recently used first); null: no such account. */
  readonly #cache = new Map<string, ReceiverAccount | null>()
  readonly #cacheEntries: number
  /** The last change the cache has taken into account; undefined until the receiver first asks. */
  #changeSeq: number | undefined
  readonly #held = new Set<string>()
  /** The tables of HELD_TABLES as an import found them when it took the write lock (none can appear while it holds it). */
  #heldNow: ReadonlySet<string> | undefined
  /** Statements of the helpers on the verifier's tables, prepared once each (not per account). */
  readonly #statements = new Map<string, Database.Statement>()
  readonly #stmt: {
    get: Database.Statement<[string], Row>
    getMany: Database.Statement<[string], Row>
    getInTenant: Database.Statement<[string, string], Row>
    insert: Database.Statement<[ReturnType<typeof params>]>
    update: Database.Statement<[ReturnType<typeof params>]>
    remove: Database.Statement<[string, string]>
    count: Database.Statement<[], { n: number }>
    changes: Database.Statement<[number, number], { seq: number, account: string }>
    lastChange: Database.Statement<[], { seq: number }>
    prune: Database.Statement<[]>
  }

  constructor (dataDir: string, opts: SqliteStoreOptions = {}) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    // The directory holds AES keys: only its owner may enter it.
    chmodSync(dataDir, 0o700)
    this.#db = new Database(join(dataDir, 'accounts.db'))
    chmodSync(join(dataDir, 'accounts.db'), 0o600)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    this.#db.pragma('synchronous = FULL')
    this.#db.exec(SCHEMA)
    this.#db.function('dc09_fold', { deterministic: true }, (v: unknown) => (typeof v === 'string' ? v.toLowerCase() : null))
    const have = new Set((this.#db.prepare('PRAGMA table_info(accounts)').all() as Array<{ name: string }>).map((c) => c.name))
    for (const [name, type] of ADDED_COLUMNS) {
      if (have.has(name)) continue
      try {
        this.#db.exec(`ALTER TABLE accounts ADD COLUMN ${name} ${type}`)
      } catch (err) {
        // Another process opening the same directory added it first.
        if (!/duplicate column/i.test((err as Error).message)) throw err
      }
    }
    // The search's indexes (after the column they index exists): see list().
    this.#db.exec(SEARCH_INDEXES)
    // Rows from before site_fold existed (or written by an older version) get theirs.
    // Looked for first: opening the store (a read-only command) must not need the write lock.
    if (this.#db.prepare('SELECT 1 FROM accounts WHERE site_name IS NOT NULL AND site_fold IS NULL LIMIT 1').get() !== undefined) {
      this.#db.prepare('UPDATE accounts SET site_fold = dc09_fold(site_name) WHERE site_name IS NOT NULL AND site_fold IS NULL').run()
    }
    this.#engine = opts.engine
    const salt = opts.salt
    if (salt !== undefined) this.#db.function('dc09_salt', { deterministic: false }, (account: unknown) => salt(String(account)))
    this.#newSalt = salt === undefined ? 'randomblob(16)' : 'dc09_salt(account)'
    this.#now = opts.now ?? (() => new Date())
    this.#limits = { maxWindowSeconds: opts.maxWindowSeconds ?? MAX_WINDOW_SECONDS }
    this.#cacheEntries = Math.max(1, opts.cacheEntries ?? DEFAULT_CACHE_ENTRIES)
    const cols = 'account, receiver, prefix, key_text, key_format, encryption_required, window_ahead, window_behind, check_plain_timestamp, clock_offset, time_zone, charset, supervision_seconds, tenant, site_name, site_fold, site_address, keyholders, vip'
    const vals = ':account, :receiver, :prefix, :key_text, :key_format, :encryption_required, :window_ahead, :window_behind, :check_plain_timestamp, :clock_offset, :time_zone, :charset, :supervision_seconds, :tenant, :site_name, :site_fold, :site_address, :keyholders, :vip'
    this.#stmt = {
      get: this.#db.prepare('SELECT * FROM accounts WHERE account = ?'),
      // The accounts of a JSON list of numbers that exist: one statement for many point reads.
      getMany: this.#db.prepare('SELECT * FROM accounts WHERE account IN (SELECT value FROM json_each(?))'),
      // Through an index of both columns: another tenant's account is a miss in the index, as a
      // missing one is, and its row is never visited (a visit is a second b-tree descent: timeable).
      getInTenant: this.#db.prepare('SELECT * FROM accounts INDEXED BY accounts_account_tenant WHERE account = ? AND tenant = ?'),
      insert: this.#db.prepare(`INSERT INTO accounts (${cols}, created_at, updated_at, visible_updated_at) VALUES (${vals}, :now, :now, :now)`),
      update: this.#db.prepare(`UPDATE accounts SET ${cols.split(', ').slice(1).map((c) => `${c} = :${c}`).join(', ')}, updated_at = :now, visible_updated_at = :visible WHERE account = :account`),
      remove: this.#db.prepare('DELETE FROM accounts WHERE account = ? AND created_at = ?'),
      count: this.#db.prepare('SELECT count(*) AS n FROM accounts'),
      changes: this.#db.prepare('SELECT seq, account FROM account_changes WHERE seq > ? ORDER BY seq LIMIT ?'),
      // The last number given to a change, pruned or not (AUTOINCREMENT keeps it in sqlite_sequence).
      lastChange: this.#db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'account_changes'"),
      // Changes are kept a day: a receiver that did not refresh for longer empties its cache (refresh()).
      prune: this.#db.prepare('DELETE FROM account_changes WHERE at < unixepoch() - 86400'),
    }
  }

  #row (account: string): Row | undefined {
    return this.#stmt.get.get(account.toUpperCase())
  }

  get (account: string): Account | undefined {
    const r = this.#row(account)
    return r === undefined ? undefined : publicOf(r)
  }

  getInTenant (account: string, tenant: string): Account | undefined {
    // The tenant is in the query: a row of another tenant is never loaded or parsed.
    const r = this.#stmt.getInTenant.get(account.toUpperCase(), tenant)
    return r === undefined ? undefined : publicOf(r)
  }

  list (opts: ListOptions = {}): Account[] {
    // Site names are folded by JavaScript (site_fold), as the memory store folds them: SQLite
    // folds ASCII only.
    const { sql, args } = listQuery(opts)
    const rows = this.#db.prepare(sql).all(args) as Row[]
    return rows.map(publicOf)
  }

  supervised (after: string | undefined, limit: number): SupervisedAccount[] {
    const n = Math.max(1, Math.min(limit, 10_000))
    return (this.#db.prepare('SELECT account, created_at, supervision_seconds FROM accounts WHERE account > ? AND supervision_seconds IS NOT NULL ORDER BY account LIMIT ?')
      .all(after?.toUpperCase() ?? '', n) as Array<{ account: string, created_at: string, supervision_seconds: number }>)
      .map((r) => ({ account: r.account, createdAt: r.created_at, supervisionSeconds: r.supervision_seconds }))
  }

  widestWindow (): { account: string, seconds: number } | undefined {
    return this.#db.prepare(`SELECT account, coalesce(window_ahead, ${DEFAULT_WINDOW_AHEAD}) + coalesce(window_behind, ${DEFAULT_WINDOW_BEHIND}) AS seconds
      FROM accounts ORDER BY seconds DESC, account LIMIT 1`).get() as { account: string, seconds: number } | undefined
  }

  count (tenant?: string): number {
    if (tenant === undefined) return this.#stmt.count.get()!.n
    return (this.#db.prepare('SELECT count(*) AS n FROM accounts WHERE tenant = ?').get(tenant) as { n: number }).n
  }

  add (input: AccountInput): Result<Account, AccountFailure> {
    const v = validateAccount(input as unknown as Record<string, unknown>, undefined, this.#limits)
    if (!v.ok) return v
    const refused = this.#db.transaction((): AccountFailure | undefined => {
      const refusal = this.#taken(v.value.account)
      if (refusal !== undefined) return refusal
      this.#stmt.insert.run(params(v.value, this.#now().toISOString()))
      this.#dropCounters(v.value.account)
      this.#stmt.prune.run()
      return undefined
    }).immediate()
    if (refused !== undefined) return refused
    this.#followOwn()
    return { ok: true, value: this.get(v.value.account)! }
  }

  update (account: string, patch: AccountPatch): Result<Account, AccountFailure> {
    const r = this.#row(account)
    if (r === undefined) return { ok: false, code: AccountError.NOT_FOUND, reason: `no account ${account.toUpperCase()}` }
    if ('account' in (patch as object)) return { ok: false, code: AccountError.INVALID, reason: 'the account number cannot be changed' }
    const current = toAccountRow(r)
    const v = validateAccount(patch as Record<string, unknown>, current, this.#limits)
    if (!v.ok) return v
    const now = this.#now().toISOString()
    this.#db.transaction(() => {
      this.#stmt.update.run(this.#updateParams(r, v.value, now))
      if (movesTenant(current, v.value.tenant)) this.#clearCodes(v.value.account, now)
      this.#stmt.prune.run()
    })()
    this.#followOwn()
    return { ok: true, value: this.get(account)! }
  }

  remove (account: string, holder?: { readonly createdAt: string }): Result<Account, AccountFailure> {
    const existing = this.get(account)
    if (existing === undefined) return { ok: false, code: AccountError.NOT_FOUND, reason: `no account ${account.toUpperCase()}` }
    const notFound = { ok: false, code: AccountError.NOT_FOUND, reason: `account ${existing.account} was removed and its number taken again since it was read; nothing removed` } as const
    if (holder !== undefined && existing.createdAt !== holder.createdAt) return notFound
    // By number and creation time, in the transaction: another process may have removed the
    // number and given it to someone else since it was read.
    const removed = this.#db.transaction((): boolean => {
      if (this.#stmt.remove.run(existing.account, holder?.createdAt ?? existing.createdAt).changes === 0) return false
      this.#forget(existing.account)
      this.#stmt.prune.run()
      return true
    }).immediate()
    this.#followOwn()
    return removed ? { ok: true, value: existing } : notFound
  }

  import (inputs: readonly unknown[]): Result<ImportResult, AccountFailure> {
    // Read and checked before the write lock is taken, so other writers wait only for the writes.
    const seen = this.#lastChange()
    const plan = this.#planImport(inputs)
    if (!plan.ok) return plan
    let rows = plan.value
    const now = this.#now().toISOString()
    const refused = this.#inMemoryJournals(() => this.#db.transaction((): Result<never, AccountFailure> | undefined => {
      // Another process changed accounts since they were read: read them again, under the lock.
      if (this.#lastChange() !== seen) {
        const again = this.#planImport(inputs)
        if (!again.ok) return again
        rows = again.value
      }
      this.#heldNow = this.#heldTables()
      try {
        // Every number checked before anything is written: all or nothing.
        for (const [i, { row, current }] of rows.entries()) {
          const left = current === undefined ? this.#leftoversAccountFailure(row.account) : undefined
          if (left !== undefined) return { ...left, reason: `entry ${i}: ${left.reason}` }
        }
        for (const { row, current, moves } of rows) {
          if (current === undefined) {
            this.#stmt.insert.run(params(row, now))
            this.#dropCounters(row.account)
          } else {
            this.#stmt.update.run(params(row, now, current.visible ?? now))
          }
          if (moves) this.#clearCodes(row.account, now)
        }
      } finally {
        this.#heldNow = undefined
      }
      this.#stmt.prune.run()
      return undefined
    }).immediate())
    if (refused !== undefined) return refused
    this.#followOwn()
    const updated = rows.filter((r) => r.current !== undefined).length
    const moved = rows.flatMap(({ row, current, moves }) => (moves ? [{ account: row.account, from: current!.tenant!, to: row.tenant ?? null }] : []))
    return { ok: true, value: { added: rows.length - updated, updated, moved } }
  }

  /** The stored rows of the entries' account numbers that have one, in one statement. */
  #storedRows (inputs: readonly unknown[]): Map<string, Row> {
    const numbers: string[] = []
    for (const input of inputs) {
      const account = (input as { account?: unknown } | null)?.account
      if (typeof account === 'string') numbers.push(account.toUpperCase())
    }
    const stored = new Map<string, Row>()
    for (const r of this.#stmt.getMany.all(JSON.stringify(numbers))) stored.set(r.account, r)
    return stored
  }

  /**
   * Runs `fn` with SQLite's temporary files in memory. Each statement of a transaction keeps the
   * pages it changes in a statement journal, so that it can be undone alone; on disk that
   * journal cost three quarters of an import's time. It holds one statement's pages: small.
   */
  #inMemoryJournals<T> (fn: () => T): T {
    const was = this.#db.pragma('temp_store', { simple: true }) as number
    this.#db.pragma('temp_store = MEMORY')
    try {
      return fn()
    } finally {
      this.#db.pragma(`temp_store = ${was}`)
    }
  }

  /** The rows an import would write, with what each update needs of the stored row: every entry validated, every number once. */
  #planImport (inputs: readonly unknown[]): Result<ImportPlan, AccountFailure> {
    const rows: ImportPlan = []
    // A thousand entries at a time: one statement reads their stored rows, which go once checked.
    for (let start = 0; start < inputs.length; start += 1000) {
      const chunk = inputs.slice(start, start + 1000)
      const stored = this.#storedRows(chunk)
      for (const [k, input] of chunk.entries()) {
        const i = start + k
        if (typeof input !== 'object' || input === null || Array.isArray(input)) {
          return { ok: false, code: AccountError.INVALID, reason: `entry ${i}: not an object` }
        }
        const { account, ...patch } = input as Record<string, unknown>
        const r = typeof account === 'string' ? stored.get(account.toUpperCase()) : undefined
        const currentRow = r === undefined ? undefined : toAccountRow(r)
        const v = currentRow === undefined
          ? validateAccount(input as Record<string, unknown>, undefined, this.#limits)
          : validateAccount(patch, currentRow, this.#limits)
        if (!v.ok) return { ok: false, code: v.code, reason: `entry ${i}${typeof account === 'string' ? ` (account ${account})` : ''}: ${v.reason}` }
        const current = r === undefined || currentRow === undefined
          ? undefined
          : { tenant: r.tenant, visible: visibleChange(currentRow, v.value) ? undefined : r.visible_updated_at ?? r.updated_at }
        rows.push({ row: v.value, current, moves: currentRow !== undefined && movesTenant(currentRow, v.value.tenant) })
      }
    }
    const seen = new Set<string>()
    for (const { row } of rows) {
      if (seen.has(row.account)) return { ok: false, code: AccountError.INVALID, reason: `account ${row.account} appears twice` }
      seen.add(row.account)
    }
    return { ok: true, value: rows }
  }

  /** An update's parameters: the time every role sees moves only when a field every role sees changed. */
  #updateParams (current: Row, row: AccountRow, now: string): ReturnType<typeof params> {
    return params(row, now, visibleChange(toAccountRow(current), row) ? now : current.visible_updated_at ?? current.updated_at)
  }

  leftovers (account: string): number {
    const acct = account.toUpperCase()
    return this.#row(acct) === undefined ? this.#heldCount(acct) : 0
  }

  orphans (limit = 1000): string[] {
    const held = this.#heldTables()
    const sources = (['users', 'code_slots'] as const).filter((t) => held.has(t)).map((t) => `SELECT account FROM ${t}`)
    if (sources.length === 0) return []
    // The verifier's dummy row (a name no account number can have) is not a leftover.
    return (this.#db.prepare(`SELECT account FROM (${sources.join(' UNION ')}) WHERE instr(account, '~') = 0 AND account NOT IN (SELECT account FROM accounts) ORDER BY account LIMIT ?`)
      .all(Math.max(1, Math.min(limit, 100_000))) as Array<{ account: string }>).map((r) => r.account)
  }

  purge (account: string): Result<number, AccountFailure> {
    const acct = account.toUpperCase()
    if (!NUMBER_RE.test(acct)) return { ok: false, code: AccountError.INVALID, reason: 'an account number is 3 to 16 letters or digits' }
    return this.#db.transaction((): Result<number, AccountFailure> => {
      if (this.#row(acct) !== undefined) return { ok: false, code: AccountError.EXISTS, reason: `account ${acct} exists: remove it instead` }
      return { ok: true, value: this.#forget(acct) }
    }).immediate()
  }

  #prepared (sql: string): Database.Statement {
    let st = this.#statements.get(sql)
    if (st === undefined) {
      st = this.#db.prepare(sql)
      this.#statements.set(sql, st)
    }
    return st
  }

  /** The tables of HELD_TABLES that exist (the verifier makes them when it first opens the directory). */
  #heldTables (): ReadonlySet<string> {
    if (this.#heldNow !== undefined) return this.#heldNow
    if (this.#held.size < HELD_TABLES.length) {
      const rows = this.#prepared(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${HELD_TABLES.map(() => '?').join(', ')})`).all(...HELD_TABLES) as Array<{ name: string }>
      for (const r of rows) this.#held.add(r.name)
    }
    return this.#held
  }

  /** Records kept under the number: users and code rows (counters are not a holder's data: probing a free number makes them). */
  #heldCount (acct: string): number {
    const held = this.#heldTables()
    let n = 0
    for (const t of ['users', 'code_slots'] as const) {
      if (held.has(t)) n += (this.#prepared(`SELECT count(*) AS n FROM ${t} WHERE account = ?`).get(acct) as { n: number }).n
    }
    return n
  }

  /** Why a new account may not take this number now, if it may not. */
  #taken (acct: string): AccountFailure | undefined {
    if (this.#row(acct) !== undefined) return { ok: false, code: AccountError.EXISTS, reason: `account ${acct} already exists` }
    return this.#leftoversAccountFailure(acct)
  }

  /** Why a number that has no account may not be given to a new one now, if it may not. */
  #leftoversAccountFailure (acct: string): AccountFailure | undefined {
    const left = this.#heldCount(acct)
    if (left > 0) return { ok: false, code: AccountError.LEFTOVERS, reason: `users or codes of an earlier holder of account ${acct} remain (${left} record(s)); purge them first (dc09 accounts purge --account ${acct})` }
    return undefined
  }

  /** Deletes everything kept under the number (inside the caller's transaction); how many users and code rows went. */
  #forget (acct: string): number {
    const held = this.#heldTables()
    let n = 0
    if (held.has('users')) n += this.#prepared('DELETE FROM users WHERE account = ?').run(acct).changes
    if (held.has('code_slots')) n += this.#prepared('DELETE FROM code_slots WHERE account = ?').run(acct).changes
    this.#dropCounters(acct)
    return n
  }

  #dropCounters (acct: string): void {
    if (this.#heldTables().has('verify_limits')) this.#prepared('DELETE FROM verify_limits WHERE key = ?').run(`a:${acct}`)
  }

  /**
   * Every disarm and duress code of the account becomes invalid (inside the caller's transaction):
   * hashes gone, a new salt, slots of dummies only (kind 0 never matches), users marked as needing
   * new codes, counters dropped. The users stay.
   */
  #clearCodes (acct: string, now: string): void {
    const held = this.#heldTables()
    if (held.has('users')) this.#prepared('UPDATE users SET code_hash = NULL, duress_hash = NULL, updated_at = ? WHERE account = ?').run(now, acct)
    if (held.has('code_slots')) this.#prepared(`UPDATE code_slots SET salt = ${this.#newSalt}, slots = zeroblob(length(slots)), needs_new_codes = 1 WHERE account = ?`).run(acct)
    this.#dropCounters(acct)
  }

  /** A change made through this store (the HTTP interface in the receiver's process) applies at once. */
  #followOwn (): void {
    if (this.#changeSeq !== undefined) this.refresh()
  }

  receiverAccount (account: string): ReceiverAccount | undefined {
    const acct = account.toUpperCase()
    const hit = this.#cache.get(acct)
    if (hit !== undefined) {
      // Used last: moved to the end of the order.
      this.#cache.delete(acct)
      this.#cache.set(acct, hit)
      return hit ?? undefined
    }
    // The change position is taken before the first read: a change after it is seen by refresh().
    if (this.#changeSeq === undefined) this.#changeSeq = this.#lastChange()
    const r = this.#stmt.get.get(acct)
    const found = r === undefined ? null : receiverOf(r, this.#engine)
    this.#cache.set(acct, found)
    if (this.#cache.size > this.#cacheEntries) this.#cache.delete(this.#cache.keys().next().value!)
    return found ?? undefined
  }

  /** Accounts (known or unknown) in the receiver's cache now. */
  get cachedAccounts (): number {
    return this.#cache.size
  }

  #lastChange (): number {
    return this.#stmt.lastChange.get()?.seq ?? 0
  }

  /**
   * Drops from the cache the accounts changed since the last refresh (they are read again when
   * next asked for); returns how many accounts changed. The first call only takes the position.
   */
  refresh (): number {
    const last = this.#lastChange()
    const from = this.#changeSeq
    this.#changeSeq = last
    if (from === undefined || last <= from) return 0
    if (this.#cache.size === 0) return last - from
    const changes = this.#stmt.changes.all(from, REFRESH_PAGE + 1)
    // Numbers follow one another without a gap unless pruned: a change missing at the start was
    // pruned unseen (no refresh for a day), and the cache cannot know which accounts it touched.
    if (changes.length > REFRESH_PAGE || changes[0]?.seq !== from + 1) {
      this.#cache.clear()
      return last - from
    }
    const accounts = new Set<string>()
    for (const c of changes) {
      // Changes committed after `last` was read are seen again next time: harmless.
      if (c.seq > last) break
      accounts.add(c.account)
    }
    for (const a of accounts) this.#cache.delete(a)
    return accounts.size
  }

  close (): void {
    this.#db.close()
  }
}
