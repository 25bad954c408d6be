import { createCipheriv } from 'node:crypto'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { aesEngine, aesJs, nodeAes, parseKey } from '../../../src/protocol/cipher.js'
import { ErrorCode } from '../../../src/protocol/errors.js'

const KEY_HEX = '0123456789ABCDEF0123456789ABCDEF'

describe('AES-CBC, zero IV, no padding', () => {
  it('both engines decrypt vector E1 to its plaintext', () => {
    const key = Buffer.from(KEY_HEX, 'hex')
    const ct = Buffer.from('7EDD6A5271DA34AF56C05570DD9EB0257577F856315CA616792146CFE31C3C11B80EE5DE162BF8B7CA2F8AC25EBE5D2C', 'hex')
    for (const engine of [nodeAes, aesJs]) {
      expect(engine.importKey(key).decrypt(ct).toString('latin1')).toBe('ABCDEFGHIJK|#1234|Nri1/BA01]_12:00:00,01-15-2024')
    }
  })

  it('agrees with OpenSSL CBC for 128, 192 and 256-bit keys', () => {
    for (const bytes of [16, 24, 32]) {
      const key = Buffer.alloc(bytes, 7)
      const plain = Buffer.from('x'.repeat(64))
      const ref = createCipheriv(`aes-${bytes * 8}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false)
      const expected = Buffer.concat([ref.update(plain), ref.final()])
      for (const engine of [nodeAes, aesJs]) {
        const k = engine.importKey(key)
        expect(k.bits).toBe(bytes * 8)
        expect(k.encrypt(plain)).toEqual(expected)
        expect(k.decrypt(expected)).toEqual(plain)
      }
    }
  })

  it('reuses one expanded key across many messages without state leaking between them', () => {
    const raw = Buffer.from(KEY_HEX, 'hex')
    const reference = (p: Buffer) => {
      const c = createCipheriv('aes-128-cbc', raw, Buffer.alloc(16)).setAutoPadding(false)
      return Buffer.concat([c.update(p), c.final()])
    }
    for (const engine of [nodeAes, aesJs]) {
      const k = engine.importKey(raw)
      // Messages of different lengths, interleaved with decryption: each one as if alone, IV zero.
      for (let i = 0; i < 50; i++) {
        const p = Buffer.alloc(16 * (1 + (i % 4)), i)
        expect(k.encrypt(p)).toEqual(reference(p))
        k.decrypt(Buffer.alloc(48, i))
      }
    }
  })

  it('refuses partial blocks and wrong key sizes as caller bugs', () => {
    expect(() => nodeAes.importKey(Buffer.alloc(15))).toThrow(RangeError)
    expect(() => nodeAes.importKey(Buffer.alloc(16)).decrypt(Buffer.alloc(17))).toThrow(RangeError)
    expect(() => aesJs.importKey(Buffer.alloc(16)).encrypt(Buffer.alloc(5))).toThrow(RangeError)
  })

  it('selects engines by name', () => {
    expect(aesEngine().name).toBe('node')
    expect(aesEngine('aes-js').name).toBe('aes-js')
  })

  it('never shows key material when an expanded key is inspected or serialised', () => {
    for (const engine of [nodeAes, aesJs]) {
      const k = engine.importKey(Buffer.from('SECRETSECRETSECR', 'latin1'))
      expect(inspect(k, { showHidden: true, depth: 5 })).not.toMatch(/SECRET|5345435245/i)
      expect(JSON.stringify(k)).not.toMatch(/SECRET/)
    }
  })
})

describe('parseKey', () => {
  it('reads hex keys of 32, 48 and 64 digits, either case', () => {
    for (const n of [32, 48, 64]) {
      const r = parseKey('aB'.repeat(n / 2), 'hex')
      expect(r.ok && r.value.bits).toBe(n * 4)
    }
  })

  it('reads ASCII keys as their bytes (Ajax: 16 characters), with either engine', () => {
    const ref = nodeAes.importKey(Buffer.from('3BD7E66AA9E2F190', 'latin1'))
    for (const engine of [nodeAes, aesJs]) {
      const r = parseKey('3BD7E66AA9E2F190', 'ascii', engine)
      expect(r.ok && r.value.encrypt(Buffer.alloc(16))).toEqual(ref.encrypt(Buffer.alloc(16)))
    }
    expect(parseKey('ABCDEFGHIJKLMNOPQRSTUVWX', 'ascii').ok).toBe(true)
  })

  it('hands out no key bytes: the result prints no key', () => {
    const r = parseKey('SECRETSECRETSECR', 'ascii')
    expect(inspect(r, { showHidden: true, depth: 5 }) + JSON.stringify(r)).not.toMatch(/SECRET|5345435245/i)
  })

  it('rejects wrong lengths and characters without repeating the key', () => {
    const cases: Array<[string, 'hex' | 'ascii']> = [
      ['0123456789ABCDEF', 'hex'], ['0123456789ABCDEF0123456789ABCDEG', 'hex'], ['0123456789ABCDEF0123456789ABCDE\u00c9', 'hex'],
      ['short', 'ascii'], ['sixteen-chars-\u00e9!', 'ascii'], ['sixteen\tcharacters', 'ascii'],
    ]
    for (const [text, format] of cases) {
      const r = parseKey(text, format)
      expect(r.ok, text).toBe(false)
      if (!r.ok) {
        expect(r.code).toBe(ErrorCode.KEY_FORMAT)
        expect(r.reason).not.toContain(text)
      }
    }
  })
})
