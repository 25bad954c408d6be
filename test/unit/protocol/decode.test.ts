import { describe, expect, it } from 'vitest'
import { nodeAes } from '../../../src/protocol/cipher.js'
import { decodeFrame, type AccountProfile } from '../../../src/protocol/decode.js'
import { ErrorCode } from '../../../src/protocol/errors.js'
import type { FrameHeader } from '../../../src/protocol/frame.js'
import { serializeFrame } from '../../../src/protocol/frame-build.js'

const key = nodeAes.importKey(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))
const noon = Date.UTC(2024, 0, 15, 12)
const E1 = Buffer.from('\n4D7E0078"*SIA-DCS"0001R1L0#1234[7EDD6A5271DA34AF56C05570DD9EB0257577F856315CA616792146CFE31C3C11B80EE5DE162BF8B7CA2F8AC25EBE5D2C\r', 'latin1')
const PLAIN = Buffer.from('\n75B6003B"SIA-DCS"0001R1L0#1234[#1234|Nri1/BA01]_12:00:00,01-15-2024\r', 'latin1')

describe('decodeFrame', () => {
  it('decodes an encrypted frame with the account key, and says what to answer otherwise', () => {
    const r = decodeFrame(E1, { profile: { key }, now: noon + 5000 })
    expect(r).toMatchObject({ ok: true, value: { encrypted: true, account: '1234', events: [{ code: 'BA', zone: 1, area: 1 }], panelTime: noon } })
    expect(decodeFrame(E1, { now: noon })).toMatchObject({ ok: false, code: ErrorCode.NO_KEY, reply: 'NAK', header: { acct: '1234' } })
  })

  it('finds the profile by the clear-text header', () => {
    const seen: FrameHeader[] = []
    const r = decodeFrame(E1, { profile: (hd) => { seen.push(hd); return hd.acct === '1234' ? { key } : undefined } })
    expect(r.ok).toBe(true)
    expect(seen.map((s) => [s.acct, s.rcvr, s.lpref])).toEqual([['1234', '1', '0']])
  })

  it('NAKs an encrypted frame outside the window: +20 s ahead, 40 s behind by default', () => {
    expect(decodeFrame(E1, { profile: { key }, now: noon + 40_000 }).ok).toBe(true)
    expect(decodeFrame(E1, { profile: { key }, now: noon + 41_000 })).toMatchObject({ ok: false, code: ErrorCode.TIMESTAMP_WINDOW, reply: 'NAK' })
    expect(decodeFrame(E1, { profile: { key }, now: noon - 20_000 }).ok).toBe(true)
    expect(decodeFrame(E1, { profile: { key }, now: noon - 21_000 })).toMatchObject({ code: ErrorCode.TIMESTAMP_WINDOW })
  })

  it('takes the window per account, or none, and skips the check without a clock', () => {
    expect(decodeFrame(E1, { profile: { key, window: { ahead: 0, behind: 600 } }, now: noon + 500_000 }).ok).toBe(true)
    expect(decodeFrame(E1, { profile: { key, window: null }, now: noon + 86_400_000 }).ok).toBe(true)
    expect(decodeFrame(E1, { profile: { key } }).ok).toBe(true)
  })

  it('applies the panel clock offset or time zone before the window', () => {
    // The panel's clock reads 13:00 local for 12:00 UTC.
    const local = serializeFrame({ token: 'NULL', encrypted: true, seq: 0, lpref: '0', acct: '1234', timestamp: noon + 3_600_000 }, { key })
    expect(decodeFrame(local, { profile: { key }, now: noon })).toMatchObject({ code: ErrorCode.TIMESTAMP_WINDOW })
    expect(decodeFrame(local, { profile: { key, clock: { offsetSeconds: 3600 } }, now: noon })).toMatchObject({ ok: true, value: { panelTime: noon } })
    expect(decodeFrame(local, { profile: { key, clock: { timeZone: 'Europe/Paris' } }, now: noon })).toMatchObject({ ok: true, value: { panelTime: noon } })
  })

  it('checks plain timestamps only when the account asks for it', () => {
    const late = noon + 3_600_000
    expect(decodeFrame(PLAIN, { now: late }).ok).toBe(true)
    expect(decodeFrame(PLAIN, { now: late, profile: { checkPlainTimestamp: true } })).toMatchObject({ code: ErrorCode.TIMESTAMP_WINDOW })
  })

  it('tells a wrong key from a missing one', () => {
    const other = nodeAes.importKey(Buffer.alloc(16, 1))
    expect(decodeFrame(E1, { profile: { key: other } })).toMatchObject({ code: ErrorCode.WRONG_KEY, reply: 'NAK' })
  })

  it('answers DUH, echoing the header, for unsupported tokens and unreadable data', () => {
    const xyz = serializeFrame({ token: 'XYZ', seq: 7, lpref: '0', acct: '1234' })
    expect(decodeFrame(xyz)).toMatchObject({ code: ErrorCode.UNSUPPORTED_TOKEN, reply: 'DUH', header: { token: 'XYZ', seq: '0007' } })
    const ack = serializeFrame({ token: 'ACK', seq: 7, lpref: '0', acct: '1234' })
    expect(decodeFrame(ack)).toMatchObject({ code: ErrorCode.UNSUPPORTED_TOKEN })
    const junk = serializeFrame({ token: 'ADM-CID', seq: 7, lpref: '0', acct: '1234', data: '#1234|hello' })
    expect(decodeFrame(junk)).toMatchObject({ code: ErrorCode.DATA, reply: 'DUH', header: { seq: '0007' } })
    const sia = serializeFrame({ token: 'SIA-DCS', seq: 7, lpref: '0', acct: '1234', data: '#1234|X' })
    expect(decodeFrame(sia)).toMatchObject({ code: ErrorCode.DATA, reply: 'DUH' })
  })

  it('takes the account from the data block when the header has none, and refuses a frame with none at all', () => {
    const r = decodeFrame(Buffer.from('\n9F0D001A"SIA-DCS"0001L[#9999|NBA2]\r', 'latin1'))
    expect(r).toMatchObject({ ok: true, value: { acct: '', account: '9999', dataAccount: '9999' } })
    const none = serializeFrame({ token: 'SIA-DCS', seq: 1, lpref: '0', acct: '', data: 'NBA2' })
    expect(decodeFrame(none)).toMatchObject({ code: ErrorCode.FORMAT })
  })

  it('decodes NULL (with or without a filled block) to no events', () => {
    const n = serializeFrame({ token: 'NULL', seq: 0, lpref: '0', acct: '7890', data: '#0000|0000 00 000' })
    expect(decodeFrame(n)).toMatchObject({ ok: true, value: { events: [], dataAccount: '0000', account: '7890' } })
  })

  it('decodes x-data text with the account charset, keeping the bytes', () => {
    const xdata = [{ id: 'S', value: Buffer.from([0xd3, 0xeb]) }, { id: 'M', value: '0026B9E4268B' }]
    const fr = serializeFrame({ token: 'ADM-CID', seq: 8, lpref: '0', acct: '777', data: '#777|1401 02 501', xdata })
    const auto = decodeFrame(fr)
    expect(auto.ok && auto.value.xdata.map((x) => x.value)).toEqual(['\u00d3\u00eb', '0026B9E4268B'])
    const profile: AccountProfile = { charset: 'windows-1251' }
    const cyr = decodeFrame(fr, { profile })
    expect(cyr.ok && cyr.value.xdata[0]).toMatchObject({ value: '\u0423\u043b', raw: Buffer.from([0xd3, 0xeb]) })
  })

  it('lists the quirks it tolerated', () => {
    const eldes = decodeFrame(Buffer.from('\nF19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]\r', 'latin1'))
    expect(eldes.ok && eldes.value.quirks).toEqual(['crc-includes-cr'])
    const junk = serializeFrame({ token: 'ADM-CID', seq: 11, rcvr: '1', lpref: '1', acct: '12345678', data: '#12345678|1130 00 007', timestamp: '345678[] 2345678[] ' })
    const j = decodeFrame(junk)
    expect(j.ok && [j.value.quirks, j.value.panelTime]).toEqual([['junk-after-data'], undefined])
  })
})
