/** The built `dc09` binary, as a user runs it after `npm install`. */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const KEY = '0123456789ABCDEF0123456789ABCDEF'
const E1 = '\\n4D7E0078"*SIA-DCS"0001R1L0#1234[7EDD6A5271DA34AF56C05570DD9EB0257577F856315CA616792146CFE31C3C11B80EE5DE162BF8B7CA2F8AC25EBE5D2C\\r'

function dc09 (args: string[], input: string, env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 20_000 })
  const lines = () => r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { code: r.status, out: r.stdout, err: r.stderr, get lines () { return lines() } }
}

describe('dc09 decode (built binary)', () => {
  it('decodes one JSON object per input line, in order', () => {
    const r = dc09(['decode'], [
      '\\nE0CA003B"ADM-CID"0002L0#1234[#1234|1130 01 015]_12:00:00,01-15-2024\\r',
      '\\nB2230037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\\r',
      E1,
    ].join('\n') + '\n')
    expect(r.code).toBe(0)
    expect(r.lines.map((l) => l.ok === true ? l.token : l.code)).toEqual(['ADM-CID', 'DC09_ERR_CRC', 'DC09_ERR_NO_KEY'])
  })

  it('takes the key from DC09_KEY or --key-file, and never echoes it', () => {
    const env = dc09(['decode', '--now', '2024-01-15T12:00:05Z'], E1 + '\n', { DC09_KEY: KEY })
    expect(env.lines[0]).toMatchObject({ ok: true, encrypted: true, events: [{ code: 'BA' }] })
    const dir = mkdtempSync(join(tmpdir(), 'dc09-'))
    const file = join(dir, 'key')
    writeFileSync(file, KEY + '\n', { mode: 0o600 })
    const viaFile = dc09(['decode', '--key-file', file], E1 + '\n')
    expect(viaFile.lines[0]).toMatchObject({ ok: true })
    expect(env.out + env.err + viaFile.out + viaFile.err).not.toContain(KEY)
  })

  it('refuses a malformed key without printing it, exit code 2', () => {
    const bad = 'NOT-A-KEY-0123456789'
    const r = dc09(['decode'], E1 + '\n', { DC09_KEY: bad })
    expect(r.code).toBe(2)
    expect(r.err).toMatch(/key is not usable/)
    expect(r.out + r.err).not.toContain(bad)
  })

  it('has no option that takes a key on the command line', () => {
    const r = dc09(['decode', '--help'], '')
    expect(r.out).toMatch(/--key-file/)
    expect(r.out).not.toMatch(/--key[ =<]/)
    expect(dc09(['decode', '--key', KEY], '').code).not.toBe(0)
  })

  it('rejects a bad --now with a usage error', () => {
    const r = dc09(['decode', '--now', 'yesterday'], '')
    expect(r.code).not.toBe(0)
    expect(r.err).toMatch(/ISO-8601/)
  })
})
