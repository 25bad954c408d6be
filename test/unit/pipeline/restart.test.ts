/**
 * A restart through the real runner: the supervision timers a stage sets in start() are live, so a
 * panel that stays silent after the receiver comes back is declared silent one interval after the
 * start, without any frame arriving to arm its timer.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import { PipelineRunner } from '../../../src/pipeline/runner.js'
import { supervision } from '../../../src/pipeline/stages/supervision.js'
import { PipelineStore } from '../../../src/pipeline/store.js'
import type { DerivedRecord, FrameRecord, JournalRecord } from '../../../src/journal/record.js'

const log = pino({ level: 'silent' })

function nullFrame (account: string, receivedAt: number): FrameRecord {
  return {
    type: 'frame', receivedAt, transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token: 'NULL',
    encrypted: false, events: [], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

async function until (what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'dc09-restart-')) })
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('supervision across a restart', () => {
  it('arms every supervised account at start, and waits one full interval after the start', async () => {
    const t0 = Date.UTC(2026, 10, 26, 8)
    // Made before its panel's first report (a frame older than its account is an earlier holder's).
    const accounts = new MemoryAccountStore(undefined, { now: () => new Date(t0 - 86_400_000) })
    expect(accounts.add({ account: '1001', supervisionSeconds: 20 }).ok).toBe(true)
    const journal = new MemoryJournal<JournalRecord>()
    let now = t0

    // First run: the panel reports once.
    let store = new PipelineStore(dir)
    let runner = new PipelineRunner({ journal, store, stages: [supervision({}, { accounts, isUser: () => false, dataDir: dir, log })], log, clock: () => now, options: { pollMs: 5 } })
    await runner.start()
    await journal.append(nullFrame('1001', t0))
    runner.notify()
    await until(() => runner.cursor === 1)
    await runner.stop()
    store.close()

    // The receiver was down for an hour: far past the panel's deadline, but it must not be blamed
    // for the receiver's absence. No frame arrives after the start.
    now = t0 + 3_600_000
    const started = now
    store = new PipelineStore(dir)
    runner = new PipelineRunner({ journal, store, stages: [supervision({}, { accounts, isUser: () => false, dataDir: dir, log })], log, clock: () => now, options: { pollMs: 5 } })
    await runner.start()
    expect(runner.scheduled('supervision', '1001')).toBe(true)
    const failures = async (): Promise<DerivedRecord[]> => {
      const out: DerivedRecord[] = []
      for await (const r of journal.read()) if (r.type === 'derived' && r.kind === 'supervision-failure') out.push(r)
      return out
    }
    now = started + 19_000
    await new Promise((r) => setTimeout(r, 50))
    expect(await failures()).toEqual([])
    now = started + 20_000
    await until(() => journal.lastId === 2)
    await runner.stop()
    store.close()
    const [f] = await failures()
    expect(f).toMatchObject({ account: '1001', stage: 'supervision', causedBy: 1, receivedAt: started + 20_000 })
  })
})
