import { describe, expect, it } from 'vitest'
import { decodeLine, runDecode } from '../../../src/cli/commands/decode.js'
import { parseWindow } from '../../../src/cli/options.js'
import { nodeAes } from '../../../src/protocol/index.js'

const clock = () => Date.UTC(2024, 0, 15, 12, 0, 2)
const key = nodeAes.importKey(Buffer.from('0123456789ABCDEF0123456789ABCDEF', 'hex'))
const E1 = '\\n4D7E0078"*SIA-DCS"0001R1L0#1234[7EDD6A5271DA34AF56C05570DD9EB0257577F856315CA616792146CFE31C3C11B80EE5DE162BF8B7CA2F8AC25EBE5D2C\\r'

describe('dc09 decode, one line', () => {
  it('prints the decoded frame with its events and the ACK it would get', () => {
    const out = decodeLine('\\n75B6003B"SIA-DCS"0001R1L0#1234[#1234|Nri1/BA01]_12:00:00,01-15-2024\\r', {}, clock)
    expect(out).toMatchObject({
      ok: true, token: 'SIA-DCS', encrypted: false, seq: '0001', receiver: '1', prefix: '0', account: '1234',
      panelTime: '2024-01-15T12:00:00.000Z', events: [{ code: 'BA', name: 'Burglary alarm', class: 'alarm', zone: 1, area: 1 }],
      response: '\\n1EB60014"ACK"0001R1L0#1234[]\\r',
    })
  })

  it('adds a missing leading LF and final CR', () => {
    expect(decodeLine('B2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024', {}, clock)).toMatchObject({ ok: true })
  })

  it('reads --hex lines', () => {
    const hex = Buffer.from('\nB49C0029"NULL"0000R0L0#1234[]_12:00:00,01-15-2024\r', 'latin1').toString('hex')
    expect(decodeLine(hex, { hex: true }, clock)).toMatchObject({ ok: true, token: 'NULL', events: [] })
    expect(decodeLine('zz', { hex: true }, clock)).toMatchObject({ ok: false, code: 'DC09_ERR_INPUT' })
  })

  it('decrypts with the key and answers *ACK; without it, NAK', () => {
    const ok = decodeLine(E1, { key, now: clock() }, clock) as { response: string }
    expect(ok).toMatchObject({ ok: true, encrypted: true, events: [{ code: 'BA' }] })
    expect(ok.response).toMatch(/^\\n[0-9A-F]{4}0054"\*ACK"0001R1L0#1234\[[0-9A-F]{64}\\r$/)
    expect(decodeLine(E1, {}, clock)).toMatchObject({ ok: false, code: 'DC09_ERR_NO_KEY', response: '\\n61110025"NAK"0000R0L0A0[]_12:00:02,01-15-2024\\r' })
  })

  it('checks the window only when --now is given', () => {
    const later = Date.UTC(2024, 0, 15, 13)
    expect(decodeLine(E1, { key }, () => later)).toMatchObject({ ok: true })
    expect(decodeLine(E1, { key, now: later }, () => later)).toMatchObject({ ok: false, code: 'DC09_ERR_TIMESTAMP_WINDOW' })
    expect(decodeLine(E1, { key, now: later, window: parseWindow('+20,-3700') }, () => later)).toMatchObject({ ok: true })
  })

  it('reports rejections with their code and answer, and bad escapes as input errors', () => {
    expect(decodeLine('\\nB2230037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\\r', {}, clock)).toMatchObject({ ok: false, code: 'DC09_ERR_CRC' })
    expect(decodeLine('\\q', {}, clock)).toMatchObject({ ok: false, code: 'DC09_ERR_INPUT', response: null })
  })

  it('prints nothing for blank lines and one line per frame otherwise', async () => {
    const lines = ['', 'B49C0029"NULL"0000R0L0#1234[]_12:00:00,01-15-2024', '  ', 'nonsense']
    async function * input () { yield * lines }
    const out: string[] = []
    await runDecode(input(), {}, (s) => out.push(s), clock)
    expect(out.length).toBe(2)
    expect(out.every((s) => s.endsWith('\n'))).toBe(true)
    expect(JSON.parse(out[1]!)).toMatchObject({ ok: false })
  })

  it('parses --window', () => {
    expect(parseWindow('+20,-40')).toEqual({ ahead: 20, behind: 40 })
    expect(parseWindow('5,600')).toEqual({ ahead: 5, behind: 600 })
    expect(() => parseWindow('20')).toThrow()
  })
})
