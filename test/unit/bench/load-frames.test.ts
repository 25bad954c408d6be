/**
 * The benchmark's load client builds frames from precomputed parts; the receiver must read every
 * one as a distinct, well-formed event, or the benchmark measures something else (NAKs, or
 * duplicates acknowledged without being journaled).
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { FrameMaker, LatencyHistogram, isAck, setStamp } from '../../../bench/e2e/load-frames.js'
import { decodeFrame, parseKey, serializeAck, serializeDuh, serializeEncryptedAck, serializeNak, type AesKey, type DecodedFrame } from '../../../src/protocol/index.js'
import { dedupeKey } from '../../../src/receiver/dedupe.js'

const NOW = Date.UTC(2026, 11, 2, 10, 30, 15)

function decode (bytes: Buffer, key?: AesKey): DecodedFrame {
  const r = decodeFrame(bytes, { now: NOW, profile: { key } })
  if (!r.ok) throw new Error(`${r.code}: ${r.reason}`)
  return r.value
}

describe('FrameMaker', () => {
  const hex = randomBytes(16).toString('hex').toUpperCase()
  const key = (parseKey(hex, 'hex') as { ok: true, value: AesKey }).value

  it('builds plain Contact ID frames the receiver decodes, with the timestamp set', () => {
    setStamp(NOW)
    const m = new FrameMaker({ account: '100042', prefix: '0' }, { offset: 0 })
    const f = decode(m.next())
    expect(f).toMatchObject({ token: 'ADM-CID', encrypted: false, seq: '0001', lpref: '0', account: '100042', panelTime: NOW })
    expect(f.data.toString('latin1')).toBe('#100042|1602 00 000')
    expect(f.events[0]).toMatchObject({ code: '602', qualifier: '1', group: '00', number: '000' })
    expect(decode(m.next()).seq).toBe('0002')
  })

  it('builds AES-128 frames that decrypt with the account key, a fresh frame each time', () => {
    setStamp(NOW)
    const m = new FrameMaker({ account: '200007', prefix: '0', key: Buffer.from(hex, 'hex') }, { offset: 0 })
    const a = decode(m.next(), key)
    expect(a).toMatchObject({ token: 'ADM-CID', encrypted: true, seq: '0001', account: '200007', panelTime: NOW })
    expect(a.data.toString('latin1')).toBe('#200007|1602 00 000')
    // The CBC chain carried between frames must not leak into the next one.
    for (let i = 2; i < 40; i++) expect(decode(m.next(), key).seq).toBe(String(i).padStart(4, '0'))
  })

  it('rewrites the timestamp when the shared stamp moves on', () => {
    const m = new FrameMaker({ account: '200007', prefix: '0', key: Buffer.from(hex, 'hex') }, { offset: 0 })
    setStamp(NOW - 5000)
    expect(decode(m.next(), key).panelTime).toBe(NOW - 5000)
    setStamp(NOW)
    expect(decode(m.next(), key).panelTime).toBe(NOW)
  })

  it('never repeats an event of one account, across the sequence wrap and across runs with other offsets', () => {
    setStamp(NOW)
    const keys = new Set<string>()
    for (const offset of [0, 10_000_000]) {
      const m = new FrameMaker({ account: '100001', prefix: '0' }, { offset })
      for (let i = 0; i < 25_000; i++) {
        const f = decode(m.next())
        expect(f.seq).not.toBe('0000')
        keys.add(dedupeKey(f)!)
      }
    }
    expect(keys.size).toBe(50_000)
  })

  it('sends an alarm that opens a case, then a cancel that closes it, every alarmEvery frames', () => {
    setStamp(NOW)
    const m = new FrameMaker({ account: '100001', prefix: '0' }, { offset: 0, alarmEvery: 5 })
    const codes = Array.from({ length: 11 }, () => {
      const e = decode(m.next()).events[0]!
      return `${e.code}:${e.class}`
    })
    expect(codes.filter((c) => c === '130:alarm')).toHaveLength(3)
    expect(codes[0]).toBe('130:alarm')
    expect(codes[1]!.startsWith('406:')).toBe(true)
    expect(codes[2]!.startsWith('602:')).toBe(true)
    expect(codes[5]).toBe('130:alarm')
    expect(m.alarms).toBe(3)
  })
})

describe('isAck', () => {
  const key = (parseKey('000102030405060708090A0B0C0D0E0F', 'hex') as { ok: true, value: AesKey }).value
  const header = { token: 'ADM-CID', encrypted: false, seq: '0001', rcvr: undefined, lpref: '0', acct: '100001', crcForm: 'hex' as const }

  it('takes the first bytes of an ACK, and of an *ACK when the frame was encrypted', () => {
    expect(isAck(serializeAck(header), false)).toBe(true)
    expect(isAck(serializeEncryptedAck({ ...header, encrypted: true }, key, NOW), true)).toBe(true)
  })

  it('counts anything else as failed: NAK, DUH, the wrong form, a cut or garbled answer', () => {
    expect(isAck(serializeNak(NOW), false)).toBe(false)
    expect(isAck(serializeDuh(header), false)).toBe(false)
    expect(isAck(serializeAck(header), true)).toBe(false)
    expect(isAck(serializeEncryptedAck({ ...header, encrypted: true }, key, NOW), false)).toBe(false)
    expect(isAck(serializeAck(header).subarray(0, 12), false)).toBe(false)
    const bad = Buffer.from(serializeAck(header))
    bad[2] = 0x47 // 'G': not a hex digit of the CRC
    expect(isAck(bad, false)).toBe(false)
    expect(isAck(Buffer.from('\n0000001E"ACK"', 'latin1'), false)).toBe(true)
  })
})

describe('LatencyHistogram', () => {
  it('gives percentiles within 2% of the exact ones', () => {
    const h = new LatencyHistogram()
    const xs = Array.from({ length: 10_000 }, (_, i) => 0.05 + (i % 1000) * 0.01 + (i === 9999 ? 500 : 0))
    for (const x of xs) h.add(x)
    const sorted = [...xs].sort((a, b) => a - b)
    for (const p of [50, 95, 99]) {
      const exact = sorted[Math.ceil((p / 100) * sorted.length) - 1]!
      expect(Math.abs(h.percentile(p) - exact) / exact).toBeLessThan(0.02)
    }
    expect(h.max).toBeCloseTo(500 + 0.05 + 9.99, 6)
    expect(h.count).toBe(10_000)
  })
})
