/**
 * Text inside data and extended data is decoded last, from the bytes: UTF-8
 * when the bytes are valid UTF-8 (one sender sends Cyrillic so), otherwise Windows-1252 (the
 * DC-09 x-data table's charset; not Latin-1, which maps 0x80-0x9F to controls). An account can
 * name another charset.
 */
import { isUtf8 } from 'node:buffer'
import iconv from 'iconv-lite'

/** `auto` (UTF-8 if valid, else Windows-1252) or any charset iconv-lite knows. */
export type Charset = string

export function isCharset (name: string): boolean {
  return name === 'auto' || iconv.encodingExists(name)
}

function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)
}

export function decodeText (bytes: Uint8Array, charset: Charset = 'auto'): string {
  const buf = asBuffer(bytes)
  // An unknown charset name is a settings bug caught by isCharset(); decoding still must not throw.
  if (charset === 'auto' || !iconv.encodingExists(charset)) {
    let ascii = true
    for (let i = 0; i < buf.length; i++) {
      if (buf[i]! > 0x7f) { ascii = false; break }
    }
    if (ascii) return buf.toString('latin1')
    if (isUtf8(buf)) return buf.toString('utf8')
    return iconv.decode(buf, 'windows-1252')
  }
  return iconv.decode(buf, charset)
}

/** Encodes text for a frame in the given charset (`auto` writes UTF-8). */
export function encodeText (text: string, charset: Charset = 'auto'): Buffer {
  return charset === 'auto' || !iconv.encodingExists(charset) ? Buffer.from(text, 'utf8') : iconv.encode(text, charset)
}
