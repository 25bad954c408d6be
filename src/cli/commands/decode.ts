/**
 * `dc09 decode`: one frame per input line in, one JSON object per line out, so that anyone can
 * look inside a frame from a bug report. Lines are C-escaped text (`\n`, `\r`, `\xHH`, `\\`) or,
 * with `hex`, the hex of the whole frame. A line without its leading LF or final CR gets them.
 */
import {
  decodeFrame, serializeAck, serializeEncryptedAck, serializeRejection, wholeFrame,
  type AccountProfile, type AesKey, type DecodedFrame, type PanelClock, type TimestampWindow,
} from '../../protocol/index.js'
import { escapeFrame, unescapeFrame } from '../escape.js'

export interface DecodeCommandOptions {
  readonly key?: AesKey | undefined
  /** Receiver time for the window check; without it the check is skipped. */
  readonly now?: number | undefined
  readonly window?: TimestampWindow | undefined
  readonly hex?: boolean | undefined
  readonly charset?: string | undefined
  readonly clock?: PanelClock | undefined
}

/** Decodes one input line; null for a blank line or a comment (which print nothing). */
export function decodeLine (line: string, opts: DecodeCommandOptions, clock: () => number): object | null {
  // Only the line ending goes: spaces can belong to the frame (SIA `^text^`).
  const text = line.replace(/[\r\n]+$/, '')
  // No frame starts with #: its first bytes are LF and a hex CRC.
  if (text.trim() === '' || text.trimStart().startsWith('#')) return null
  let bytes: Buffer
  if (opts.hex === true) {
    const hex = text.replace(/\s+/g, '')
    if (!/^([0-9A-Fa-f]{2})+$/.test(hex)) return { ok: false, code: 'DC09_ERR_INPUT', reason: 'the line is not hex bytes', response: null }
    bytes = Buffer.from(hex, 'hex')
  } else {
    const u = unescapeFrame(text)
    if (!u.ok) return { ok: false, code: 'DC09_ERR_INPUT', reason: u.reason, response: null }
    bytes = u.value
  }
  if (bytes[0] !== 0x0a) bytes = Buffer.concat([Buffer.from([0x0a]), bytes])
  let end = bytes.length
  while (end > 0 && bytes[end - 1] === 0) end--
  if (bytes[end - 1] !== 0x0d) bytes = Buffer.concat([bytes.subarray(0, end), Buffer.from([0x0d])])

  const now = opts.now ?? clock()
  const profile: AccountProfile = {
    key: opts.key,
    // A decoder shows what is in a frame; refusing plain frames is the receiver's account policy.
    requireEncryption: false,
    window: opts.now === undefined ? null : opts.window,
    charset: opts.charset,
    clock: opts.clock,
  }
  const whole = wholeFrame(bytes)
  const result = whole.ok ? decodeFrame(whole.frame, { profile, now: opts.now }) : whole
  if (!result.ok) {
    const response = serializeRejection(result, now)
    return { ok: false, code: result.code, reason: result.reason, response: response === null ? null : escapeFrame(response) }
  }
  const f = result.frame
  const ack = f.encrypted && opts.key !== undefined ? serializeEncryptedAck(f, opts.key, now) : serializeAck(f)
  return describe(f, escapeFrame(ack))
}

function describe (f: DecodedFrame, response: string): object {
  return {
    ok: true,
    token: f.token,
    encrypted: f.encrypted,
    seq: f.seq,
    receiver: f.rcvr ?? null,
    prefix: f.lpref ?? null,
    account: f.account,
    dataAccount: f.dataAccount ?? null,
    crcForm: f.crcForm,
    panelTime: f.panelTime === undefined ? null : new Date(f.panelTime).toISOString(),
    data: escapeFrame(f.data),
    events: f.events,
    text: f.text ?? null,
    extendedData: f.xdata.map((x) => ({ id: x.id, value: x.value })),
    quirks: f.quirks,
    response,
  }
}

/** Reads lines from `input`, writes one JSON line per frame to `write`. */
export async function runDecode (input: AsyncIterable<string>, opts: DecodeCommandOptions, write: (s: string) => void, clock: () => number = Date.now): Promise<void> {
  for await (const line of input) {
    const out = decodeLine(line, opts, clock)
    if (out !== null) write(JSON.stringify(out) + '\n')
  }
}
