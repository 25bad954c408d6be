/**
 * `dc09 tokens create|list|revoke`: bearer tokens for the HTTP interface. A token is printed once,
 * as the only line `create` writes, and stored only as a hash; every change is audited.
 */
import { SqliteAccountStore } from '../../accounts/sqlite-store.js'
import { AccessStore, type TokenInfo } from '../../api/access.js'
import { Verifier } from '../../verification/verifier.js'
import { printable, safeJson } from '../escape.js'
import { actor } from './codes.js'

export interface Io {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
}

function withAccess<T> (data: string, fn: (a: AccessStore, audit: Verifier) => T): T {
  // The accounts store makes the accounts table the tenants list reads; the verifier keeps the audit trail.
  const accounts = new SqliteAccountStore(data)
  const access = new AccessStore(data)
  const verifier = new Verifier(data, accounts, {})
  try {
    return fn(access, verifier)
  } finally {
    verifier.close()
    access.close()
    accounts.close()
  }
}

export function create (o: { data: string, role: string, tenant?: string | undefined, name?: string | undefined, expiresDays?: number | undefined, by?: string | undefined }, io: Io): number {
  return withAccess(o.data, (access, v) => {
    const expiresAt = o.expiresDays === undefined ? undefined : new Date(Date.now() + o.expiresDays * 86_400_000)
    const r = access.createToken({ role: o.role, tenant: o.tenant, name: o.name, expiresAt })
    if (!r.ok) {
      io.err(`dc09: ${r.reason} (${r.code})\n`)
      return 2
    }
    const i = r.value.info
    v.audit(actor(o.by), 'token-create', null, 'ok', null, `token ${i.id} (${i.role}${i.tenant === null ? '' : `, tenant ${i.tenant}`})`)
    io.out(r.value.token + '\n')
    return 0
  })
}

function line (t: TokenInfo): string {
  const state = t.revokedAt !== null ? `revoked ${t.revokedAt}` : t.expiresAt !== null && Date.parse(t.expiresAt) <= Date.now() ? `expired ${t.expiresAt}` : 'active'
  return `${t.id} ${t.role}${t.tenant === null ? '' : ` tenant ${printable(t.tenant)}`}${t.name === null ? '' : ` "${printable(t.name)}"`}: ${state}, made ${t.createdAt}` +
    `${t.expiresAt === null ? '' : `, expires ${t.expiresAt}`}${t.lastUsedAt === null ? '' : `, last used ${t.lastUsedAt}`}`
}

export function list (o: { data: string, json?: boolean | undefined }, io: Io): number {
  return withAccess(o.data, (access) => {
    const tokens = access.listTokens()
    for (const t of tokens) io.out((o.json === true ? safeJson(t) : line(t)) + '\n')
    if (tokens.length === 0 && o.json !== true) io.out('no tokens\n')
    return 0
  })
}

export function revoke (o: { data: string, id: string, by?: string | undefined }, io: Io): number {
  return withAccess(o.data, (access, v) => {
    const r = access.revokeToken(o.id)
    if (!r.ok) {
      io.err(`dc09: ${r.reason}\n`)
      return 1
    }
    v.audit(actor(o.by), 'token-revoke', null, 'ok', null, `token ${o.id}`)
    io.out(`token ${o.id} revoked\n`)
    return 0
  })
}
