/**
 * An account: one alarm panel (or one account number on a panel) the receiver accepts events for.
 * Validation lives here, once, for every way an account arrives: the CLI, a JSON import, the API.
 */
import { isCharset, isTimeZone, parseKey, type AesEngine, type AesKey, type KeyFormat } from '../protocol/index.js'
import { supervisionSeconds } from './supervision-presets.js'
import { err, type Err, type Result } from '../result.js'

/** What anyone may see of an account. The key itself is never part of it: only whether one is set. */
export interface Account {
  /** The account number, upper-case (panels send hex; matching ignores case). */
  readonly account: string
  /** The receiver number (`R`) the account must arrive with, if any. */
  readonly receiver: string | undefined
  /** The account prefix (`L`) it must arrive with, if any. */
  readonly prefix: string | undefined
  readonly hasKey: boolean
  readonly keyFormat: KeyFormat | undefined
  /** Plain frames are refused. */
  readonly encryptionRequired: boolean
  /** Timestamp window in seconds; undefined: the receiver's default (+20/-40). */
  readonly windowAhead: number | undefined
  readonly windowBehind: number | undefined
  /** Also check the window on plain frames. */
  readonly checkPlainTimestamp: boolean
  /** The panel's clock minus UTC, for panels that send local time. */
  readonly clockOffsetSeconds: number | undefined
  /** Or the IANA zone of the panel's local time. */
  readonly timeZone: string | undefined
  /** Charset of text in its events (`auto`: UTF-8 if valid, else Windows-1252). */
  readonly charset: string | undefined
  /** Expected reporting interval (supervision). */
  readonly supervisionSeconds: number | undefined
  /** The installer company that owns the account. */
  readonly tenant: string | undefined
  /** The protected site, as a centre needs it to act on an alarm (personal data). */
  readonly siteName: string | undefined
  readonly siteAddress: string | undefined
  /** Whom to call, in order (personal data). */
  readonly keyholders: readonly Keyholder[]
  /** A prominent person lives or works here: shown only to operators and admins. */
  readonly vip: boolean
  readonly createdAt: string
  readonly updatedAt: string
  /** When a field every role sees last changed (updatedAt moves with the VIP marker too). */
  readonly visibleUpdatedAt: string
}

/** The JSON form of an account in `dc09 accounts import` and the API. Only `account` is required. */
export interface AccountInput {
  readonly account: string
  readonly key?: string | null | undefined
  readonly keyFormat?: KeyFormat | undefined
  readonly receiver?: string | null | undefined
  readonly prefix?: string | null | undefined
  readonly encryptionRequired?: boolean | undefined
  readonly windowAhead?: number | null | undefined
  readonly windowBehind?: number | null | undefined
  readonly checkPlainTimestamp?: boolean | undefined
  readonly clockOffsetSeconds?: number | null | undefined
  readonly timeZone?: string | null | undefined
  readonly charset?: string | null | undefined
  /** Seconds, or an EN 50136-1 category name: `SP4`, `DP2`, ... */
  readonly supervisionSeconds?: number | string | null | undefined
  readonly tenant?: string | null | undefined
  readonly siteName?: string | null | undefined
  readonly siteAddress?: string | null | undefined
  readonly keyholders?: readonly Keyholder[] | null | undefined
  readonly vip?: boolean | undefined
}

/** Someone the centre calls when the site alarms: by `order`, lowest first. */
export interface Keyholder {
  readonly name: string
  readonly phone: string
  readonly order: number
}

/** The most keyholders an account has, and the longest texts (every input is bounded). */
export const MAX_KEYHOLDERS = 20
export const MAX_SITE_NAME = 200
export const MAX_SITE_ADDRESS = 500
export const MAX_PERSON_NAME = 100

/** The timestamp window of an account that sets none (seconds ahead, behind), as the protocol core's default. */
export const DEFAULT_WINDOW_AHEAD = 20
export const DEFAULT_WINDOW_BEHIND = 40

/**
 * The widest timestamp window (ahead + behind, in seconds) an account may have: the receiver's
 * duplicate window (10 minutes by default). A frame is accepted until its panel time is
 * `behind` seconds old, and its panel time may be `ahead` seconds early; once the duplicate
 * window has forgotten it, a copy replayed by someone who recorded it must fail the timestamp
 * check instead of being taken for a new event. A receiver configured with a shorter duplicate
 * window passes its own bound to the store.
 */
export const MAX_WINDOW_SECONDS = 600

export interface AccountLimits {
  /** The receiver's duplicate window in seconds: no account's window may be wider. */
  readonly maxWindowSeconds: number
}

const DEFAULT_LIMITS: AccountLimits = { maxWindowSeconds: MAX_WINDOW_SECONDS }

/** The timestamp window an account gets, ahead + behind in seconds (defaults filled in). */
export function windowSeconds (a: { readonly windowAhead?: number | undefined, readonly windowBehind?: number | undefined }): number {
  return (a.windowAhead ?? DEFAULT_WINDOW_AHEAD) + (a.windowBehind ?? DEFAULT_WINDOW_BEHIND)
}

/** A change to an existing account: any field but `account`; `null` clears a field. */
export type AccountPatch = Omit<AccountInput, 'account'>

export const AccountError = {
  INVALID: 'DC09_ERR_ACCOUNT_INVALID',
  EXISTS: 'DC09_ERR_ACCOUNT_EXISTS',
  NOT_FOUND: 'DC09_ERR_ACCOUNT_NOT_FOUND',
  /** Users or codes of an earlier holder of the number remain: purge them before the number is taken again. */
  LEFTOVERS: 'DC09_ERR_ACCOUNT_LEFTOVERS',
} as const
export type AccountErrorCode = typeof AccountError[keyof typeof AccountError]

/** Why an account change was refused. */
export type AccountFailure = Err<AccountErrorCode>

const FIELDS = new Set([
  'account', 'key', 'keyFormat', 'receiver', 'prefix', 'encryptionRequired', 'windowAhead', 'windowBehind',
  'checkPlainTimestamp', 'clockOffsetSeconds', 'timeZone', 'charset', 'supervisionSeconds', 'tenant',
  'siteName', 'siteAddress', 'keyholders', 'vip',
])

/**
 * For checking a key's text by the protocol core's own rules without expanding it: a row stores
 * the text, and the receiver expands it when it needs it (an import of a million keys would
 * otherwise build and drop a million ciphers). Its keys cannot be used.
 */
const FORM_ONLY: AesEngine = {
  name: 'node',
  importKey: (key) => ({
    bits: key.length === 32 ? 256 : key.length === 24 ? 192 : 128,
    decrypt: unusable,
    encrypt: unusable,
  }),
}

function unusable (): never {
  throw new Error('a key checked for its form only cannot be used')
}

const ACCOUNT_RE = /^[0-9A-Za-z]{3,16}$/
const HEX_RE = /^[0-9A-Fa-f]{1,6}$/
export const TENANT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const PHONE_RE = /^\+?[0-9][0-9 ()./-]{2,31}$/

/**
 * Printable text of at most `max` characters (no control characters: they end up on screens and
 * in logs). The one rule for every name and address a person types: sites, keyholders, users.
 */
export function isPrintableText (v: unknown, max: number): v is string {
  // No control or format characters (a right-to-left override or a zero-width space makes what
  // an operator reads differ from what is stored), and no lone surrogates. What real names and
  // addresses need stays: the zero-width (non-)joiners (Persian, Indic scripts), the left-to-right
  // and right-to-left marks (Hebrew, Arabic), the soft hyphen.
  return typeof v === 'string' && v.length > 0 && v.length <= max && !/[\p{Cc}\p{Cs}]|(?![\u00AD\u200C-\u200F])\p{Cf}/u.test(v) && v.trim() === v
}

function keyholders (v: unknown): string | Keyholder[] {
  if (!Array.isArray(v)) return 'keyholders must be a list'
  if (v.length > MAX_KEYHOLDERS) return `an account has at most ${MAX_KEYHOLDERS} keyholders`
  const out: Keyholder[] = []
  for (const [i, k] of v.entries()) {
    if (typeof k !== 'object' || k === null || Array.isArray(k)) return `keyholders[${i}] must be an object with name, phone and order`
    for (const f of Object.keys(k)) if (f !== 'name' && f !== 'phone' && f !== 'order') return `keyholders[${i}]: unknown field ${JSON.stringify(f)}`
    const { name, phone, order } = k as Record<string, unknown>
    if (!isPrintableText(name, MAX_PERSON_NAME)) return `keyholders[${i}].name must be 1 to ${MAX_PERSON_NAME} printable characters`
    if (typeof phone !== 'string' || !PHONE_RE.test(phone)) return `keyholders[${i}].phone must be a phone number (digits, optional +, spaces, dashes)`
    if (typeof order !== 'number' || !Number.isInteger(order) || order < 1 || order > 99) return `keyholders[${i}].order must be a whole number from 1 to 99`
    if (out.some((o) => o.order === order)) return `keyholders[${i}].order ${order} is given twice`
    out.push({ name: name as string, phone, order })
  }
  return out.sort((a, b) => a.order - b.order)
}

/** The stored row: validated, normalised, with the key text (which only the store holds). */
export interface AccountRow extends Omit<Account, 'hasKey' | 'createdAt' | 'updatedAt' | 'visibleUpdatedAt'> {
  readonly keyText: string | undefined
}

function invalid (reason: string): AccountFailure {
  return err(AccountError.INVALID, reason)
}

function int (v: unknown, name: string, min: number, max: number): string | undefined {
  if (v === undefined || v === null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return `${name} must be a whole number from ${min} to ${max}`
  return undefined
}

/**
 * Checks an input (a whole account, or a patch merged onto the current row) and returns the row
 * to store. Errors name the field and never repeat a key.
 */
export function validateAccount (input: Record<string, unknown>, current?: AccountRow, limits: AccountLimits = DEFAULT_LIMITS): Result<AccountRow, AccountFailure> {
  for (const k of Object.keys(input)) if (!FIELDS.has(k)) return invalid(`unknown field ${JSON.stringify(k)}`)
  const v = { ...input } as Partial<Record<keyof AccountInput, unknown>>
  // A reporting interval may be named by its EN 50136-1 category (SP4, DP2, ...).
  if (typeof v.supervisionSeconds === 'string') {
    const s = supervisionSeconds(v.supervisionSeconds)
    if (s === undefined) return invalid('supervisionSeconds must be a number of seconds or a category: SP2-SP6, DP1-DP4')
    v.supervisionSeconds = s
  }
  const account = current?.account ?? v.account
  if (typeof account !== 'string' || !ACCOUNT_RE.test(account)) return invalid('account must be 3 to 16 letters or digits (hex for standard panels)')
  const pick = <K extends keyof AccountInput>(k: K, cur: unknown): unknown => (k in v ? v[k] : cur)
  const receiver = pick('receiver', current?.receiver)
  const prefix = pick('prefix', current?.prefix)
  for (const [name, val] of [['receiver', receiver], ['prefix', prefix]] as const) {
    if (val !== undefined && val !== null && (typeof val !== 'string' || !HEX_RE.test(val))) return invalid(`${name} must be 1 to 6 hex digits`)
  }
  const keyGiven = 'key' in v
  const keyText = keyGiven ? v.key : current?.keyText
  const keyFormat = pick('keyFormat', current?.keyFormat) ?? (keyText === undefined || keyText === null ? undefined : 'hex')
  if (keyFormat !== undefined && keyFormat !== 'hex' && keyFormat !== 'ascii') return invalid('keyFormat must be "hex" or "ascii"')
  if (keyText !== undefined && keyText !== null) {
    if (typeof keyText !== 'string') return invalid('key must be a string')
    const parsed = parseKey(keyText, keyFormat as KeyFormat, FORM_ONLY)
    if (!parsed.ok) return invalid(`key: ${parsed.reason}`)
  }
  const hasKey = typeof keyText === 'string'
  // Explicit wins; otherwise an account with a key must encrypt, and when a key is set or
  // removed the requirement follows it.
  const keyChanged = keyGiven && hasKey !== (current?.keyText !== undefined)
  const encryptionRequired = 'encryptionRequired' in v ? v.encryptionRequired : keyChanged ? undefined : current?.encryptionRequired
  if (encryptionRequired !== undefined && typeof encryptionRequired !== 'boolean') return invalid('encryptionRequired must be true or false')
  const required = (encryptionRequired as boolean | undefined) ?? hasKey
  if (required && !hasKey) return invalid('encryptionRequired needs a key')
  const checkPlain = pick('checkPlainTimestamp', current?.checkPlainTimestamp) ?? false
  if (typeof checkPlain !== 'boolean') return invalid('checkPlainTimestamp must be true or false')
  const numbers: Array<[keyof AccountInput, unknown, number, number]> = [
    ['windowAhead', pick('windowAhead', current?.windowAhead), 0, 86_400],
    ['windowBehind', pick('windowBehind', current?.windowBehind), 0, 86_400],
    ['clockOffsetSeconds', pick('clockOffsetSeconds', current?.clockOffsetSeconds), -172_800, 172_800],
    ['supervisionSeconds', pick('supervisionSeconds', current?.supervisionSeconds), 1, 31 * 86_400],
  ]
  for (const [name, val, min, max] of numbers) {
    const e = int(val, name, min, max)
    if (e !== undefined) return invalid(e)
  }
  const ahead = (numbers[0]![1] ?? DEFAULT_WINDOW_AHEAD) as number
  const behind = (numbers[1]![1] ?? DEFAULT_WINDOW_BEHIND) as number
  if (ahead + behind > limits.maxWindowSeconds) {
    return invalid(`the timestamp window +${ahead}/-${behind} s is wider than the receiver's duplicate window (${limits.maxWindowSeconds} s): ` +
      'a frame replayed after the receiver forgot it would pass as a new event; windowAhead + windowBehind must be at most that')
  }
  const timeZone = pick('timeZone', current?.timeZone)
  if (timeZone !== undefined && timeZone !== null && (typeof timeZone !== 'string' || !isTimeZone(timeZone))) return invalid('timeZone must be an IANA time zone such as Europe/Vilnius')
  const clockOffset = numbers[2]![1]
  if (timeZone !== undefined && timeZone !== null && clockOffset !== undefined && clockOffset !== null) return invalid('set clockOffsetSeconds or timeZone, not both')
  const charset = pick('charset', current?.charset)
  if (charset !== undefined && charset !== null && (typeof charset !== 'string' || !isCharset(charset))) return invalid('charset is not one this receiver knows (e.g. auto, utf-8, windows-1252, windows-1251)')
  const tenant = pick('tenant', current?.tenant)
  if (tenant !== undefined && tenant !== null && (typeof tenant !== 'string' || !TENANT_RE.test(tenant))) return invalid('tenant must be 1 to 64 letters, digits, dots, dashes or underscores')
  // The tenant an account leaves knows its key (its installers set up the panel): an encrypted
  // account moves only with a new one.
  if (current !== undefined && movesTenant(current, opt<string>(tenant)) && current.keyText !== undefined) {
    if (!keyGiven || typeof keyText !== 'string' || sameKey(keyText, keyFormat as KeyFormat, current.keyText, current.keyFormat ?? 'hex')) {
      return invalid('key: moving an encrypted account to another tenant needs a new AES key (the tenant it leaves knows the current one)')
    }
  }
  // The texts are checked when given: a row stored under older rules stays changeable in its other fields.
  const siteName = pick('siteName', current?.siteName)
  if ('siteName' in v && siteName !== undefined && siteName !== null && !isPrintableText(siteName, MAX_SITE_NAME)) return invalid(`siteName must be 1 to ${MAX_SITE_NAME} printable characters`)
  const siteAddress = pick('siteAddress', current?.siteAddress)
  if ('siteAddress' in v && siteAddress !== undefined && siteAddress !== null && !isPrintableText(siteAddress, MAX_SITE_ADDRESS)) return invalid(`siteAddress must be 1 to ${MAX_SITE_ADDRESS} printable characters`)
  const kh = pick('keyholders', current?.keyholders)
  const holders = kh === undefined || kh === null ? [] : 'keyholders' in v ? keyholders(kh) : kh as Keyholder[]
  if (typeof holders === 'string') return invalid(holders)
  const vip = pick('vip', current?.vip) ?? false
  if (typeof vip !== 'boolean') return invalid('vip must be true or false')
  return {
    ok: true,
    value: {
      account: account.toUpperCase(),
      receiver: opt<string>(receiver)?.toUpperCase(),
      prefix: opt<string>(prefix)?.toUpperCase(),
      keyText: hasKey ? keyText as string : undefined,
      keyFormat: hasKey ? keyFormat as KeyFormat : undefined,
      encryptionRequired: required,
      windowAhead: opt<number>(numbers[0]![1]),
      windowBehind: opt<number>(numbers[1]![1]),
      checkPlainTimestamp: checkPlain,
      clockOffsetSeconds: opt<number>(clockOffset),
      timeZone: opt<string>(timeZone),
      charset: opt<string>(charset),
      supervisionSeconds: opt<number>(numbers[3]![1]),
      tenant: opt<string>(tenant),
      siteName: opt<string>(siteName),
      siteAddress: opt<string>(siteAddress),
      keyholders: holders,
      vip,
    },
  }
}

/** Whether a change touched more than the VIP marker (which installers do not see). */
export function visibleChange (before: AccountRow, after: AccountRow): boolean {
  const was = before as unknown as Record<string, unknown>
  const now = after as unknown as Record<string, unknown>
  for (const k of new Set([...Object.keys(was), ...Object.keys(now)])) {
    if (k !== 'vip' && JSON.stringify(was[k]) !== JSON.stringify(now[k])) return true
  }
  return false
}

const opt = <T>(x: unknown): T | undefined => (x === null || x === undefined ? undefined : x as T)

/**
 * Whether a change takes an account away from the tenant that holds it (to another tenant, or
 * to none). Giving a tenant to an account that had none is not a move.
 */
export function movesTenant (current: Pick<AccountRow, 'tenant'>, tenant: string | undefined): boolean {
  return current.tenant !== undefined && tenant !== current.tenant
}

/** Two key texts for the same key bytes (hex is read without regard to case). */
function sameKey (a: string, aFormat: KeyFormat, b: string, bFormat: KeyFormat): boolean {
  const bytes = (t: string, f: KeyFormat): string => (f === 'hex' ? t.toUpperCase() : Buffer.from(t, 'latin1').toString('hex').toUpperCase())
  return bytes(a, aFormat) === bytes(b, bFormat)
}

/** The public view of a stored row. */
export function publicAccount (row: AccountRow, createdAt: string, updatedAt: string, visibleUpdatedAt = updatedAt): Account {
  const { keyText, ...rest } = row
  return { ...rest, hasKey: keyText !== undefined, createdAt, updatedAt, visibleUpdatedAt }
}

/** What the receiver needs of an account to decode its frames, key expanded once. */
export interface ReceiverAccount {
  readonly account: Account
  readonly key: AesKey | undefined
}

export function receiverAccount (row: AccountRow, createdAt: string, updatedAt: string, visibleUpdatedAt: string, engine?: AesEngine): ReceiverAccount {
  let key: AesKey | undefined
  if (row.keyText !== undefined) {
    const parsed = parseKey(row.keyText, row.keyFormat ?? 'hex', engine)
    // A stored key was validated when it was stored; one that no longer parses is treated as none.
    if (parsed.ok) key = parsed.value
  }
  return { account: publicAccount(row, createdAt, updatedAt, visibleUpdatedAt), key }
}
