/**
 * `dc09 tokens create|list|revoke`: bearer tokens for the HTTP interface. A token is printed once,
 * as the only line `create` writes, and stored only as a hash; every change is audited.
 */
import type { AccessStore, TokenInfo } from '../../api/access.js'
import type { Verifier } from '../../verification/verifier.js'
import { printable, safeJson } from '../escape.js'
import { actor } from './codes.js'
import { Option, type Command } from 'commander'
import { parsePositive } from '../options.js'
import { accessStore, accountStore, placeOf, placeOptions, verifierFor, type Place } from '../stores.js'

export interface Io {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
}

function withAccess<T> (data: Place, fn: (a: AccessStore, audit: Verifier) => T): T {
  // The accounts store makes the accounts table the tenants list reads; the verifier keeps the audit trail.
  const accounts = accountStore(data)
  const access = accessStore(data)
  const verifier = verifierFor(data, accounts, {})
  try {
    return fn(access, verifier)
  } finally {
    verifier.close()
    access.close()
    accounts.close()
  }
}

export function create (o: { data: Place, role: string, tenant?: string | undefined, name?: string | undefined, expiresDays?: number | undefined, by?: string | undefined }, io: Io): number {
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

export function list (o: { data: Place, json?: boolean | undefined }, io: Io): number {
  return withAccess(o.data, (access) => {
    const tokens = access.listTokens()
    for (const t of tokens) io.out((o.json === true ? safeJson(t) : line(t)) + '\n')
    if (tokens.length === 0 && o.json !== true) io.out('no tokens\n')
    return 0
  })
}

export function revoke (o: { data: Place, id: string, by?: string | undefined }, io: Io): number {
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

/** Options as given: a data directory and the cluster's servers, either of which may be absent. */
type Given = { data?: string, nats?: string }

const withBy = (c: Command): Command => c.addOption(new Option('--by <name>', 'who does this, for the audit trail').default(actor(undefined), 'cli:USER'))

export function register (program: Command, io: Io): void {
  const tok = program.command('tokens').description('bearer tokens for the HTTP interface (stored only as hashes)')
  withBy(placeOptions(tok.command('create').description('make a token and print it, once, as the only output line'))
    .addOption(new Option('--role <role>', 'what the token may do').choices(['admin', 'operator', 'installer']).makeOptionMandatory())
    .option('--tenant <name>', 'the tenant an installer token is bound to (registered if new)')
    .option('--name <text>', 'whose token it is, for lists and the audit trail')
    .option('--expires-days <n>', 'the token stops working after this many days', parsePositive))
    .action((o: Given & { role: string, tenant?: string, name?: string, expiresDays?: number, by?: string }) => { process.exitCode = create({ ...o, data: placeOf(o) }, io) })
  placeOptions(tok.command('list').description('the tokens: id, role, tenant, name, state (never a secret or hash)'))
    .option('--json', 'as JSON lines')
    .action((o: Given & { json?: boolean }) => { process.exitCode = list({ ...o, data: placeOf(o) }, io) })
  withBy(placeOptions(tok.command('revoke').description('revoke a token, for good'))
    .requiredOption('--id <id>', 'the token\'s id (dc09 tokens list)'))
    .action((o: Given & { id: string, by?: string }) => { process.exitCode = revoke({ ...o, data: placeOf(o) }, io) })
}
