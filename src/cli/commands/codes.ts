/**
 * `dc09 users|codes|verify|audit`: the keyholders of an account and their disarm codes. Codes are
 * read from stdin, never from argv, and never printed, logged or stored in plain text.
 */
import { userInfo } from 'node:os'
import { SqliteAccountStore } from '../../accounts/sqlite-store.js'
import { appendForCommand } from '../../pipeline/control.js'
import type { DerivedRecord } from '../../journal/record.js'
import { Verifier, VerifierError, type Policy } from '../../verification/verifier.js'
import type { Result } from '../../result.js'
import { printable, safeJson } from '../escape.js'
import { loadPepper } from '../pepper.js'

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

function open (data: string, io: Io, pepperFlag: string | undefined, needPepper: boolean): { verifier: Verifier, accounts: SqliteAccountStore } | number {
  let pepper: Buffer | undefined
  if (needPepper) {
    const p = loadPepper(data, pepperFlag)
    if (!p.ok) {
      io.err(`dc09: ${p.reason}\n`)
      return 2
    }
    pepper = p.pepper
  }
  const accounts = new SqliteAccountStore(data)
  try {
    return { verifier: new Verifier(data, accounts, { pepper }), accounts }
  } catch (err) {
    accounts.close()
    if (err instanceof VerifierError) {
      io.err(`dc09: ${err.message}\n`)
      return 2
    }
    throw err
  }
}

function withVerifier (data: string, io: Io, pepperFlag: string | undefined, needPepper: boolean, fn: (v: Verifier) => number): number {
  const o = open(data, io, pepperFlag, needPepper)
  if (typeof o === 'number') return o
  try {
    return fn(o.verifier)
  } finally {
    o.verifier.close()
    o.accounts.close()
  }
}

async function withVerifierAsync (data: string, io: Io, pepperFlag: string | undefined, fn: (v: Verifier) => Promise<number>): Promise<number> {
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
  readonly data: string
  readonly pepperFile?: string | undefined
  readonly by?: string | undefined
}

export function usersAdd (o: Common & { account: string, user: number, name?: string | undefined }, io: Io): number {
  if (badAccount(o.account, io)) return 2
  return withVerifier(o.data, io, o.pepperFile, false, (v) =>
    report(io, v.addUser(o.account, o.user, o.name, actor(o.by)), `account ${o.account.toUpperCase()}: user ${o.user} added; set a code with: dc09 codes set --data ${o.data} --account ${o.account.toUpperCase()} --user ${o.user}`))
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
      await appendForCommand(o.data, record)
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
