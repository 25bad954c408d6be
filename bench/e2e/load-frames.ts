/**
 * The load client's frames, built from precomputed parts so that the client costs as little per
 * frame as it can: a panel's frame is laid out once (header, account, pad, length, all fixed),
 * and each next frame only rewrites its sequence number, the changing digits of its Contact ID
 * event and the shared timestamp, then takes one AES call (encrypted) and one CRC.
 *
 *   plain:      <LF>CRC 0LLL "ADM-CID"SSSS L0#acct[#acct|QEEE GG CCC]_HH:MM:SS,MM-DD-YYYY<CR>
 *   encrypted:  <LF>CRC 0LLL "*ADM-CID"SSSS L0#acct[hex(AES-CBC(pad|#acct|QEEE GG CCC]_HH:MM:SS,MM-DD-YYYY))<CR>
 *
 * Every frame of an account is a distinct event for the receiver's duplicate window (account,
 * sequence and content): frame n of a panel has sequence 1 + n mod 9999, and the zone (CCC) and
 * group (GG) count the wraps of the sequence, so nothing repeats within 999,900,000 frames. Runs
 * against one receiver take offsets far apart (the harness gives each run its own block).
 */
import { createCipheriv, randomInt, type Cipher } from 'node:crypto'
import { crc16 } from '../../src/protocol/crc.js'
import { formatTimestamp } from '../../src/protocol/timestamp.js'

const LF = 0x0a
const CR = 0x0d
const TS_LENGTH = 20
const HEX = Buffer.from('0123456789ABCDEF', 'latin1')
const HEX_VALUE = new Int8Array(256).fill(-1)
for (let i = 0; i < 16; i++) {
  HEX_VALUE['0123456789ABCDEF'.charCodeAt(i)] = i
  HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i
}

/** The shared `_HH:MM:SS,MM-DD-YYYY` that every next frame carries; the client sets it once a second. */
const STAMP = Buffer.alloc(TS_LENGTH)

/** Sets the timestamp the next frames carry (UTC). */
export function setStamp (ms: number): void {
  STAMP.write(formatTimestamp(ms), 0, 'latin1')
}
setStamp(Date.now())

export interface LoadPanel {
  readonly account: string
  /** The `L` prefix; absent: none sent. */
  readonly prefix?: string | undefined
  /** AES key bytes (16, 24 or 32); absent: plain frames. */
  readonly key?: Buffer | undefined
}

export interface MakerOptions {
  /** The number of the first frame: runs against one receiver need blocks that do not overlap. */
  readonly offset: number
  /**
   * Every `alarmEvery`-th frame is a burglary alarm (Contact ID 1130, opens a case) and the one
   * after it a cancel by the user (1406, closes it), so that the next alarm opens a case again.
   * 0 or absent: periodic tests (1602) only.
   */
  readonly alarmEvery?: number | undefined
}

const TEST = codeBytes('1602')
const ALARM = codeBytes('1130')
const CANCEL = codeBytes('1406')

function codeBytes (s: string): Buffer {
  return Buffer.from(s, 'latin1')
}

const PAD_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

/** One panel's frames: `next()` rewrites and returns the same buffer (one frame is in flight at a time). */
export class FrameMaker {
  readonly encrypted: boolean
  /** Alarms built so far. */
  alarms = 0
  readonly #out: Buffer
  readonly #seqAt: number
  /** Where the event and timestamp are written: the frame (plain) or the plaintext (encrypted). */
  readonly #content: Buffer
  readonly #codeAt: number
  readonly #input: Buffer | undefined
  readonly #hexAt: number
  readonly #cipher: Cipher | undefined
  /** The last ciphertext block the long-lived CBC context produced: where its chain stands. */
  readonly #chain = Buffer.alloc(16)
  readonly #offset: number
  readonly #alarmEvery: number
  #n: number

  constructor (panel: LoadPanel, opts: MakerOptions) {
    this.encrypted = panel.key !== undefined
    this.#offset = opts.offset
    this.#n = opts.offset
    this.#alarmEvery = opts.alarmEvery ?? 0
    const head = `"${this.encrypted ? '*' : ''}ADM-CID"0000${panel.prefix === undefined ? '' : `L${panel.prefix}`}#${panel.account}[`
    const data = `#${panel.account}|1602 00 000]`
    const clear = this.encrypted ? padFor(data.length + TS_LENGTH) + '|' + data : data
    const contentLength = this.encrypted ? 2 * (clear.length + TS_LENGTH) : clear.length + TS_LENGTH
    const bodyLength = head.length + contentLength
    if (bodyLength > 0xfff) throw new RangeError('the frame is longer than its length field can say')
    this.#out = Buffer.alloc(9 + bodyLength + 1)
    this.#out[0] = LF
    this.#out.write(`0${bodyLength.toString(16).toUpperCase().padStart(3, '0')}${head}`, 5, 'latin1')
    this.#out[this.#out.length - 1] = CR
    this.#seqAt = 9 + head.indexOf('"', 1) + 1
    this.#hexAt = 9 + head.length
    if (panel.key === undefined) {
      this.#content = this.#out
      this.#out.write(clear, this.#hexAt, 'latin1')
      this.#codeAt = this.#hexAt + clear.indexOf('|') + 1
    } else {
      this.#content = Buffer.alloc(clear.length + TS_LENGTH)
      this.#content.write(clear, 0, 'latin1')
      this.#codeAt = clear.lastIndexOf('|') + 1
      this.#input = Buffer.alloc(this.#content.length)
      // One CBC context for the panel's life: xoring the chain into the first block of each
      // message cancels it, so every message is encrypted as with a zero IV, in one call.
      this.#cipher = createCipheriv(`aes-${panel.key.length * 8}-cbc`, panel.key, Buffer.alloc(16)).setAutoPadding(false)
    }
  }

  /** The next frame: the same buffer, rewritten. */
  next (): Buffer {
    const n = this.#n++
    const i = n - this.#offset
    const wraps = Math.floor(n / 9999)
    const c = this.#content
    const at = this.#codeAt
    writeDigits(this.#out, this.#seqAt, 1 + (n % 9999), 4)
    let code = TEST
    if (this.#alarmEvery > 0) {
      const k = i % this.#alarmEvery
      if (k === 0) { code = ALARM; this.alarms++ } else if (k === 1) code = CANCEL
    }
    c[at] = code[0]!; c[at + 1] = code[1]!; c[at + 2] = code[2]!; c[at + 3] = code[3]!
    writeDigits(c, at + 5, Math.floor(wraps / 1000) % 100, 2)
    writeDigits(c, at + 8, wraps % 1000, 3)
    STAMP.copy(c, c.length - (this.encrypted ? TS_LENGTH : TS_LENGTH + 1))
    if (this.#cipher !== undefined) this.#encrypt()
    const out = this.#out
    const crc = crc16(out, 9, out.length - 1)
    out[1] = HEX[crc >>> 12]!; out[2] = HEX[(crc >>> 8) & 0xf]!; out[3] = HEX[(crc >>> 4) & 0xf]!; out[4] = HEX[crc & 0xf]!
    return out
  }

  #encrypt (): void {
    const input = this.#input!
    this.#content.copy(input)
    const chain = this.#chain
    for (let k = 0; k < 16; k++) input[k]! ^= chain[k]!
    const cipher = this.#cipher!.update(input)
    cipher.copy(chain, 0, cipher.length - 16)
    const out = this.#out
    for (let k = 0, p = this.#hexAt; k < cipher.length; k++, p += 2) {
      out[p] = HEX[cipher[k]! >>> 4]!
      out[p + 1] = HEX[cipher[k]! & 0xf]!
    }
  }
}

/** A pad of random letters and digits that makes pad, `|` and `rest` whole AES blocks (1 to 16 bytes). */
function padFor (rest: number): string {
  const n = 16 - ((rest + 1) % 16)
  let pad = ''
  for (let i = 0; i < n; i++) pad += PAD_CHARS[randomInt(PAD_CHARS.length)]
  return pad
}

function writeDigits (buf: Buffer, at: number, value: number, width: number): void {
  for (let i = width - 1; i >= 0; i--) {
    buf[at + i] = 0x30 + (value % 10)
    value = Math.floor(value / 10)
  }
}

const ACK = Buffer.from('"ACK"', 'latin1')
const STAR_ACK = Buffer.from('"*ACK"', 'latin1')

/**
 * Whether an answer is an acknowledgement, by its first bytes only: LF, a 4-hex-digit CRC, a
 * `0LLL` length, then `"ACK"` for a plain frame or `"*ACK"` for an encrypted one. The rest
 * (echoed fields, CRC, the *ACK's ciphertext) is what the full simulator checks.
 */
export function isAck (answer: Uint8Array, encrypted: boolean): boolean {
  const token = encrypted ? STAR_ACK : ACK
  if (answer.length < 9 + token.length || answer[0] !== LF || answer[5] !== 0x30) return false
  if ((HEX_VALUE[answer[1]!]! | HEX_VALUE[answer[2]!]! | HEX_VALUE[answer[3]!]! | HEX_VALUE[answer[4]!]! |
    HEX_VALUE[answer[6]!]! | HEX_VALUE[answer[7]!]! | HEX_VALUE[answer[8]!]!) < 0) return false
  for (let i = 0; i < token.length; i++) if (answer[9 + i] !== token[i]) return false
  return true
}

/** Buckets per doubling: a bucket is 1.1% wide, and a percentile is read at its middle (within 0.6%). */
const PER_OCTAVE = 64
/** Up to 2^31 µs (about 36 minutes); longer latencies fall in the last bucket (the exact max is kept). */
const BUCKETS = 31 * PER_OCTAVE + 2

/** Latencies in a fixed log-scale histogram: constant memory however long the run. */
export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS)
  count = 0
  /** Milliseconds. */
  max = 0

  /** Adds a latency in milliseconds. */
  add (ms: number): void {
    const us = ms * 1000
    const b = us < 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * PER_OCTAVE) + 1)
    this.#counts[b]!++
    this.count++
    if (ms > this.max) this.max = ms
  }

  /** The p-th percentile (0-100) in milliseconds, nearest rank; 0 when empty. */
  percentile (p: number): number {
    if (this.count === 0) return 0
    const rank = Math.max(1, Math.ceil((p / 100) * this.count))
    let seen = 0
    for (let b = 0; b < BUCKETS; b++) {
      seen += this.#counts[b]!
      if (seen >= rank) return b === 0 ? 0.0005 : Math.min(this.max, 2 ** ((b - 0.5) / PER_OCTAVE) / 1000)
    }
    return this.max
  }
}
