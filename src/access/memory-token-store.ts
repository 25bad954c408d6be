/** Tokens and tenants in memory, for tests: the same contract as SqliteTokenStore (tenants are the registered ones). */
import { ok, type Result } from '../result.js'
import { tenantExists, tokenExists, tokenNotFound, type TenantRow, type TokenRow, type TokenStore } from './token-store.js'

export class MemoryTokenStore implements TokenStore {
  readonly #tokens = new Map<string, TokenRow>()
  readonly #tenants = new Map<string, TenantRow>()

  addToken (row: TokenRow): Result<undefined> {
    if (this.#tokens.has(row.id)) return tokenExists(row.id)
    if (row.tenant !== null && !this.#tenants.has(row.tenant)) this.#tenants.set(row.tenant, { tenant: row.tenant, name: null, createdAt: row.createdAt })
    this.#tokens.set(row.id, { ...row, hash: Buffer.from(row.hash) })
    return ok(undefined)
  }

  token (id: string): TokenRow | undefined {
    return this.#tokens.get(id)
  }

  tokens (): TokenRow[] {
    return [...this.#tokens.values()].sort((a, b) => a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  }

  revoke (id: string, at: string): Result<TokenRow> {
    const r = this.#tokens.get(id)
    if (r === undefined) return tokenNotFound(id)
    if (r.revokedAt !== null) return ok(r)
    const revoked = { ...r, revokedAt: at }
    this.#tokens.set(id, revoked)
    return ok(revoked)
  }

  touch (id: string, at: string): void {
    const r = this.#tokens.get(id)
    if (r !== undefined) this.#tokens.set(id, { ...r, lastUsedAt: at })
  }

  tenants (): TenantRow[] {
    return [...this.#tenants.values()].sort((a, b) => a.tenant < b.tenant ? -1 : a.tenant > b.tenant ? 1 : 0)
  }

  addTenant (row: TenantRow): Result<TenantRow> {
    if (this.#tenants.has(row.tenant)) return tenantExists(row.tenant)
    this.#tenants.set(row.tenant, { ...row })
    return ok({ ...row })
  }

  close (): void {}
}
