import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { escapeFrame, unescapeFrame } from '../../../src/cli/escape.js'

describe('C-style escapes', () => {
  it('reads \\n \\r \\t \\0 \\\\ \\xHH and UTF-8 text', () => {
    const u = unescapeFrame('\\nAB\\x0d\\r\\\\\\t\\0\u00e9')
    expect(u.ok && [...u.value]).toEqual([0x0a, 0x41, 0x42, 0x0d, 0x0d, 0x5c, 0x09, 0x00, 0xc3, 0xa9])
  })

  it('refuses unknown escapes and lone backslashes with a reason', () => {
    expect(unescapeFrame('\\q')).toMatchObject({ ok: false })
    expect(unescapeFrame('abc\\')).toMatchObject({ ok: false })
    expect(unescapeFrame('\\x4')).toMatchObject({ ok: false })
  })

  test.prop([fc.uint8Array({ maxLength: 200 })])('escape then unescape is the identity', (b) => {
    const u = unescapeFrame(escapeFrame(b))
    expect(u.ok && [...u.value]).toEqual([...b])
  })
})
