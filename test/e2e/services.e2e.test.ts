/**
 * The pipeline and the HTTP interface run on a thread of their own. When that thread dies, the
 * receiver goes on answering panels, starts it again, and the pipeline goes on from its cursor:
 * every acknowledged frame is still run through the stages, none twice.
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { readJournal } from '../../src/journal/file-journal.js'
import type { JournalRecord } from '../../src/journal/record.js'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const root = mkdtempSync(join(tmpdir(), 'dc09-services-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function dc09 (args: string[], input?: string): { code: number | null, out: string, err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 30_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

async function records (dir: string): Promise<JournalRecord[]> {
  const out: JournalRecord[] = []
  for await (const r of readJournal<JournalRecord>(join(dir, 'journal'))) out.push(r)
  return out
}

it('answers panels while the services thread is down, starts it again, and runs every frame once', async () => {
  const dir = join(root, 'data')
  const marker = join(root, 'crashed')
  const pepper = join(root, 'pepper')
  writeFileSync(pepper, Buffer.alloc(32, 7), { mode: 0o600 })
  expect(dc09(['accounts', 'add', '--data', dir, '--account', '1234']).code).toBe(0)
  const fixtures = new URL('../fixtures/stages/', import.meta.url).pathname
  writeFileSync(join(root, 'pipeline.json'), JSON.stringify({ stages: [{ module: join(fixtures, 'crash-once.mjs'), options: { marker } }, { module: join(fixtures, 'counter.mjs') }] }))
  const child = spawn(process.execPath, [BIN, 'serve', '--data', dir, '--port', '0', '--pepper-file', pepper, '--pipeline', join(root, 'pipeline.json')], { stdio: ['ignore', 'pipe', 'pipe'] })
  let log = ''
  child.stdout!.on('data', (c: Buffer) => { log += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { log += c.toString() })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    let port: number | undefined
    for (let i = 0; i < 300 && port === undefined; i++) {
      const m = /"port":(\d+),"tcp":true/.exec(log)
      if (m !== null) port = Number(m[1])
      else await sleep(50)
    }
    expect(port, log).toBeDefined()
    const lines = Array.from({ length: 20 }, (_, i) => `ADM-CID 1602 01 ${String(i + 1).padStart(3, '0')}`).join('\n') + '\n'
    const sent = dc09(['send', '--port', String(port), '--account', '1234'], lines)
    expect(sent.code, sent.err).toBe(0)
    expect(sent.out.trim().split('\n').every((l) => (JSON.parse(l) as { token: string }).token === 'ACK')).toBe(true)
    expect(existsSync(marker)).toBe(true)
    // The frames the stages saw, each counted once, in journal order, after the thread came back.
    let counted: number[] = []
    for (let i = 0; i < 200; i++) {
      counted = (await records(dir)).flatMap((r) => (r.type === 'derived' && r.kind === 'counted' ? [r.data.n as number] : []))
      if (counted.length >= 20) break
      await sleep(100)
    }
    expect(counted).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(log).toContain('the pipeline and HTTP interface thread stopped; starting it again')
    // And a frame after it all is answered and run too.
    expect(dc09(['send', '--port', String(port), '--account', '1234'], 'ADM-CID 1602 01 099\n').code).toBe(0)
    for (let i = 0; i < 100 && counted.length < 21; i++) {
      await sleep(100)
      counted = (await records(dir)).flatMap((r) => (r.type === 'derived' && r.kind === 'counted' ? [r.data.n as number] : []))
    }
    expect(counted.at(-1)).toBe(21)
  } finally {
    child.kill('SIGTERM')
    // The receiver's log says why, if it does not stop cleanly.
    expect(await exited, log.slice(-3000)).toBe(0)
  }
}, 60_000)
