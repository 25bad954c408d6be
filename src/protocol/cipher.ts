/**
 * AES-CBC with a zero IV and no cipher padding, as DC-09 uses it.
 *
 * Two engines implement one small interface: node:crypto (OpenSSL, hardware AES; the default)
 * and aes-js (pure JavaScript; selectable, and the independent cross-check in tests).
 * Both run AES block by block in ECB and chain CBC here: a key is expanded once and reused for
 * every frame of its account, instead of building a cipher object per frame.
 */
import { createCipheriv, createDecipheriv, type Cipher, type Decipher } from 'node:crypto'
import aesjs from 'aes-js'
import { HEX_VALUE } from './bytes.js'
import { ErrorCode, type Failure } from './errors.js'
import { err, ok, type Result } from '../result.js'

export type KeyFormat = 'hex' | 'ascii'

/** An expanded AES key. Holds no readable copy of the key bytes. */
export interface AesKey {
  readonly bits: 128 | 192 | 256
  /** CBC-decrypts whole blocks with a zero IV. */
  decrypt (ciphertext: Uint8Array): Buffer
  /** CBC-encrypts whole blocks with a zero IV. */
  encrypt (plaintext: Uint8Array): Buffer
}

export interface AesEngine {
  readonly name: AesEngineName
  /** Expands a 16, 24 or 32 byte key. Other lengths are a caller bug (use {@link parseKey}). */
  importKey (key: Uint8Array): AesKey
}

export type AesEngineName = 'node' | 'aes-js'

function bitsOf (key: Uint8Array): 128 | 192 | 256 {
  if (key.length === 16) return 128
  if (key.length === 24) return 192
  if (key.length === 32) return 256
  throw new RangeError('AES key must be 16, 24 or 32 bytes')
}

function checkBlocks (data: Uint8Array): void {
  if (data.length % 16 !== 0) throw new RangeError('AES-CBC input must be whole 16-byte blocks')
}

/** CBC decryption from ECB output: P[i] = D(C[i]) xor C[i-1], with C[-1] = IV = 0. */
function unchain (plain: Buffer, ciphertext: Uint8Array): Buffer {
  for (let i = plain.length - 1; i >= 16; i--) plain[i]! ^= ciphertext[i - 16]!
  return plain
}

class NodeAesKey implements AesKey {
  readonly bits: 128 | 192 | 256
  #dec: Decipher
  #enc: Cipher
  /** The last ciphertext block #enc produced: where its CBC chain stands. */
  #chain = Buffer.alloc(16)

  constructor (key: Uint8Array) {
    this.bits = bitsOf(key)
    // ECB keeps no state between update() calls, so one context serves every frame.
    this.#dec = createDecipheriv(`aes-${this.bits}-ecb`, key, null).setAutoPadding(false)
    // One long-lived CBC context: each message continues the chain of the previous one, and
    // xoring that chain value into the first block cancels it, so every message is encrypted
    // as if with a zero IV, in a single update() call.
    this.#enc = createCipheriv(`aes-${this.bits}-cbc`, key, Buffer.alloc(16)).setAutoPadding(false)
  }

  decrypt (ciphertext: Uint8Array): Buffer {
    checkBlocks(ciphertext)
    return unchain(this.#dec.update(ciphertext), ciphertext)
  }

  encrypt (plaintext: Uint8Array): Buffer {
    checkBlocks(plaintext)
    const input = Buffer.from(plaintext)
    for (let i = 0; i < 16; i++) input[i]! ^= this.#chain[i]!
    const out = this.#enc.update(input)
    out.copy(this.#chain, 0, out.length - 16)
    return out
  }
}

class AesJsKey implements AesKey {
  readonly bits: 128 | 192 | 256
  #ecb: aesjs.ModeOfOperation.ModeOfOperationECB

  constructor (key: Uint8Array) {
    this.bits = bitsOf(key)
    // aes-js names its mode classes in lower case.

    this.#ecb = new aesjs.ModeOfOperation.ecb(key)
  }

  decrypt (ciphertext: Uint8Array): Buffer {
    checkBlocks(ciphertext)
    const plain = this.#ecb.decrypt(ciphertext)
    return unchain(Buffer.from(plain.buffer, plain.byteOffset, plain.length), ciphertext)
  }

  encrypt (plaintext: Uint8Array): Buffer {
    checkBlocks(plaintext)
    const out = Buffer.allocUnsafe(plaintext.length)
    const block = new Uint8Array(16)
    for (let off = 0; off < plaintext.length; off += 16) {
      for (let i = 0; i < 16; i++) block[i] = plaintext[off + i]! ^ (off === 0 ? 0 : out[off - 16 + i]!)
      out.set(this.#ecb.encrypt(block), off)
    }
    return out
  }
}

export const nodeAes: AesEngine = { name: 'node', importKey: (key) => new NodeAesKey(key) }
export const aesJs: AesEngine = { name: 'aes-js', importKey: (key) => new AesJsKey(key) }

export function aesEngine (name: AesEngineName = 'node'): AesEngine {
  return name === 'aes-js' ? aesJs : nodeAes
}

/** An expanded key, or why the configured text is not one. */
export type ParsedKey = Result<AesKey, Failure>

/**
 * Reads a configured key and expands it. `hex`: 32, 48 or 64 hex digits (the standard's view),
 * `ascii`: 16, 24 or 32 printable ASCII characters used as the key bytes (Ajax, PYSIA, FIO).
 * The format is an explicit per-account setting: a 32-character hex string is ambiguous.
 * The raw bytes never leave this function (they are zeroed once expanded), and reasons never
 * repeat the key.
 */
export function parseKey (text: string, format: KeyFormat, engine: AesEngine = nodeAes): ParsedKey {
  if (format === 'hex') {
    if (text.length !== 32 && text.length !== 48 && text.length !== 64) {
      return err(ErrorCode.KEY_FORMAT, `a hex key has 32, 48 or 64 hex digits, not ${text.length}`)
    }
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) > 0x7f || HEX_VALUE[text.charCodeAt(i)]! < 0) {
        return err(ErrorCode.KEY_FORMAT, 'a hex key may hold only the digits 0-9 and A-F')
      }
    }
    return ok(expand(Buffer.from(text, 'hex'), engine))
  }
  if (text.length !== 16 && text.length !== 24 && text.length !== 32) {
    return err(ErrorCode.KEY_FORMAT, `an ASCII key has 16, 24 or 32 characters, not ${text.length}`)
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c > 0x7e) return err(ErrorCode.KEY_FORMAT, 'an ASCII key may hold only printable ASCII characters')
  }
  return ok(expand(Buffer.from(text, 'latin1'), engine))
}

function expand (bytes: Buffer, engine: AesEngine): AesKey {
  const key = engine.importKey(bytes)
  bytes.fill(0)
  return key
}
