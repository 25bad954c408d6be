/** Tokens and tenants in SQLite: the api_tokens and tenants tables of the data directory's accounts.db. */
import { chmodSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { ok, type Result } from '../result.js'
import { tenantExists, tokenExists, tokenNotFound, type TenantRow, type TokenRow, type TokenStore } from './token-store.js'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS api_tokens (
  id TEXT PRIMARY KEY, hash BLOB NOT NULL, role TEXT NOT NULL, tenant TEXT, name TEXT,
  created_at TEXT NOT NULL, expires_at TEXT, revoked_at TEXT, last_used_at TEXT
);
CREATE TABLE IF NOT EXISTS tenants (tenant TEXT PRIMARY KEY, name TEXT, created_at TEXT NOT NULL);
`

interface Row {
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

function tokenRow (r: Row): TokenRow {
  return {
    id: r.id,
    hash: r.hash,
    role: r.role,
    tenant: r.tenant,
    name: r.name,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  }
}

export class SqliteTokenStore implements TokenStore {
  readonly #db: Database.Database
  readonly #byId: Database.Statement<[string], Row>

  constructor (dataDir: string) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
    this.#db = new Database(join(dataDir, 'accounts.db'))
    chmodSync(join(dataDir, 'accounts.db'), 0o600)
    this.#db.pragma('journal_mode = WAL')
    this.#db.pragma('busy_timeout = 5000')
    this.#db.exec(SCHEMA)
    this.#byId = this.#db.prepare('SELECT * FROM api_tokens WHERE id = ?')
  }

  addToken (t: TokenRow): Result<undefined> {
    return this.#db.transaction((): Result<undefined> => {
      if (this.#byId.get(t.id) !== undefined) return tokenExists(t.id)
      if (t.tenant !== null) this.#db.prepare('INSERT INTO tenants (tenant, name, created_at) VALUES (?, NULL, ?) ON CONFLICT DO NOTHING').run(t.tenant, t.createdAt)
      this.#db.prepare('INSERT INTO api_tokens (id, hash, role, tenant, name, created_at, expires_at, revoked_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(t.id, t.hash, t.role, t.tenant, t.name, t.createdAt, t.expiresAt, t.revokedAt, t.lastUsedAt)
      return ok(undefined)
    }).immediate()
  }

  token (id: string): TokenRow | undefined {
    const r = this.#byId.get(id)
    return r === undefined ? undefined : tokenRow(r)
  }

  tokens (): TokenRow[] {
    return (this.#db.prepare('SELECT * FROM api_tokens ORDER BY created_at, id').all() as Row[]).map(tokenRow)
  }

  revoke (id: string, at: string): Result<TokenRow> {
    return this.#db.transaction((): Result<TokenRow> => {
      this.#db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(at, id)
      const r = this.#byId.get(id)
      return r === undefined ? tokenNotFound(id) : ok(tokenRow(r))
    }).immediate()
  }

  touch (id: string, at: string): void {
    this.#db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?').run(at, id)
  }

  tenants (): TenantRow[] {
    // A tenant exists once it is registered, or once an account names it.
    return (this.#db.prepare(`
      SELECT tenant, name, created_at FROM tenants
      UNION SELECT DISTINCT tenant, NULL, min(created_at) FROM accounts WHERE tenant IS NOT NULL AND tenant NOT IN (SELECT tenant FROM tenants) GROUP BY tenant
      ORDER BY tenant`).all() as Array<{ tenant: string, name: string | null, created_at: string }>)
      .map((t) => ({ tenant: t.tenant, name: t.name, createdAt: t.created_at }))
  }

  addTenant (t: TenantRow): Result<TenantRow> {
    const r = this.#db.prepare('INSERT INTO tenants (tenant, name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING').run(t.tenant, t.name, t.createdAt)
    return r.changes === 0 ? tenantExists(t.tenant) : ok({ tenant: t.tenant, name: t.name, createdAt: t.createdAt })
  }

  close (): void {
    this.#db.close()
  }
}
