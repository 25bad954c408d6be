/**
 * Where the HTTP interface's bearer tokens and tenants (installer companies) are kept. A store
 * keeps rows; AccessStore (the API's access module) makes and checks tokens over it. A token row
 * holds the SHA-256 of the token's secret, never the secret: nothing a store keeps or answers,
 * errors included, lets anyone use a token.
 */
import { err, type Result } from '../result.js'

export const AccessError = {
  INVALID: 'DC09_ERR_ACCESS_INVALID',
  NOT_FOUND: 'DC09_ERR_ACCESS_NOT_FOUND',
  EXISTS: 'DC09_ERR_ACCESS_EXISTS',
} as const

export interface TokenRow {
  /** 12 hex digits: names the row (the token's public part). */
  readonly id: string
  /** SHA-256 of the secret. */
  readonly hash: Buffer
  readonly role: string
  readonly tenant: string | null
  readonly name: string | null
  readonly createdAt: string
  readonly expiresAt: string | null
  readonly revokedAt: string | null
  readonly lastUsedAt: string | null
}

export interface TenantRow {
  readonly tenant: string
  readonly name: string | null
  readonly createdAt: string
}

export const tokenExists = (id: string): Result<never> => err(AccessError.EXISTS, `token ${id} exists`)
export const tokenNotFound = (id: string): Result<never> => err(AccessError.NOT_FOUND, `no token ${id}`)
export const tenantExists = (tenant: string): Result<never> => err(AccessError.EXISTS, `tenant ${tenant} exists`)

export interface TokenStore {
  /**
   * Adds a token and, when it names a tenant not registered yet, registers that tenant (name
   * null, created with the token), atomically. EXISTS when the id is taken: nothing is added.
   */
  addToken (row: TokenRow): Result<undefined>
  /** One token by id (one read, whether or not it exists). */
  token (id: string): TokenRow | undefined
  /** Every token, revoked ones included, by creation time then id. */
  tokens (): TokenRow[]
  /** Marks a token revoked at `at`; one revoked already keeps its first time. NOT_FOUND when absent. */
  revoke (id: string, at: string): Result<TokenRow>
  /** Records a token's last use (nothing for an unknown id). */
  touch (id: string, at: string): void
  /**
   * The tenants by name: the registered ones, and (for a backend that keeps the accounts beside
   * them) those an account names without being registered (name null, created with the oldest).
   */
  tenants (): TenantRow[]
  /** Registers a tenant; EXISTS when it is registered already (nothing changes). */
  addTenant (row: TenantRow): Result<TenantRow>
  close (): void
}
