import { fc, test } from '@fast-check/vitest'
import { describe, expect } from 'vitest'
import { aesJs, nodeAes } from '../../src/protocol/cipher.js'
import { parseContactId, formatContactId } from '../../src/protocol/contact-id.js'
import { decodeFrame } from '../../src/protocol/decode.js'
import { ErrorCode } from '../../src/protocol/errors.js'
import { serializeFrame } from '../../src/protocol/frame-build.js'
import { parseFrame } from '../../src/protocol/frame-parse.js'
import { formatSia, parseSia } from '../../src/protocol/sia-dcs.js'
import { FrameSplitter, wholeFrame } from '../../src/protocol/splitter.js'

const CODES = new Set<string>(Object.values(ErrorCode))
const hexChars = (min: number, max: number) => fc.string({ unit: fc.constantFrom(...'0123456789ABCDEF'), minLength: min, maxLength: max })
const digits = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n })
// Text that a data block or x-data value can hold: printable ASCII without the delimiters.
const safeText = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,-:'), maxLength: 24 })
const key = fc.constantFrom(16, 24, 32).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }))
const seconds = fc.integer({ min: Date.UTC(1990, 0, 1) / 1000, max: Date.UTC(2099, 11, 31) / 1000 })

/** Bytes that look like frames often enough to reach deep code paths. */
const frameish = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.tuple(fc.uint8Array({ maxLength: 120 }), fc.nat({ max: 0xfff })).map(([b, len]) =>
    Buffer.concat([Buffer.from(`\n${(len * 7 & 0xffff).toString(16).padStart(4, '0')}0${len.toString(16).padStart(3, '0')}"`), Buffer.from(b), Buffer.from('\r')])),
  fc.tuple(fc.constantFrom('SIA-DCS', '*SIA-DCS', 'ADM-CID', '*ADM-CID', 'NULL', '*NULL', 'ACK', 'NAK'), fc.string({ maxLength: 80 })).map(([t, rest]) => {
    const body = Buffer.from(`"${t}"${rest}`, 'latin1')
    return wholeOrRaw(body)
  })
)

function wholeOrRaw (body: Buffer): Buffer {
  const len = body.length.toString(16).toUpperCase().padStart(3, '0')
  const out = Buffer.concat([Buffer.from(`\n00000${len}`), body, Buffer.from('\r')])
  // A correct CRC half of the time, so that the header and content parsers are reached.
  if (body.length % 2 === 0) {
    let crc = 0
    for (const b of body) { crc ^= b; for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xa001 : crc >>> 1 }
    out.write(crc.toString(16).toUpperCase().padStart(4, '0'), 1, 'latin1')
  }
  return out
}

describe('no input throws', () => {
  test.prop([frameish, fc.option(key, { nil: undefined }), fc.integer({ min: 0, max: 4e12 })], { numRuns: 3000 })(
    'decodeFrame always returns a frame or a coded rejection', (bytes, k, now) => {
      const r = decodeFrame(bytes, { profile: { key: k === undefined ? undefined : nodeAes.importKey(k) }, now })
      if (!r.ok) {
        expect(CODES.has(r.code)).toBe(true)
        expect(['NAK', 'DUH', 'none']).toContain(r.reply)
      }
    })

  test.prop([fc.uint8Array({ maxLength: 200 })], { numRuns: 2000 })('Contact ID and SIA parsers return a value for any bytes', (b) => {
    for (const r of [parseContactId(b), parseSia(b)]) if (!r.ok) expect(r.code).toBe(ErrorCode.DATA)
  })

  test.prop([fc.array(frameish, { maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 })], { numRuns: 1000 })(
    'the splitter emits the same frames whatever the chunking', (parts, sizes) => {
      const stream = Buffer.concat(parts)
      const whole: string[] = []
      const a = new FrameSplitter({ frame: (f) => whole.push(f.toString('hex')), error: () => {} })
      a.push(stream)
      a.end()
      const chunked: string[] = []
      const b = new FrameSplitter({ frame: (f) => chunked.push(f.toString('hex')), error: () => {} })
      for (let i = 0, j = 0; i < stream.length; j++) {
        const n = sizes[j % sizes.length]!
        b.push(stream.subarray(i, i + n))
        i += n
      }
      b.end()
      expect(chunked).toEqual(whole)
      for (const f of whole) expect(wholeFrame(Buffer.from(f, 'hex')).ok).toBe(true)
    })
})

const cidEvent = fc.record({
  qualifier: fc.constantFrom('1', '3', '6'),
  code: digits(3),
  group: hexChars(2, 2),
  number: hexChars(3, 3),
})
const siaEvents = fc.array(fc.record({
  code: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ'), minLength: 2, maxLength: 2 }),
  number: fc.option(digits(3), { nil: undefined }),
  modifiers: fc.option(fc.record({ ri: digits(2) }), { nil: undefined }),
}), { minLength: 1, maxLength: 4 })

const fields = fc.record({
  token: fc.constantFrom('SIA-DCS', 'ADM-CID', 'NULL'),
  seq: digits(4),
  rcvr: fc.option(hexChars(1, 6), { nil: undefined }),
  lpref: fc.option(hexChars(1, 6), { nil: undefined }),
  acct: hexChars(3, 16),
  cid: cidEvent,
  sia: siaEvents,
  xdata: fc.array(fc.record({ id: fc.constantFrom(...'AHIMNRSVXYZ'), value: safeText.filter((s) => s.length > 0) }), { maxLength: 3 }),
  time: fc.option(seconds, { nil: undefined }),
  crcForm: fc.constantFrom('hex' as const, 'binary' as const),
  encryption: fc.option(fc.tuple(key, fc.constantFrom(nodeAes, aesJs)), { nil: undefined }),
})

describe('build then decode is the identity', () => {
  test.prop([fields], { numRuns: 1500 })('for random valid frames, plain and encrypted', (f) => {
    const data = f.token === 'ADM-CID'
      ? formatContactId({ account: f.acct, ...f.cid })
      : f.token === 'SIA-DCS' ? formatSia({ account: f.acct, events: f.sia }) : ''
    const encrypted = f.encryption !== undefined
    const time = f.time ?? (encrypted ? 1_700_000_000 : undefined)
    const k = f.encryption === undefined ? undefined : f.encryption[1].importKey(f.encryption[0])
    const bytes = serializeFrame({ token: f.token, encrypted, seq: f.seq, rcvr: f.rcvr, lpref: f.lpref, acct: f.acct, data, xdata: f.xdata, timestamp: time === undefined ? undefined : time * 1000, crcForm: f.crcForm }, { key: k })
    // The other engine decrypts what this one encrypted.
    const other = f.encryption === undefined ? undefined : (f.encryption[1] === nodeAes ? aesJs : nodeAes).importKey(f.encryption[0])
    const r = decodeFrame(bytes, { profile: { key: other } })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.value).toMatchObject({ token: f.token, encrypted, seq: f.seq, rcvr: f.rcvr, lpref: f.lpref, acct: f.acct, crcForm: f.crcForm, account: f.acct })
    expect(r.value.data.toString('latin1')).toBe(data)
    expect(r.value.xdata.map((x) => ({ id: x.id, value: x.value }))).toEqual(f.xdata)
    expect(r.value.panelTime).toBe(time === undefined ? undefined : time * 1000)
    if (f.token === 'ADM-CID') expect(r.value.events[0]).toMatchObject({ ...f.cid, account: f.acct })
    if (f.token === 'SIA-DCS') {
      expect(r.value.events.map((e) => [e.code, e.number])).toEqual(f.sia.map((e) => [e.code, e.number]))
    }
    // And the envelope alone rebuilds to the same bytes when plain.
    if (!encrypted) {
      const p = parseFrame(bytes)
      expect(p.ok).toBe(true)
    }
  })
})

describe('AES engines agree', () => {
  test.prop([key, fc.integer({ min: 1, max: 16 }).chain((n) => fc.uint8Array({ minLength: 16 * n, maxLength: 16 * n }))], { numRuns: 1000 })(
    'node:crypto and aes-js encrypt and decrypt alike, and decrypt(encrypt(x)) = x', (k, plain) => {
      const a = nodeAes.importKey(k)
      const b = aesJs.importKey(k)
      const ct = a.encrypt(plain)
      expect(b.encrypt(plain)).toEqual(ct)
      expect(a.decrypt(ct)).toEqual(Buffer.from(plain))
      expect(b.decrypt(ct)).toEqual(Buffer.from(plain))
    })
})
