/**
 * C-style escapes for frames written as text (bug reports, fixtures, `dc09 decode` input):
 * `\n` LF, `\r` CR, `\t` tab, `\0` NUL, `\\` backslash, `\xHH` any byte. Other characters
 * stand for their UTF-8 bytes.
 *
 * And the escaping of stored text the commands print (names, audit rows, panel text): text an
 * installer or a panel wrote must not drive the terminal of whoever reads it.
 */
import { err, type Result } from '../result.js'

const SIMPLE: Readonly<Record<string, number>> = { n: 0x0a, r: 0x0d, t: 0x09, 0: 0x00, '\\': 0x5c }

export function unescapeFrame (text: string): Result<Buffer> {
  const out: number[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (c !== '\\') {
      const code = c.charCodeAt(0)
      if (code < 0x80) out.push(code)
      else {
        // Whole code point, so that surrogate pairs become one UTF-8 sequence.
        const cp = text.codePointAt(i)!
        const ch = String.fromCodePoint(cp)
        for (const b of Buffer.from(ch, 'utf8')) out.push(b)
        i += ch.length - 1
      }
      continue
    }
    const e = text[++i]
    if (e === undefined) return err('DC09_ERR_INPUT', 'the line ends with a lone backslash')
    const simple = SIMPLE[e]
    if (simple !== undefined) { out.push(simple); continue }
    if (e === 'x') {
      const hex = text.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return err('DC09_ERR_INPUT', `\\x at column ${i} is not followed by two hex digits`)
      out.push(parseInt(hex, 16))
      i += 2
      continue
    }
    return err('DC09_ERR_INPUT', `unknown escape \\${e} at column ${i}`)
  }
  return { ok: true, value: Buffer.from(out) }
}

/** Writes bytes as escaped text: printable ASCII as is, the rest as escapes. */
export function escapeFrame (bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) {
    if (b === 0x0a) s += '\\n'
    else if (b === 0x0d) s += '\\r'
    else if (b === 0x5c) s += '\\\\'
    else if (b >= 0x20 && b <= 0x7e) s += String.fromCharCode(b)
    else s += '\\x' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return s
}

/**
 * What a terminal acts on instead of showing: C0 and C1 controls, DEL, the line and paragraph
 * separators, format characters (bidi overrides and isolates, zero-width characters) and lone
 * surrogates. The zero-width (non-)joiners, the left-to-right and right-to-left marks and the
 * soft hyphen stay: real names need them and they move nothing.
 */
const ACTIVE = /(?![\u00AD\u200C-\u200F])[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu
const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** Stored text as one printable line: the characters above and the backslash escaped. */
export function printable (text: string): string {
  return text.replace(/\\/g, '\\\\').replace(ACTIVE, (c) => {
    const cp = c.codePointAt(0)!
    return SHORT[c] ?? (cp < 0x100 ? `\\x${cp.toString(16).toUpperCase().padStart(2, '0')}` : `\\u{${cp.toString(16).toUpperCase().padStart(4, '0')}}`)
  })
}

/** JSON.stringify, with what it leaves raw of the characters above written as \uXXXX: the same JSON value. */
export function safeJson (value: unknown): string {
  return JSON.stringify(value).replace(ACTIVE, (c) => {
    let out = ''
    for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`
    return out
  })
}
