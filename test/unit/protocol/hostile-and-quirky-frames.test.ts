/**
 * Frames from hostile or quirky senders, through the protocol core: tampered or oversized AES
 * pads, a plain frame where a key is set (downgrade), a panel whose clock was never set, SIA
 * blocks past their event and modifier caps, runs of bogus headers in a stream, datagrams that
 * hold no frame (no reflection), and the Eldes and NAK header variants.
 */
import { describe, expect, it } from 'vitest'
import { nodeAes } from '../../../src/protocol/cipher.js'
import { crc16 } from '../../../src/protocol/crc.js'
import { decodeFrame } from '../../../src/protocol/decode.js'
import { ErrorCode } from '../../../src/protocol/errors.js'
import { serializeFrame } from '../../../src/protocol/frame-build.js'
import { parseFrame, readHeader } from '../../../src/protocol/frame-parse.js'
import { MAX_SIA_EVENTS, MAX_SIA_MODIFIERS, parseSia } from '../../../src/protocol/sia-dcs.js'
import { FrameSplitter, wholeFrame } from '../../../src/protocol/splitter.js'

const key = nodeAes.importKey(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))
const NOON = Date.UTC(2024, 0, 15, 12)
const f = (s: string) => Buffer.from(s, 'latin1')

function rawFrame (body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? f(body) : body
  const head = crc16(b).toString(16).toUpperCase().padStart(4, '0') + '0' + b.length.toString(16).toUpperCase().padStart(3, '0')
  return Buffer.concat([f('\n' + head), b, f('\r')])
}

/** An encrypted frame whose plaintext is exactly `plain` (pad included). */
function encrypted (plain: string): Buffer {
  return rawFrame('"*SIA-DCS"0001R1L0#1234[' + key.encrypt(f(plain)).toString('hex').toUpperCase())
}

describe('encrypted pads', () => {
  it('cuts the pad at the first |, even when a pad byte is ] (the event is not lost)', () => {
    const r = decodeFrame(encrypted('ABCDE]GHIJK|#1234|Nri1/BA01]_12:00:00,01-15-2024'), { profile: { key }, now: NOON })
    expect(r).toMatchObject({ ok: true, value: { events: [{ code: 'BA', zone: 1 }] } })
  })

  it('refuses a pad longer than 16 bytes: block 0 did not decrypt to a pad (tampering, corruption)', () => {
    // CBC bit-flipping: garble block 0 to rewrite block 1 (BA01 -> OP01) without the key.
    const good = serializeFrame({ token: 'SIA-DCS', encrypted: true, seq: 1, rcvr: '1', lpref: '0', acct: '1234', data: '#1234|Nri1/BA01', timestamp: NOON }, { key, pad: f('ABCDEFGHIJK') })
    const hex = good.toString('latin1')
    const at = hex.indexOf('[') + 1
    const ct = Buffer.from(hex.slice(at, -1), 'hex')
    const delta = Buffer.from(f('4|Nri1/BA01]_12:').map((b, i) => b ^ f('4|Nri1/OP01]_12:')[i]!))
    for (let i = 0; i < 16; i++) ct[i]! ^= delta[i]!
    const forged = rawFrame(f(hex.slice(1 + 8, at) + ct.toString('hex').toUpperCase()))
    const r = decodeFrame(forged, { profile: { key }, now: NOON })
    expect(r.ok).toBe(false)
  })

  it('takes every pad length real senders make: none, 1 to 16 (the standard), 17 (the SPT dialler)', () => {
    // pad + | + data ] + timestamp = 80 bytes, for each pad length.
    for (let n = 0; n <= 17; n++) {
      const data = '#12345|Nri1ti10:23:45BA12^' + 'Z'.repeat(31 - n) + '^'
      const r = decodeFrame(encrypted('x'.repeat(n) + '|' + data + ']_12:00:00,01-15-2024'), { profile: { key }, now: NOON })
      expect(r.ok ? r.value.data.toString('latin1') : `${n}: ${r.code}`).toBe(data)
    }
  })

  it('refuses a pad of 18 or more, and a 17-byte pad with bytes no known sender puts in one', () => {
    const tail = '|#12345|Nri1ti10:23:45BA12^Z^]_12:00:00,01-15-2024'
    expect(decodeFrame(encrypted('x'.repeat(17) + tail.replace('^Z^', '')), { profile: { key }, now: NOON })).toMatchObject({ ok: true })
    const long = '|#12345|Nri1ti10:23:45BA1]_12:00:00,01-15-2024'
    expect(decodeFrame(encrypted('x'.repeat(18) + long), { profile: { key }, now: NOON })).toMatchObject({ ok: false, code: ErrorCode.WRONG_KEY })
    expect(decodeFrame(encrypted('x'.repeat(34) + long), { profile: { key }, now: NOON })).toMatchObject({ ok: false, code: ErrorCode.WRONG_KEY })
    // The SPT dialler draws its pad bytes from 0x14-0x7D; a garbled block almost never stays in that range.
    for (const odd of ['\x7e', '\x80', '\xff', '\x13', '\x00']) {
      const r = decodeFrame(encrypted('x'.repeat(16) + odd + tail.replace('^Z^', '')), { profile: { key }, now: NOON })
      expect(r, JSON.stringify(odd)).toMatchObject({ ok: false, code: ErrorCode.WRONG_KEY })
    }
  })

  it('still tells a wrong key from a 17-byte pad', () => {
    const fr = encrypted('x'.repeat(17) + '|#12345|Nri1ti10:23:45BA12]_12:00:00,01-15-2024')
    for (let i = 1; i < 300; i++) {
      const wrong = nodeAes.importKey(Buffer.from(i.toString(16).padStart(32, '0'), 'hex'))
      expect(decodeFrame(fr, { profile: { key: wrong }, now: NOON })).toMatchObject({ ok: false, code: ErrorCode.WRONG_KEY })
    }
  })

  it('refuses an event frame whose pad has no | and whose data is therefore empty', () => {
    const r = decodeFrame(encrypted('ABCDEFGHIJK]_12:00:00,01-15-2024'), { profile: { key }, now: NOON })
    expect(r).toMatchObject({ ok: false, code: ErrorCode.DATA })
  })
})

describe('downgrade', () => {
  it('refuses a plain frame for an account that has a key, unless told otherwise', () => {
    const plain = serializeFrame({ token: 'SIA-DCS', seq: 1, rcvr: '1', lpref: '0', acct: '1234', data: '#1234|Nri1/BA01' })
    expect(decodeFrame(plain, { profile: { key } })).toMatchObject({ ok: false, code: ErrorCode.ENCRYPTION_REQUIRED, reply: 'NAK' })
    expect(decodeFrame(plain, { profile: { requireEncryption: true } })).toMatchObject({ code: ErrorCode.ENCRYPTION_REQUIRED })
    expect(decodeFrame(plain, { profile: { key, requireEncryption: false } }).ok).toBe(true)
  })
})

describe('plain timestamps', () => {
  it('accepts a plain frame from a panel whose clock was never set, flagged', () => {
    const fr = serializeFrame({ token: 'SIA-DCS', seq: 1, lpref: '0', acct: '1234', data: '#1234|Nri1/BA01', timestamp: '_00:00:00,00-00-0000' })
    expect(decodeFrame(fr, { now: NOON })).toMatchObject({ ok: true, value: { panelTime: undefined, quirks: ['bad-timestamp'] } })
    expect(decodeFrame(fr, { now: NOON, profile: { checkPlainTimestamp: true } })).toMatchObject({ code: ErrorCode.TIMESTAMP_FORMAT })
  })
})

describe('SIA block limits', () => {
  it('refuses more than 64 events in one block by default, with its own code and a DUH (a NAK would be retried for ever)', () => {
    expect(MAX_SIA_EVENTS).toBe(64)
    expect(parseSia(f('#1|N' + 'BA1/'.repeat(64))).ok).toBe(true)
    expect(parseSia(f('#1|N' + 'BA1/'.repeat(65)))).toMatchObject({ ok: false, code: ErrorCode.TOO_MANY_EVENTS })
    const block = (n: number) => serializeFrame({ token: 'SIA-DCS', seq: 1, lpref: '0', acct: '1234', data: '#1234|Nri1' + '/BA01'.repeat(n) })
    expect(decodeFrame(block(64))).toMatchObject({ ok: true })
    expect(decodeFrame(block(65))).toMatchObject({ ok: false, code: ErrorCode.TOO_MANY_EVENTS, reply: 'DUH', header: { acct: '1234' } })
  })

  it('takes the events cap from the decode options', () => {
    const block = (n: number) => serializeFrame({ token: 'SIA-DCS', seq: 1, lpref: '0', acct: '1234', data: '#1234|Nri1' + '/BA01'.repeat(n) })
    expect(decodeFrame(block(3), { maxEvents: 2 })).toMatchObject({ ok: false, code: ErrorCode.TOO_MANY_EVENTS })
    expect(decodeFrame(block(2), { maxEvents: 2 })).toMatchObject({ ok: true })
    expect(decodeFrame(block(100), { maxEvents: 100 })).toMatchObject({ ok: true })
    expect(parseSia(f('#1|N' + 'BA1/'.repeat(5)), 'auto', 4)).toMatchObject({ ok: false, code: ErrorCode.TOO_MANY_EVENTS })
  })

  it(`refuses more than ${MAX_SIA_MODIFIERS} kinds of modifier, so a crafted block stays cheap`, () => {
    const names = Array.from({ length: 26 * 26 }, (_, i) => String.fromCharCode(97 + Math.floor(i / 26), 97 + (i % 26)))
    expect(parseSia(f('#1|N' + names.slice(0, MAX_SIA_MODIFIERS).join('') + 'BA1')).ok).toBe(true)
    expect(parseSia(f('#1|N' + names.join('') + 'BAab'.repeat(500)))).toMatchObject({ ok: false, code: ErrorCode.DATA })
  })

  it('refuses a data-block account longer than 16 characters', () => {
    expect(parseSia(f('#12345678901234567|NBA1'))).toMatchObject({ ok: false, code: ErrorCode.DATA })
  })
})

describe('splitter under abuse', () => {
  it('reports a run of bogus headers once, not once per header', () => {
    const errors: string[] = []
    const s = new FrameSplitter({ frame: () => {}, error: (code) => errors.push(code) })
    const bogus = Buffer.from('\n00000FFF"'.repeat(2000), 'latin1')
    for (let i = 0; i < bogus.length; i += 10) s.push(bogus.subarray(i, i + 10))
    s.end()
    expect(errors.filter((c) => c !== ErrorCode.NOISE).length).toBeLessThanOrEqual(2)
  })

  it('reports again after a good frame ends the run', () => {
    const errors: string[] = []
    const s = new FrameSplitter({ frame: () => {}, error: (code) => errors.push(code) })
    const noCr = f('\nB2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024X')
    const good = f('\nB2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r')
    s.push(Buffer.concat([noCr, noCr, good, noCr]))
    expect(errors.filter((c) => c === ErrorCode.FRAMING).length).toBe(2)
  })
})

describe('datagrams', () => {
  it('gives no answer to bytes that hold no header (no UDP reflection)', () => {
    for (const d of ['\n', '\n\r', 'x', '\r\n\r\n', '\nhello\r']) {
      expect(wholeFrame(f(d))).toMatchObject({ ok: false, code: ErrorCode.NOISE, reply: 'none' })
    }
  })

  it('NAKs a datagram that has a header but a wrong length or CRC', () => {
    expect(wholeFrame(f('\n00000000"\r'))).toMatchObject({ reply: 'NAK' })
  })

  it('reads a header without trusting its length or CRC, and nothing from what holds no whole header', () => {
    const good = '\nB2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r'
    expect(readHeader(f(good))).toEqual({ token: 'SIA-DCS', encrypted: false, seq: '0001', rcvr: undefined, lpref: '0', acct: '1234', crcForm: 'hex' })
    expect(readHeader(f('\n0000' + good.slice(5)))).toMatchObject({ acct: '1234' })
    expect(readHeader(f('\nB2220FFF' + good.slice(9)))).toMatchObject({ acct: '1234' })
    expect(readHeader(f('\0\0' + good))).toMatchObject({ acct: '1234' })
    for (const d of ['', 'x', '\n', '\nhello\r', '\nZZZZ' + good.slice(5), '\nB2220x37' + good.slice(9), '\nB2220037"SIA-DCS0001L0#1234[]\r',
      '\nB2220037"SIA-DCS"01L0#1234[]\r', '\nB2220037"SIA-DCS"0001L0#1234!!!!\r', '\nB2220037"SIA-DCS"0001L0#12[]\r']) {
      expect(readHeader(f(d)), JSON.stringify(d)).toBeUndefined()
    }
  })

  it('accepts a frame followed by CR LF, spaces or NULs', () => {
    const good = '\nB2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r'
    for (const tail of ['\r\n', '\n', '  ', '\0\0']) expect(wholeFrame(f(good + tail)).ok, JSON.stringify(tail)).toBe(true)
  })
})

describe('Eldes, NAK header', () => {
  it('accepts the Eldes form where only the CRC counts the CR (pysiaalarm #28)', () => {
    const body = f('"ADM-CID"1533L0#4F39[#4F39|1412 00 000]')
    const crc = crc16(Buffer.concat([body, f('\r')]))
    expect(crc).toBe(0xbcd3)
    const fr = Buffer.concat([f('\nBCD30' + body.length.toString(16).toUpperCase().padStart(3, '0')), body, f('\r')])
    expect(decodeFrame(fr)).toMatchObject({ ok: true, value: { quirks: ['crc-includes-cr'], events: [{ code: '412' }] } })
  })

  it('reads NAK headers without letting the A of A0 into the prefix, and nothing beyond it', () => {
    expect(parseFrame(rawFrame('"NAK"0000R0L0A0[]_16:20:01,09-24-2025'))).toMatchObject({ ok: true, value: { lpref: '0', acct: '0' } })
    expect(parseFrame(rawFrame('"NAK"0000LZZ[Q]A0[]')).ok).toBe(false)
  })
})
