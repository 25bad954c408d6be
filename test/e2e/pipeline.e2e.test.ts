/**
 * The pipeline as a user runs it (the built binary): simulated panels in; cases, supervision and
 * verification events out through the journal; disarm codes verified by `dc09 verify` through
 * the running receiver and without one; and no code in plain text anywhere afterwards.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readJournal } from '../../src/journal/file-journal.js'
import type { JournalRecord } from '../../src/journal/record.js'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const root = mkdtempSync(join(tmpdir(), 'dc09-pipe-'))
const dir = join(root, 'data')
const pepper = join(root, 'pepper')
const CODES = { alice: '135792', aliceDuress: '864209', bob: '402917', carol: '579134', dave: '284067', erin: '161803', erinDuress: '141421' }
/** Everything the commands and the receiver printed: searched for codes at the end. */
const printed: string[] = []

interface Run { code: number | null, out: string, err: string }

function dc09 (args: string[], input = '', env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 30_000, env: { ...process.env, DC09_PEPPER_FILE: '', ...env } })
  printed.push(r.stdout, r.stderr)
  return { code: r.status, out: r.stdout, err: r.stderr }
}

interface Derived { id: number, type: 'derived', kind: string, account: string, stage: string, causedBy: number, receivedAt: number, data: Record<string, unknown> }

/** The derived records as `dc09 journal export` prints them. */
function exportedDerived (): Derived[] {
  const out = dc09(['journal', 'export', '--data', dir]).out
  return out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Derived & { type: string }).filter((r): r is Derived => r.type === 'derived')
}

/**
 * The derived records, read in this process: the waits below poll often, and a command per poll
 * would spend the machine on starting processes. The export command is checked against it once.
 */
async function derived (): Promise<Derived[]> {
  const out: Derived[] = []
  for await (const r of readJournal<JournalRecord>(join(dir, 'journal'))) if (r.type === 'derived') out.push(r as unknown as Derived)
  return out
}

async function until<T> (what: string, f: () => T | undefined | Promise<T | undefined>, ms = 15_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 150))
  }
}

let server: { child: ChildProcess, port: number, exited: Promise<number | null> }

function startServe (args: string[]): Promise<typeof server> {
  const child = spawn(process.execPath, [BIN, 'serve', '--data', dir, '--port', '0', '--api-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DC09_PEPPER_FILE: '' } })
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  child.stderr!.on('data', (c: Buffer) => printed.push(c.toString()))
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('serve did not start')) }, 15_000)
    createInterface({ input: child.stdout! }).on('line', (l) => {
      printed.push(l)
      const j = JSON.parse(l) as { msg?: string, port?: number }
      if (j.msg === 'listening') { clearTimeout(timer); resolve({ child, port: j.port!, exited }) }
    })
    void exited.then((code) => reject(new Error(`serve exited with ${code}`)))
  })
}

function simulate (account: string, steps: Array<[number, string]>): Run {
  const file = join(root, `scenario-${account}-${Date.now()}.json`)
  writeFileSync(file, JSON.stringify({ steps: steps.map(([at, event]) => ({ at, event })) }))
  const r = dc09(['simulate', '--port', String(server.port), '--account', account, '--panels', '1', '--scenario', file, '--json'])
  expect(r.code, r.err).toBe(0)
  return r
}

beforeAll(() => {
  writeFileSync(pepper, randomBytes(32), { mode: 0o600 })
  for (const [account, extra] of [['1001', ['--supervision', '4']], ['1002', []], ['1003', []], ['1004', []]] as const) {
    expect(dc09(['accounts', 'add', '--data', dir, '--account', account, '--prefix', '0', ...extra]).code).toBe(0)
  }
  writeFileSync(join(root, 'pipeline.json'), JSON.stringify({
    stages: ['classify', 'supervision', { name: 'cases', options: { verificationWindowSeconds: 8 } }, 'jsonl'],
  }))
  // The same, with accounts added while running looked for every second.
  writeFileSync(join(root, 'pipeline-scan.json'), JSON.stringify({
    stages: ['classify', { name: 'supervision', options: { scanSeconds: 1 } }, { name: 'cases', options: { verificationWindowSeconds: 3 } }, 'jsonl'],
  }))
})

afterAll(async () => {
  if (server !== undefined && server.child.exitCode === null) {
    server.child.kill('SIGKILL')
    await server.exited
  }
  rmSync(root, { recursive: true, force: true })
})

describe('the pepper', () => {
  it('serve refuses to start without one (outside demo mode), and says how to make one', () => {
    const r = spawnSync(process.execPath, [BIN, 'serve', '--data', join(root, 'nopepper'), '--port', '0', '--api-port', '0'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, DC09_PEPPER_FILE: '' } })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('a pepper is needed')
    expect(r.stderr).toContain('/dev/urandom')
  })

  it('commands that hash codes need it too; those that do not, do not', () => {
    expect(dc09(['users', 'add', '--data', dir, '--account', '1001', '--user', '1', '--name', 'Alice']).code).toBe(0)
    const noPepper = dc09(['codes', 'set', '--data', dir, '--account', '1001', '--user', '1'], CODES.alice + '\n')
    expect(noPepper.code).toBe(2)
    expect(noPepper.err).toContain('a pepper is needed')
  })
})

describe('users and codes', () => {
  it('enrols codes read from stdin, refuses weak and taken ones, and lists users without codes', () => {
    const p = ['--pepper-file', pepper]
    expect(dc09(['users', 'add', '--data', dir, '--account', '1001', '--user', '2', '--name', 'Bob']).code).toBe(0)
    expect(dc09(['users', 'add', '--data', dir, '--account', '1001', '--user', '2']).code).toBe(1)
    expect(dc09(['users', 'add', '--data', dir, '--account', '9999', '--user', '1']).err).toContain('DC09_ERR_ACCOUNT_NOT_FOUND')
    expect(dc09(['codes', 'set', '--data', dir, '--account', '1001', '--user', '1', ...p], CODES.alice + '\n')).toMatchObject({ code: 0, out: 'account 1001: disarm code set for user 1\n' })
    expect(dc09(['codes', 'set', '--data', dir, '--account', '1001', '--user', '1', '--duress'], CODES.aliceDuress, { DC09_PEPPER_FILE: pepper }).code).toBe(0)
    const weak = dc09(['codes', 'set', '--data', dir, '--account', '1001', '--user', '2', ...p], '123456\n')
    expect(weak).toMatchObject({ code: 1 })
    expect(weak.err).toContain('DC09_ERR_CODE_WEAK')
    const taken = dc09(['codes', 'set', '--data', dir, '--account', '1001', '--user', '2', ...p], CODES.aliceDuress + '\n')
    expect(taken.err).toContain('DC09_ERR_CODE_TAKEN')
    expect(dc09(['codes', 'set', '--data', dir, '--account', '1001', '--user', '2', ...p], CODES.bob + '\n').code).toBe(0)
    expect(dc09(['users', 'add', '--data', dir, '--account', '1002', '--user', '1']).code).toBe(0)
    expect(dc09(['users', 'add', '--data', dir, '--account', '1003', '--user', '7']).code).toBe(0)
    expect(dc09(['codes', 'set', '--data', dir, '--account', '1003', '--user', '7', ...p], CODES.carol + '\n').code).toBe(0)
    const listed = dc09(['users', 'list', '--data', dir, '--account', '1001', '--json'])
    expect(listed.out.trim().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([
      { account: '1001', user: 1, name: 'Alice', hasCode: true, hasDuressCode: true, needsNewCode: false },
      { account: '1001', user: 2, name: 'Bob', hasCode: true, hasDuressCode: false, needsNewCode: false },
    ])
  })

  it('bounds what it reads: a code on stdin is one short line, an account number 3 to 16 characters', () => {
    const p = ['--data', dir, '--pepper-file', pepper]
    const long = dc09(['verify', ...p, '--account', '1001'], '1'.repeat(300))
    expect(long).toMatchObject({ code: 2, err: 'dc09: expected one code on standard input\n' })
    expect(dc09(['codes', 'set', ...p, '--account', '1001', '--user', '1'], '9'.repeat(300)).code).toBe(2)
    expect(dc09(['verify', ...p, '--account', '12;DROP TABLE'], CODES.alice).code).toBe(2)
    expect(dc09(['users', 'add', '--data', dir, '--account', '1001', '--user', '10000']).code).not.toBe(0)
  })

  it('refuses to start with a pepper other than the one the codes were enrolled with', () => {
    const other = join(root, 'other-pepper')
    writeFileSync(other, randomBytes(32))
    const r = spawnSync(process.execPath, [BIN, 'serve', '--data', dir, '--port', '0', '--api-port', '0', '--pepper-file', other], { encoding: 'utf8', timeout: 20_000 })
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('not the one the codes in this data directory were enrolled with')
    expect(dc09(['verify', '--data', dir, '--account', '1001', '--pepper-file', other], CODES.alice).code).toBe(2)
  })
})

describe('the worked example: an alarm arrives, the keyholder calls, the operator verifies', () => {
  it('journals case and verification events for simulated panels, through the running receiver', async () => {
    server = await startServe(['--pepper-file', pepper, '--pipeline', join(root, 'pipeline.json')])
    const v = ['--data', dir, '--pepper-file', pepper]

    // 1003: nobody verifies within the window (8 s here: two code checks from the command line
    // must fit in it on a loaded machine): escalated. Sent first, so the window runs meanwhile.
    simulate('1003', [[0, 'ADM-CID 1120 01 001']])

    // 1001: a burglary alarm opens a case; a wrong code, then Alice's code, closes it verified.
    simulate('1001', [[0, 'ADM-CID 1130 01 015'], [0.2, 'ADM-CID 1131 01 016']])
    const opened = await until('case-opened 1001', async () => (await derived()).find((r) => r.kind === 'case-opened' && r.account === '1001'))
    expect(opened.data).toMatchObject({ code: '130', zone: 15 })
    await until('both alarms in the case', () => /^case \d+ account 1001 open: .*2 alarm frame\(s\)\n$/.test(dc09(['cases', 'list', '--data', dir, '--account', '1001']).out) || undefined)
    expect(JSON.parse(dc09(['verify', ...v, '--account', '1001', '--caller', 'op-7'], '999999\n').out)).toEqual({ result: 'invalid', account: '1001' })
    const valid = dc09(['verify', ...v, '--account', '1001', '--caller', 'op-7'], CODES.alice + '\n')
    expect(JSON.parse(valid.out)).toEqual({ result: 'valid', account: '1001', user: 1 })
    const verified = await until('case-verified 1001', async () => (await derived()).find((r) => r.kind === 'case-verified' && r.account === '1001'))
    expect(verified.data).toEqual({ caseId: opened.data.caseId, by: 'user 1' })
    const verification = (await derived()).find((r) => r.id === verified.causedBy)!
    expect(verification).toMatchObject({ kind: 'verification', stage: 'verify', data: { outcome: 'valid', user: 1, caller: 'op-7' } })

    // 1002: an alarm, then an opening by a user of the account within the cancel window.
    simulate('1002', [[0, 'ADM-CID 1130 01 003'], [0.3, 'ADM-CID 1401 01 001']])
    expect((await until('case-cancelled 1002', async () => (await derived()).find((r) => r.kind === 'case-cancelled' && r.account === '1002'))).data).toMatchObject({ by: 'opening by user 1' })

    // 1004: an alarm, then the panel's own cancel (Contact ID 406).
    simulate('1004', [[0, 'ADM-CID 1130 01 004'], [0.3, 'ADM-CID 1406 01 001']])
    expect((await until('case-cancelled 1004', async () => (await derived()).find((r) => r.kind === 'case-cancelled' && r.account === '1004'))).data).toMatchObject({ by: 'panel cancel, user 1' })

    const escalated = await until('case-escalated 1003', async () => (await derived()).find((r) => r.kind === 'case-escalated' && r.account === '1003'))
    const opened3 = (await derived()).find((r) => r.kind === 'case-opened' && r.account === '1003')!
    expect(escalated.causedBy).toBe(opened3.causedBy)

    // A duress code answers exactly like the valid one, and raises a silent duress on a new case.
    const duress = dc09(['verify', ...v, '--account', '1001', '--caller', 'op-7'], CODES.aliceDuress + '\n')
    expect(duress.out).toBe(valid.out)
    expect(duress.code).toBe(valid.code)
    const caseDuress = await until('case-duress 1001', async () => (await derived()).find((r) => r.kind === 'case-duress' && r.account === '1001'))
    expect(caseDuress.data).toMatchObject({ user: 1 })
    expect((await derived()).find((r) => r.kind === 'duress')).toMatchObject({ account: '1001', stage: 'verify', data: { outcome: 'valid', user: 1 } })
    expect(dc09(['cases', 'list', '--data', dir, '--account', '1001']).out).toContain('[DURESS]')

    // An unknown account answers like a wrong code.
    expect(JSON.parse(dc09(['verify', ...v, '--account', '7777', '--caller', 'op-7'], CODES.alice + '\n').out)).toEqual({ result: 'invalid', account: '7777' })
    expect(dc09(['pipeline', 'dead-letters', '--data', dir]).out).toBe('the dead-letter list is empty\n')
  }, 60_000)

  it('declares a silent panel within a second of its deadline, and restores it when it reports', async () => {
    // 1001 is supervised every 4 s; its last frame was the simulated alarm or the start.
    const failure = await until('supervision-failure 1001', async () => (await derived()).find((r) => r.kind === 'supervision-failure' && r.account === '1001'))
    const lastSeen = failure.data.lastSeen === null ? undefined : Date.parse(failure.data.lastSeen as string)
    if (lastSeen !== undefined) {
      expect(failure.receivedAt - (lastSeen + 4000)).toBeGreaterThanOrEqual(0)
      expect(failure.receivedAt - (lastSeen + 4000)).toBeLessThan(1000)
    }
    expect((await derived()).filter((r) => r.kind === 'supervision-failure' && r.account === '1001')).toHaveLength(1)
    simulate('1001', [[0, 'NULL']])
    await until('supervision-restore 1001', async () => (await derived()).find((r) => r.kind === 'supervision-restore' && r.account === '1001'))
    expect((await derived()).some((r) => r.kind.startsWith('supervision') && r.account !== '1001')).toBe(false)
  }, 30_000)

  it('locks after five failures, answers locked even to the right code, and an operator can lift it', () => {
    const v = ['--data', dir, '--pepper-file', pepper, '--account', '1003']
    for (let i = 0; i < 5; i++) expect(JSON.parse(dc09(['verify', ...v, '--caller', `ivr-${i}`], `11223${i}\n`).out)).toMatchObject({ result: 'invalid' })
    const locked = JSON.parse(dc09(['verify', ...v, '--caller', 'op-9'], CODES.carol + '\n').out) as { result: string, lockedUntil: string }
    expect(locked.result).toBe('locked')
    expect(Date.parse(locked.lockedUntil) - Date.now()).toBeGreaterThan(14 * 60_000)
    expect(dc09(['codes', 'unlock', '--data', dir, '--account', '1003', '--by', 'supervisor-1']).code).toBe(0)
    expect(JSON.parse(dc09(['verify', ...v, '--caller', 'op-9'], CODES.carol + '\n').out)).toEqual({ result: 'valid', account: '1003', user: 7 })
    const audit = dc09(['audit', '--data', dir, '--json', '--limit', '1000']).out.trim().split('\n').map((l) => JSON.parse(l) as { action: string, actor: string, outcome: string })
    expect(audit.filter((a) => a.action === 'verify').map((a) => a.outcome)).toContain('locked')
    expect(audit).toContainEqual(expect.objectContaining({ action: 'verify-unlock', actor: 'supervisor-1' }))
  })

  it('takes its lockout and enrolment policy from dc09 codes policy, audited', () => {
    expect(dc09(['codes', 'policy', '--data', dir, '--json']).out).toBe('{"maxFailures":5,"lockMinutes":15,"callerMaxFailures":20,"callerWindowMinutes":60,"callerLockMinutes":60,"minLength":6}\n')
    expect(dc09(['codes', 'policy', '--data', dir, '--max-failures', '0']).err).toContain('maxFailures is a whole number from 1 to 100')
    expect(dc09(['codes', 'policy', '--data', dir, '--max-failures', '3', '--lock-minutes', '2', '--min-length', '8', '--by', 'admin-1']).code).toBe(0)
    const v = ['--data', dir, '--pepper-file', pepper, '--account', '1004', '--caller', 'op-3']
    for (let i = 0; i < 3; i++) expect(JSON.parse(dc09(['verify', ...v], `55117${i}\n`).out)).toMatchObject({ result: 'invalid' })
    const locked = JSON.parse(dc09(['verify', ...v], '551170\n').out) as { result: string, lockedUntil: string }
    expect(locked.result).toBe('locked')
    expect(Date.parse(locked.lockedUntil) - Date.now()).toBeLessThan(2 * 60_000 + 1000)
    expect(dc09(['users', 'add', '--data', dir, '--account', '1004', '--user', '1']).code).toBe(0)
    expect(dc09(['codes', 'set', '--data', dir, '--pepper-file', pepper, '--account', '1004', '--user', '1'], '2468013\n').err).toContain('at least 8 digits')
    expect(dc09(['codes', 'policy', '--data', dir, '--max-failures', '5', '--lock-minutes', '15', '--min-length', '6']).code).toBe(0)
    expect(dc09(['audit', '--data', dir]).out).toContain('admin-1 policy-set')
  })

  it('journals a verification directly when no receiver is running', async () => {
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
    const before = (await derived()).length
    expect(JSON.parse(dc09(['verify', '--data', dir, '--pepper-file', pepper, '--account', '1002', '--caller', 'op-1'], '246801\n').out)).toEqual({ result: 'invalid', account: '1002' })
    const after = await derived()
    expect(after).toHaveLength(before + 1)
    expect(after.at(-1)).toMatchObject({ kind: 'verification', account: '1002', data: { outcome: 'invalid', caller: 'op-1' } })
    expect(exportedDerived()).toEqual(after)
  })

  it('reset-all makes every code invalid at once, and says who needs a new one', () => {
    expect(dc09(['codes', 'reset-all', '--data', dir, '--by', 'admin-1']).out).toMatch(/^every disarm and duress code on 2 account\(s\) is now invalid/)
    expect(JSON.parse(dc09(['verify', '--data', dir, '--pepper-file', pepper, '--account', '1001', '--caller', 'op-2'], CODES.bob + '\n').out)).toEqual({ result: 'invalid', account: '1001' })
    expect(dc09(['users', 'list', '--data', dir, '--account', '1001']).out).toBe('user 1 (Alice): NEEDS A NEW CODE\nuser 2 (Bob): NEEDS A NEW CODE\n')
    expect(dc09(['audit', '--data', dir]).out).toContain('admin-1 codes-reset-all')
  })
})

describe('an account number that changes hands while the receiver runs', () => {
  it('the removal closes the open case; the next holder gets a case of its own, its duress on it, and is declared silent on time with nothing of the earlier holder', async () => {
    server = await startServe(['--pepper-file', pepper, '--pipeline', join(root, 'pipeline-scan.json')])
    const p = ['--data', dir, '--pepper-file', pepper]
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '2001', '--prefix', '0', '--tenant', 't1', '--supervision', '30']).code).toBe(0)
    expect(dc09(['users', 'add', ...p, '--account', '2001', '--user', '1', '--name', 'Dave']).code).toBe(0)
    expect(dc09(['codes', 'set', ...p, '--account', '2001', '--user', '1'], CODES.dave + '\n').code).toBe(0)
    simulate('2001', [[0, 'ADM-CID 1130 01 015']])
    const old = await until('case-opened 2001', async () => (await derived()).find((r) => r.kind === 'case-opened' && r.account === '2001'))
    await until('the case listed', () => dc09(['cases', 'list', '--data', dir, '--account', '2001']).out.includes(' open') || undefined)

    // Removed through the running receiver (its control socket): journaled, and the case closed.
    expect(dc09(['accounts', 'remove', '--data', dir, '--account', '2001'])).toMatchObject({ code: 0, out: `removed account 2001 and its 1 user(s); its open case ${String(old.data.caseId)} is closed as account-removed\n` })
    const removal = (await derived()).find((r) => r.kind === 'account-removed' && r.account === '2001')!
    expect(removal).toMatchObject({ stage: 'accounts', data: { tenant: 't1' } })
    expect((await until('case-account-removed 2001', async () => (await derived()).find((r) => r.kind === 'case-account-removed' && r.account === '2001'))).data).toMatchObject({ caseId: old.data.caseId })

    // t2 takes the number: supervised every 2 s, it never reports.
    expect(dc09(['accounts', 'add', '--data', dir, '--account', '2001', '--prefix', '0', '--tenant', 't2', '--supervision', '2']).code).toBe(0)
    const added = Date.now()
    const silent = await until('supervision-failure of the new holder', async () => (await derived()).find((r) => r.kind === 'supervision-failure' && r.account === '2001' && r.id > removal.id), 10_000)
    expect(silent.data).toEqual({ lastSeen: null, intervalSeconds: 2 })
    // Found by the next scan (each second), declared silent one interval on.
    expect(silent.receivedAt - added).toBeLessThan(2000 + 1000 + 1000)

    expect(dc09(['users', 'add', ...p, '--account', '2001', '--user', '1', '--name', 'Erin']).code).toBe(0)
    expect(dc09(['codes', 'set', ...p, '--account', '2001', '--user', '1'], CODES.erin + '\n').code).toBe(0)
    expect(dc09(['codes', 'set', ...p, '--account', '2001', '--user', '1', '--duress'], CODES.erinDuress + '\n').code).toBe(0)
    simulate('2001', [[0, 'ADM-CID 1130 01 016']])
    const next = await until('a new case-opened 2001', async () => (await derived()).find((r) => r.kind === 'case-opened' && r.account === '2001' && r.id > removal.id))
    expect(next.data.caseId).not.toBe(old.data.caseId)
    // The earlier holder's code is nothing here; the new holder's closes the new case.
    expect(JSON.parse(dc09(['verify', ...p, '--account', '2001', '--caller', 'op-1'], CODES.dave + '\n').out)).toMatchObject({ result: 'invalid' })
    expect(JSON.parse(dc09(['verify', ...p, '--account', '2001', '--caller', 'op-1'], CODES.erin + '\n').out)).toMatchObject({ result: 'valid' })
    expect((await until('case-verified 2001', async () => (await derived()).find((r) => r.kind === 'case-verified' && r.account === '2001'))).data).toMatchObject({ caseId: next.data.caseId })
    dc09(['verify', ...p, '--account', '2001', '--caller', 'op-1'], CODES.erinDuress + '\n')
    const duress = await until('case-duress 2001', async () => (await derived()).find((r) => r.kind === 'case-duress' && r.account === '2001'))
    expect([old.data.caseId, next.data.caseId]).not.toContain(duress.data.caseId)
    // Nothing of the earlier holder reached the new one: no event on its case, no report time of
    // its panel; the one restore follows the new holder's own failure and first frame.
    const after = (await derived()).filter((r) => r.account === '2001' && r.id > removal.id)
    expect(after.filter((r) => r.data.caseId === old.data.caseId && r.kind !== 'case-account-removed')).toEqual([])
    const failures = after.filter((r) => r.kind === 'supervision-failure').map((r) => r.data.lastSeen as string | null)
    expect(failures[0]).toBeNull()
    for (const seen of failures.slice(1)) expect(Date.parse(seen!)).toBeGreaterThanOrEqual(added)
    expect(after.filter((r) => r.kind.startsWith('supervision')).map((r) => r.kind).slice(0, 2)).toEqual(['supervision-failure', 'supervision-restore'])
    server.child.kill('SIGTERM')
    expect(await server.exited).toBe(0)
  }, 60_000)
})

describe('no code in plain text anywhere', () => {
  it('finds none of the codes\' digits in the data directory, the journal, the logs or any output', () => {
    const files: string[] = []
    const walk = (d: string): void => {
      for (const f of readdirSync(d)) {
        const p = join(d, f)
        if (statSync(p).isDirectory()) walk(p)
        else if (statSync(p).isFile()) files.push(p)
      }
    }
    walk(dir)
    expect(files.some((f) => f.includes('journal'))).toBe(true)
    expect(files.some((f) => f.endsWith('accounts.db'))).toBe(true)
    const haystacks = [...files.map((f) => ({ where: f, bytes: readFileSync(f) })), { where: 'output', bytes: Buffer.from(printed.join('\n')) }]
    for (const code of Object.values(CODES)) {
      for (const needle of [Buffer.from(code, 'latin1'), Buffer.from(code, 'utf16le')]) {
        expect(haystacks.filter((h) => h.bytes.includes(needle)).map((h) => h.where), `code ${code}`).toEqual([])
      }
    }
  })
})
