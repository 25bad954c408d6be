/** Both PipelineStore backends against the one conformance suite, and the runner over the memory one. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import type { FrameRecord, JournalRecord } from '../../../src/journal/record.js'
import { MemoryPipelineStore } from '../../../src/pipeline/memory-store.js'
import { PipelineRunner } from '../../../src/pipeline/runner.js'
import type { Stage } from '../../../src/pipeline/stage.js'
import { SqlitePipelineStore } from '../../../src/pipeline/store.js'
import { pipelineStoreSuite } from '../../conformance/pipeline-store.suite.js'

pipelineStoreSuite('MemoryPipelineStore', () => ({ store: new MemoryPipelineStore() }))
pipelineStoreSuite('SqlitePipelineStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-pstore-'))
  return {
    store: new SqlitePipelineStore(dir),
    reopen: () => new SqlitePipelineStore(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})
pipelineStoreSuite('SqlitePipelineStore with a cache of 2 values', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-pstore-'))
  return {
    store: new SqlitePipelineStore(dir, { cacheEntries: 2 }),
    reopen: () => new SqlitePipelineStore(dir, { cacheEntries: 2 }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})

describe('PipelineRunner over the memory backend', () => {
  it('runs events through the stages, commits their state with the cursor, and keeps dead letters', async () => {
    const journal = new MemoryJournal<JournalRecord>()
    const store = new MemoryPipelineStore()
    const counter: Stage = {
      name: 'count',
      run: ({ record }, { state }) => {
        if (record.type !== 'frame') return
        state.set(record.account, (state.get<number>(record.account) ?? 0) + 1)
        if (record.account === 'FAIL') throw new Error('this stage cannot take it')
      },
    }
    const runner = new PipelineRunner({ journal, store, stages: [counter], log: pino({ level: 'silent' }), options: { retries: 1, backoffMs: [1, 1], pollMs: 5 } })
    for (const account of ['1234', '1234', 'FAIL', '5678']) await journal.append(frame(account))
    await runner.start()
    for (let i = 0; runner.cursor !== journal.lastId; i++) {
      if (i > 1000) throw new Error('the runner did not catch up')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    await runner.stop()
    expect(store.cursor()).toBe(journal.lastId)
    expect(store.read('count', '')).toEqual([['1234', 2], ['5678', 1]])
    expect(store.deadLetters()).toMatchObject([{ id: 3, stage: 'count', timer: '', error: expect.stringContaining('cannot take it') }])
  })
})

function frame (account: string): FrameRecord {
  return {
    type: 'frame', receivedAt: Date.UTC(2026, 0, 1), transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token: 'ADM-CID',
    encrypted: false, events: [], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}
