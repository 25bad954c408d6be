/** Byte constants and lookup tables shared by the codec. */
export const LF = 0x0a
export const CR = 0x0d
export const QUOTE = 0x22
export const STAR = 0x2a
export const HASH = 0x23
export const PIPE = 0x7c
export const LBRACKET = 0x5b
export const RBRACKET = 0x5d
export const UNDERSCORE = 0x5f
export const ZERO = 0x30

/** Value of a hex digit byte (either case), or -1. */
export const HEX_VALUE = new Int8Array(256).fill(-1)
for (let i = 0; i < 10; i++) HEX_VALUE[0x30 + i] = i
for (let i = 0; i < 6; i++) {
  HEX_VALUE[0x41 + i] = 10 + i
  HEX_VALUE[0x61 + i] = 10 + i
}

/** Value of a decimal digit byte, or -1. */
export const DIGIT_VALUE = new Int8Array(256).fill(-1)
for (let i = 0; i < 10; i++) DIGIT_VALUE[0x30 + i] = i

const UPPER_HEX = '0123456789ABCDEF'

/** Writes `value` as `width` upper-case hex digits into `out` at `offset`. */
export function writeHex (out: Uint8Array, offset: number, value: number, width: number): void {
  for (let i = width - 1; i >= 0; i--) {
    out[offset + i] = UPPER_HEX.charCodeAt(value & 0xf)
    value >>>= 4
  }
}

/** Reads `width` hex digits at `offset`; -1 when any is not a hex digit. */
export function readHex (buf: Uint8Array, offset: number, width: number): number {
  let v = 0
  for (let i = 0; i < width; i++) {
    const d = HEX_VALUE[buf[offset + i] ?? 0]!
    if (d < 0) return -1
    v = (v << 4) | d
  }
  return v
}

/** Number of hex digit bytes starting at `offset`, up to `max`. */
export function hexRun (buf: Uint8Array, offset: number, end: number, max: number): number {
  let n = 0
  while (offset + n < end && n < max && HEX_VALUE[buf[offset + n]!]! >= 0) n++
  return n
}

/** Decodes hex text `buf[start, end)` into bytes; null if any byte is not a hex digit. */
export function decodeHex (buf: Uint8Array, start: number, end: number): Buffer | null {
  const out = Buffer.allocUnsafe((end - start) >>> 1)
  for (let i = 0, j = start; j < end; i++, j += 2) {
    const hi = HEX_VALUE[buf[j]!]!
    const lo = HEX_VALUE[buf[j + 1]!]!
    if ((hi | lo) < 0) return null
    out[i] = (hi << 4) | lo
  }
  return out
}

/** Writes bytes as upper-case hex text (the usual form on the wire) into `out` at `at`. */
export function writeHexBytes (out: Uint8Array, at: number, bytes: Uint8Array): void {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    out[at + 2 * i] = HEX_DIGITS[b >>> 4]!
    out[at + 2 * i + 1] = HEX_DIGITS[b & 0xf]!
  }
}

const HEX_DIGITS = Buffer.from(UPPER_HEX, 'latin1')

/**
 * `buf[start, end)` as a string of byte values (Latin-1). For the short header fields this is
 * several times faster than `Buffer#toString`, which crosses into C++ for every call.
 */
export function ascii (buf: Uint8Array, start: number, end: number): string {
  if (end - start > 32) return Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('latin1')
  let s = ''
  for (let i = start; i < end; i++) s += String.fromCharCode(buf[i]!)
  return s
}
