/**
 * Sur-Gard automation records: the serial-era ASCII lines that monitoring software reads from a
 * receiver, each ended by DC4 (0x14). Pure: events in, bytes out; no sockets, no clock, no log.
 *
 *   heartbeat          1RR000 + 11 spaces + @ + 4 spaces      (3-wide header: 1RR0 + ...)
 *   Contact ID         5RRLLL 18AAAAQXYZGGCCC                 (4-character account)
 *   Contact ID, long   QRRLLL 58AAAAAAAAAAQXYZGGCCC           (5 to 10 characters, 0-padded; 5-wide header only)
 *   SIA                SRRLLL[#acct|Nri1/BA01]                (anything else)
 *
 * RR is the receiver number and LLL the line (one hex digit, `RRL`, on MLR2-style receivers).
 * Contact ID qualifiers 1/3/6 become the letters E/R/P. With the B32 option each record is
 * preceded by `00 00 LL LL`: the length of the whole packet, header included, in BCD.
 *
 * Every character of a record is printable ASCII, and the brackets, bars and slashes that give
 * an SIA record its shape come only from here: whatever a panel put in its fields cannot end a
 * record early or make the automation read a different event.
 */
import { contactIdCode, siaCode } from '../../protocol/codes/index.js'
import type { Ok } from '../../result.js'
import type { ContactIdItem, OutputEvent, SiaItem } from '../output.js'

/** Ends every record. */
export const DC4 = 0x14
/** The automation's answers. */
export const ACK = 0x06
export const NAK = 0x15

/** How records are laid out (the encoding half of the output's options). */
export interface RecordOptions {
  /** Two digits: the receiver number in every record (heartbeats always use it). */
  readonly receiver: string
  /** The line: digits that fit the header (`001`, or one digit with a 3-wide header), or `frame`. */
  readonly line: string
  /** 5: `RRLLL` (System III / 5), 3: `RRL` (MLR2). */
  readonly header: 3 | 5
  /** Precede each record with the B32 length header. */
  readonly b32: boolean
}

export interface SurgardOptions extends RecordOptions {
  readonly host: string
  readonly port: number
  /** Idle time before a heartbeat, 1 to 99 s (Sur-Gard's default 30; "off" is not allowed). */
  readonly heartbeatSeconds: number
  /** How long to wait for ACK or NAK, 4 to 9.9 s (Sur-Gard's range). */
  readonly ackTimeoutSeconds: number
}

export const DEFAULT_RECORD_OPTIONS: RecordOptions = { receiver: '01', line: '001', header: 5, b32: false }

/**
 * The SIA data between the brackets is at most this long: Sur-Gard's automation protocol
 * allows 66 bytes (MLR2s 63); longer frames are split into several records.
 */
export const MAX_SIA_DATA = 66
/** Longest SIA account carried (automation packages accept up to 16 characters). */
const MAX_SIA_ACCOUNT = 16
/** Longest modifier value and event number carried; longer ones are dropped, not cut. */
const MAX_MODIFIER_VALUE = 12
const MAX_SIA_NUMBER = 6

/** The SIA codes for the receiver's own events, checked against the code table at load. */
export const RECEIVER_EVENT_CODES: Readonly<Record<string, string>> = {
  'supervision-failure': 'YC', // communications fail
  'supervision-restore': 'YK', // communications restoral
  'output-link-failed': 'NT', // network failure
  'output-link-restored': 'NR', // network restoral
  'output-parked': 'RT', // data lost (to this output)
}
for (const code of Object.values(RECEIVER_EVENT_CODES)) {
  if (siaCode(code) === undefined) throw new Error(`SIA code ${code} is not in the code table`)
}

/** Character classes, as tables (each index a byte value). */
function table (chars: string): Uint8Array {
  const t = new Uint8Array(128)
  for (const c of chars) t[c.charCodeAt(0)] = 1
  return t
}
const DIGITS = '0123456789'
const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'
const HEX = table(DIGITS + 'ABCDEF')
const DIGIT = table(DIGITS)
const LETTER_UPPER = table(UPPER)
const LETTER_LOWER = table(UPPER.toLowerCase())
/** What a modifier value may hold (`ti12:30`, `da01-15-24`): nothing that shapes an SIA block. */
const MODIFIER_VALUE = table(DIGITS + UPPER + UPPER.toLowerCase() + ':-.')

function only (s: string, t: Uint8Array): boolean {
  if (s.length === 0) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 128 || t[c] !== 1) return false
  }
  return true
}

/** Fixed bytes, built once. */
const SPACES_11 = ' '.repeat(11)
const SPACES_4 = ' '.repeat(4)

/**
 * Wraps one record's text: B32 header (when on), the text, DC4. The text is checked once more
 * here: only printable ASCII may leave, whatever path built it.
 */
function pack (text: string, o: RecordOptions): Buffer {
  const head = o.b32 ? 4 : 0
  const out = Buffer.alloc(head + text.length + 1)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    out[head + i] = c >= 0x20 && c < 0x7f ? c : 0x3f // '?'
  }
  out[out.length - 1] = DC4
  if (o.b32) writeB32(out)
  return out
}

/** `00 00 LL LL`: the packet's length in BCD (at most 9999; records are well under 100 bytes). */
function writeB32 (packet: Buffer): void {
  const digits = String(packet.length).padStart(4, '0')
  packet[0] = 0
  packet[1] = 0
  packet[2] = (Number(digits[0]) << 4) | Number(digits[1])
  packet[3] = (Number(digits[2]) << 4) | Number(digits[3])
}

/** The automation's ACK or NAK as it comes with the B32 option on: `00 00 00 05` then the byte. */
export const B32_ANSWER_PREFIX = Buffer.from([0, 0, 0, 5])

/** The heartbeat ("link test") record: protocol 1, blank account, event `@`. */
export function encodeHeartbeat (o: RecordOptions): Buffer {
  const line = o.header === 3 ? '0' : '000'
  return pack(`1${o.receiver}${line}${SPACES_11}@${SPACES_4}`, o)
}

/** RR and LLL for a frame: its own receiver and line fields with `line: frame`, when they are digits that fit. */
function header (e: OutputEvent, o: RecordOptions): string {
  const width = o.header === 3 ? 1 : 3
  const fixedLine = o.line === 'frame' ? '1'.padStart(width, '0') : o.line
  if (o.line !== 'frame') return o.receiver + fixedLine
  return fitDigits(e.receiver, 2, o.receiver) + fitDigits(e.line, width, fixedLine)
}

function fitDigits (field: string | undefined, width: number, fallback: string): string {
  if (field === undefined || !only(field, DIGIT)) return fallback
  const v = field.replace(/^0+(?=.)/, '')
  return v.length <= width ? v.padStart(width, '0') : fallback
}

/** The account as an automation can take it: hex digits, upper case (DC-09 accounts are hex). */
function normalAccount (account: string): string | undefined {
  const a = account.toUpperCase()
  return only(a, HEX) ? a : undefined
}

const CID_QUALIFIER: Readonly<Record<string, string>> = { 1: 'E', 3: 'R', 6: 'P' }

/**
 * The records for one event. Empty when the event has nothing an automation can take: a link
 * test (NULL), a frame without events, or a receiver event with no Sur-Gard form (case opened,
 * verification...). An empty list means "nothing to send", and the output answers delivered.
 */
export function encodeEvent (e: OutputEvent, o: RecordOptions): Buffer[] {
  if (e.type !== 'frame') return encodeReceiverEvent(e, o)
  if (e.protocol === 'NULL' || e.events === undefined) return []
  const rrlll = header(e, o)
  const account = normalAccount(e.account)
  const out: Buffer[] = []
  // Runs of SIA items share records; each Contact ID item is a record of its own.
  let run: SiaPacketEvent[] = []
  const flush = (): void => {
    if (run.length > 0) out.push(...siaRecords(rrlll, siaAccount(e.account), run, o))
    run = []
  }
  for (const item of e.events) {
    if (item.format === 'ADM-CID') {
      const cid = contactIdRecord(rrlll, account, item, o.header === 5)
      if (cid !== undefined) {
        flush()
        out.push(pack(cid, o))
      } else {
        const s = contactIdAsSia(item)
        if (s !== undefined) run.push(s)
      }
    } else {
      const s = siaPacketEvent(item)
      if (s !== undefined) run.push(s)
    }
  }
  flush()
  return out
}

/** `5RRLLL 18AAAAQXYZGGCCC` or `QRRLLL 58AAAAAAAAAAQXYZGGCCC`; undefined when a field does not fit. */
function contactIdRecord (rrlll: string, account: string | undefined, item: ContactIdItem, long: boolean): string | undefined {
  const q = CID_QUALIFIER[item.qualifier]
  // MLR2-style receivers (3-wide header) have no 10-digit record.
  if (account === undefined || account.length < 4 || account.length > (long ? 10 : 4) || q === undefined) return undefined
  if (item.code.length !== 3 || !only(item.code, HEX)) return undefined
  if (item.group.length !== 2 || !only(item.group, HEX)) return undefined
  if (item.number.length !== 3 || !only(item.number, HEX)) return undefined
  const body = `${q}${item.code}${item.group}${item.number}`
  return account.length === 4 ? `5${rrlll} 18${account}${body}` : `Q${rrlll} 58${account.padStart(10, '0')}${body}`
}

/** One SIA event as it will be written: its block, modifiers before it, code and number. */
interface SiaPacketEvent {
  readonly block: 'N' | 'O'
  readonly modifiers: ReadonlyArray<readonly [string, string]>
  readonly event: string
}

function siaPacketEvent (item: SiaItem): SiaPacketEvent | undefined {
  if (item.code.length !== 2 || !only(item.code, LETTER_UPPER)) return undefined
  let event = item.code
  if (item.number !== undefined && item.number.length <= MAX_SIA_NUMBER && only(item.number.toUpperCase(), HEX)) event += item.number.toUpperCase()
  const modifiers: Array<readonly [string, string]> = []
  for (const [name, value] of Object.entries(item.modifiers ?? {})) {
    // A modifier the automation could misread is left out rather than bent into shape.
    if (name.length === 2 && only(name, LETTER_LOWER) && value.length <= MAX_MODIFIER_VALUE && only(value, MODIFIER_VALUE)) {
      modifiers.push([name, value])
    }
  }
  return { block: item.block === 'O' ? 'O' : 'N', modifiers, event }
}

/**
 * A Contact ID event whose account or fields do not fit the Contact ID records: its SIA
 * equivalent when the code table has one (untyped alarm or restore otherwise), the group as
 * the area and CCC as the number. Qualifier 6 (previous) is an old event.
 */
function contactIdAsSia (item: ContactIdItem): SiaPacketEvent | undefined {
  const row = only(item.code, DIGIT) ? contactIdCode(item.code) : undefined
  const restore = item.qualifier === '3'
  const code = (restore ? row?.sia?.restore : row?.sia?.new) ?? (restore ? 'UR' : 'UA')
  const modifiers: Array<readonly [string, string]> = []
  if (only(item.group, DIGIT) && item.group.length <= 3 && Number(item.group) > 0) modifiers.push(['ri', item.group])
  const number = only(item.number, DIGIT) && item.number.length <= MAX_SIA_NUMBER ? item.number : ''
  return { block: item.qualifier === '6' ? 'O' : 'N', modifiers, event: code + number }
}

/** The account for `#acct|`: hex digits, at most 16; `0000` when the panel's does not fit. */
function siaAccount (account: string): string {
  const a = normalAccount(account)
  return a !== undefined && a.length <= MAX_SIA_ACCOUNT ? a : '0000'
}

/**
 * `SRRLLL[#acct|Nri1/BA01/BA02]`: events in order, each preceded by the modifiers that differ
 * from those in force (a panel's modifiers carry forward within a block). A new record starts
 * when the block letter changes, when an event lacks a modifier that is in force (it cannot be
 * taken back within a block), or when the data would pass the length limit.
 */
function siaRecords (rrlll: string, account: string, events: readonly SiaPacketEvent[], o: RecordOptions): Buffer[] {
  const out: Buffer[] = []
  const prefix = `#${account}|`
  let block: 'N' | 'O' | undefined
  let packets: string[] = []
  let length = 0
  let inForce = new Map<string, string>()
  const emit = (): void => {
    if (block !== undefined && packets.length > 0) out.push(pack(`S${rrlll}[${prefix}${block}${packets.join('/')}]`, o))
    block = undefined
    packets = []
    length = 0
    inForce = new Map()
  }
  for (const e of events) {
    let mine = e.modifiers
    // One event alone must fit: drop its modifiers from the end until it does (the code stays).
    while (mine.length > 0 && prefix.length + 1 + packetLength(mine, e.event, new Map()) > MAX_SIA_DATA) mine = mine.slice(0, -1)
    const names = new Set(mine.map(([n]) => n))
    const stale = [...inForce.keys()].some((n) => !names.has(n))
    if (block !== e.block || stale || prefix.length + 1 + length + 1 + packetLength(mine, e.event, inForce) > MAX_SIA_DATA) emit()
    block = e.block
    for (const [n, v] of mine) {
      if (inForce.get(n) !== v) {
        packets.push(n + v)
        inForce.set(n, v)
      }
    }
    packets.push(e.event)
    length = packets.join('/').length
  }
  emit()
  return out
}

/** The length the modifiers not yet in force and the event add, with their slashes. */
function packetLength (modifiers: ReadonlyArray<readonly [string, string]>, event: string, inForce: ReadonlyMap<string, string>): number {
  let n = event.length
  for (const [name, value] of modifiers) if (inForce.get(name) !== value) n += name.length + value.length + 1
  return n
}

/** Receiver events about the receiver itself (its outputs), not about a panel's line. */
const OWN_EVENTS = new Set(['output-link-failed', 'output-link-restored', 'output-parked'])

/**
 * A receiver-made event as an SIA record, when it has a Sur-Gard form. Events about the
 * receiver itself go on line 0, as a Sur-Gard receiver's own (CPM) events do; a panel's
 * supervision events on the usual line.
 */
function encodeReceiverEvent (e: OutputEvent, o: RecordOptions): Buffer[] {
  const code = RECEIVER_EVENT_CODES[e.type]
  if (code === undefined) return []
  const rrlll = OWN_EVENTS.has(e.type)
    ? o.receiver + (o.header === 3 ? '0' : '000')
    : header({ ...e, receiver: undefined, line: undefined }, o)
  return siaRecords(rrlll, siaAccount(e.account), [{ block: 'N', modifiers: [], event: code }], o)
}

export type SurgardOptionsResult = Ok<SurgardOptions> | { readonly ok: false, readonly reason: string }

/** Checks an output's options from the configuration (any JSON) and fills in the defaults. */
export function parseSurgardOptions (raw: unknown): SurgardOptionsResult {
  const fail = (reason: string): SurgardOptionsResult => ({ ok: false, reason })
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('options must be an object')
  const r = raw as Record<string, unknown>
  const known = new Set(['host', 'port', 'receiver', 'line', 'header', 'b32', 'heartbeatSeconds', 'ackTimeoutSeconds'])
  for (const k of Object.keys(r)) if (!known.has(k)) return fail(`unknown option ${JSON.stringify(k.slice(0, 40))}`)
  if (typeof r.port !== 'number' || !Number.isInteger(r.port) || r.port < 1 || r.port > 65535) return fail('port must be a whole number from 1 to 65535')
  const host = r.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host.length === 0 || host.length > 255) return fail('host must be an address')
  const h = r.header ?? 5
  if (h !== 3 && h !== 5) return fail('header must be 3 (RRL) or 5 (RRLLL)')
  const width = h === 3 ? 1 : 3
  const receiverIn = r.receiver ?? '01'
  const receiverText = typeof receiverIn === 'number' && Number.isInteger(receiverIn) ? String(receiverIn) : receiverIn
  if (typeof receiverText !== 'string' || receiverText.length < 1 || receiverText.length > 2 || !only(receiverText, DIGIT)) return fail('receiver must be 1 or 2 digits')
  const lineIn = r.line ?? (h === 3 ? '1' : '001')
  let line: string
  if (lineIn === 'frame') line = 'frame'
  else {
    const text = typeof lineIn === 'number' && Number.isInteger(lineIn) ? String(lineIn) : lineIn
    if (typeof text !== 'string' || !only(text, DIGIT) || text.length > width) return fail(`line must be 'frame' or up to ${width} digit${width > 1 ? 's' : ''}`)
    line = text.padStart(width, '0')
  }
  const b32 = r.b32 ?? false
  if (typeof b32 !== 'boolean') return fail('b32 must be true or false')
  const hb = r.heartbeatSeconds ?? 30
  if (typeof hb !== 'number' || !Number.isInteger(hb) || hb < 1 || hb > 99) return fail('heartbeatSeconds must be a whole number from 1 to 99 (heartbeats cannot be turned off)')
  const ack = r.ackTimeoutSeconds ?? 4
  if (typeof ack !== 'number' || !Number.isFinite(ack) || ack < 4 || ack > 9.9) return fail('ackTimeoutSeconds must be from 4 to 9.9')
  return {
    ok: true,
    value: { host, port: r.port, receiver: receiverText.padStart(2, '0'), line, header: h, b32, heartbeatSeconds: hb, ackTimeoutSeconds: ack },
  }
}
