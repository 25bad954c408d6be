/**
 * Who may use the HTTP interface: bearer tokens and the tenants (installer companies) they are
 * bound to, kept in a TokenStore (by default in the data directory's accounts.db).
 *
 * A token is `dc09_<id>_<secret>`: the id names the row, the secret is 32 random bytes. Only the
 * SHA-256 of the secret is stored (a 256-bit random secret needs no slow hash: there is nothing to
 * guess), compared in constant time. The token itself is shown once, when it is made.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { TENANT_RE } from '../accounts/account.js'
import { SqliteTokenStore } from '../access/sqlite-token-store.js'
import { AccessError, type TenantRow, type TokenRow, type TokenStore } from '../access/token-store.js'
import { err, ok, type Result } from '../result.js'

export { AccessError } from '../access/token-store.js'

export const ROLES = ['admin', 'operator', 'installer'] as const
export type Role = typeof ROLES[number]

/** What anyone may see of a token: its stored row without the hash (never the secret either). */
export interface TokenInfo extends Omit<TokenRow, 'hash' | 'role'> {
  readonly role: Role
}

export type Tenant = TenantRow

const ID_RE = /^[0-9a-f]{12}$/
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/
/** The longest Authorization header worth parsing: a token is 62 characters. */
const MAX_TOKEN = 128
/** How often a token's last use is written (a write per request would cost more than the request). */
const LAST_USED_EVERY_MS = 60_000

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()

/** Whether the text has a control character (U+0000 to U+001F, or U+007F). */
function hasControl (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20 || c === 0x7f) return true
  }
  return false
}

function info (r: TokenRow): TokenInfo {
  return {
    id: r.id,
    role: r.role as Role,
    tenant: r.tenant,
    name: r.name,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    lastUsedAt: r.lastUsedAt,
  }
}

export class AccessStore {
  readonly #store: TokenStore
  readonly #clock: () => number
  readonly #lastUsed = new Map<string, number>()
  /** A row to compare against when the id is unknown, so that costs what a known id costs. */
  readonly #dummy = sha256('dc09 no such token')

  /** `data`: a data directory (its accounts.db keeps the tokens), or the store to keep them in. */
  constructor (data: string | TokenStore, opts: { clock?: (() => number) | undefined } = {}) {
    this.#store = typeof data === 'string' ? new SqliteTokenStore(data) : data
    this.#clock = opts.clock ?? Date.now
  }

  #now (): string {
    return new Date(this.#clock()).toISOString()
  }

  /** Makes a token; the returned `token` is the only time its secret exists outside the caller. */
  createToken (o: { role: string, tenant?: string | undefined, name?: string | undefined, expiresAt?: Date | undefined }): Result<{ token: string, info: TokenInfo }> {
    if (!(ROLES as readonly string[]).includes(o.role)) return err(AccessError.INVALID, 'role must be admin, operator or installer')
    if (o.role === 'installer' && o.tenant === undefined) return err(AccessError.INVALID, 'an installer token is bound to a tenant: give --tenant')
    if (o.role !== 'installer' && o.tenant !== undefined) return err(AccessError.INVALID, 'only installer tokens are bound to a tenant')
    if (o.tenant !== undefined && !TENANT_RE.test(o.tenant)) return err(AccessError.INVALID, 'tenant must be 1 to 64 letters, digits, dots, dashes or underscores')
    if (o.name !== undefined && (o.name.length === 0 || o.name.length > 100 || hasControl(o.name))) return err(AccessError.INVALID, 'a name is 1 to 100 printable characters')
    if (o.expiresAt !== undefined && !(o.expiresAt.getTime() > this.#clock())) return err(AccessError.INVALID, 'the expiry must be in the future')
    const id = randomBytes(6).toString('hex')
    const secret = randomBytes(32).toString('base64url')
    const row: TokenRow = { id, hash: sha256(secret), role: o.role, tenant: o.tenant ?? null, name: o.name ?? null, createdAt: this.#now(), expiresAt: o.expiresAt?.toISOString() ?? null, revokedAt: null, lastUsedAt: null }
    // The store registers the tenant with the token, in one operation.
    const added = this.#store.addToken(row)
    if (!added.ok) return added
    return ok({ token: `dc09_${id}_${secret}`, info: info(row) })
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
    const row = this.#store.token(id)
    const match = timingSafeEqual(sha256(secret), row?.hash ?? this.#dummy)
    if (row === undefined || !match || row.revokedAt !== null) return undefined
    const now = this.#clock()
    if (row.expiresAt !== null && Date.parse(row.expiresAt) <= now) return undefined
    if ((this.#lastUsed.get(id) ?? 0) + LAST_USED_EVERY_MS <= now) {
      this.#lastUsed.set(id, now)
      this.#store.touch(id, new Date(now).toISOString())
    }
    return info(row)
  }

  listTokens (): TokenInfo[] {
    return this.#store.tokens().map(info)
  }

  getToken (id: string): TokenInfo | undefined {
    if (!ID_RE.test(id)) return undefined
    const r = this.#store.token(id)
    return r === undefined ? undefined : info(r)
  }

  /** Revokes a token for good (it stays listed, marked revoked). */
  revokeToken (id: string): Result<TokenInfo> {
    if (!ID_RE.test(id)) return err(AccessError.NOT_FOUND, `no token ${id}`)
    const r = this.#store.revoke(id, this.#now())
    return r.ok ? ok(info(r.value)) : r
  }

  // ------------------------------------------------------------ tenants

  listTenants (): Tenant[] {
    return this.#store.tenants()
  }

  addTenant (tenant: string, name: string | undefined): Result<Tenant> {
    if (!TENANT_RE.test(tenant)) return err(AccessError.INVALID, 'tenant must be 1 to 64 letters, digits, dots, dashes or underscores')
    if (name !== undefined && (name.length === 0 || name.length > 200 || hasControl(name))) return err(AccessError.INVALID, 'a name is 1 to 200 printable characters')
    return this.#store.addTenant({ tenant, name: name ?? null, createdAt: this.#now() })
  }

  close (): void {
    this.#store.close()
  }
}
