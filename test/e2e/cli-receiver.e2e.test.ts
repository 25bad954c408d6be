/** dc09 accounts, journal and serve as a user runs them (the built binary). */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const KEY = 'Sup3rS3cretAjaxK'
const dir = mkdtempSync(join(tmpdir(), 'dc09-cli-'))
const pepper = `${dir}.pepper`
writeFileSync(pepper, randomBytes(32), { mode: 0o600 })
afterAll(() => { rmSync(dir, { recursive: true, force: true }); rmSync(pepper, { force: true }) })

function dc09 (args: string[], input = '') {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 20_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

describe('dc09 accounts', () => {
  it('adds, shows, lists, updates and removes, and never prints a key', () => {
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '1234'])).toMatchObject({ code: 0, out: 'added account 1234, no key, plain frames accepted\n' })
    const added = dc09(['accounts', 'add', '--data', dir, '--account', '5678', '--key-stdin', '--key-format', 'ascii', '--tenant', 'acme'], KEY)
    expect(added.code).toBe(0)
    expect(added.out).toContain('key set (ascii), encryption required, tenant acme')
    const shown = dc09(['accounts', 'show', '--data', dir, '--account', '5678', '--json'])
    expect(JSON.parse(shown.out)).toMatchObject({ account: '5678', hasKey: true, keyFormat: 'ascii', tenant: 'acme' })
    const listed = dc09(['accounts', 'list', '--data', dir])
    expect(listed.out.trim().split('\n')).toHaveLength(2)
    expect(dc09(['accounts', 'update', '--data', dir, '--account', '1234', '--supervision', '90', '--window', '+30,-120']).out).toContain('supervision 90 s, window +30/-120 s')
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '1234']).code).toBe(1)
    const all = [added, shown, listed, dc09(['accounts', 'list', '--data', dir, '--json'])].map((r) => r.out + r.err).join('')
    expect(all).not.toContain(KEY)
    expect(dc09(['accounts', 'remove', '--data', dir, '--account', '1234'])).toMatchObject({ code: 0, out: 'removed account 1234\n' })
  })

  it('refuses a bad key without repeating it, and has no way to take a key from argv', () => {
    const bad = dc09(['accounts', 'add', '--data', dir, '--account', '9999', '--key-stdin', '--key-format', 'hex'], 'NOT-A-HEX-KEY-AT-ALL-1234567890AB')
    expect(bad.code).toBe(1)
    expect(bad.err).toMatch(/key/)
    expect(bad.err).not.toContain('NOT-A-HEX-KEY')
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '9999', '--key', 'x']).code).not.toBe(0)
  })

  it('refuses a timestamp window wider than the duplicate window, on add, update and import', () => {
    const add = dc09(['accounts', 'add', '--data', dir, '--account', '8001', '--window', '+20,-900'])
    expect(add.code).toBe(1)
    expect(add.err).toMatch(/duplicate window \(600 s\)/)
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '8001', '--window', '+20,-580']).code).toBe(0)
    expect(dc09(['accounts', 'update', '--data', dir, '--account', '8001', '--window', '+30,-580']).code).toBe(1)
    const file = join(dir, 'wide.json')
    writeFileSync(file, JSON.stringify([{ account: '8002' }, { account: '8003', windowAhead: 300, windowBehind: 301 }]))
    const imported = dc09(['accounts', 'import', '--data', dir, file])
    expect(imported.code).toBe(1)
    expect(imported.err).toMatch(/entry 1 \(account 8003\).*duplicate window/)
    expect(dc09(['accounts', 'show', '--data', dir, '--account', '8002']).code).toBe(1)
    expect(dc09(['accounts', 'remove', '--data', dir, '--account', '8001']).code).toBe(0)
  })

  it('imports a fleet file all or nothing, without echoing keys on errors', () => {
    const file = join(dir, 'fleet.json')
    writeFileSync(file, JSON.stringify([{ account: '7001', key: '0123456789ABCDEF0123456789ABCDEF', keyFormat: 'hex', prefix: '0', receiver: '1', encryptionRequired: true, tenant: 'acme', supervisionSeconds: 90 }, { account: '7002' }]))
    expect(dc09(['accounts', 'import', '--data', dir, file])).toMatchObject({ code: 0, out: 'imported 2 account(s): 2 added, 0 updated\n' })
    writeFileSync(file, '[{"account":"7003","key":"0123456789ABCDEF0123456789ABCDEF" oops')
    const broken = dc09(['accounts', 'import', '--data', dir, file])
    expect(broken.code).toBe(1)
    expect(broken.err).not.toContain('0123456789ABCDEF')
  })
})

describe('dc09 serve and journal', () => {
  it('will not start with a duplicate window narrower than an account\'s timestamp window', () => {
    const own = mkdtempSync(join(tmpdir(), 'dc09-cli-'))
    try {
      expect(dc09(['accounts', 'add', '--data', own, '--account', '8100', '--window', '+10,-100']).code).toBe(0)
      const config = join(own, 'limits.json')
      writeFileSync(config, JSON.stringify({ duplicateWindowMs: 60_000 }))
      const r = dc09(['serve', '--data', own, '--port', '0', '--no-api', '--pepper-file', pepper, '--config', config])
      expect(r.code).toBe(1)
      expect(r.err).toMatch(/account 8100 has a timestamp window of 110 s .* wider than duplicateWindowMs \(60000 ms\)/)
    } finally {
      rmSync(own, { recursive: true, force: true })
    }
  })

  it('journals what it acknowledges, refuses a second serve on the same data, exports and verifies', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--data', dir, '--port', '0', '--api-port', '0', '--pepper-file', pepper], { stdio: ['ignore', 'pipe', 'pipe'] })
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout! }).on('line', (l) => {
        const j = JSON.parse(l) as { msg?: string, port?: number }
        if (j.msg === 'listening') resolve(j.port!)
      })
      child.on('exit', () => reject(new Error('serve exited')))
    })
    const second = dc09(['serve', '--data', dir, '--port', '0', '--api-port', '0', '--pepper-file', pepper])
    expect(second.code).toBe(1)
    expect(second.err).toContain(`held by process ${child.pid}`)
    const sent = dc09(['send', '--port', String(port), '--account', '7002', '--prefix', '0'], 'ADM-CID 1130 01 015\nSIA-DCS Nri1/BA01/BA02\nNULL\n')
    expect(sent.code).toBe(0)
    expect(sent.out.trim().split('\n').map((l) => (JSON.parse(l) as { token: string }).token)).toEqual(['ACK', 'ACK', 'ACK'])
    const exported = dc09(['journal', 'export', '--data', dir])
    // Frames, and between them any events the pipeline made by now (the alarms open a case).
    const all = exported.out.trim().split('\n').map((l) => JSON.parse(l) as { id: number, type: string, account: string, token: string, kind: string })
    const recs = all.filter((r) => r.type === 'frame')
    expect(recs.map((r) => r.token)).toEqual(['ADM-CID', 'SIA-DCS', 'NULL'])
    const lastFrame = recs.at(-1)!.id
    expect(dc09(['journal', 'export', '--data', dir, '--from', String(lastFrame)]).out.trim().split('\n').map((l) => (JSON.parse(l) as { id: number }).id)[0]).toBe(lastFrame)
    const exit = new Promise<number | null>((resolve) => child.on('exit', resolve))
    child.kill('SIGTERM')
    expect(await exit).toBe(0)
    expect(dc09(['journal', 'verify', '--data', dir])).toMatchObject({ code: 0, out: expect.stringContaining('every checksum is good') })
  })
})
