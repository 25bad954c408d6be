/** dc09 accounts, journal and serve as a user runs them (the built binary). */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { untilListening } from './helpers.js'
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

describe('dc09 accounts: a number that changes hands, a move to another tenant', () => {
  const HEX1 = '00112233445566778899AABBCCDDEEFF'
  const HEX2 = 'FFEEDDCCBBAA99887766554433221100'
  const withPepper = (args: string[], input = '') => dc09([...args, '--pepper-file', pepper], input)
  const journaled = (kind: string) => dc09(['journal', 'export', '--data', dir]).out.trim().split('\n').filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { kind?: string, account: string, stage?: string, data?: Record<string, unknown> }).filter((r) => r.kind === kind)

  it('remove journals the removal (with no receiver running, directly) and takes users and codes with the account', () => {
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '4321', '--tenant', 't1']).code).toBe(0)
    expect(withPepper(['users', 'add', '--data', dir, '--account', '4321', '--user', '1', '--name', 'Ann']).code).toBe(0)
    expect(withPepper(['codes', 'set', '--data', dir, '--account', '4321', '--user', '1'], '739154\n').code).toBe(0)
    const created = (JSON.parse(dc09(['accounts', 'show', '--data', dir, '--account', '4321', '--json']).out) as { createdAt: string }).createdAt
    expect(dc09(['accounts', 'remove', '--data', dir, '--account', '4321'])).toMatchObject({ code: 0, out: 'removed account 4321 and its 1 user(s)\n' })
    expect(journaled('account-removed').filter((r) => r.account === '4321')).toMatchObject([{ account: '4321', holder: created, stage: 'accounts', data: { createdAt: created, tenant: 't1', by: expect.stringMatching(/^cli/) } }])
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '4321', '--tenant', 't2']).code).toBe(0)
    expect(withPepper(['users', 'list', '--data', dir, '--account', '4321']).out).toBe('account 4321 has no users\n')
  })

  it('purge lists and deletes what an unfinished removal left, and add refuses the number until then', async () => {
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '4444']).code).toBe(0)
    expect(withPepper(['users', 'add', '--data', dir, '--account', '4444', '--user', '1', '--name', 'Old']).code).toBe(0)
    expect(withPepper(['codes', 'set', '--data', dir, '--account', '4444', '--user', '1'], '739154\n').code).toBe(0)
    // What an older version's removal left when it stopped between the account and its users.
    const { default: Database } = await import('better-sqlite3')
    const raw = new Database(join(dir, 'accounts.db'))
    raw.prepare('DELETE FROM accounts WHERE account = ?').run('4444')
    raw.close()
    const refused = dc09(['accounts', 'add', '--data', dir, '--account', '4444', '--tenant', 'new'])
    expect(refused.code).toBe(1)
    expect(refused.err).toContain('DC09_ERR_ACCOUNT_LEFTOVERS')
    expect(dc09(['accounts', 'purge', '--data', dir])).toMatchObject({ code: 0, out: '4444: 2 record(s) left; purge with --account 4444, or all with --all\n' })
    expect(dc09(['accounts', 'purge', '--data', dir, '--all'])).toMatchObject({ code: 0, out: 'purged 2 record(s) left under 4444\n' })
    expect(dc09(['accounts', 'purge', '--data', dir])).toMatchObject({ code: 0, out: 'nothing is left under any number without an account\n' })
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '4444', '--tenant', 'new']).code).toBe(0)
    // A number with an account is removed, not purged.
    expect(dc09(['accounts', 'purge', '--data', dir, '--account', '4444'])).toMatchObject({ code: 1, err: expect.stringContaining('remove it instead') })
    expect(withPepper(['users', 'list', '--data', dir, '--account', '4444']).out).toBe('account 4444 has no users\n')
    expect(withPepper(['audit', '--data', dir, '--json']).out).toContain('"action":"account-purge"')
  })

  it('update --tenant moves an encrypted account only with a new key, clears its codes, and audits both tenants', () => {
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '5151', '--tenant', 't1', '--key-stdin'], HEX1).code).toBe(0)
    expect(withPepper(['users', 'add', '--data', dir, '--account', '5151', '--user', '1', '--name', 'Ann']).code).toBe(0)
    expect(withPepper(['codes', 'set', '--data', dir, '--account', '5151', '--user', '1'], '739154\n').code).toBe(0)
    const refused = dc09(['accounts', 'update', '--data', dir, '--account', '5151', '--tenant', 't2'])
    expect(refused.code).toBe(1)
    expect(refused.err).toMatch(/new AES key/)
    expect(withPepper(['users', 'list', '--data', dir, '--account', '5151']).out).toBe('user 1 (Ann): code set\n')
    const moved = dc09(['accounts', 'update', '--data', dir, '--account', '5151', '--tenant', 't2', '--key-stdin'], HEX2)
    expect(moved.code, moved.err).toBe(0)
    expect(moved.out).toContain('moved from tenant t1: every disarm and duress code is cleared; its 1 user(s) need new codes')
    expect(moved.out + moved.err).not.toContain(HEX2)
    expect(withPepper(['users', 'list', '--data', dir, '--account', '5151']).out).toBe('user 1 (Ann): NEEDS A NEW CODE\n')
    const audit = withPepper(['audit', '--data', dir, '--json']).out
    expect(audit).toContain('"action":"account-move"')
    expect(audit).toContain('moved from tenant t1 to tenant t2')
  })
})

describe('dc09 serve and journal', () => {
  it('starts with a duplicate window narrower than an account\'s timestamp window, and warns that it narrows that window', async () => {
    const own = mkdtempSync(join(tmpdir(), 'dc09-cli-'))
    try {
      expect(dc09(['accounts', 'add', '--data', own, '--account', '8100', '--window', '+10,-100']).code).toBe(0)
      const config = join(own, 'limits.json')
      writeFileSync(config, JSON.stringify({ duplicateWindowMs: 60_000 }))
      const child = spawn(process.execPath, [BIN, 'serve', '--data', own, '--port', '0', '--no-api', '--pepper-file', pepper, '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] })
      let lines: Array<Record<string, unknown>> = []
      try {
        lines = (await untilListening(child)).lines
      } finally {
        child.kill('SIGTERM')
      }
      expect(lines.find((l) => l.level === 40 && l.account === '8100')).toMatchObject({ windowSeconds: 110, duplicateWindowMs: 60_000, msg: expect.stringMatching(/narrowed to fit/) })
    } finally {
      rmSync(own, { recursive: true, force: true })
    }
  })

  /** The log lines of `dc09 serve` up to 'listening', started with at most `files` open files (lowering a limit needs no privilege). */
  async function serveLog (files: number, limits: object): Promise<Array<Record<string, unknown>>> {
    const own = mkdtempSync(join(tmpdir(), 'dc09-cli-'))
    try {
      const config = join(own, 'limits.json')
      writeFileSync(config, JSON.stringify(limits))
      const argv = [process.execPath, BIN, 'serve', '--data', own, '--port', '0', '--no-api', '--pepper-file', pepper, '--config', config]
      const child = spawnSync('prlimit', ['--version']).status === 0
        ? spawn('prlimit', [`--nofile=${files}:${files}`, '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn('sh', ['-c', `ulimit -n ${files} && exec "$@"`, 'sh', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
      let lines: Array<Record<string, unknown>> = []
      try {
        lines = (await untilListening(child)).lines
      } finally {
        child.kill('SIGTERM')
        await new Promise((resolve) => child.once('exit', resolve))
      }
      return lines
    } finally {
      rmSync(own, { recursive: true, force: true })
    }
  }

  it('warns at start when maxConnections does not fit the limit on open files, and not when it does', async () => {
    const tight = await serveLog(1000, { maxConnections: 5000 })
    expect(tight.find((l) => l.level === 40 && l.maxConnections === 5000)).toMatchObject({ fileLimit: 1000, connectionsThatFit: 744, msg: expect.stringMatching(/open files/) })
    const roomy = await serveLog(1000, { maxConnections: 700 })
    expect(roomy.find((l) => l.maxConnections !== undefined && l.fileLimit !== undefined)).toBeUndefined()
  })

  it('journals what it acknowledges, refuses a second serve on the same data, exports and verifies', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--data', dir, '--port', '0', '--api-port', '0', '--pepper-file', pepper], { stdio: ['ignore', 'pipe', 'pipe'] })
    const { port } = await untilListening(child)
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
