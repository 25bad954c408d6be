import { describe, expect, it } from 'vitest'
import { nodeAes } from '../../../src/protocol/cipher.js'
import { ErrorCode } from '../../../src/protocol/errors.js'
import { crc16 } from '../../../src/protocol/crc.js'
import { serializeFrame } from '../../../src/protocol/frame-build.js'
import { openPayload, parseFrame, readContent } from '../../../src/protocol/frame-parse.js'

const f = (s: string) => Buffer.from(s, 'latin1')
const key = nodeAes.importKey(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))

function parsed (s: string) {
  const r = parseFrame(f(s))
  if (!r.ok) throw new Error(`${r.code}: ${r.reason}`)
  return r.value
}

function code (s: string | Buffer) {
  const r = parseFrame(typeof s === 'string' ? f(s) : s)
  return r.ok ? 'ok' : r.code
}

describe('parseFrame: envelope', () => {
  it('reads receiver and prefix running together with the account', () => {
    const fr = serializeFrame({ token: 'SIA-DCS', seq: 9876, rcvr: '579BDF', lpref: '789ABC', acct: '12345A', data: '#12345A|NFA129' })
    const p = parseFrame(fr)
    expect(p.ok && [p.value.rcvr, p.value.lpref, p.value.acct, p.value.seq]).toEqual(['579BDF', '789ABC', '12345A', '9876'])
  })

  it('keeps receiver optional, and tolerates a missing or bare L', () => {
    expect(parsed('\nB2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r').rcvr).toBeUndefined()
    const noL = serializeFrame({ token: 'SIA-DCS', seq: 2, acct: '0123', data: '#0123|Nti20:50:26RP99' })
    expect(parseFrame(noL).ok && (parseFrame(noL) as { value: { lpref: unknown } }).value.lpref).toBeUndefined()
    const bare = parsed('\n9F0D001A"SIA-DCS"0001L[#9999|NBA2]\r')
    expect([bare.lpref, bare.acct]).toEqual(['', ''])
  })

  it('reads the NAK header R0L0A0 without taking A0 for prefix digits', () => {
    const nak = parsed('\nE4410025"NAK"0000R0L0A0[]_16:20:01,09-24-2025\r')
    expect([nak.token, nak.rcvr, nak.lpref, nak.acct]).toEqual(['NAK', '0', '0', '0'])
  })

  it('marks encryption by * before the token', () => {
    const e = parsed('\n4D7E0078"*SIA-DCS"0001R1L0#1234[7EDD6A5271DA34AF56C05570DD9EB0257577F856315CA616792146CFE31C3C11B80EE5DE162BF8B7CA2F8AC25EBE5D2C\r')
    expect([e.token, e.encrypted]).toEqual(['SIA-DCS', true])
  })

  it('accepts a lower-case CRC field', () => {
    expect(code('\nb2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r')).toBe('ok')
  })

  it('rejects a bad CRC, a bad length, a missing CR and a non-frame with their codes', () => {
    expect(code('\nB2230037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r')).toBe(ErrorCode.CRC)
    expect(code('\nB2220036"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r')).toBe(ErrorCode.LENGTH)
    expect(code('\nB2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024')).toBe(ErrorCode.FRAMING)
    expect(code('hello')).toBe(ErrorCode.FRAMING)
    expect(code('\nXXXX0037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r')).toBe(ErrorCode.CRC)
  })

  it('accepts the Eldes form (CRC and length over the CR too) and flags it', () => {
    const r = parseFrame(f('\nF19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]\r'))
    expect(r.ok && r.value.quirks).toEqual(['crc-includes-cr'])
  })

  it('reports header faults as FORMAT (seq, R, #acct, [)', () => {
    for (const body of [
      '"SIA-DCS"001L0#1234[]', '"SIA-DCS"0001RL0#1234[]', '"SIA-DCS"0001L0#12[]', '"SIA-DCS"0001L0#1234',
      '"SIA-DCS"0001L0#12345678901234567[]', '"SIA DCS"0001L0#1234[]', '""0001L0#1234[]', '"*SIA-DCS"0001L0[AB]',
    ]) {
      expect(code(rawFrame(body)), body).toBe(ErrorCode.FORMAT)
    }
  })

  it('accepts alphanumeric accounts (Focus FC-7688 sends #foc7688)', () => {
    expect(parsed('\n7A28002F"ADM-CID"6616R0L0#foc7688[#foc7688|1351 01 000]\r').acct).toBe('foc7688')
  })
})

/** A frame around any body, with a correct CRC and length: for bodies the serializer would not write. */
function rawFrame (body: string | Buffer): Buffer {
  const b = typeof body === 'string' ? f(body) : body
  const head = crc16(b).toString(16).toUpperCase().padStart(4, '0') + '0' + b.length.toString(16).toUpperCase().padStart(3, '0')
  return Buffer.concat([f('\n' + head), b, f('\r')])
}

describe('readContent', () => {
  it('splits data, x-data blocks in order, and the timestamp', () => {
    const c = readContent(f('#1234|Nri1/PA501][X006E07.7777777][Y49N06.6666666]_12:00:00,01-15-2024'), 0)
    expect(c.ok).toBe(true)
    if (!c.ok) return
    expect(c.value.data.toString()).toBe('#1234|Nri1/PA501')
    expect(c.value.xdata.map((x) => [x.id, x.value.toString()])).toEqual([['X', '006E07.7777777'], ['Y', '49N06.6666666']])
    expect(c.value.panelTime).toBe(Date.UTC(2024, 0, 15, 12))
  })

  it('keeps junk after the blocks (comxline) and still finds a timestamp after it', () => {
    const c = readContent(f('#1|1130 00 007]345678[] 2345678_12:00:00,01-15-2024'), 0)
    expect(c.ok && c.value.junk?.toString()).toBe('345678[] 2345678')
    expect(c.ok && c.value.panelTime).toBe(Date.UTC(2024, 0, 15, 12))
  })

  it('rejects unclosed blocks and bad timestamps', () => {
    expect(readContent(f('#1234|Nri1/BA01'), 0)).toMatchObject({ code: ErrorCode.FORMAT })
    expect(readContent(f('#1234|Nri1/BA01][V1'), 0)).toMatchObject({ code: ErrorCode.FORMAT })
    expect(readContent(f('#1234|Nri1/BA01]_12:00:00,13-15-2024'), 0)).toMatchObject({ code: ErrorCode.TIMESTAMP_FORMAT })
    expect(readContent(f('#1234|Nri1/BA01]_12:00'), 0)).toMatchObject({ code: ErrorCode.TIMESTAMP_FORMAT })
  })
})

describe('encrypted frames', () => {
  const frame = (opts: { data?: string, ts?: number | undefined, pad?: string }) =>
    serializeFrame({ token: 'SIA-DCS', encrypted: true, seq: 1, rcvr: '1', lpref: '0', acct: '1234', data: opts.data ?? '#1234|Nri1/BA01', timestamp: opts.ts ?? Date.UTC(2024, 0, 15, 12) },
      { key, pad: opts.pad === undefined ? undefined : f(opts.pad) })

  it('opens what it built, with the standard pad|', () => {
    const p = parseFrame(frame({ pad: 'ABCDEFGHIJK' }))
    expect(p.ok).toBe(true)
    if (!p.ok) return
    const c = openPayload(p.value, key)
    expect(c.ok && [c.value.data.toString(), c.value.pad?.toString(), c.value.panelTime]).toEqual(['#1234|Nri1/BA01', 'ABCDEFGHIJK', Date.UTC(2024, 0, 15, 12)])
  })

  it('reads a pad without | as an empty data block (Hikvision, FIO)', () => {
    // Plaintext ppppppppppp]_18:24:52,07-05-2020 with key AAAAAAAAAAAAAAAA (ASCII): eavanvalkenburg/sia #17.
    const p = parseFrame(f('\n76D80055"*NULL"0000R0L0#AAAB[B4BC8B40D0E6D959D6BEA78E88CC0B2155741A3C44FBB96D476A3E557CAD64D9\r'))
    expect(p.ok).toBe(true)
    if (!p.ok) return
    const c = openPayload(p.value, nodeAes.importKey(f('AAAAAAAAAAAAAAAA')))
    expect(c.ok && [c.value.data.length, c.value.padWithoutPipe, c.value.pad?.toString()]).toEqual([0, true, 'ppppppppppp'])
  })

  it('reports a wrong key as WRONG_KEY, never as an event', () => {
    const p = parseFrame(frame({}))
    if (!p.ok) throw new Error('unexpected')
    for (let i = 0; i < 500; i++) {
      const wrong = nodeAes.importKey(Buffer.from(i.toString(16).padStart(32, '0'), 'hex'))
      const c = openPayload(p.value, wrong)
      expect(c.ok).toBe(false)
      expect(!c.ok && [ErrorCode.WRONG_KEY, ErrorCode.TIMESTAMP_MISSING, ErrorCode.TIMESTAMP_FORMAT]).toContain(!c.ok && c.code)
    }
  })

  it('reports hex that is not whole blocks, or not hex, as CIPHERTEXT', () => {
    const p = parseFrame(rawFrame('"*NULL"0000L0#1234[ABCD'))
    expect(p.ok && openPayload(p.value, key)).toMatchObject({ code: ErrorCode.CIPHERTEXT })
    const q = parseFrame(rawFrame('"*NULL"0000L0#1234[' + 'ZZ'.repeat(16)))
    expect(q.ok && openPayload(q.value, key)).toMatchObject({ code: ErrorCode.CIPHERTEXT })
  })

  it('tells a missing timestamp from a wrong key', () => {
    // Built by hand: the serializer refuses encrypted frames without a timestamp.
    const noTs = f('ABCDEFGHIJKLMNO|#1234|Nri1/BA01]')
    expect(noTs.length).toBe(32)
    const p = parseFrame(rawFrame('"*SIA-DCS"0001L0#1234[' + key.encrypt(noTs).toString('hex').toUpperCase()))
    expect(p.ok && openPayload(p.value, key)).toMatchObject({ code: ErrorCode.TIMESTAMP_MISSING })
  })
})
