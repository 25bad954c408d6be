/**
 * Waiting for the pipeline to reach an event (what the HTTP interface does when it resolves a
 * case): woken by the commit that moves the cursor, not by polling it; false after the timeout.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import type { FrameRecord, JournalRecord } from '../../../src/journal/record.js'
import { PipelineRunner } from '../../../src/pipeline/runner.js'
import type { Stage } from '../../../src/pipeline/stage.js'
import { PipelineStore } from '../../../src/pipeline/store.js'

const silent = pino({ level: 'silent' })

function frame (account: string): FrameRecord {
  return {
    type: 'frame', receivedAt: Date.now(), transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token: 'ADM-CID',
    encrypted: false, events: [], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

let dir: string
let journal: MemoryJournal<JournalRecord>
const opened: Array<() => Promise<void>> = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-runner-wait-'))
  journal = new MemoryJournal<JournalRecord>()
})
afterEach(async () => {
  for (const close of opened.splice(0)) await close()
  rmSync(dir, { recursive: true, force: true })
})

/** A runner that polls the journal rarely (a minute): only a notify or a commit moves it on. */
function pipeline (stages: Stage[] = []) {
  const store = new PipelineStore(dir)
  const runner = new PipelineRunner({ journal, store, stages, log: silent, options: { pollMs: 60_000 } })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await runner.stop()
    store.close()
  }
  opened.push(close)
  return { runner, close }
}

describe('PipelineRunner.waitFor', () => {
  it('resolves true when the batch holding the event is committed, and holds no wait after', async () => {
    const { runner } = pipeline()
    await runner.start()
    const id = await journal.append(frame('1234'))
    const reached = runner.waitFor(id, 10_000)
    expect(runner.waiting).toBe(1)
    const t0 = Date.now()
    runner.notify()
    expect(await reached).toBe(true)
    // Woken by the commit: far sooner than the poll, or than the timeout.
    expect(Date.now() - t0).toBeLessThan(5000)
    expect(runner.cursor).toBeGreaterThanOrEqual(id)
    expect(runner.waiting).toBe(0)
    // Reached already: answered at once.
    expect(await runner.waitFor(id, 0)).toBe(true)
  })

  it('resolves false after the timeout when the pipeline does not get there', async () => {
    const { runner } = pipeline()
    await runner.start()
    const t0 = Date.now()
    expect(await runner.waitFor(journal.lastId + 1, 50)).toBe(false)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45)
    expect(runner.waiting).toBe(0)
  })

  it('wakes many concurrent waits with one commit', async () => {
    const { runner } = pipeline()
    await runner.start()
    const ids: number[] = []
    for (let i = 0; i < 50; i++) ids.push(await journal.append(frame(`A${i}`)))
    const waits = ids.flatMap((id) => [runner.waitFor(id, 10_000), runner.waitFor(id, 10_000)])
    expect(runner.waiting).toBe(100)
    runner.notify()
    expect(await Promise.all(waits)).toEqual(waits.map(() => true))
    expect(runner.waiting).toBe(0)
  })

  it('wakes a wait made before the start, for events a previous run committed, when the start reads the cursor', async () => {
    const first = pipeline()
    await first.runner.start()
    const id = await journal.append(frame('1234'))
    first.runner.notify()
    expect(await first.runner.waitFor(id, 10_000)).toBe(true)
    await first.close()
    // As in the services worker: the interface answers before the pipeline has started.
    const second = pipeline()
    expect(second.runner.cursor).toBe(0)
    const reached = second.runner.waitFor(id, 10_000)
    expect(second.runner.waiting).toBe(1)
    await second.runner.start()
    expect(await reached).toBe(true)
    expect(second.runner.waiting).toBe(0)
  })
})
