/**
 * Who may use the HTTP interface: bearer tokens and the tenants (installer companies) they are
 * bound to, in the data directory's accounts.db.
 *
 * A token is `dc09_<id>_<secret>`: the id names the row, the secret is 32 random bytes. Only the
 * SHA-256 of the secret is stored (a 256-bit random secret needs no slow hash: there is nothing to
 * guess), compared in constant time. The token itself is shown once, when it is made.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { chmodSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { TENANT_RE } from '../accounts/account.js'
import type { Result } from '../result.js'

export const ROLES = ['admin', 'operator', 'installer'] as const
export type Role = typeof ROLES[number]

const SCHEMA = `
CREATE TABLE IF NOT EXISTS api_tokens (
  id TEXT PRIMARY KEY, hash BLOB NOT NULL, role TEXT NOT NULL, tenant TEXT, name TEXT,
  created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS tenants (tenant TEXT PRIMARY KEY, name TEXT, created_at TEXT NOT NULL);
`

/** What anyone may see of a token: never its secret or hash. */
export interface TokenInfo {
  readonly id: string
  readonly role: Role
  readonly tenant: string | null
  readonly name: string | null
  readonly createdAt: string
  readonly expiresAt: string | null
  readonly revokedAt: string | null
  readonly lastUsedAt: string | null
}

export interface Tenant {
  readonly tenant: string
  readonly name: string | null
  readonly createdAt: string
}

export const AccessError = {
  INVALID: 'DC09_ERR_ACCESS_INVALID',
  NOT_FOUND: 'DC09_ERR_ACCESS_NOT_FOUND',
  EXISTS: 'DC09_ERR_ACCESS_EXISTS',
} as const

interface TokenRow {
  id: string
  hash: Buffer
  role: string
  tenant: string | null
  name: string | null
  created_at: string
  expires_at: string | null
  revoked_at: string | null
  last_used_at: string | null
}

const ID_RE = /^[0-9a-f]{12}$/
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/
/** The longest Authorization header worth parsing: a token is 62 characters. */
const MAX_TOKEN = 128
/** How often a token's last use is written (a write per request would cost more than the request). */
const LAST_USED_EVERY_MS = 60_000

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

function info (r: TokenRow): TokenInfo {
  return {
    id: r.id,
    role: r.role as Role,
    tenant: r.tenant,
    name: r.name,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  }
}

const fail = (code: string, reason: string): { ok: false, code: string, reason: string } => ({ ok: false, code, reason })

export class AccessStore {
  readonly #db: Database.Database
  readonly #clock: () => number
  readonly #byId: Database.Statement<[string], TokenRow>
  readonly #lastUsed = new Map<string, number>()
  /** A row to compare against when the id is unknown, so that costs what a known id costs. */
  readonly #dummy = sha256('dc09 no such token')

  constructor (dataDir: string, opts: { clock?: (() => number) | undefined } = {}) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    this.#db = new Database(join(dataDir, 'accounts.db'))
    chmodSync(join(dataDir, 'accounts.db'), 0o600)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    this.#db.exec(SCHEMA)
    this.#clock = opts.clock ?? Date.now
    this.#byId = this.#db.prepare('SELECT * FROM api_tokens WHERE id = ?')
  }

  #now (): string {
    return new Date(this.#clock()).toISOString()
  }

  /** Makes a token; the returned `token` is the only time its secret exists outside the caller. */
  createToken (o: { role: string, tenant?: string | undefined, name?: string | undefined, expiresAt?: Date | undefined }): Result<{ token: string, info: TokenInfo }> {
    if (!(ROLES as readonly string[]).includes(o.role)) return fail(AccessError.INVALID, 'role must be admin, operator or installer')
    if (o.role === 'installer' && o.tenant === undefined) return fail(AccessError.INVALID, 'an installer token is bound to a tenant: give --tenant')
    if (o.role !== 'installer' && o.tenant !== undefined) return fail(AccessError.INVALID, 'only installer tokens are bound to a tenant')
    if (o.tenant !== undefined && !TENANT_RE.test(o.tenant)) return fail(AccessError.INVALID, 'tenant must be 1 to 64 letters, digits, dots, dashes or underscores')
    if (o.name !== undefined && (o.name.length === 0 || o.name.length > 100 || /[\u0000-\u001f\u007f]/.test(o.name))) return fail(AccessError.INVALID, 'a name is 1 to 100 printable characters')
    if (o.expiresAt !== undefined && !(o.expiresAt.getTime() > this.#clock())) return fail(AccessError.INVALID, 'the expiry must be in the future')
    const id = randomBytes(6).toString('hex')
    const secret = randomBytes(32).toString('base64url')
    const now = this.#now()
    this.#db.transaction(() => {
      if (o.tenant !== undefined) this.#db.prepare('INSERT INTO tenants (tenant, name, created_at) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING').run(o.tenant, now)
      this.#db.prepare('INSERT INTO api_tokens (id, hash, role, tenant, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(id, sha256(secret), o.role, o.tenant ?? null, o.name ?? null, now, o.expiresAt?.toISOString() ?? null)
    })()
    return { ok: true, value: { token: `dc09_${id}_${secret}`, info: info(this.#byId.get(id)!) } }
  }

  /**
   * The token a bearer presented, if it is one that works now: known, secret matching, not
   * revoked, not expired. Every failure looks the same to the caller.
   */
  authenticate (presented: string): TokenInfo | undefined {
    if (presented.length > MAX_TOKEN) return undefined
    const parts = presented.split('_')
    if (parts.length < 3 || parts[0] !== 'dc09') return undefined
    const id = parts[1]!
    const secret = parts.slice(2).join('_')
    if (!ID_RE.test(id) || !SECRET_RE.test(secret)) return undefined
    const row = this.#byId.get(id)
    const match = timingSafeEqual(sha256(secret), row?.hash ?? this.#dummy)
    if (row === undefined || !match || row.revoked_at !== null) return undefined
    const now = this.#clock()
    if (row.expires_at !== null && Date.parse(row.expires_at) <= now) return undefined
    if ((this.#lastUsed.get(id) ?? 0) + LAST_USED_EVERY_MS <= now) {
      this.#lastUsed.set(id, now)
      this.#db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(new Date(now).toISOString(), id)
    }
    return info(row)
  }

  listTokens (): TokenInfo[] {
    return (this.#db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all() as TokenRow[]).map(info)
  }

  getToken (id: string): TokenInfo | undefined {
    if (!ID_RE.test(id)) return undefined
    const r = this.#byId.get(id)
    return r === undefined ? undefined : info(r)
  }

  /** Revokes a token for good (it stays listed, marked revoked). */
  revokeToken (id: string): Result<TokenInfo> {
    const r = ID_RE.test(id) ? this.#byId.get(id) : undefined
    if (r === undefined) return fail(AccessError.NOT_FOUND, `no token ${id}`)
    if (r.revoked_at === null) this.#db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ?').run(this.#now(), id)
    return { ok: true, value: info(this.#byId.get(id)!) }
  }

  // ------------------------------------------------------------ tenants

  listTenants (): Tenant[] {
    // A tenant exists once it is registered, or once an account names it.
    return (this.#db.prepare(`
      SELECT tenant, name, created_at FROM tenants
      UNION SELECT DISTINCT tenant, NULL, min(created_at) FROM accounts WHERE tenant IS NOT NULL AND tenant NOT IN (SELECT tenant FROM tenants) GROUP BY tenant
      ORDER BY tenant`).all() as Array<{ tenant: string, name: string | null, created_at: string }>)
      .map((t) => ({ tenant: t.tenant, name: t.name, createdAt: t.created_at }))
  }

  addTenant (tenant: string, name: string | undefined): Result<Tenant> {
    if (!TENANT_RE.test(tenant)) return fail(AccessError.INVALID, 'tenant must be 1 to 64 letters, digits, dots, dashes or underscores')
    if (name !== undefined && (name.length === 0 || name.length > 200 || /[\u0000-\u001f\u007f]/.test(name))) return fail(AccessError.INVALID, 'a name is 1 to 200 printable characters')
    const createdAt = this.#now()
    const r = this.#db.prepare('INSERT INTO tenants (tenant, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(tenant, name ?? null, createdAt)
    if (r.changes === 0) return fail(AccessError.EXISTS, `tenant ${tenant} exists`)
    return { ok: true, value: { tenant, name: name ?? null, createdAt } }
  }

  close (): void {
    this.#db.close()
  }
}
