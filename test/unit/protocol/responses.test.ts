import { describe, expect, it } from 'vitest'
import { nodeAes } from '../../../src/protocol/cipher.js'
import { ErrorCode } from '../../../src/protocol/errors.js'
import { reject, type FrameHeader } from '../../../src/protocol/frame.js'
import { openPayload, parseFrame } from '../../../src/protocol/frame-parse.js'
import { serializeAck, serializeDuh, serializeEncryptedAck, serializeNak, serializeRejection } from '../../../src/protocol/responses.js'

const key = nodeAes.importKey(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))
const h: FrameHeader = { token: 'SIA-DCS', encrypted: false, seq: '0001', rcvr: '1', lpref: '0', acct: '1234', crcForm: 'hex' }
const noon2 = Date.UTC(2024, 0, 15, 12, 0, 2)

describe('answers', () => {
  it('ACK echoes seq, R, L and #acct exactly (shared vector)', () => {
    expect(serializeAck(h).toString('latin1')).toBe('\n1EB60014"ACK"0001R1L0#1234[]\r')
  })

  it('ACK omits R when the panel sent none, never inventing R0', () => {
    expect(serializeAck({ ...h, rcvr: undefined }).toString('latin1')).toMatch(/"ACK"0001L0#1234\[\]\r$/)
    expect(serializeAck({ ...h, rcvr: undefined, lpref: undefined }).toString('latin1')).toMatch(/"ACK"0001#1234\[\]\r$/)
    expect(serializeAck({ ...h, acct: 'foc7688', seq: '6616' }).toString('latin1')).toMatch(/"ACK"6616R1L0#foc7688\[\]\r$/)
  })

  it('ACK can carry the receiver time for senders that want it', () => {
    expect(serializeAck(h, { timestamp: noon2 }).toString('latin1')).toMatch(/"ACK"0001R1L0#1234\[\]_12:00:02,01-15-2024\r$/)
  })

  it('DUH echoes like ACK and is never encrypted (shared vector)', () => {
    expect(serializeDuh({ ...h, encrypted: true }).toString('latin1')).toBe('\n6E6E0014"DUH"0001R1L0#1234[]\r')
  })

  it('NAK has the fixed R0L0A0 header and the receiver time (shared vector)', () => {
    expect(serializeNak(noon2).toString('latin1')).toBe('\n61110025"NAK"0000R0L0A0[]_12:00:02,01-15-2024\r')
  })

  it('*ACK is the shared vector with the same pad, and decrypts to pad|]_timestamp', () => {
    const ack = serializeEncryptedAck(h, key, noon2, Buffer.from('QRSTUVWXYZ'))
    expect(ack.toString('latin1')).toBe('\n22340054"*ACK"0001R1L0#1234[FA9105E25D808FF86DFB3E5BA2BD962E386048CF22EDA78A33905E04DBA19CA6\r')
    const p = parseFrame(ack)
    expect(p.ok && p.value.token).toBe('ACK')
    if (!p.ok) return
    const plain = key.decrypt(Buffer.from(p.value.payload.toString('latin1'), 'hex')).toString('latin1')
    // SPT reads the last 21 bytes as `]` + timestamp.
    expect(plain.slice(-21)).toBe(']_12:00:02,01-15-2024')
    expect(openPayload(p.value, key)).toMatchObject({ ok: true, value: { panelTime: noon2 } })
  })

  it('*ACK gets a fresh pad every time', () => {
    const a = serializeEncryptedAck(h, key, noon2)
    const b = serializeEncryptedAck(h, key, noon2)
    expect(a.equals(b)).toBe(false)
    expect(a.length).toBe(b.length)
  })

  it('answers in the binary CRC form to a binary-CRC panel', () => {
    const bin = { ...h, crcForm: 'binary' as const }
    const ack = serializeAck(bin)
    expect(ack[3]).toBe(0x30)
    expect(ack[7]).toBe(0x22)
    expect(parseFrame(ack)).toMatchObject({ ok: true, value: { crcForm: 'binary', token: 'ACK' } })
    expect(serializeNak(noon2, 'binary')[7]).toBe(0x22)
  })

  it('serializeRejection gives NAK, DUH or nothing as the code asks', () => {
    expect(serializeRejection(reject(ErrorCode.CRC, 'x', undefined, 'binary'), noon2)?.[7]).toBe(0x22)
    expect(serializeRejection(reject(ErrorCode.UNSUPPORTED_TOKEN, 'x', h), noon2)?.toString('latin1')).toContain('"DUH"0001R1L0#1234[]')
    // DUH needs a header to echo; without one the panel gets a NAK.
    expect(serializeRejection(reject(ErrorCode.DATA, 'x'), noon2)?.toString('latin1')).toContain('"NAK"')
    expect(serializeRejection(reject(ErrorCode.NOISE, 'x'), noon2)).toBeNull()
  })
})
