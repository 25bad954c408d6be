/**
 * The cases stage's read model: cases as the stage committed them, read from the pipeline store
 * by page (in id order, filtered by holder and state, with where to go on) and by id, without
 * the reader knowing the stage's name or key layout. The cases are made by the stage itself,
 * run by the runner over a memory journal.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Account } from '../../../src/accounts/account.js'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import type { FrameRecord, JournalRecord } from '../../../src/journal/record.js'
import { PipelineRunner } from '../../../src/pipeline/runner.js'
import { cases, casesReadModel, type CasesReadModel } from '../../../src/pipeline/stages/cases.js'
import { PipelineStore } from '../../../src/pipeline/store.js'
import { parseContactId } from '../../../src/protocol/index.js'

const log = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 10, 26, 8)

let dir: string
let store: PipelineStore
let runner: PipelineRunner
let model: CasesReadModel
const accounts = new MemoryAccountStore(undefined, { now: (() => { let t = T0 - 86_400_000; return () => new Date(t += 1000) })() })
const journal = new MemoryJournal<JournalRecord>()
const held: Record<string, Account> = {}
/** The journal id of the alarm that opened each account's case. */
const opened: Record<string, number> = {}

async function frame (account: string, data: string, at: number): Promise<number> {
  const parsed = parseContactId(Buffer.from(`#${account}|${data}`))
  if (!parsed.ok) throw new Error(parsed.reason)
  const r: FrameRecord = {
    type: 'frame', receivedAt: at, transport: 'tcp', peer: '127.0.0.1:5000', account, holder: accounts.get(account)?.createdAt, rcvr: undefined, lpref: '0', seq: '0001', token: 'ADM-CID',
    encrypted: false, events: [parsed.value], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
  return journal.append(r)
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-cases-read-'))
  for (const account of ['A100', 'B200', 'C300']) {
    const r = accounts.add({ account })
    if (!r.ok) throw new Error(r.reason)
    held[account] = r.value
  }
  store = new PipelineStore(dir)
  runner = new PipelineRunner({ journal, store, stages: [cases({}, { accounts, isUser: () => false, dataDir: dir, log })], log, clock: () => T0, options: { pollMs: 5 } })
  await runner.start()
  opened.A100 = await frame('A100', '1130 01 015', T0)
  opened.B200 = await frame('B200', '1130 01 003', T0 + 1000)
  // A cancel from B200's panel closes its case.
  await frame('B200', '1406 01 001', T0 + 2000)
  opened.C300 = await frame('C300', '1110 01 007', T0 + 3000)
  // Joins A100's open case.
  await frame('A100', '1130 01 016', T0 + 4000)
  runner.notify()
  expect(await runner.waitFor(journal.lastId, 10_000)).toBe(true)
  model = casesReadModel(store)
})

afterAll(async () => {
  await runner.stop()
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

const ids = (page: { items: ReadonlyArray<{ id: number }> }): number[] => page.items.map((k) => k.id)

describe('casesReadModel', () => {
  it('gets a case by the id of the alarm that opened it, and nothing for any other id', () => {
    expect(model.get(opened.A100!)).toMatchObject({ id: opened.A100, account: 'A100', state: 'open', alarms: 2, holder: held.A100!.createdAt })
    expect(model.get(opened.B200!)).toMatchObject({ account: 'B200', state: 'cancelled', closedBy: 'panel cancel, user 1' })
    expect(model.get(opened.B200! + 1)).toBeUndefined()
    expect(model.get(999)).toBeUndefined()
  })

  it('pages every case in id order, and goes on after the last id of a full page', () => {
    const first = model.page({ state: 'all' }, undefined, 2)
    expect(ids(first)).toEqual([opened.A100, opened.B200])
    expect(first.next).toBe(opened.B200)
    const second = model.page({ state: 'all' }, first.next, 2)
    expect(ids(second)).toEqual([opened.C300])
    expect(second.next).toBeUndefined()
    expect(ids(model.page({ state: 'all' }, opened.C300, 2))).toEqual([])
  })

  it('filters by state: open, closed (any way of closing), all', () => {
    expect(ids(model.page({ state: 'open' }, undefined, 10))).toEqual([opened.A100, opened.C300])
    expect(ids(model.page({ state: 'closed' }, undefined, 10))).toEqual([opened.B200])
    expect(ids(model.page({ state: 'all' }, undefined, 10))).toEqual([opened.A100, opened.B200, opened.C300])
  })

  it('lists a holder\'s cases only: not another account\'s, nor another holder\'s of the same number', () => {
    expect(ids(model.page({ of: held.A100, state: 'all' }, undefined, 10))).toEqual([opened.A100])
    expect(ids(model.page({ of: held.B200, state: 'open' }, undefined, 10))).toEqual([])
    expect(ids(model.page({ of: held.B200, state: 'closed' }, undefined, 10))).toEqual([opened.B200])
    const later = { account: 'A100', createdAt: new Date(T0 + 60_000).toISOString() }
    expect(ids(model.page({ of: later, state: 'all' }, undefined, 10))).toEqual([])
  })

  it('finds a holder\'s open case, and none for a closed one or another holder', () => {
    expect(model.openOf(held.A100!)?.id).toBe(opened.A100)
    expect(model.openOf(held.B200!)).toBeUndefined()
    expect(model.openOf({ account: 'A100', createdAt: new Date(T0 + 60_000).toISOString() })).toBeUndefined()
  })
})
