/**
 * Parsing one whole DC-09 frame: the envelope (CRC, length, ID token, sequence, receiver, prefix,
 * account) and the content inside the data bracket (data, extended data, timestamp).
 *
 *   <LF> CRC 0LLL "ID" SSSS [Rrcvr] [Lpref] #acct [data] [x-data]... [_HH:MM:SS,MM-DD-YYYY] <CR>
 *
 * Everything is read from the raw bytes; text is decoded later and only where it is text.
 */
import {
  CR, HASH, HEX_VALUE, LBRACKET, LF, PIPE, QUOTE, RBRACKET, STAR, UNDERSCORE, ZERO,
  ascii, decodeHex, hexRun, readHex, DIGIT_VALUE,
} from './bytes.js'
import { ok } from '../result.js'
import type { AesKey } from './cipher.js'
import { crc16 } from './crc.js'
import { ErrorCode } from './errors.js'
import {
  MAX_TOKEN_BYTES, reject,
  type ContentResult, type CrcForm, type FrameHeader, type FrameResult, type Quirk, type RawFrame, type Rejection, type XData,
} from './frame.js'
import { readTimestamp, TIMESTAMP_LENGTH } from './timestamp.js'

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
  const { token, encrypted, seq, rcvr, lpref, acct } = r.value
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
  return ok({ token, encrypted, seq, rcvr, lpref, acct, crcForm, payload: b.subarray(p + 1, end), quirks })
}

/** The tokens seen on the wire, as shared strings, so that parsing them allocates nothing. */
const KNOWN_TOKENS = ['SIA-DCS', 'ADM-CID', 'NULL', 'ACK', 'NAK', 'DUH', 'RSP']

function internToken (b: Uint8Array, start: number, end: number): string {
  for (const t of KNOWN_TOKENS) if (sameAscii(t, b, start, end)) return t
  return ascii(b, start, end)
}

function sameAscii (t: string, b: Uint8Array, start: number, end: number): boolean {
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
  return ok({
    data: buf.subarray(start, dataEnd),
    xdata,
    panelTime,
    junk: p < junkEnd && !badTimestamp ? buf.subarray(p, junkEnd) : undefined,
    pad,
    padWithoutPipe,
    badTimestamp,
  })
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
