/**
 * The receiver's side of the services thread, on the built worker (a worker thread runs the
 * compiled module): a stop must end even while a thread started again is still starting.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { Metrics } from '../../../src/api/metrics.js'
import { FileJournal } from '../../../src/journal/file-journal.js'
import type { JournalRecord } from '../../../src/journal/record.js'
import type { ServicesHost as Host } from '../../../src/services/host.js'

// The built module: its worker is the built worker.js next to it.
const { ServicesHost } = await import(new URL('../../../dist/src/services/host.js', import.meta.url).pathname) as { ServicesHost: typeof Host }
const fixture = new URL('../../fixtures/stages/crash-then-hang.mjs', import.meta.url).pathname

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

it('stops while the thread it started again is still starting, instead of waiting forever', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-host-'))
  dirs.push(dir)
  const marker = join(dir, 'loaded')
  writeFileSync(join(dir, 'pipeline.json'), JSON.stringify({ stages: [{ module: fixture, options: { marker } }] }))
  const journal = await FileJournal.open<JournalRecord>(join(dir, 'data'))
  const accounts = new SqliteAccountStore(join(dir, 'data'))
  const lines: string[] = []
  const log = pino({ level: 'error' }, { write: (l: string) => { lines.push(l) } })
  const host = await ServicesHost.start({
    data: join(dir, 'data'), logLevel: 'silent', pepper: new Uint8Array(32).fill(7), pipeline: join(dir, 'pipeline.json'), cwd: dir, maxWindowSeconds: 600,
  }, { journal, position: () => journal.position, accounts, metrics: new Metrics('receiver'), log })
  expect(existsSync(marker)).toBe(true)
  // The first thread dies; the host starts another after a second, which never gets ready.
  for (let i = 0; i < 100 && !lines.some((l) => l.includes('starting it again')); i++) await sleep(50)
  expect(lines.join('')).toContain('starting it again')
  await sleep(1500)
  const t0 = Date.now()
  await Promise.race([host.stop(1000), sleep(10_000).then(() => { throw new Error('the stop did not end') })])
  expect(Date.now() - t0).toBeLessThan(5000)
  await journal.close()
  accounts.close()
}, 20_000)
