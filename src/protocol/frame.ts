/**
 * One whole DC-09 frame: the envelope (CRC, length, ID token, sequence, receiver, prefix,
 * account) and the content inside the data bracket (data, extended data, timestamp).
 *
 *   <LF> CRC 0LLL "ID" SSSS [Rrcvr] [Lpref] #acct [data] [x-data]... [_HH:MM:SS,MM-DD-YYYY] <CR>
 *
 * Everything is read from the raw bytes; text is decoded later and only where it is text.
 */
import {
  CR, HASH, HEX_VALUE, LBRACKET, LF, PIPE, QUOTE, RBRACKET, STAR, UNDERSCORE, ZERO,
  ascii, decodeHex, hexRun, readHex, writeHex, writeHexBytes, DIGIT_VALUE,
} from './bytes.js'
import type { AesKey } from './cipher.js'
import { crc16 } from './crc.js'
import { ErrorCode, REPLY_FOR, type Failure, type Reply } from './errors.js'
import { formatTimestamp, readTimestamp, TIMESTAMP_LENGTH } from './timestamp.js'
import { randomFillSync } from 'node:crypto'

/** `hex`: 4 ASCII hex CRC characters (the standard). `binary`: 2 raw CRC bytes (Lupusec, Trikdis "DC-09 2007" mode). */
export type CrcForm = 'hex' | 'binary'

/** The length field is `0LLL`: at most 0xFFF body bytes. */
export const MAX_BODY_BYTES = 0xfff
/** Longest ID token accepted between the quotes (the longest known, `*SIA-DCS`, has 8). */
export const MAX_TOKEN_BYTES = 16

/** The clear-text header of a frame, echoed in answers exactly as received. */
export interface FrameHeader {
  /** ID token without the encryption mark, e.g. `SIA-DCS`, `ADM-CID`, `NULL`, `ACK`. */
  readonly token: string
  /** A `*` before the token: the content after `[` is AES ciphertext in hex. */
  readonly encrypted: boolean
  /** Four decimal digits, as received. */
  readonly seq: string
  /** Receiver number after `R` (1-6 hex), absent when the panel sent none. */
  readonly rcvr: string | undefined
  /** Account prefix after `L` (1-6 hex), absent when the panel sent none. */
  readonly lpref: string | undefined
  /**
   * Account after `#`: 3-16 hex digits by the standard, letters seen too (Focus `#foc7688`).
   * For NAK, the value after `A`. Empty when the header carries none (some panels put it only
   * in the data block: `"SIA-DCS"0001L[#9999|NBA2]`).
   */
  readonly acct: string
  readonly crcForm: CrcForm
}

/**
 * Deviations from the standard that were tolerated, for the log:
 * `crc-includes-cr`: the CRC (and maybe the length) counts the final CR (Eldes: Cheaterdev/sia-ha #3,
 * pysiaalarm #17/#28); `pad-without-pipe`: the pad of an encrypted frame has no `|` (Hikvision hub, FIO);
 * `junk-after-data`: bytes after the blocks that belong to none (comxline, pysiaalarm #34);
 * `bad-timestamp`: a plain frame's timestamp is not a valid date (an unset panel clock), ignored;
 * `no-events`: an event token whose data block holds no event.
 */
export type Quirk = 'crc-includes-cr' | 'pad-without-pipe' | 'junk-after-data' | 'bad-timestamp' | 'no-events'

/** A frame whose envelope is checked; the content is still raw (and maybe encrypted). */
export interface RawFrame extends FrameHeader {
  /** Bytes after the `[` that opens the data block, up to the CR: hex ciphertext when encrypted. */
  readonly payload: Buffer
  readonly quirks: readonly Quirk[]
}

/** One extended-data block `[Ivalue]`, kept in order. */
export interface XData {
  readonly id: string
  readonly value: Buffer
}

/** What the data bracket holds once decrypted. */
export interface FrameContent {
  /** Between `[` and its `]`; for encrypted frames, after the pad and its `|`. */
  readonly data: Buffer
  readonly xdata: readonly XData[]
  /** The panel's clock reading as epoch ms read as UTC (see `panelTimeToUtc`), if sent. */
  readonly panelTime: number | undefined
  /** Bytes between the blocks and the timestamp that belong to no block (tolerated). */
  readonly junk: Buffer | undefined
  /** Encrypted frames: the pad that preceded the data (needed to rebuild the same bytes). */
  readonly pad: Buffer | undefined
  /** Encrypted frames whose pad had no `|` (the data is then empty). */
  readonly padWithoutPipe: boolean
  /** A timestamp was there but is not a valid date (tolerated for plain frames only). */
  readonly badTimestamp: boolean
}

/** A rejected frame: a stable code, a reason for the log, the answer to send, and the header when it was readable. */
export interface Rejection extends Failure {
  readonly reply: Reply
  readonly header: FrameHeader | undefined
  /** The CRC form of the frame, when it got that far: a NAK goes back in the same form. */
  readonly crcForm: CrcForm | undefined
}

export type FrameResult = { readonly ok: true, readonly frame: RawFrame } | Rejection
export type ContentResult = { readonly ok: true, readonly content: FrameContent } | Rejection

export function reject (code: ErrorCode, reason: string, header?: FrameHeader, crcForm?: CrcForm): Rejection {
  return { ok: false, code, reason, reply: REPLY_FOR[code], header, crcForm: header?.crcForm ?? crcForm }
}

const NO_QUIRKS: readonly Quirk[] = Object.freeze([])
const ELDES: readonly Quirk[] = Object.freeze(['crc-includes-cr'] as const)

/**
 * Where the header starts, given the bytes after the LF: the 4-character hex CRC form has the
 * length's leading `0` at 5 and the token's quote at 9; the binary form at 3 and 7 (IOB/NRSU
 * detection). Returns the offset of the length field, or -1 (-2 while too few bytes).
 */
export function lengthFieldOffset (buf: Uint8Array, lf: number, end = buf.length): number {
  if (end - lf < 8) return -2
  if (buf[lf + 3] === ZERO && buf[lf + 7] === QUOTE && isLengthDigits(buf, lf + 4)) return lf + 3
  if (end - lf < 10) {
    // Could still become a hex-form header once more bytes arrive.
    return end - lf > 5 && buf[lf + 5] !== ZERO ? -1 : -2
  }
  if (buf[lf + 5] === ZERO && buf[lf + 9] === QUOTE && isLengthDigits(buf, lf + 6)) return lf + 5
  return -1
}

function isLengthDigits (buf: Uint8Array, at: number): boolean {
  return HEX_VALUE[buf[at]!]! >= 0 && HEX_VALUE[buf[at + 1]!]! >= 0 && HEX_VALUE[buf[at + 2]!]! >= 0
}

/**
 * Checks the envelope of one whole frame (LF ... CR, nothing around it): length, CRC over the
 * exact span the length counts, and the header fields. Never throws.
 */
export function parseFrame (bytes: Buffer): FrameResult {
  if (bytes.length < 10 || bytes[0] !== LF) return reject(ErrorCode.FRAMING, 'a frame starts with LF and has a CRC and length')
  const h = lengthFieldOffset(bytes, 0)
  if (h < 0) return reject(ErrorCode.FRAMING, 'no DC-09 header (CRC, 0LLL length, quoted ID) after the LF')
  const crcForm: CrcForm = h === 5 ? 'hex' : 'binary'
  // The length counts the bytes from the opening quote up to the CR, exclusive.
  const len = readHex(bytes, h + 1, 3)
  const bodyStart = h + 4
  const bodyEnd = bytes.length - 1
  if (bytes[bodyEnd] !== CR) return reject(ErrorCode.FRAMING, 'the frame does not end with CR', undefined, crcForm)
  // Eldes counts the CR in the length and the CRC; accepted when both agree on it.
  const withCr = bodyStart + len === bytes.length
  if (bodyStart + len !== bodyEnd && !withCr) {
    return reject(ErrorCode.LENGTH, `length field says ${len} bytes, the frame holds ${bodyEnd - bodyStart}`, undefined, crcForm)
  }
  // CRC-16/ARC over the same span; for encrypted frames over the transmitted hex text.
  const sent = crcForm === 'hex' ? readHex(bytes, 1, 4) : (bytes[1]! << 8) | bytes[2]!
  if (sent < 0) return reject(ErrorCode.CRC, 'the CRC field is not 4 hex digits', undefined, crcForm)
  let computed = crc16(bytes, bodyStart, withCr ? bytes.length : bodyEnd)
  let quirks = withCr ? ELDES : NO_QUIRKS
  if (sent !== computed && !withCr && crc16(bytes, bodyStart, bytes.length) === sent) {
    // Eldes without a timestamp: the CRC covers the CR, the length does not (pysiaalarm #28).
    computed = sent
    quirks = ELDES
  }
  if (sent !== computed) {
    return reject(ErrorCode.CRC, `CRC ${hex4(sent)} does not match the computed ${hex4(computed)}`, undefined, crcForm)
  }
  return parseHeader(bytes, bodyStart, bodyEnd, crcForm, quirks)
}

/**
 * The clear-text header of the frame that starts at the first LF of `bytes`, read without
 * checking the length or the CRC: undefined when there is no whole header (CRC field, `0LLL`,
 * quoted token, sequence, optional R and L, account, `[`). It only tells whether a DC-09 sender
 * is there to answer; the fields of a frame that failed its checks are not facts.
 */
export function readHeader (bytes: Buffer): FrameHeader | undefined {
  const lf = bytes.indexOf(LF)
  if (lf < 0) return undefined
  const h = lengthFieldOffset(bytes, lf)
  if (h < 0) return undefined
  const crcForm: CrcForm = h === lf + 5 ? 'hex' : 'binary'
  if (crcForm === 'hex' && (HEX_VALUE[bytes[lf + 1]!]! | HEX_VALUE[bytes[lf + 2]!]! | HEX_VALUE[bytes[lf + 3]!]! | HEX_VALUE[bytes[lf + 4]!]!) < 0) return undefined
  const cr = bytes.lastIndexOf(CR)
  const r = parseHeader(bytes, h + 4, cr > h + 4 ? cr : bytes.length, crcForm, NO_QUIRKS)
  if (!r.ok) return undefined
  const { token, encrypted, seq, rcvr, lpref, acct } = r.frame
  return { token, encrypted, seq, rcvr, lpref, acct, crcForm }
}

function hex4 (n: number): string {
  return n.toString(16).toUpperCase().padStart(4, '0')
}

function parseHeader (b: Buffer, start: number, end: number, crcForm: CrcForm, quirks: readonly Quirk[]): FrameResult {
  const bad = (reason: string): Rejection => reject(ErrorCode.FORMAT, reason, undefined, crcForm)
  // "ID": a quoted token, `*` first when encrypted.
  let q = start + 1
  const limit = Math.min(end, start + 2 + MAX_TOKEN_BYTES)
  while (q < limit && b[q] !== QUOTE) {
    if (b[q]! < 0x21 || b[q]! > 0x7e) return bad('the ID token holds a byte that is not printable ASCII')
    q++
  }
  if (q >= limit || b[q] !== QUOTE) return bad('the ID token is not closed by a quote')
  const encrypted = b[start + 1] === STAR
  const tokenStart = encrypted ? start + 2 : start + 1
  if (q === tokenStart) return bad('the ID token is empty')
  const token = internToken(b, tokenStart, q)
  let p = q + 1
  // Sequence: exactly four decimal digits; any value, 0000 included, is accepted.
  if (end - p < 4 || (DIGIT_VALUE[b[p]!]! | DIGIT_VALUE[b[p + 1]!]! | DIGIT_VALUE[b[p + 2]!]! | DIGIT_VALUE[b[p + 3]!]!) < 0) {
    return bad('the sequence number is not 4 digits')
  }
  const seq = ascii(b, p, p + 4)
  p += 4
  let rcvr: string | undefined
  let lpref: string | undefined
  // Rrcvr: optional, 1-6 hex.
  if (b[p] === 0x52) {
    const n = hexRun(b, p + 1, end, 6)
    if (n === 0) return bad('R is not followed by 1-6 hex digits')
    rcvr = ascii(b, p + 1, p + 1 + n)
    p += 1 + n
  }
  // Lpref: required by the standard, absent in some frames in the wild, and a bare `L` has been
  // seen too (IOB #4, #11): all tolerated and echoed as received.
  if (b[p] === 0x4c) {
    let n = hexRun(b, p + 1, end, 6)
    // NAK's fixed `L0A0`: the `A` that marks its account is a hex digit too; give it back.
    if (token === 'NAK' && b[p + 1 + n] === LBRACKET) {
      for (let k = n - 1; k >= 1; k--) if (b[p + 1 + k] === 0x41) { n = k; break }
    }
    lpref = ascii(b, p + 1, p + 1 + n)
    p += 1 + n
  }
  // #acct. NAK alone carries `A0` in its place. Some panels send no header account.
  let acct = ''
  if (b[p] === HASH) {
    const n = alnumRun(b, p + 1, end, 17)
    if (n < 3 || n > 16) return bad('the account is not 3-16 hex digits')
    acct = ascii(b, p + 1, p + 1 + n)
    p += 1 + n
  } else if (b[p] === 0x41 && token === 'NAK') {
    const n = hexRun(b, p + 1, end, 16)
    acct = ascii(b, p + 1, p + 1 + n)
    p += 1 + n
  }
  if (b[p] !== LBRACKET || (acct === '' && encrypted)) {
    const header = { token, encrypted, seq, rcvr, lpref, acct, crcForm }
    return reject(ErrorCode.FORMAT, b[p] !== LBRACKET
      ? 'the data block does not open with [ after the account'
      : 'an encrypted frame must name its account in the header', header)
  }
  return { ok: true, frame: { token, encrypted, seq, rcvr, lpref, acct, crcForm, payload: b.subarray(p + 1, end), quirks } }
}

/** The tokens seen on the wire, as shared strings, so that parsing them allocates nothing. */
const KNOWN_TOKENS = ['SIA-DCS', 'ADM-CID', 'NULL', 'ACK', 'NAK', 'DUH', 'RSP']

function internToken (b: Uint8Array, start: number, end: number): string {
  for (const t of KNOWN_TOKENS) if (spells(b, start, end, t)) return t
  return ascii(b, start, end)
}

/** Whether bytes start..end are exactly the ASCII characters of `t`. */
function spells (b: Uint8Array, start: number, end: number, t: string): boolean {
  if (t.length !== end - start) return false
  for (let i = 0; i < t.length; i++) if (t.charCodeAt(i) !== b[start + i]) return false
  return true
}

function alnumRun (buf: Uint8Array, offset: number, end: number, max: number): number {
  let n = 0
  for (; offset + n < end && n < max; n++) {
    const c = buf[offset + n]!
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a))) break
  }
  return n
}

/**
 * Reads clear content: `data]` then `[Xvalue]` blocks then an optional timestamp.
 * Junk between the last block and the timestamp or end is kept, not fatal (comxline).
 */
export function readContent (buf: Buffer, start: number, pad?: Buffer, header?: FrameHeader, padWithoutPipe = false, lenientTimestamp = false): ContentResult {
  const end = buf.length
  // A loop: the data block is short, and Buffer#indexOf crosses into C++.
  let dataEnd = start
  while (dataEnd < end && buf[dataEnd] !== RBRACKET) dataEnd++
  if (dataEnd === end) dataEnd = -1
  if (dataEnd < 0) return reject(ErrorCode.FORMAT, 'the data block is not closed by ]', header)
  const xdata: XData[] = []
  let p = dataEnd + 1
  while (p < end && buf[p] === LBRACKET) {
    const close = buf.indexOf(RBRACKET, p + 1)
    if (close < 0) return reject(ErrorCode.FORMAT, 'an extended-data block is not closed by ]', header)
    // An empty `[]` carries nothing; skip it rather than reject the event.
    if (close > p + 1) xdata.push({ id: String.fromCharCode(buf[p + 1]!), value: buf.subarray(p + 2, close) })
    p = close + 1
  }
  let panelTime: number | undefined
  let junkEnd = end
  let badTimestamp = false
  if (end - p >= TIMESTAMP_LENGTH && buf[end - TIMESTAMP_LENGTH] === UNDERSCORE) {
    const t = readTimestamp(buf, end - TIMESTAMP_LENGTH)
    if (t >= 0) {
      panelTime = t
      junkEnd = end - TIMESTAMP_LENGTH
    } else badTimestamp = true
  } else if (p < end && buf[p] === UNDERSCORE) badTimestamp = true
  // A plain frame's time is information, not a guard: a panel whose clock was never set
  // (`_00:00:00,00-00-0000`) must not be NAKed into a retry loop that loses its alarm.
  if (badTimestamp && !lenientTimestamp) {
    return reject(ErrorCode.TIMESTAMP_FORMAT, 'the timestamp is not a valid _HH:MM:SS,MM-DD-YYYY', header)
  }
  return {
    ok: true,
    content: {
      data: buf.subarray(start, dataEnd),
      xdata,
      panelTime,
      junk: p < junkEnd && !badTimestamp ? buf.subarray(p, junkEnd) : undefined,
      pad,
      padWithoutPipe,
      badTimestamp,
    },
  }
}

/**
 * Decrypts the payload of an encrypted frame and reads its content. The decrypted text is
 * `pad|data]...` with the timestamp mandatory. A wrong key gives random bytes: it is recognised
 * by the missing well-formed tail and reported as such, never decoded into an event.
 */
export function openPayload (frame: RawFrame, key: AesKey): ContentResult {
  const { payload } = frame
  if (payload.length === 0 || payload.length % 32 !== 0) {
    return reject(ErrorCode.CIPHERTEXT, `the encrypted part has ${payload.length} hex characters, not whole 16-byte blocks`, frame)
  }
  const ciphertext = decodeHex(payload, 0, payload.length)
  if (ciphertext === null) return reject(ErrorCode.CIPHERTEXT, 'the encrypted part is not hex', frame)
  // pad (1+) | ] timestamp (20): no shorter plaintext can be well formed.
  if (ciphertext.length < 32) return reject(ErrorCode.CIPHERTEXT, 'the encrypted part is one block: too short for the pad, data and timestamp', frame)
  const plain = key.decrypt(ciphertext)
  const n = plain.length
  if (readTimestamp(plain, n - TIMESTAMP_LENGTH) < 0) {
    // Right key, bad tail: the last block reads as text. Wrong key: it almost never does.
    for (let i = n - 16; i < n; i++) {
      if (plain[i]! < 0x20 || plain[i]! > 0x7e) return reject(ErrorCode.WRONG_KEY, 'decryption gave no well-formed tail (wrong key?)', frame)
    }
    if (plain[n - TIMESTAMP_LENGTH] === UNDERSCORE) return reject(ErrorCode.TIMESTAMP_FORMAT, 'the timestamp is not a valid _HH:MM:SS,MM-DD-YYYY', frame)
    if (plain[n - 1] === RBRACKET) return reject(ErrorCode.TIMESTAMP_MISSING, 'an encrypted frame must carry a timestamp', frame)
    return reject(ErrorCode.WRONG_KEY, 'decryption gave no well-formed tail (wrong key?)', frame)
  }
  // The pad ends at the first `|`, wherever the first `]` is: pad bytes should exclude `[` and
  // `]` too, but binary pads (Ajax) may not. Some senders omit the `|`; then the data is
  // empty and the pad runs up to the `]` before the x-data and timestamp.
  const pipe = plain.indexOf(PIPE)
  if (pipe >= 0) return checkPad(readContent(plain, pipe + 1, plain.subarray(0, pipe), frame), plain.subarray(0, pipe), frame)
  let q = n - TIMESTAMP_LENGTH
  while (q > 0 && plain[q - 1] === RBRACKET) {
    const open = plain.lastIndexOf(LBRACKET, q - 1)
    if (open < 0) return checkPad(readContent(plain, q - 1, plain.subarray(0, q - 1), frame, true), plain.subarray(0, q - 1), frame)
    q = open
  }
  return reject(ErrorCode.WRONG_KEY, 'decryption gave no well-formed tail (wrong key?)', frame)
}

/**
 * The longest pad a known sender makes: the standard pads 1 to 16 bytes, the SPT dialler
 * `17 - ((len(data) + 21) % 16)`, which is 17 whenever its data length is 11 mod 16. A pad of
 * 0 (the `|` first) is a sender that adds none when the plaintext already fills whole blocks.
 */
export const MAX_PAD_BYTES = 17

/**
 * Refuses a pad no sender makes. A longer one means the first block did not decrypt to a pad
 * and its `|`: corrupted, or ciphertext tampered with (CBC lets a flipped bit in one block
 * change the next block's plaintext at will, at the price of garbling its own). A 17-byte pad
 * runs past block 0, so it is held to the bytes its sender draws from (0x14-0x7D, never
 * `|`, `[` or `]`): a garbled block of 16 random bytes passes that with odds of about 1 in
 * 1.3 million, where any binary pad of up to 16 bytes (Ajax) stays accepted as before.
 */
function checkPad (r: ContentResult, pad: Buffer, frame: FrameHeader): ContentResult {
  if (!r.ok || pad.length <= 16) return r
  if (pad.length > MAX_PAD_BYTES || !pad.every(isDiallerPadByte)) {
    return reject(ErrorCode.WRONG_KEY, `a ${pad.length}-byte pad: the ciphertext is corrupted or tampered with`, frame)
  }
  return r
}

function isDiallerPadByte (b: number): boolean {
  return b >= 0x14 && b <= 0x7d && b !== PIPE && b !== LBRACKET && b !== RBRACKET
}

// ---------------------------------------------------------------- serializing

/** Everything needed to build a frame; panels' frames and the receiver's answers alike. */
export interface FrameFields {
  readonly token: string
  readonly encrypted?: boolean | undefined
  readonly seq: string | number
  readonly rcvr?: string | undefined
  readonly lpref?: string | undefined
  readonly acct: string
  /** `A` only in NAK's fixed header; otherwise `#`. */
  readonly acctMarker?: '#' | 'A' | undefined
  readonly data?: string | Uint8Array | undefined
  readonly xdata?: ReadonlyArray<{ readonly id: string, readonly value: string | Uint8Array }> | undefined
  /** Epoch ms (formatted as UTC) or a ready `_HH:MM:SS,MM-DD-YYYY` string. */
  readonly timestamp?: number | string | undefined
  readonly crcForm?: CrcForm | undefined
}

export interface SerializeOptions {
  /** Required for encrypted frames. */
  readonly key?: AesKey | undefined
  /** A fixed pad (tests, fixtures). Default: fresh random bytes for every frame. */
  readonly pad?: Uint8Array | undefined
}

const PAD_ALPHABET = Buffer.from('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 'latin1')
const randomPool = Buffer.allocUnsafe(4096)
let randomLeft = 0

/**
 * Writes a fresh pad of `n` random characters into `out` at `at`. Pad bytes may be anything but
 * `|`, `[` and `]`; letters and digits are used so that no panel firmware trips on a NUL or
 * control byte, and FIO-style transmitters that want UTF-8 plaintext are satisfied.
 */
function fillPad (out: Uint8Array, at: number, n: number): void {
  for (let i = 0; i < n; i++) {
    if (randomLeft === 0) {
      randomFillSync(randomPool)
      randomLeft = randomPool.length
    }
    // 248 = 4 * 62: rejecting the top 8 values keeps the choice uniform.
    const r = randomPool[--randomLeft]!
    if (r >= 248) { i--; continue }
    out[at + i] = PAD_ALPHABET[r % 62]!
  }
}

/** A fresh random pad of `n` bytes (see {@link serializeFrame} for where it goes). */
export function randomPad (n: number): Buffer {
  const out = Buffer.allocUnsafe(n)
  fillPad(out, 0, n)
  return out
}

/** Pad length that makes pad + `|` + `rest` whole AES blocks; 16 when it already is. */
export function padLength (restLength: number): number {
  return 16 - ((restLength + 1) % 16)
}

function bytesOf (v: string | Uint8Array | undefined): Uint8Array {
  if (v === undefined) return EMPTY
  return typeof v === 'string' ? Buffer.from(v, 'latin1') : v
}

const EMPTY = new Uint8Array(0)

/**
 * Builds a frame. Strings are written as Latin-1 bytes (pass a Buffer for other encodings).
 * Throws only on caller bugs: an encrypted frame without key or timestamp, or fields out of range.
 */
export function serializeFrame (f: FrameFields, opts: SerializeOptions = {}): Buffer {
  const seq = typeof f.seq === 'number' ? String(f.seq).padStart(4, '0') : f.seq
  let head = f.encrypted === true ? '"*' : '"'
  head += f.token + '"' + seq
  if (f.rcvr !== undefined) head += 'R' + f.rcvr
  if (f.lpref !== undefined) head += 'L' + f.lpref
  if (f.acct !== '') head += (f.acctMarker ?? '#') + f.acct
  head += '['
  const ts = f.timestamp === undefined ? '' : typeof f.timestamp === 'number' ? formatTimestamp(f.timestamp) : f.timestamp
  const data = bytesOf(f.data)
  const xdata = f.xdata ?? NO_XDATA
  let restLength = data.length + 1 + ts.length
  for (const x of xdata) restLength += 3 + (typeof x.value === 'string' ? Buffer.byteLength(x.value, 'latin1') : x.value.length)
  const crcForm = f.crcForm ?? 'hex'
  const h = crcForm === 'hex' ? 5 : 3
  const bodyStart = h + 4

  if (f.encrypted !== true) {
    const out = allocFrame(h, head, restLength)
    writeRest(out, bodyStart + head.length, data, xdata, ts)
    return finishFrame(out, h, crcForm)
  }
  if (opts.key === undefined) throw new TypeError('an encrypted frame needs a key')
  if (ts === '') throw new TypeError('an encrypted frame needs a timestamp')
  // pad | data ] x-data timestamp, then AES, written as hex straight into the frame.
  const padLen = opts.pad?.length ?? padLength(restLength)
  const plain = Buffer.allocUnsafe(padLen + 1 + restLength)
  if (opts.pad !== undefined) plain.set(opts.pad, 0)
  else fillPad(plain, 0, padLen)
  plain[padLen] = PIPE
  writeRest(plain, padLen + 1, data, xdata, ts)
  const cipher = opts.key.encrypt(plain)
  const out = allocFrame(h, head, cipher.length * 2)
  writeHexBytes(out, bodyStart + head.length, cipher)
  return finishFrame(out, h, crcForm)
}

const NO_XDATA: NonNullable<FrameFields['xdata']> = []

/** A frame buffer with the LF, length field and `head` written; the content comes next. */
function allocFrame (h: number, head: string, contentLength: number): Buffer {
  const bodyLen = head.length + contentLength
  if (bodyLen > MAX_BODY_BYTES) throw new RangeError(`a frame body has at most ${MAX_BODY_BYTES} bytes`)
  const out = Buffer.allocUnsafe(h + 4 + bodyLen + 1)
  out[0] = LF
  out[h] = ZERO
  writeHex(out, h + 1, bodyLen, 3)
  // The header is ASCII; a loop beats a call into C++ for a few dozen bytes.
  for (let i = 0, p = h + 4; i < head.length; i++, p++) out[p] = head.charCodeAt(i)
  return out
}

/** Writes the CRC over the body and the final CR. */
function finishFrame (out: Buffer, h: number, crcForm: CrcForm): Buffer {
  const end = out.length - 1
  const crc = crc16(out, h + 4, end)
  if (crcForm === 'hex') writeHex(out, 1, crc, 4)
  else { out[1] = crc >>> 8; out[2] = crc & 0xff }
  out[end] = CR
  return out
}

/** Writes `data ] [Xvalue]... timestamp` at `at`. */
function writeRest (out: Buffer, at: number, data: Uint8Array, xdata: NonNullable<FrameFields['xdata']>, ts: string): void {
  out.set(data, at)
  let p = at + data.length
  out[p++] = RBRACKET
  for (const x of xdata) {
    out[p++] = LBRACKET
    out[p++] = x.id.charCodeAt(0)
    if (typeof x.value === 'string') p += out.write(x.value, p, 'latin1')
    else { out.set(x.value, p); p += x.value.length }
    out[p++] = RBRACKET
  }
  for (let i = 0; i < ts.length; i++) out[p + i] = ts.charCodeAt(i)
}
