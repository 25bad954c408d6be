import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { readInputFile, readJsonFile } from '../../../src/cli/read-file.js'

const dir = mkdtempSync(join(tmpdir(), 'dc09-read-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('readInputFile', () => {
  it('says a missing file is missing', () => {
    const file = join(dir, 'missing.json')
    expect(readInputFile(file)).toEqual({ ok: false, code: 'DC09_ERR_INPUT', reason: `no such file: ${file}` })
  })

  it('says a directory is not a file', () => {
    expect(readInputFile(dir)).toMatchObject({ ok: false, reason: `not a file: ${dir}` })
  })

  it.skipIf(process.getuid?.() === 0)('says an unreadable file is not readable', () => {
    const file = join(dir, 'secret')
    writeFileSync(file, 'x', { mode: 0o000 })
    chmodSync(file, 0o000)
    expect(readInputFile(file)).toMatchObject({ ok: false, reason: `not readable: ${file}` })
  })

  it('reads a file as bytes', () => {
    const file = join(dir, 'bytes')
    writeFileSync(file, Buffer.from([1, 2, 3]))
    const r = readInputFile(file)
    expect(r.ok && [...r.value]).toEqual([1, 2, 3])
  })
})

describe('readJsonFile', () => {
  it('tells a missing file from one that is not JSON', () => {
    const missing = join(dir, 'nope.json')
    expect(readJsonFile(missing)).toMatchObject({ ok: false, reason: `no such file: ${missing}` })
    const bad = join(dir, 'bad.json')
    writeFileSync(bad, '[{"key": "Sup3rS3cret"')
    const r = readJsonFile(bad)
    expect(r).toMatchObject({ ok: false, reason: `${bad} is not valid JSON` })
    // The parser's own message quotes the text, and such files hold keys.
    expect(JSON.stringify(r)).not.toContain('Sup3rS3cret')
  })

  it('parses JSON, after a byte order mark', () => {
    const file = join(dir, 'good.json')
    writeFileSync(file, '\uFEFF[1, 2]')
    expect(readJsonFile(file)).toEqual({ ok: true, value: [1, 2] })
  })
})

describe('every command that reads a file says a missing one is missing', () => {
  const missing = join(dir, 'missing.json')
  const said = `no such file: ${missing}`

  it('accounts import and --key-file', async () => {
    const { importFile, add } = await import('../../../src/cli/commands/accounts.js')
    const errs: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((s) => { errs.push(String(s)); return true })
    const io = { out: () => {}, readStdin: () => '' }
    try {
      expect(await importFile(join(dir, 'data'), missing, io)).toBe(1)
      expect(add(join(dir, 'data'), '1234', { keyFile: missing }, io)).toBe(1)
    } finally { spy.mockRestore() }
    expect(errs).toEqual([`error: ${said}\n`, `error: ${said}\n`])
  })

  it('the AES key file of decode, send and simulate', async () => {
    const { loadKey } = await import('../../../src/cli/options.js')
    expect(() => loadKey(missing, 'hex', 'node', {})).toThrow(said)
  })

  it('the pepper file', async () => {
    const { loadPepper } = await import('../../../src/cli/pepper.js')
    expect(loadPepper(dir, missing)).toEqual({ ok: false, reason: said })
  })

  it('fleet and scenario files', async () => {
    const { readFleet } = await import('../../../src/sim/fleet.js')
    const { readScenario } = await import('../../../src/sim/traffic.js')
    expect(() => readFleet(missing)).toThrow(said)
    expect(() => readScenario(missing)).toThrow(said)
  })
})
