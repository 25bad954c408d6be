/**
 * The example pipeline: examples/pipeline.json with examples/stages/battery-watch.mjs loads as a
 * user would load it, and does what it says, through the real runner.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import { loadPipeline, PipelineConfigError, readPipelineConfig } from '../../../src/pipeline/loader.js'
import { PipelineRunner } from '../../../src/pipeline/runner.js'
import { PipelineStore } from '../../../src/pipeline/store.js'
import { parseContactId } from '../../../src/protocol/index.js'
import type { DerivedRecord, FrameRecord, JournalRecord } from '../../../src/journal/record.js'

const EXAMPLE = new URL('../../../examples/pipeline.json', import.meta.url).pathname
const log = pino({ level: 'silent' })

function frame (account: string, cid: string, receivedAt: number): FrameRecord {
  const parsed = parseContactId(Buffer.from(`#${account}|${cid}`))
  if (!parsed.ok) throw new Error(parsed.reason)
  return {
    type: 'frame', receivedAt, transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token: 'ADM-CID',
    encrypted: false, events: [parsed.value], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

let dir: string
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'dc09-example-')) })
afterEach(() => rmSync(dir, { recursive: true, force: true }))

describe('examples/pipeline.json', () => {
  it('loads, and battery-watch emits one maintenance-due after three low-battery reports, until a restore', async () => {
    const accounts = new MemoryAccountStore()
    const { config, baseDir } = readPipelineConfig(EXAMPLE)
    const stages = await loadPipeline(config, { accounts, isUser: () => false, dataDir: dir, log }, baseDir)
    expect(stages.map((s) => s.name)).toEqual(['classify', 'supervision', 'cases', 'battery-watch', 'jsonl'])
    const journal = new MemoryJournal<JournalRecord>()
    const store = new PipelineStore(dir)
    const runner = new PipelineRunner({ journal, store, stages, log, options: { pollMs: 10 } })
    const t0 = Date.UTC(2026, 10, 26, 8)
    const hour = 3_600_000
    const sent = [
      frame('4321', '1302 01 000', t0), frame('4321', '1302 01 000', t0 + 2 * hour), frame('9999', '1302 01 000', t0 + 3 * hour),
      frame('4321', '1302 01 000', t0 + 4 * hour), frame('4321', '1302 01 000', t0 + 5 * hour), // fourth: already flagged
      frame('4321', '3302 01 000', t0 + 6 * hour), // restore clears
      frame('4321', '1302 01 000', t0 + 7 * hour), frame('4321', '1302 01 000', t0 + 8 * hour), frame('4321', '1302 01 000', t0 + 9 * hour),
    ]
    // All journaled before the runner starts: a runner polling meanwhile would journal its
    // event between them, and the ids the test expects would move.
    for (const f of sent) await journal.append(f)
    await runner.start()
    const deadline = Date.now() + 5000
    while (runner.cursor < journal.lastId && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
    await runner.stop()
    store.close()
    const due: Array<DerivedRecord & { id: number }> = []
    for await (const r of journal.read()) if (r.type === 'derived' && r.kind === 'maintenance-due') due.push(r)
    expect(due.map((d) => [d.account, d.causedBy, d.stage])).toEqual([['4321', 4, 'battery-watch'], ['4321', 9, 'battery-watch']])
    expect(due[0]!.data).toEqual({ reason: 'low battery', reports: 3, withinHours: 24 })
  })

  it('refuses bad options when loaded, not at the first event', async () => {
    const env = { accounts: new MemoryAccountStore(), isUser: () => false, dataDir: dir, log }
    const { baseDir } = readPipelineConfig(EXAMPLE)
    await expect(loadPipeline({ stages: [{ module: './stages/battery-watch.mjs', options: { reports: 0 } }] }, env, baseDir))
      .rejects.toThrow(new PipelineConfigError('stage 1: battery-watch: reports is a whole number, at least 1'))
  })
})
