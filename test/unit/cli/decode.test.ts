import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { decodeLine, runDecode } from '../../../src/cli/commands/decode.js'
import { escapeFrame } from '../../../src/cli/escape.js'
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

  it('skips comment lines (# first), in escaped and in --hex input', () => {
    expect(decodeLine('# a note about the next frame', {}, clock)).toBeNull()
    expect(decodeLine('   # indented', { hex: true }, clock)).toBeNull()
  })

  it('decodes a frame whose binary CRC starts with # (written without its LF): only "# " starts a comment', () => {
    const body = Buffer.from('"ADM-CID"1116L0#1234[#1234|1130 01 015]\r')
    const frame = Buffer.concat([Buffer.from([0x0a, 0x23, 0x84]), Buffer.from('0027'), body])
    const r = decodeLine(escapeFrame(frame.subarray(1)), {}, clock)
    expect(r).not.toBeNull()
  })

  it('decodes the sample file: each frame as its comments say, the encrypted one with the key they give', async () => {
    const text = readFileSync(new URL('../../../fixtures/sample-frames.txt', import.meta.url), 'utf8')
    const lines = text.split('\n')
    const keyLine = lines.find((l) => /^#.*--key-file/.test(l))
    const hexKey = /printf (?:'%s' )?([0-9A-F]{32})/.exec(text)?.[1]
    expect(keyLine).toBeDefined()
    const out: string[] = []
    async function * input () { yield * lines }
    await runDecode(input(), { key: nodeAes.importKey(Buffer.from(hexKey!, 'hex')) }, (s) => out.push(s), clock)
    const results = out.map((s) => JSON.parse(s) as { ok: boolean, code?: string })
    // One comment says what each frame shows; those that fail on purpose say "expected" and the code.
    const frames = lines.map((l, i) => ({ l, i })).filter(({ l }) => l.trim() !== '' && !l.trimStart().startsWith('#'))
    expect(results).toHaveLength(frames.length)
    frames.forEach(({ i }, n) => {
      const comment = lines[i - 1]!
      expect(comment.startsWith('#')).toBe(true)
      const expected = /expected (DC09_ERR_\w+)/.exec(comment)?.[1]
      expect(results[n]).toMatchObject(expected === undefined ? { ok: true } : { ok: false, code: expected })
    })
    expect(results.filter((r) => !r.ok).length).toBeGreaterThan(0)
  })

  it('parses --window', () => {
    expect(parseWindow('+20,-40')).toEqual({ ahead: 20, behind: 40 })
    expect(parseWindow('5,600')).toEqual({ ahead: 5, behind: 600 })
    expect(() => parseWindow('20')).toThrow()
  })
})
