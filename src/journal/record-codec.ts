/**
 * The on-disk form of one journal record:
 *
 *   magic "DJ09" (4 bytes) | payload length (u32 BE) | CRC-32 of the payload (u32 BE) | payload (UTF-8 JSON)
 *
 * A torn write leaves a record whose length runs past the end of the file or whose checksum
 * does not match: it is recognised and cut on the next start.
 */
import { crc32 } from 'node:zlib'

export const MAGIC = 0x444a3039 // "DJ09"
export const HEADER_BYTES = 12
/** Largest payload accepted when reading: a frame is at most 4 KiB, its decoded record a few times that. */
export const MAX_PAYLOAD_BYTES = 1 << 20

/** Encodes `payload` (an object, or its JSON text) with `id` as its first field (without copying the payload). */
export function encodeRecord (payload: object | string, id?: number): Buffer {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload)
  const text = id === undefined ? body : body === '{}' ? `{"id":${id}}` : `{"id":${id},${body.slice(1)}`
  const len = Buffer.byteLength(text, 'utf8')
  const out = Buffer.allocUnsafe(HEADER_BYTES + len)
  out.writeUInt32BE(MAGIC, 0)
  out.writeUInt32BE(len, 4)
  out.write(text, HEADER_BYTES, 'utf8')
  out.writeUInt32BE(crc32(out.subarray(HEADER_BYTES)), 8)
  return out
}

export type Decoded =
  | { readonly kind: 'record', readonly payload: Record<string, unknown> & { id: number }, readonly size: number }
  /** Not enough bytes for the record the header announces (the end of what is written so far). */
  | { readonly kind: 'partial' }
  | { readonly kind: 'bad', readonly reason: string }

/**
 * Checks the record at `offset` of `buf` (marker, length, checksum) without reading its JSON:
 * its size, for walking a segment cheaply.
 */
export function scanRecord (buf: Buffer, offset: number): { readonly kind: 'record', readonly size: number } | Exclude<Decoded, { kind: 'record' }> {
  if (buf.length - offset < HEADER_BYTES) return { kind: 'partial' }
  if (buf.readUInt32BE(offset) !== MAGIC) return { kind: 'bad', reason: 'no record marker' }
  const len = buf.readUInt32BE(offset + 4)
  if (len > MAX_PAYLOAD_BYTES) return { kind: 'bad', reason: `a record length of ${len} bytes` }
  if (buf.length - offset - HEADER_BYTES < len) return { kind: 'partial' }
  if (crc32(buf.subarray(offset + HEADER_BYTES, offset + HEADER_BYTES + len)) !== buf.readUInt32BE(offset + 8)) return { kind: 'bad', reason: 'checksum mismatch' }
  return { kind: 'record', size: HEADER_BYTES + len }
}

/** Reads the record at `offset` of `buf`. */
export function decodeRecord (buf: Buffer, offset: number): Decoded {
  const scanned = scanRecord(buf, offset)
  if (scanned.kind !== 'record') return scanned
  let payload: unknown
  try {
    payload = JSON.parse(buf.toString('utf8', offset + HEADER_BYTES, offset + scanned.size))
  } catch {
    // Unreachable for records this code wrote (the checksum matched); a foreign file.
    return { kind: 'bad', reason: 'not JSON' }
  }
  if (typeof payload !== 'object' || payload === null || typeof (payload as { id?: unknown }).id !== 'number') {
    return { kind: 'bad', reason: 'no record id' }
  }
  return { kind: 'record', payload: payload as Record<string, unknown> & { id: number }, size: scanned.size }
}
