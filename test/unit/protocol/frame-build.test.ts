import { describe, expect, it } from 'vitest'
import { nodeAes } from '../../../src/protocol/cipher.js'
import { padLength, randomPad, serializeFrame } from '../../../src/protocol/frame-build.js'

const key = nodeAes.importKey(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))
const encrypted = () =>
  serializeFrame({ token: 'SIA-DCS', encrypted: true, seq: 1, rcvr: '1', lpref: '0', acct: '1234', data: '#1234|Nri1/BA01', timestamp: Date.UTC(2024, 0, 15, 12) }, { key })

describe('serializeFrame', () => {
  it('builds the verified plain vectors byte for byte', () => {
    expect(serializeFrame({ token: 'SIA-DCS', seq: '0001', rcvr: '1', lpref: '0', acct: '1234', data: '#1234|Nri1/BA01', timestamp: '_12:00:00,01-15-2024' }).toString('latin1'))
      .toBe('\n75B6003B"SIA-DCS"0001R1L0#1234[#1234|Nri1/BA01]_12:00:00,01-15-2024\r')
    expect(serializeFrame({ token: 'ADM-CID', seq: 2, lpref: '0', acct: '1234', data: '#1234|1130 01 015', timestamp: Date.UTC(2024, 0, 15, 12) }).toString('latin1'))
      .toBe('\nE0CA003B"ADM-CID"0002L0#1234[#1234|1130 01 015]_12:00:00,01-15-2024\r')
  })

  it('writes the binary CRC form high byte first (IOB, Trikdis)', () => {
    const fr = serializeFrame({ token: 'ADM-CID', seq: 2, rcvr: '1', lpref: '1', acct: '9413', data: '#9413|1602 99 999', timestamp: '_23:05:30,08-30-2023', crcForm: 'binary' })
    // pysiaalarm #52: the log shows `0n003D"ADM-CID"...`: CRC 0x306E.
    expect(fr.subarray(0, 7).toString('latin1')).toBe('\n0n003D')
  })

  it('refuses caller bugs: encryption without key or timestamp, oversize bodies', () => {
    expect(() => serializeFrame({ token: 'NULL', encrypted: true, seq: 0, acct: '1234', timestamp: 0 })).toThrow(TypeError)
    expect(() => serializeFrame({ token: 'NULL', encrypted: true, seq: 0, acct: '1234' }, { key })).toThrow(TypeError)
    expect(() => serializeFrame({ token: 'SIA-DCS', seq: 0, acct: '1234', data: 'x'.repeat(5000) })).toThrow(RangeError)
  })

  it('pads to whole blocks, 1 to 16 bytes, and adds 16 when already aligned', () => {
    expect(padLength(36)).toBe(11)
    expect(padLength(21)).toBe(10)
    expect(padLength(15)).toBe(16)
    expect(padLength(31)).toBe(16)
  })

  it('uses a fresh pad without | [ ] every time', () => {
    const pads = new Set<string>()
    for (let i = 0; i < 200; i++) {
      const p = randomPad(16)
      expect(p.includes(0x7c) || p.includes(0x5b) || p.includes(0x5d)).toBe(false)
      pads.add(p.toString('latin1'))
    }
    expect(pads.size).toBe(200)
    expect(encrypted().equals(encrypted())).toBe(false)
  })
})
