import { describe, expect, it } from 'vitest'
import { crc16 } from '../../../src/protocol/crc.js'

describe('crc16 (CRC-16/ARC)', () => {
  it('has the catalogue check value 0xBB3D for "123456789"', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0xbb3d)
  })

  it('agrees with the plain byte-at-a-time CRC at every length and offset', () => {
    const ref = (b: Uint8Array) => { let c = 0; for (const x of b) { c ^= x; for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1 } return c }
    const data = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 151 + 7) & 0xff))
    for (let s = 0; s < 4; s++) for (let e = s; e < data.length; e += 7) expect(crc16(data, s, e)).toBe(ref(data.subarray(s, e)))
  })

  it('is 0 over nothing and honours start/end', () => {
    expect(crc16(Buffer.alloc(0))).toBe(0)
    const b = Buffer.from('xx123456789yy')
    expect(crc16(b, 2, 11)).toBe(0xbb3d)
  })

  it('matches the verified frames over the quote..timestamp span', () => {
    const frames: Array<[string, number]> = [
      ['"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024', 0xb222],
      ['"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]', 0xf4d2],
      ['"NAK"0000R0L0A0[]_16:20:01,09-24-2025', 0xe441],
      ['"NULL"0000R1L1#9413[]_17:01:50,09-07-2023', 0x189f],
    ]
    for (const [body, crc] of frames) expect(crc16(Buffer.from(body, 'latin1'))).toBe(crc)
  })

  it('is not CRC-CCITT (the hobby-code mistake)', () => {
    // CRC-16/CCITT-FALSE("123456789") = 0x29B1
    expect(crc16(Buffer.from('123456789'))).not.toBe(0x29b1)
  })
})
