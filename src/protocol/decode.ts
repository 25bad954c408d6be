/**
 * The whole decode of one frame for a receiver: envelope, decryption with the account's key,
 * timestamp window, and the events in the data block. Every outcome is a value: a decoded
 * frame, or a rejection with a stable code and the answer the protocol asks for.
 */
import type { AesKey } from './cipher.js'
import { parseContactId, type ContactIdEvent } from './contact-id.js'
import { readDataAccount } from './data-account.js'
import { ErrorCode } from './errors.js'
import { reject, type ContentResult, type FrameHeader, type Quirk, type RawFrame, type Rejection } from './frame.js'
import { openPayload, parseFrame, readContent } from './frame-parse.js'
import { ok, type Result } from '../result.js'
import { MAX_SIA_EVENTS, parseSia, type SiaEvent } from './sia-dcs.js'
import { decodeText, type Charset } from './text.js'
import { DEFAULT_WINDOW, formatTimestamp, inWindow, panelTimeToUtc, type PanelClock, type TimestampWindow } from './timestamp.js'

export type DecodedEvent = ContactIdEvent | SiaEvent

/** Tokens a receiver processes; anything else is answered DUH. */
export const EVENT_TOKENS: ReadonlySet<string> = new Set(['SIA-DCS', 'ADM-CID', 'NULL'])

/** What the receiver knows about the account a frame names. */
export interface AccountProfile {
  /** The account's AES key; encrypted frames without one are rejected. */
  readonly key?: AesKey | undefined
  /**
   * Refuse plain frames: anyone who reaches the port could otherwise send events for an
   * account whose panel encrypts. Default: required when the account has a key.
   */
  readonly requireEncryption?: boolean | undefined
  /** Timestamp window; `null` turns the check off. Default +20 s / -40 s. */
  readonly window?: TimestampWindow | null | undefined
  /** For panels that send local time instead of UTC. */
  readonly clock?: PanelClock | undefined
  /** Charset of text in data and x-data (default `auto`: UTF-8 if valid, else Windows-1252). */
  readonly charset?: Charset | undefined
  /**
   * Also check the window on plain frames that carry a timestamp. Off by default: the
   * standard's NAK rule is for encrypted frames (STD13-p21), where the timestamp guards
   * against replay; on a plain frame anyone can write any time, and a NAK loop over a panel's
   * wrong clock would cost a real alarm.
   */
  readonly checkPlainTimestamp?: boolean | undefined
}

export interface DecodeLimits {
  /** Most events in one SIA block (default {@link MAX_SIA_EVENTS}); more is `TOO_MANY_EVENTS`, answered DUH (intact, but more than this receiver processes: a NAK would have the panel send it again for ever, stuck behind it). */
  readonly maxEvents?: number | undefined
}

export interface DecodeOptions extends DecodeLimits {
  /** The receiver's clock (epoch ms). Without it the window is not checked. */
  readonly now?: number | undefined
  /** The account's settings, or a lookup by the clear-text header. */
  readonly profile?: AccountProfile | ((header: FrameHeader) => AccountProfile | undefined) | undefined
}

export interface DecodedXData {
  readonly id: string
  readonly value: string
  readonly raw: Buffer
}

export interface DecodedFrame extends FrameHeader {
  /** The account the frame is for: the header's, or the data block's when the header has none. */
  readonly account: string
  /** The account written in the data block, when there is one. */
  readonly dataAccount: string | undefined
  /** The data block's bytes (decrypted, without the pad). */
  readonly data: Buffer
  readonly xdata: readonly DecodedXData[]
  /** The panel's time in UTC ms (after the account's clock correction), if sent. */
  readonly panelTime: number | undefined
  /** Events in the data block: one for Contact ID, one or more for SIA, none for NULL. */
  readonly events: readonly DecodedEvent[]
  /** Text of a SIA block that holds only text (`A` block), or text before its first event. */
  readonly text: string | undefined
  readonly quirks: readonly Quirk[]
}

/** The decoded frame, or the rejection with the answer to send. */
export type DecodeResult = Result<DecodedFrame, Rejection>

const NO_XDATA: readonly DecodedXData[] = Object.freeze([])

/** Decodes one whole frame (LF ... CR). Never throws, whatever the bytes. */
export function decodeFrame (bytes: Buffer, opts: DecodeOptions = {}): DecodeResult {
  const parsed = parseFrame(bytes)
  if (!parsed.ok) return parsed
  const raw = parsed.value
  if (!EVENT_TOKENS.has(raw.token)) {
    return reject(ErrorCode.UNSUPPORTED_TOKEN, `the ID token ${JSON.stringify(raw.token)} is not one this receiver processes`, raw)
  }
  const p = opts.profile
  const profile = typeof p === 'function' ? p(raw) : p
  return openFrame(raw, profile, opts.now, opts)
}

/**
 * Decrypts (when needed), checks the timestamp and reads the events of a frame whose envelope
 * is checked. For receivers that look the account up between the two steps.
 */
export function openFrame (raw: RawFrame, profile: AccountProfile | undefined, now?: number, limits: DecodeLimits = {}): DecodeResult {
  let opened: ContentResult
  const checkPlain = profile?.checkPlainTimestamp === true
  if (raw.encrypted) {
    if (profile?.key === undefined) return reject(ErrorCode.NO_KEY, 'an encrypted frame for an account without a key', raw)
    opened = openPayload(raw, profile.key)
  } else {
    if (profile?.requireEncryption ?? profile?.key !== undefined) {
      return reject(ErrorCode.ENCRYPTION_REQUIRED, 'a plain frame for an account that must encrypt', raw)
    }
    opened = readContent(raw.payload, 0, undefined, raw, false, !checkPlain)
  }
  if (!opened.ok) return opened
  const content = opened.value
  if (content.padWithoutPipe && content.data.length === 0 && raw.token !== 'NULL') {
    // Without the pad's `|` the data cannot be told from the pad: an event would be lost unseen.
    return reject(ErrorCode.DATA, 'no data after the pad of an event frame (pad without |)', raw)
  }
  // The timestamp is mandatory in encrypted frames (openPayload checked it is there).
  const panelTime = content.panelTime === undefined ? undefined : panelTimeToUtc(content.panelTime, profile?.clock)
  const window = profile?.window === undefined ? DEFAULT_WINDOW : profile.window
  if (panelTime !== undefined && now !== undefined && window !== null && (raw.encrypted || checkPlain)) {
    if (!inWindow(panelTime, now, window)) {
      const diff = Math.round((panelTime - now) / 1000)
      return reject(ErrorCode.TIMESTAMP_WINDOW,
        `panel time ${formatTimestamp(panelTime).slice(1)} is ${Math.abs(diff)} s ${diff > 0 ? 'ahead of' : 'behind'} the receiver (window +${window.ahead}/-${window.behind} s)`, raw)
    }
  }
  const charset = profile?.charset ?? 'auto'
  let events: readonly DecodedEvent[] = []
  let text: string | undefined
  let dataAccount: string | undefined
  if (raw.token === 'ADM-CID') {
    const cid = parseContactId(content.data)
    if (!cid.ok) return reject(cid.code, cid.reason, raw)
    events = [cid.value]
    dataAccount = cid.value.account
  } else if (raw.token === 'SIA-DCS') {
    if (content.data.length > 0) {
      const sia = parseSia(content.data, charset, limits.maxEvents ?? MAX_SIA_EVENTS)
      if (!sia.ok) return reject(sia.code, sia.reason, raw)
      events = sia.value.events
      text = sia.value.text
      dataAccount = sia.value.account
    }
  } else if (content.data.length > 0) {
    // NULL carries no event; some panels still fill the block (`[#0000|0000 00 000]`).
    dataAccount = readDataAccount(content.data).account
  }
  const account = raw.acct !== '' ? raw.acct : dataAccount
  if (account === undefined || account === '') {
    return reject(ErrorCode.FORMAT, 'the frame names no account, neither in the header nor in the data', raw)
  }
  const xdata = content.xdata.length === 0 ? NO_XDATA : content.xdata.map((x) => ({ id: x.id, value: decodeText(x.value, charset), raw: x.value }))
  const noEvents = events.length === 0 && raw.token !== 'NULL' && content.data.length > 0 && text === undefined
  let quirks = raw.quirks
  if (content.padWithoutPipe || content.junk !== undefined || content.badTimestamp || noEvents) {
    const more: Quirk[] = [...quirks]
    if (content.padWithoutPipe) more.push('pad-without-pipe')
    if (content.junk !== undefined) more.push('junk-after-data')
    if (content.badTimestamp) more.push('bad-timestamp')
    if (noEvents) more.push('no-events')
    quirks = more
  }
  return ok({
    token: raw.token,
    encrypted: raw.encrypted,
    seq: raw.seq,
    rcvr: raw.rcvr,
    lpref: raw.lpref,
    acct: raw.acct,
    crcForm: raw.crcForm,
    account,
    dataAccount,
    data: content.data,
    xdata,
    panelTime,
    events,
    text,
    quirks,
  })
}
