/**
 * C-style escapes for frames written as text (bug reports, fixtures, `dc09 decode` input):
 * `\n` LF, `\r` CR, `\t` tab, `\0` NUL, `\\` backslash, `\xHH` any byte. Other characters
 * stand for their UTF-8 bytes.
 */
export type Unescaped = { readonly ok: true, readonly bytes: Buffer } | { readonly ok: false, readonly reason: string }

const SIMPLE: Readonly<Record<string, number>> = { n: 0x0a, r: 0x0d, t: 0x09, 0: 0x00, '\\': 0x5c }

export function unescapeFrame (text: string): Unescaped {
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
    if (e === undefined) return { ok: false, reason: 'the line ends with a lone backslash' }
    const simple = SIMPLE[e]
    if (simple !== undefined) { out.push(simple); continue }
    if (e === 'x') {
      const hex = text.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return { ok: false, reason: `\\x at column ${i} is not followed by two hex digits` }
      out.push(parseInt(hex, 16))
      i += 2
      continue
    }
    return { ok: false, reason: `unknown escape \\${e} at column ${i}` }
  }
  return { ok: true, bytes: Buffer.from(out) }
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
