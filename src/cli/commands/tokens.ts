/**
 * `dc09 tokens create|list|revoke`: bearer tokens for the HTTP interface. A token is printed once,
 * as the only line `create` writes, and stored only as a hash; every change is audited.
 */
import { SqliteAccountStore } from '../../accounts/sqlite-store.js'
import { AccessStore, type TokenInfo } from '../../api/access.js'
import { Verifier } from '../../verification/verifier.js'
import { printable, safeJson } from '../escape.js'
import { actor } from './codes.js'
import { Option, type Command } from 'commander'
import { parsePositive } from '../options.js'

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

const withBy = (c: Command): Command => c.addOption(new Option('--by <name>', 'who does this, for the audit trail').default(actor(undefined), 'cli:USER'))

export function register (program: Command, io: Io): void {
  const tok = program.command('tokens').description('bearer tokens for the HTTP interface (stored only as hashes)')
  withBy(tok.command('create').description('make a token and print it, once, as the only output line')
    .requiredOption('--data <dir>', 'data directory')
    .addOption(new Option('--role <role>', 'what the token may do').choices(['admin', 'operator', 'installer']).makeOptionMandatory())
    .option('--tenant <name>', 'the tenant an installer token is bound to (registered if new)')
    .option('--name <text>', 'whose token it is, for lists and the audit trail')
    .option('--expires-days <n>', 'the token stops working after this many days', parsePositive))
    .action((o: { data: string, role: string, tenant?: string, name?: string, expiresDays?: number, by?: string }) => { process.exitCode = create(o, io) })
  tok.command('list').description('the tokens: id, role, tenant, name, state (never a secret or hash)')
    .requiredOption('--data <dir>', 'data directory').option('--json', 'as JSON lines')
    .action((o: { data: string, json?: boolean }) => { process.exitCode = list(o, io) })
  withBy(tok.command('revoke').description('revoke a token, for good')
    .requiredOption('--data <dir>', 'data directory').requiredOption('--id <id>', 'the token\'s id (dc09 tokens list)'))
    .action((o: { data: string, id: string, by?: string }) => { process.exitCode = revoke(o, io) })
}
