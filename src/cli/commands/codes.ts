/**
 * `dc09 users|codes|verify|audit`: the keyholders of an account and their disarm codes. Codes are
 * read from stdin, never from argv, and never printed, logged or stored in plain text.
 */
import { userInfo } from 'node:os'
import type { AccountStore } from '../../accounts/account-store.js'
import type { DerivedRecord } from '../../journal/record.js'
import { DEFAULT_POLICY, Verifier, VerifierError, type Policy } from '../../verification/verifier.js'
import type { Result } from '../../result.js'
import { printable, safeJson } from '../escape.js'
import { loadPepper } from '../pepper.js'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { parseCount } from '../options.js'
import { accountStore, appendEvent, dataDirOf, placeFlag, placeOf, placeOptions, verifierFor, type Place } from '../stores.js'

export interface Io {
  readonly out: (s: string) => void
  readonly err: (s: string) => void
  readonly readStdin: () => string
}

const ACCOUNT_RE = /^[0-9A-Za-z]{3,16}$/
/** The most a code read from stdin may be (codes have at most 16 digits). */
const MAX_CODE_INPUT = 256

/** Who a command acts as, for the audit trail. */
export function actor (by: string | undefined): string {
  if (by !== undefined && by !== '') return by.slice(0, 100)
  try {
    return `cli:${userInfo().username}`
  } catch {
    return 'cli'
  }
}

function open (data: Place, io: Io, pepperFlag: string | undefined, needPepper: boolean): { verifier: Verifier, accounts: AccountStore } | number {
  let pepper: Buffer | undefined
  if (needPepper) {
    const p = loadPepper(dataDirOf(data), pepperFlag)
    if (!p.ok) {
      io.err(`dc09: ${p.reason}\n`)
      return 2
    }
    pepper = p.pepper
  }
  const accounts = accountStore(data)
  try {
    return { verifier: verifierFor(data, accounts, { pepper }), accounts }
  } catch (err) {
    accounts.close()
    if (err instanceof VerifierError) {
      io.err(`dc09: ${err.message}\n`)
      return 2
    }
    throw err
  }
}

function withVerifier (data: Place, io: Io, pepperFlag: string | undefined, needPepper: boolean, fn: (v: Verifier) => number): number {
  const o = open(data, io, pepperFlag, needPepper)
  if (typeof o === 'number') return o
  try {
    return fn(o.verifier)
  } finally {
    o.verifier.close()
    o.accounts.close()
  }
}

async function withVerifierAsync (data: Place, io: Io, pepperFlag: string | undefined, fn: (v: Verifier) => Promise<number>): Promise<number> {
  const o = open(data, io, pepperFlag, true)
  if (typeof o === 'number') return o
  try {
    return await fn(o.verifier)
  } finally {
    o.verifier.close()
    o.accounts.close()
  }
}

function report (io: Io, r: Result<unknown>, ok: string): number {
  if (r.ok) {
    io.out(ok + '\n')
    return 0
  }
  io.err(`dc09: ${r.reason} (${r.code})\n`)
  return 1
}

function badAccount (account: string, io: Io): boolean {
  if (ACCOUNT_RE.test(account)) return false
  io.err('dc09: an account number is 3 to 16 letters or digits\n')
  return true
}

export function parseUser (s: string): number {
  if (!/^\d{1,4}$/.test(s) || Number(s) < 1) throw new Error('a user number is 1 to 9999')
  return Number(s)
}

export interface Common {
  /** A data directory, or the cluster (with the data directory, if given, for the demo's pepper). */
  readonly data: Place
  readonly pepperFile?: string | undefined
  readonly by?: string | undefined
}

export function usersAdd (o: Common & { account: string, user: number, name?: string | undefined }, io: Io): number {
  if (badAccount(o.account, io)) return 2
  return withVerifier(o.data, io, o.pepperFile, false, (v) =>
    report(io, v.addUser(o.account, o.user, o.name, actor(o.by)), `account ${o.account.toUpperCase()}: user ${o.user} added; set a code with: dc09 codes set ${placeFlag(o.data)} --account ${o.account.toUpperCase()} --user ${o.user}`))
}

export function usersRemove (o: Common & { account: string, user: number }, io: Io): number {
  if (badAccount(o.account, io)) return 2
  return withVerifier(o.data, io, o.pepperFile, false, (v) =>
    report(io, v.removeUser(o.account, o.user, actor(o.by)), `account ${o.account.toUpperCase()}: user ${o.user} removed, with the codes`))
}

export function usersList (o: Common & { account: string, json?: boolean | undefined }, io: Io): number {
  if (badAccount(o.account, io)) return 2
  return withVerifier(o.data, io, o.pepperFile, false, (v) => {
    const users = v.listUsers(o.account)
    const needsNew = v.needsNewCodes(o.account)
    for (const u of users) {
      if (o.json === true) {
        io.out(safeJson({ account: o.account.toUpperCase(), ...u, needsNewCode: needsNew && !u.hasCode }) + '\n')
      } else {
        io.out(`user ${u.user}${u.name === null ? '' : ` (${printable(u.name)})`}: ${u.hasCode ? 'code set' : needsNew ? 'NEEDS A NEW CODE' : 'no code'}${u.hasDuressCode ? ', duress code set' : ''}\n`)
      }
    }
    if (users.length === 0 && o.json !== true) io.out(`account ${o.account.toUpperCase()} has no users\n`)
    return 0
  })
}

/** The code from stdin: one line, digits; the newline dropped. */
function readCode (io: Io): string | undefined {
  const text = io.readStdin()
  if (text.length > MAX_CODE_INPUT) return undefined
  return text.replace(/\r?\n$/, '')
}

export async function codesSet (o: Common & { account: string, user: number, duress?: boolean | undefined }, io: Io): Promise<number> {
  if (badAccount(o.account, io)) return 2
  const code = readCode(io)
  if (code === undefined) {
    io.err('dc09: expected one code on standard input\n')
    return 2
  }
  return withVerifierAsync(o.data, io, o.pepperFile, async (v) =>
    report(io, await v.setCode(o.account, o.user, code, o.duress === true, actor(o.by)),
      `account ${o.account.toUpperCase()}: ${o.duress === true ? 'duress code' : 'disarm code'} set for user ${o.user}`))
}

export function codesResetAll (o: Common, io: Io): number {
  return withVerifier(o.data, io, o.pepperFile, false, (v) => {
    const n = v.resetAll(actor(o.by))
    io.out(`every disarm and duress code on ${n} account(s) is now invalid; enrol new codes with dc09 codes set (dc09 users list shows who needs one)\n`)
    return 0
  })
}

export function codesUnlock (o: Common & { account: string }, io: Io): number {
  if (badAccount(o.account, io)) return 2
  return withVerifier(o.data, io, o.pepperFile, false, (v) => {
    v.unlock(o.account, actor(o.by))
    io.out(`account ${o.account.toUpperCase()}: verification unlocked\n`)
    return 0
  })
}

/**
 * Checks a code presented for an account and prints one JSON line: valid (with the user),
 * invalid, or locked. A duress code prints exactly what a valid one prints; its event is
 * journaled (here, or by the running receiver) before anything is printed.
 */
export async function verifyCode (o: Common & { account: string, caller?: string | undefined }, io: Io): Promise<number> {
  if (badAccount(o.account, io)) return 2
  const code = readCode(io)
  if (code === undefined) {
    io.err('dc09: expected one code on standard input\n')
    return 2
  }
  const caller = (o.caller ?? actor(o.by)).slice(0, 100)
  return withVerifierAsync(o.data, io, o.pepperFile, async (v) => {
    const result = await v.verify(o.account, code, caller, async (e) => {
      const record: DerivedRecord = { type: 'derived', receivedAt: Date.now(), kind: e.kind, account: e.account, ...(e.holder === undefined ? {} : { holder: e.holder }), stage: 'verify', causedBy: 0, n: 0, data: e.data }
      await appendEvent(o.data, record)
    })
    io.out(JSON.stringify(result) + '\n')
    return 0
  })
}

export function auditList (o: Common & { limit: number, json?: boolean | undefined }, io: Io): number {
  return withVerifier(o.data, io, o.pepperFile, false, (v) => {
    // Every field may hold what a caller sent (an actor given with --by, a detail): escaped.
    for (const a of v.auditTrail(o.limit).reverse()) {
      if (o.json === true) io.out(safeJson(a) + '\n')
      else io.out(printable(`${a.at} ${a.actor} ${a.action}${a.account === null ? '' : ` account ${a.account}`}${a.user === null ? '' : ` user ${a.user}`}${a.outcome === null ? '' : ` ${a.outcome}`}${a.detail === null ? '' : ` (${a.detail})`}`) + '\n')
    }
    return 0
  })
}

/** Shows the verification policy, or changes the given settings of it (audited). */
export function codesPolicy (o: Common & Partial<Policy> & { json?: boolean | undefined }, io: Io): number {
  const keys = ['maxFailures', 'lockMinutes', 'callerMaxFailures', 'callerWindowMinutes', 'callerLockMinutes', 'minLength'] as const
  const patch: Partial<Record<keyof Policy, number>> = {}
  for (const k of keys) if (o[k] !== undefined) patch[k] = o[k]
  return withVerifier(o.data, io, o.pepperFile, false, (v) => {
    let p = v.policy()
    if (Object.keys(patch).length > 0) {
      const r = v.setPolicy(patch, actor(o.by))
      if (!r.ok) {
        io.err(`dc09: ${r.reason} (${r.code})\n`)
        return 1
      }
      p = r.value
    }
    io.out(o.json === true
      ? JSON.stringify(p) + '\n'
      : `${p.maxFailures} failures within ${p.lockMinutes} min lock an account's verification for ${p.lockMinutes} min (a valid code does not clear them); a caller may fail ${p.callerMaxFailures} times in ${p.callerWindowMinutes} min before a ${p.callerLockMinutes} min lock; codes have at least ${p.minLength} digits\n`)
    return 0
  })
}

function parseUserArg (v: string): number {
  try {
    return parseUser(v)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

/** What a new data directory's policy is. */
function startingPolicy (): string {
  const p = DEFAULT_POLICY
  return `A new data directory starts with: --max-failures ${p.maxFailures} --lock-minutes ${p.lockMinutes} --caller-max-failures ${p.callerMaxFailures} --caller-window-minutes ${p.callerWindowMinutes} --caller-lock-minutes ${p.callerLockMinutes} --min-length ${p.minLength}`
}

const withData = (c: Command): Command => placeOptions(c)
/** Where a code is hashed or checked, the data directory also holds the demo's pepper, in a cluster too. */
const withDataAndPepper = (c: Command): Command => placeOptions(c, 'data directory (required without --nats; with --nats, only where the demo\'s pepper is looked for)')
/** Who did it, for the audit trail: on the commands that change something. */
const withBy = (c: Command): Command => c.addOption(new Option('--by <name>', 'who does this, for the audit trail').default(actor(undefined), 'cli:USER'))
/** The pepper: only the commands that hash or check a code use it. */
const withPepper = (c: Command): Command => c.option('--pepper-file <file>', 'the pepper (else DC09_PEPPER_FILE, else the demo\'s DATA/pepper)')
/**
 * Every users, codes and audit command once took --by and --pepper-file. Where one is not used
 * it is still accepted, so that scripts keep working, but not offered in the help.
 */
function withUnused (c: Command, flags: { by?: boolean, pepper?: boolean }): Command {
  if (flags.by === true) c.addOption(new Option('--by <name>').hideHelp())
  if (flags.pepper === true) c.addOption(new Option('--pepper-file <file>').hideHelp())
  return c
}

/** Options as given: a data directory and the cluster's servers, either of which may be absent. */
type Given<T extends Common> = Omit<T, 'data'> & { data?: string, nats?: string }

/** The options with `data` as where the state is (placeOptions checked that one is given). */
function located<T extends Common> (o: Given<T>): T {
  return { ...o, data: placeOf(o) } as unknown as T
}

/** Keyholders and their codes. Codes come from stdin only. */
export function register (program: Command, io: Io): void {
  const users = program.command('users').description('the users (keyholders) of an account')
  withUnused(withBy(withData(users.command('add').description('add a user to an account'))), { pepper: true })
    .requiredOption('--account <number>', 'account number').requiredOption('--user <n>', 'user number (1-9999, as the panel reports it)', parseUserArg)
    .option('--name <name>', 'the user\'s name')
    .action((o: Given<Common & { account: string, user: number, name?: string }>) => { process.exitCode = usersAdd(located(o), io) })
  withUnused(withData(users.command('list').description('list an account\'s users and whether each has a code (never the code)')), { by: true, pepper: true })
    .requiredOption('--account <number>', 'account number').option('--json', 'as JSON lines')
    .action((o: Given<Common & { account: string, json?: boolean }>) => { process.exitCode = usersList(located(o), io) })
  withUnused(withBy(withData(users.command('remove').description('remove a user and their codes'))), { pepper: true })
    .requiredOption('--account <number>', 'account number').requiredOption('--user <n>', 'user number', parseUserArg)
    .action((o: Given<Common & { account: string, user: number }>) => { process.exitCode = usersRemove(located(o), io) })

  const codeCmd = program.command('codes').description('disarm and duress codes (write-only: stored as salted, peppered scrypt hashes)')
  withBy(withPepper(withDataAndPepper(codeCmd.command('set').description('set a user\'s disarm code (or duress code), read from standard input'))))
    .requiredOption('--account <number>', 'account number').requiredOption('--user <n>', 'user number', parseUserArg)
    .option('--duress', 'set the duress code: it verifies like the disarm code and silently raises a duress event')
    .action(async (o: Given<Common & { account: string, user: number, duress?: boolean }>) => { process.exitCode = await codesSet(located(o), io) })
  withUnused(withBy(withData(codeCmd.command('reset-all').description('make every code on every account invalid at once (a leak is suspected)'))), { pepper: true })
    .action((o: Given<Common>) => { process.exitCode = codesResetAll(located(o), io) })
  withUnused(withBy(withData(codeCmd.command('policy').description(`show or change the lockout and enrolment policy (audited; applies to every verification from then on); a setting not given stays as it is. ${startingPolicy()}`))), { pepper: true })
    .option('--max-failures <n>', 'failures within the lock window that lock an account (a valid code does not clear them)', parseCount)
    .option('--lock-minutes <n>', 'how long the account stays locked', parseCount)
    .option('--caller-max-failures <n>', 'failures one caller may have across accounts within its window', parseCount)
    .option('--caller-window-minutes <n>', 'the caller\'s window', parseCount)
    .option('--caller-lock-minutes <n>', 'how long a caller stays locked', parseCount)
    .option('--min-length <n>', 'fewest digits of a new code (at least 4)', parseCount)
    .option('--json', 'as JSON')
    .action((o: Given<Common & Partial<Policy> & { json?: boolean }>) => { process.exitCode = codesPolicy(located(o), io) })
  withUnused(withBy(withData(codeCmd.command('unlock').description('lift an account\'s verification lock after failed attempts (audited)'))), { pepper: true })
    .requiredOption('--account <number>', 'account number')
    .action((o: Given<Common & { account: string }>) => { process.exitCode = codesUnlock(located(o), io) })

  withBy(withPepper(withDataAndPepper(program.command('verify').description('check a disarm code presented for an account (read from standard input); prints {"result": "valid"|"invalid"|"locked", ...}'))))
    .requiredOption('--account <number>', 'account number')
    .option('--caller <id>', 'who presents the code (an operator, an IVR line): attempts are limited per caller')
    .action(async (o: Given<Common & { account: string, caller?: string }>) => { process.exitCode = await verifyCode(located(o), io) })

  withUnused(withData(program.command('audit').description('the audit trail of users, codes and verifications (never a code)')), { by: true, pepper: true })
    .option('--limit <n>', 'the last N entries', parseCount, 100).option('--json', 'as JSON lines')
    .action((o: Given<Common & { limit: number, json?: boolean }>) => { process.exitCode = auditList(located(o), io) })
}
