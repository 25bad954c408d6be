/**
 * Building DC-09 frames: the panels' frames (simulator, fixtures, tests) and the receiver's
 * answers alike. Pure functions; the only outside input is the random pad of encrypted frames.
 */
import { randomFillSync } from 'node:crypto'
import { CR, LBRACKET, LF, PIPE, RBRACKET, ZERO, writeHex, writeHexBytes } from './bytes.js'
import { crc16 } from './crc.js'
import { MAX_BODY_BYTES, type CrcForm, type FrameFields, type SerializeOptions } from './frame.js'
import { formatTimestamp } from './timestamp.js'

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
