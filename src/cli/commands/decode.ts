/**
 * `dc09 decode`: one frame per input line in, one JSON object per line out, so that anyone can
 * look inside a frame from a bug report. Lines are C-escaped text (`\n`, `\r`, `\xHH`, `\\`) or,
 * with `hex`, the hex of the whole frame. A line without its leading LF or final CR gets them.
 */
import { createInterface } from 'node:readline'
import { Option, type Command } from 'commander'
import {
  decodeFrame, isCharset, isTimeZone, serializeAck, serializeEncryptedAck, serializeRejection, wholeFrame,
  type AccountProfile, type AesEngineName, type AesKey, type DecodedFrame, type KeyFormat, type PanelClock, type TimestampWindow,
} from '../../protocol/index.js'
import type { CliDeps } from '../deps.js'
import { escapeFrame, unescapeFrame } from '../escape.js'
import { loadKey, parseNow, parseSeconds, parseWindow } from '../options.js'

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
  // A comment is `#` then a space or nothing. A frame written without its LF may start with `#`
  // (a binary CRC whose first byte is 0x23), but then a CRC byte or length digit follows it.
  if (text.trim() === '' || /^\s*#( |$)/.test(text)) return null
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
  const result = whole.ok ? decodeFrame(whole.value, { profile, now: opts.now }) : whole
  if (!result.ok) {
    const response = serializeRejection(result, now)
    return { ok: false, code: result.code, reason: result.reason, response: response === null ? null : escapeFrame(response) }
  }
  const f = result.value
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

export function register (program: Command, deps: CliDeps): void {
  program.command('decode')
    .description('decode DC-09 frames from stdin, one per line (C-style escapes, or --hex; lines starting with "# " are comments), to one JSON object per line')
    .option('--key-file <file>', 'AES key for encrypted frames (else the DC09_KEY environment variable)')
    .addOption(new Option('--key-format <format>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--now <iso>', 'receiver time for the timestamp window check (skipped without it)', parseNow)
    .addOption(new Option('--window <+ahead,-behind>', 'timestamp window in seconds').argParser(parseWindow).default({ ahead: 20, behind: 40 }, '+20,-40'))
    .option('--clock-offset <seconds>', 'the panel clock runs this many seconds ahead of UTC', parseSeconds)
    .option('--time-zone <zone>', 'the panel sends local time in this IANA zone')
    .addOption(new Option('--charset <name>', 'charset of text in the frame').default('auto', 'UTF-8 if valid, else Windows-1252'))
    .addOption(new Option('--aes <engine>', 'AES implementation').choices(['node', 'aes-js']).default('node'))
    .option('--hex', 'input lines are the hex of whole frames')
    .action(async (o: {
      keyFile?: string, keyFormat: KeyFormat, now?: number, window: TimestampWindow, clockOffset?: number,
      timeZone?: string, charset: string, aes: AesEngineName, hex?: boolean
    }) => {
      if (!isCharset(o.charset)) program.error(`error: unknown charset ${JSON.stringify(o.charset)}`, { exitCode: 2 })
      if (o.timeZone !== undefined && !isTimeZone(o.timeZone)) program.error(`error: unknown time zone ${JSON.stringify(o.timeZone)}`, { exitCode: 2 })
      let key: AesKey | undefined
      try {
        key = loadKey(o.keyFile, o.keyFormat, o.aes)
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      const clock: PanelClock | undefined = o.timeZone !== undefined
        ? { timeZone: o.timeZone }
        : o.clockOffset !== undefined ? { offsetSeconds: o.clockOffset } : undefined
      const lines = createInterface({ input: deps.stdin, crlfDelay: Infinity })
      await runDecode(lines, { key, now: o.now, window: o.window, hex: o.hex, charset: o.charset, clock }, deps.out)
    })
}
