/** `dc09 accounts add|list|show|update|remove|purge|import`. Keys come from stdin or a file, never from argv, and are never printed. */
import type { Account, AccountInput, AccountPatch, AccountFailure } from '../../accounts/account.js'
import type { AccountStore } from '../../accounts/account-store.js'
import { ACCOUNT_REMOVED } from '../../pipeline/stage.js'
import { openCaseOf, type Case } from '../../pipeline/stages/cases.js'
import type { KeyFormat, TimestampWindow } from '../../protocol/index.js'
import type { Verifier } from '../../verification/verifier.js'
import { accountStore, appendEvent, pipelineStore, placeOf, placeOptions, verifierFor, type Place } from '../stores.js'
import { safeJson } from '../escape.js'
import { readJsonFile, readTextFile } from '../read-file.js'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { supervisionSeconds } from '../../accounts/supervision-presets.js'
import type { CliDeps } from '../deps.js'
import { parseSeconds, parseWindow } from '../options.js'
import { actor } from './codes.js'
import type { Result } from '../../result.js'

export interface AccountFlags {
  readonly keyStdin?: boolean
  readonly keyFile?: string
  readonly removeKey?: boolean
  readonly keyFormat?: KeyFormat
  readonly prefix?: string
  readonly receiver?: string
  readonly tenant?: string
  readonly supervision?: number
  readonly encryptionRequired?: boolean
  readonly window?: TimestampWindow
  readonly clockOffset?: number
  readonly timeZone?: string
  readonly charset?: string
  readonly checkPlainTimestamp?: boolean
  readonly siteName?: string
  readonly siteAddress?: string
  readonly vip?: boolean
}

export type Io = {
  readonly out: (s: string) => void
  readonly readStdin: () => string
  /** Where a long import says what it is doing, when standard error is a terminal. */
  readonly err?: (s: string) => void
  readonly stderrIsTTY?: boolean
}

/** Imports this large say on a terminal that they are under way, and how long they took. */
const LARGE_IMPORT = 1000

function keyFrom (f: AccountFlags, io: Io): string | undefined {
  if (f.keyStdin === true) return io.readStdin().replace(/^\uFEFF/, '').replace(/[\r\n]+$/, '')
  if (f.keyFile === undefined) return undefined
  const r = readTextFile(f.keyFile)
  if (!r.ok) throw new InputFailure(r.reason)
  return r.value.replace(/[\r\n]+$/, '')
}

/** The fields the flags set; absent flags leave fields alone. */
function fields (f: AccountFlags, io: Io): AccountPatch {
  const key = keyFrom(f, io)
  const p: Record<string, unknown> = {}
  if (key !== undefined) p.key = key
  if (f.removeKey === true) p.key = null
  if (f.keyFormat !== undefined) p.keyFormat = f.keyFormat
  if (f.prefix !== undefined) p.prefix = f.prefix === '' ? null : f.prefix
  if (f.receiver !== undefined) p.receiver = f.receiver === '' ? null : f.receiver
  if (f.tenant !== undefined) p.tenant = f.tenant === '' ? null : f.tenant
  if (f.supervision !== undefined) p.supervisionSeconds = f.supervision
  if (f.encryptionRequired !== undefined) p.encryptionRequired = f.encryptionRequired
  if (f.window !== undefined) { p.windowAhead = f.window.ahead; p.windowBehind = f.window.behind }
  if (f.clockOffset !== undefined) p.clockOffsetSeconds = f.clockOffset
  if (f.timeZone !== undefined) p.timeZone = f.timeZone === '' ? null : f.timeZone
  if (f.charset !== undefined) p.charset = f.charset
  if (f.checkPlainTimestamp !== undefined) p.checkPlainTimestamp = f.checkPlainTimestamp
  if (f.siteName !== undefined) p.siteName = f.siteName === '' ? null : f.siteName
  if (f.siteAddress !== undefined) p.siteAddress = f.siteAddress === '' ? null : f.siteAddress
  if (f.vip !== undefined) p.vip = f.vip
  return p as AccountPatch
}

/** One line that says what an account is, without its key. */
export function describeAccount (a: Account): string {
  const parts = [
    `account ${a.account}`,
    a.hasKey ? `key set (${a.keyFormat})` : 'no key',
    a.encryptionRequired ? 'encryption required' : 'plain frames accepted',
  ]
  if (a.receiver !== undefined) parts.push(`receiver ${a.receiver}`)
  if (a.prefix !== undefined) parts.push(`prefix ${a.prefix}`)
  if (a.tenant !== undefined) parts.push(`tenant ${a.tenant}`)
  if (a.supervisionSeconds !== undefined) parts.push(`supervision ${a.supervisionSeconds} s`)
  if (a.windowAhead !== undefined || a.windowBehind !== undefined) parts.push(`window +${a.windowAhead ?? 20}/-${a.windowBehind ?? 40} s`)
  if (a.clockOffsetSeconds !== undefined) parts.push(`clock offset ${a.clockOffsetSeconds} s`)
  if (a.timeZone !== undefined) parts.push(`time zone ${a.timeZone}`)
  if (a.charset !== undefined) parts.push(`charset ${a.charset}`)
  if (a.siteName !== undefined) parts.push(`site ${safeJson(a.siteName)}`)
  if (a.keyholders.length > 0) parts.push(`${a.keyholders.length} keyholder(s)`)
  if (a.vip) parts.push('VIP')
  return parts.join(', ')
}

function report<T> (r: Result<T, AccountFailure>, io: Io, ok: (v: T) => string): number {
  if (!r.ok) {
    process.stderr.write(`error: ${r.reason} (${r.code})\n`)
    return 1
  }
  io.out(ok(r.value) + '\n')
  return 0
}

export function withStore<T> (data: Place, fn: (s: AccountStore) => T): T {
  const s = accountStore(data)
  try { return fn(s) } finally { s.close() }
}

/** A file named on the command line that could not be read: reported, not a crash. */
class InputFailure extends Error {}

/** Exit code 1 with the message for an input file that could not be read; anything else is a bug. */
function inputFailure (e: unknown): number {
  if (!(e instanceof InputFailure)) throw e
  process.stderr.write(`error: ${e.message}\n`)
  return 1
}

export function add (data: Place, account: string, f: AccountFlags, io: Io): number {
  let input: AccountInput
  try {
    input = { account, ...fields(f, io) } as AccountInput
  } catch (e) {
    return inputFailure(e)
  }
  return withStore(data, (s) => report(s.add(input), io, (a) => `added ${describeAccount(a)}`))
}

/** Runs `fn` with the store and a verifier (no pepper: for users and the audit trail), closing both. */
async function withVerifier<T> (data: Place, fn: (s: AccountStore, v: Verifier) => T | Promise<T>): Promise<T> {
  const s = accountStore(data)
  let v: Verifier | undefined
  try {
    v = verifierFor(data, s, {})
    return await fn(s, v)
  } finally {
    v?.close()
    s.close()
  }
}

export async function update (data: Place, account: string, f: AccountFlags, io: Io, actor = 'cli'): Promise<number> {
  let patch: AccountPatch
  try {
    patch = fields(f, io)
  } catch (e) {
    return inputFailure(e)
  }
  return withVerifier(data, (s, v) => {
    const before = s.get(account)
    return report(s.update(account, patch), io, (a) => {
      if (before?.tenant === undefined || a.tenant === before.tenant) return `updated ${describeAccount(a)}`
      // A move to another tenant: the store cleared every code with it.
      const users = v.listUsers(a.account).length
      v.audit(actor, 'account-move', a.account, 'ok', null, `moved from tenant ${before.tenant} to tenant ${a.tenant ?? '(none)'}; every disarm and duress code cleared`)
      return `updated ${describeAccount(a)}\nmoved from tenant ${before.tenant}: every disarm and duress code is cleared${users > 0 ? `; its ${users} user(s) need new codes (dc09 codes set)` : ''}`
    })
  })
}

/** The account's open case, if the pipeline has one (its state is read as committed; the receiver may run). */
function openCase (data: Place, a: Account): Case | undefined {
  const store = pipelineStore(data)
  if (store === undefined) return undefined
  try {
    return openCaseOf(store, a)
  } finally {
    store.close()
  }
}

/**
 * Removes an account with its users and codes. The removal is journaled first (through the
 * running receiver, if one holds the journal), so the pipeline drops what it keeps of this holder
 * of the number (its open case is closed as account-removed) before anything of a next one.
 */
export async function remove (data: Place, account: string, io: Io, actor = 'cli'): Promise<number> {
  return withVerifier(data, async (s, v) => {
    const a = s.get(account)
    if (a === undefined) return report(s.remove(account), io, () => '')
    const open = openCase(data, a)
    const users = v.listUsers(a.account).length
    try {
      await appendEvent(data, {
        type: 'derived', receivedAt: Date.now(), kind: ACCOUNT_REMOVED.kind, account: a.account, holder: a.createdAt, stage: ACCOUNT_REMOVED.stage, causedBy: 0, n: 0,
        data: { createdAt: a.createdAt, tenant: a.tenant ?? null, by: actor },
      })
    } catch (err) {
      process.stderr.write(`error: the removal could not be journaled, so nothing was removed: ${(err as Error).message}\n`)
      return 1
    }
    let r: ReturnType<typeof s.remove>
    try {
      // This holder only: while the removal was journaled, the number may have been removed and
      // given to someone else, whose account, users and codes stay (then: not found, exit 1).
      r = s.remove(a.account, { createdAt: a.createdAt })
    } catch (err) {
      // The removal is journaled, so the stages have dropped this holder's state (its open case
      // closed, its supervision ended) while its account stays. Running the command again
      // journals the removal again (harmless) and finishes it.
      process.stderr.write(`error: the removal of account ${a.account} was journaled, but the account could not be deleted (${(err as Error).message}); run the command again to finish it\n`)
      return 1
    }
    return report(r, io, () => {
      v.audit(actor, 'account-remove', a.account, 'ok', null, `${users} user(s)`)
      if (open !== undefined) v.audit(actor, 'case-account-removed', a.account, 'ok', null, `case ${open.id} closed: the account was removed`)
      return `removed account ${a.account}${users > 0 ? ` and its ${users} user(s)` : ''}${open === undefined ? '' : `; its open case ${open.id} is closed as account-removed`}`
    })
  })
}

/**
 * Users and codes left under numbers that have no account (a removal an older version did not
 * finish): listed, or purged for one number or all. A number with leftovers cannot be added.
 */
export async function purge (data: Place, o: { account?: string | undefined, all: boolean }, io: Io, actor = 'cli'): Promise<number> {
  return withVerifier(data, (s, v) => {
    const numbers = o.account !== undefined ? [o.account.toUpperCase()] : s.orphans()
    if (o.account === undefined && !o.all) {
      io.out(numbers.length === 0 ? 'nothing is left under any number without an account\n' : numbers.map((n) => `${n}: ${s.leftovers(n)} record(s) left; purge with --account ${n}, or all with --all\n`).join(''))
      return 0
    }
    let code = 0
    for (let batch = numbers; batch.length > 0; batch = o.all ? s.orphans() : []) {
      for (const n of batch) {
        const r = s.purge(n)
        if (!r.ok) {
          process.stderr.write(`error: ${r.reason} (${r.code})\n`)
          code = 1
          continue
        }
        v.audit(actor, 'account-purge', n, 'ok', null, `${r.value} record(s)`)
        io.out(`purged ${r.value} record(s) left under ${n}\n`)
      }
      if (code !== 0) break
    }
    return code
  })
}

export function show (data: Place, account: string, json: boolean, io: Io): number {
  return withStore(data, (s) => {
    const a = s.get(account)
    if (a === undefined) {
      process.stderr.write(`error: no account ${account.toUpperCase()}\n`)
      return 1
    }
    io.out((json ? safeJson(a) : describeAccount(a)) + '\n')
    return 0
  })
}

export function list (data: Place, opts: { tenant?: string, json: boolean }, io: Io): number {
  return withStore(data, (s) => {
    let after: string | undefined
    for (;;) {
      const page = s.list({ tenant: opts.tenant, after, limit: 1000 })
      for (const a of page) io.out((opts.json ? safeJson(a) : describeAccount(a)) + '\n')
      if (page.length < 1000) return 0
      after = page.at(-1)!.account
    }
  })
}

/**
 * Adds and updates the accounts of a JSON file, all or nothing. An account it moves to another
 * tenant loses every disarm and duress code with the move: each is audited with both tenants
 * and said in the output, as `update` does.
 */
export async function importFile (data: Place, file: string, io: Io, actor = 'cli'): Promise<number> {
  const read = readJsonFile(file)
  if (!read.ok) {
    process.stderr.write(`error: ${read.reason}\n`)
    return 1
  }
  const entries = read.value
  if (!Array.isArray(entries)) {
    process.stderr.write(`error: ${file} must hold a JSON array of accounts\n`)
    return 1
  }
  const say = io.stderrIsTTY === true && entries.length >= LARGE_IMPORT ? io.err : undefined
  // One transaction, all or nothing: there is no count along the way to show, only the start and the end.
  say?.(`importing ${entries.length} account(s) from ${file}: checked, then written all or nothing...`)
  const t0 = performance.now()
  return withVerifier(data, (s, v) => {
    const result = s.import(entries)
    say?.(result.ok ? ` done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n` : ' refused, nothing written\n')
    return report(result, io, (r) => {
      const lines = [`imported ${entries.length} account(s): ${r.added} added, ${r.updated} updated`]
      for (const m of r.moved) {
        const to = m.to ?? '(none)'
        v.audit(actor, 'account-move', m.account, 'ok', null, `moved from tenant ${m.from} to tenant ${to}; every disarm and duress code cleared`)
        const users = v.listUsers(m.account).length
        lines.push(`account ${m.account} moved from tenant ${m.from} to tenant ${to}: every disarm and duress code is cleared${users > 0 ? `; its ${users} user(s) need new codes (dc09 codes set)` : ''}`)
      }
      return lines.join('\n')
    })
  })
}

/** Seconds, or an EN 50136-1 category: SP2-SP6, DP1-DP4. */
function parseSupervision (v: string): number {
  const s = supervisionSeconds(v)
  if (s === undefined) throw new InvalidArgumentError('seconds, or a category: SP2 (25 h), SP3 (30 min), SP4 (3 min), SP5 (90 s), SP6 (20 s), DP1-DP4')
  return s
}

const dataOption = (c: Command): Command => placeOptions(c)

function accountOptions (c: Command): Command {
  return dataOption(c)
    .requiredOption('--account <number>', 'account number (3-16 hex digits or letters)')
    .option('--key-stdin', 'read the AES key from standard input')
    .option('--key-file <file>', 'read the AES key from a file')
    .addOption(new Option('--key-format <format>', 'hex digits, or ASCII characters used as the key bytes').choices(['hex', 'ascii']))
    .option('--prefix <hex>', 'the account prefix (L) frames must carry ("" clears)')
    .option('--receiver <hex>', 'the receiver number (R) frames must carry ("" clears)')
    .option('--tenant <name>', 'the installer company that owns the account')
    .option('--supervision <interval>', 'expected reporting interval: seconds, or SP2-SP6, DP1-DP4 (EN 50136-1)', parseSupervision)
    .option('--encryption-required', 'refuse plain frames (the rule when a key is set)')
    .option('--no-encryption-required', 'accept plain frames even with a key set')
    .option('--window <+ahead,-behind>', 'timestamp window in seconds', parseWindow)
    .option('--clock-offset <seconds>', 'the panel clock runs this many seconds ahead of UTC', parseSeconds)
    .option('--time-zone <zone>', 'the panel sends local time in this IANA zone')
    .option('--charset <name>', 'charset of text in its events')
    .option('--check-plain-timestamp', 'check the window on plain frames too')
    .option('--site-name <text>', 'the protected site\'s name ("" clears)')
    .option('--site-address <text>', 'the site\'s address ("" clears); keyholders come with accounts import')
    .option('--vip', 'a prominent person lives or works here (shown to operators and admins only)')
    .option('--no-vip', 'clear the prominent-person marker')
}

export function register (program: Command, deps: CliDeps): void {
  const acc = program.command('accounts').description('manage the accounts the receiver accepts (works while it runs)')
  accountOptions(acc.command('add').description('add an account'))
    .action((o: AccountFlags & { data?: string, nats?: string, account: string }) => { process.exitCode = add(placeOf(o), o.account, o, deps) })
  accountOptions(acc.command('update').description('change an account (only the given fields)'))
    .option('--remove-key', 'remove the AES key')
    .action(async (o: AccountFlags & { data?: string, nats?: string, account: string }) => { process.exitCode = await update(placeOf(o), o.account, o, deps, actor(undefined)) })
  dataOption(acc.command('remove').description('remove an account, its users and codes (closes its open case, if any)'))
    .requiredOption('--account <number>', 'account number')
    .action(async (o: { data?: string, nats?: string, account: string }) => { process.exitCode = await remove(placeOf(o), o.account, deps, actor(undefined)) })
  dataOption(acc.command('purge').description('list, or delete, users and codes left under numbers without an account (a removal an older version did not finish)'))
    .option('--account <number>', 'purge this number').option('--all', 'purge every such number')
    .action(async (o: { data?: string, nats?: string, account?: string, all?: boolean }) => { process.exitCode = await purge(placeOf(o), { account: o.account, all: o.all === true }, deps, actor(undefined)) })
  dataOption(acc.command('show').description('show an account (never its key: only whether one is set)'))
    .requiredOption('--account <number>', 'account number').option('--json', 'as JSON')
    .action((o: { data?: string, nats?: string, account: string, json?: boolean }) => { process.exitCode = show(placeOf(o), o.account, o.json === true, deps) })
  dataOption(acc.command('list').description('list accounts'))
    .option('--tenant <name>', 'only this tenant\'s').option('--json', 'as JSON lines')
    .action((o: { data?: string, nats?: string, tenant?: string, json?: boolean }) => {
      process.exitCode = list(placeOf(o), { json: o.json === true, ...(o.tenant === undefined ? {} : { tenant: o.tenant }) }, deps)
    })
  dataOption(acc.command('import').description('add or update accounts from a JSON array, all or nothing'))
    .argument('<file>', 'JSON array of accounts')
    .action(async (file: string, o: { data?: string, nats?: string }) => { process.exitCode = await importFile(placeOf(o), file, deps, actor(undefined)) })
}
