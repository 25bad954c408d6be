/**
 * What a frame deserves, decided in one place (the table "Deciding the answer" in docs/protocol.md):
 * reject (with the code and the answer the protocol asks for) or accept (to be journaled, then
 * acknowledged). No I/O here: the account lookup is in memory and the clock is passed in.
 */
import type { AccountStore } from '../accounts/account-store.js'
import { DEFAULT_WINDOW_AHEAD, DEFAULT_WINDOW_BEHIND, windowSeconds, type ReceiverAccount } from '../accounts/account.js'
import {
  EVENT_TOKENS, ErrorCode, openFrame, parseFrame, REPLY_FOR,
  type AccountProfile, type DecodedFrame, type Rejection, type TimestampWindow,
} from '../protocol/index.js'
import type { UnknownAccountPolicy } from './options.js'

export type Decision =
  | { readonly kind: 'reject', readonly rejection: Rejection, readonly account: ReceiverAccount | undefined }
  | { readonly kind: 'accept', readonly frame: DecodedFrame, readonly account: ReceiverAccount | undefined, readonly quarantine: boolean }

export interface DecideContext {
  readonly accounts: AccountStore
  readonly unknownAccounts: UnknownAccountPolicy
  readonly now: number
  /** Most events in one SIA block (the receiver's `maxEventsPerBlock`). */
  readonly maxEvents?: number | undefined
  /** The duplicate window in seconds: no account's timestamp window is taken wider. */
  readonly maxWindowSeconds?: number | undefined
}

/** Rejections that concern security: logged as such (a wrong key, a downgrade, a spoofed route). */
export const SECURITY_CODES: ReadonlySet<string> = new Set([
  ErrorCode.WRONG_KEY, ErrorCode.ENCRYPTION_REQUIRED, ErrorCode.ACCOUNT_MISMATCH, ErrorCode.NO_KEY,
])

function rejection (code: ErrorCode, reason: string, frame: { readonly crcForm: 'hex' | 'binary' } & object, reply = REPLY_FOR[code]): Rejection {
  return { ok: false, code, reason, reply, header: frame as Rejection['header'], crcForm: frame.crcForm }
}

/**
 * The decode settings an account asks for. Its timestamp window is never taken wider than the
 * duplicate window (`maxWindowSeconds`), or a frame replayed after the duplicate window forgot
 * it would pass as a new event. Stores refuse such windows, and `dc09 serve` will not start
 * with one; this holds too for an account written meanwhile by a process that was held to a
 * wider bound (the CLI knows only the default duplicate window).
 */
export function profileOf (a: ReceiverAccount, maxWindowSeconds = Infinity): AccountProfile {
  const acc = a.account
  let window: TimestampWindow | undefined
  if (acc.windowAhead !== undefined || acc.windowBehind !== undefined || windowSeconds(acc) > maxWindowSeconds) {
    const ahead = Math.min(acc.windowAhead ?? DEFAULT_WINDOW_AHEAD, maxWindowSeconds)
    window = { ahead, behind: Math.min(acc.windowBehind ?? DEFAULT_WINDOW_BEHIND, maxWindowSeconds - ahead) }
  }
  return {
    key: a.key,
    requireEncryption: acc.encryptionRequired,
    window,
    clock: acc.timeZone !== undefined ? { timeZone: acc.timeZone } : acc.clockOffsetSeconds !== undefined ? { offsetSeconds: acc.clockOffsetSeconds } : undefined,
    charset: acc.charset,
    checkPlainTimestamp: acc.checkPlainTimestamp,
  }
}

/** Settings for a frame whose account is not registered (quarantine, or to find the account). */
const ANONYMOUS: AccountProfile = { requireEncryption: false }

export function decide (bytes: Buffer, ctx: DecideContext): Decision {
  const parsed = parseFrame(bytes)
  if (!parsed.ok) return { kind: 'reject', rejection: parsed, account: undefined }
  const raw = parsed.value
  if (!EVENT_TOKENS.has(raw.token)) {
    return { kind: 'reject', rejection: rejection(ErrorCode.UNSUPPORTED_TOKEN, `the ID token ${JSON.stringify(raw.token)} is not one this receiver processes`, raw), account: undefined }
  }
  let accountNumber = raw.acct
  if (accountNumber === '') {
    // Some panels name the account only in the data block (plain frames only: parseFrame
    // refuses encrypted ones without a header account). Read it, then decide as usual.
    const peek = openFrame(raw, ANONYMOUS, undefined, ctx)
    if (!peek.ok) return { kind: 'reject', rejection: peek, account: undefined }
    accountNumber = peek.value.account
  }
  const account = ctx.accounts.receiverAccount(accountNumber)
  if (account === undefined) {
    const reason = `account ${accountNumber.toUpperCase()} is not registered`
    if (ctx.unknownAccounts === 'quarantine' && !raw.encrypted) {
      const r = openFrame(raw, ANONYMOUS, ctx.now, ctx)
      return r.ok ? { kind: 'accept', frame: r.value, account: undefined, quarantine: true } : { kind: 'reject', rejection: r, account: undefined }
    }
    const reply = ctx.unknownAccounts === 'duh' ? 'DUH' : 'NAK'
    return { kind: 'reject', rejection: rejection(ErrorCode.UNKNOWN_ACCOUNT, reason, raw, reply), account: undefined }
  }
  const acc = account.account
  // An account registered with a receiver number or prefix accepts only frames that carry it.
  if ((acc.receiver !== undefined && acc.receiver !== raw.rcvr?.toUpperCase()) ||
      (acc.prefix !== undefined && acc.prefix !== raw.lpref?.toUpperCase())) {
    return {
      kind: 'reject',
      rejection: rejection(ErrorCode.ACCOUNT_MISMATCH, `account ${acc.account} arrived with receiver ${raw.rcvr ?? '(none)'} and prefix ${raw.lpref ?? '(none)'}, not the ones it is registered with`, raw),
      account,
    }
  }
  const r = openFrame(raw, profileOf(account, ctx.maxWindowSeconds), ctx.now, ctx)
  return r.ok ? { kind: 'accept', frame: r.value, account, quarantine: false } : { kind: 'reject', rejection: r, account }
}
