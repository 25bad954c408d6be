/**
 * supervision: EN 50136-1 reporting intervals, and the stage that declares a silent panel in
 * supervision failure (once), restores it when it reports again, and gives every panel a full
 * interval after a receiver restart. Rules are tested on the stage with a hand-made context; the
 * restart goes through the real PipelineRunner with an injected clock.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { AccountError } from '../../../src/accounts/account.js'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { SUPERVISION_PRESETS, supervisionSeconds } from '../../../src/accounts/supervision-presets.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import type { Stored } from '../../../src/journal/journal.js'
import { PipelineRunner } from '../../../src/pipeline/runner.js'
import type { StageEnvironment } from '../../../src/pipeline/stage.js'
import { StageHarness } from './stage-context.js'
import { supervision, type SupervisionOptions } from '../../../src/pipeline/stages/supervision.js'
import { PipelineStore } from '../../../src/pipeline/store.js'
import { parseContactId } from '../../../src/protocol/index.js'
import type { DerivedRecord, EventRecord, FrameRecord, JournalRecord } from '../../../src/journal/record.js'

const log = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 10, 26, 8)
const SECOND = 1000

function frame (account: string, receivedAt: number, cid = '1602 00 000'): FrameRecord {
  const parsed = parseContactId(Buffer.from(`#${account}|${cid}`))
  if (!parsed.ok) throw new Error(parsed.reason)
  return {
    type: 'frame', receivedAt, transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token: 'ADM-CID',
    encrypted: false, events: [parsed.value], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

/** A NULL link test: no events, only proof the panel is there. */
function linkTest (account: string, receivedAt: number): FrameRecord {
  return { ...frame(account, receivedAt), token: 'NULL', events: [], flags: { linkTest: true } }
}

/**
 * The stage with a context the test drives: state in a map (values copied as JSON, as the
 * pipeline store does), timers recorded by key, and `now` set by the test.
 */
class Harness extends StageHarness {
  #nextId = 1

  constructor (readonly accounts: MemoryAccountStore, options: SupervisionOptions = {}) {
    const env: StageEnvironment = { accounts, isUser: () => false, dataDir: '/nonexistent', log }
    super(supervision(options, env), T0)
  }

  async start (at: number): Promise<void> {
    this.now = at
    await this.stage.start!(this.ctx)
  }

  /** Runs a record as the runner would (receive time as `now`); returns its journal id. */
  async run (record: EventRecord): Promise<number> {
    const id = this.#nextId++
    this.now = record.receivedAt
    const result = await this.stage.run({ record: { ...record, id }, annotations: {} }, this.ctx)
    this.emitted.push(...(result?.emit ?? []))
    return id
  }

  kinds (): string[] {
    return this.emitted.map((e) => `${e.kind} ${e.account}`)
  }
}

/** A removal of the account, as the HTTP interface or `dc09 accounts remove` journals it. */
const removal = (account: string, createdAt: string, at: number): DerivedRecord =>
  ({ type: 'derived', receivedAt: at, kind: 'account-removed', account, stage: 'accounts', causedBy: 0, n: 0, data: { createdAt, tenant: 't1', by: 'admin:abc' } })

/** Removes the account from the store and adds it again (a later holder); the removed one's createdAt. */
function reAdd (accounts: MemoryAccountStore, account: string, supervisionSeconds: number): string {
  const old = accounts.get(account)!.createdAt
  accounts.remove(account)
  const r = accounts.add({ account, supervisionSeconds, tenant: 't2' })
  if (!r.ok) throw new Error(r.reason)
  return old
}

/** Accounts made a day before T0, each a millisecond after the one before (so each holder of a number is told apart). */
function accountsWith (...entries: Array<{ account: string, supervisionSeconds?: number | string }>): MemoryAccountStore {
  let made = T0 - 86_400 * SECOND
  const accounts = new MemoryAccountStore(undefined, { now: () => new Date(made++) })
  for (const e of entries) {
    const r = accounts.add(e)
    if (!r.ok) throw new Error(r.reason)
  }
  return accounts
}

describe('supervisionSeconds: EN 50136-1 categories', () => {
  it.each([
    ['SP2', 25 * 3600], ['SP3', 30 * 60], ['SP4', 3 * 60], ['SP5', 90], ['SP6', 20],
    ['DP1', 25 * 3600], ['DP2', 30 * 60], ['DP3', 3 * 60], ['DP4', 90],
  ])('%s is %i seconds', (name, seconds) => {
    expect(supervisionSeconds(name)).toBe(seconds)
    expect(SUPERVISION_PRESETS[name]).toBe(seconds)
  })

  it('has exactly the nine categories SP2-SP6 and DP1-DP4', () => {
    expect(Object.keys(SUPERVISION_PRESETS).sort()).toEqual(['DP1', 'DP2', 'DP3', 'DP4', 'SP2', 'SP3', 'SP4', 'SP5', 'SP6'])
  })

  it('reads a name in any case, with spaces around it', () => {
    expect(supervisionSeconds(' dp3 ')).toBe(180)
  })

  it('accepts plain seconds, as a number or as digits', () => {
    expect(supervisionSeconds(300)).toBe(300)
    expect(supervisionSeconds('300')).toBe(300)
  })

  it.each([['SP1'], ['SP7'], ['DP5'], ['ATS4'], [''], ['12s'], ['-5'], [0], [-5], [1.5], ['0']])('rejects %j', (value) => {
    expect(supervisionSeconds(value)).toBeUndefined()
  })

  it('is how accounts take a category name, and unknown names are refused', () => {
    const accounts = new MemoryAccountStore()
    expect(accounts.add({ account: '1234', supervisionSeconds: 'DP2' })).toMatchObject({ ok: true, value: { supervisionSeconds: 1800 } })
    expect(accounts.add({ account: '1235', supervisionSeconds: 'SP9' })).toMatchObject({ ok: false, code: AccountError.INVALID })
    expect(accounts.get('1235')).toBeUndefined()
  })
})

describe('supervision stage', () => {
  it('declares a panel silent for its interval in supervision failure', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }))
    await h.start(T0)
    const id = await h.run(frame('1234', T0 + 10 * SECOND))
    await h.advance(T0 + 69 * SECOND)
    expect(h.emitted).toEqual([])
    await h.advance(T0 + 70 * SECOND)
    expect(h.emitted).toEqual([{
      kind: 'supervision-failure', account: '1234', holder: h.accounts.get('1234')!.createdAt, causedBy: id,
      data: { lastSeen: new Date(T0 + 10 * SECOND).toISOString(), intervalSeconds: 60 },
    }])
  })

  it('takes any frame as proof of life, a NULL link test included', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }))
    await h.start(T0)
    await h.run(frame('1234', T0 + 10 * SECOND))
    await h.run(linkTest('1234', T0 + 50 * SECOND))
    await h.advance(T0 + 109 * SECOND)
    expect(h.emitted).toEqual([])
    await h.advance(T0 + 110 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 1234'])
  })

  it('does not take an event a stage derived for the account as a report from the panel', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }))
    await h.start(T0)
    await h.run(frame('1234', T0 + 10 * SECOND))
    const derived: DerivedRecord = { type: 'derived', receivedAt: T0 + 50 * SECOND, kind: 'case-opened', account: '1234', stage: 'cases', causedBy: 1, n: 0, data: {} }
    await h.run(derived)
    await h.advance(T0 + 70 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 1234'])
  })

  it('emits one failure for a silent panel, not one per scan', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }), { scanSeconds: 10 })
    await h.start(T0)
    await h.run(frame('1234', T0))
    await h.advance(T0 + 3600 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 1234'])
    expect(h.timers.has('1234')).toBe(false)
    expect(h.timers.get('~scan')).toBe(T0 + 3600 * SECOND + 10 * SECOND)
    // Its timer firing again (a replay after a crash) says nothing more.
    expect(await h.stage.due!('1234', h.ctx)).toBeUndefined()
  })

  it('watches each account on its own interval', async () => {
    const h = new Harness(accountsWith({ account: '1111', supervisionSeconds: 'SP6' }, { account: '2222', supervisionSeconds: 'SP5' }))
    await h.start(T0)
    await h.run(frame('1111', T0 + SECOND))
    await h.run(frame('2222', T0 + SECOND))
    await h.advance(T0 + 21 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 1111'])
    await h.advance(T0 + 91 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 1111', 'supervision-failure 2222'])
  })

  it('restores when the panel reports again, then watches it again', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }))
    await h.start(T0)
    await h.run(frame('1234', T0))
    await h.advance(T0 + 60 * SECOND)
    await h.run(linkTest('1234', T0 + 100 * SECOND))
    expect(h.emitted.at(-1)).toEqual({ kind: 'supervision-restore', account: '1234', data: { reports: 1 } })
    await h.run(linkTest('1234', T0 + 120 * SECOND))
    expect(h.kinds()).toEqual(['supervision-failure 1234', 'supervision-restore 1234'])
    await h.advance(T0 + 180 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 1234', 'supervision-restore 1234', 'supervision-failure 1234'])
  })

  it('with restoreAfter: 2 (Sur-Gard), restores only at the second report', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }), { restoreAfter: 2 })
    await h.start(T0)
    await h.run(frame('1234', T0))
    await h.advance(T0 + 60 * SECOND)
    await h.run(linkTest('1234', T0 + 100 * SECOND))
    expect(h.kinds()).toEqual(['supervision-failure 1234'])
    await h.run(linkTest('1234', T0 + 110 * SECOND))
    expect(h.emitted.at(-1)).toEqual({ kind: 'supervision-restore', account: '1234', data: { reports: 2 } })
  })

  it('with restoreAfter: 2, a panel that stays silent after one report is not declared failed again', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }), { restoreAfter: 2 })
    await h.start(T0)
    await h.run(frame('1234', T0))
    await h.advance(T0 + 60 * SECOND)
    await h.run(linkTest('1234', T0 + 100 * SECOND))
    await h.advance(T0 + 3600 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 1234'])
  })

  it('ignores accounts without a reporting interval, and unknown accounts', async () => {
    const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }, { account: '5678' }))
    await h.start(T0)
    await h.run(frame('5678', T0))
    await h.run(frame('9999', T0))
    await h.advance(T0 + 3600 * SECOND)
    expect([...h.values.keys()]).toEqual(['1234'])
    expect(h.kinds()).toEqual(['supervision-failure 1234'])
  })

  describe('start', () => {
    it('rebuilds the timers from the state, and none for a panel already failed', async () => {
      const h = new Harness(accountsWith({ account: '1111', supervisionSeconds: 60 }, { account: '2222', supervisionSeconds: 60 }))
      h.values.set('1111', { lastSeen: T0 - 10 * SECOND, lastId: 7, failed: false, reports: 0, notBefore: 0 })
      h.values.set('2222', { lastSeen: T0 - 600 * SECOND, lastId: 3, failed: true, reports: 0, notBefore: 0 })
      await h.start(T0)
      expect(h.timers).toEqual(new Map([['1111', T0 + 60 * SECOND], ['~scan', T0 + 60 * SECOND]]))
      await h.advance(T0 + 3600 * SECOND)
      expect(h.emitted.map((e) => [e.kind, e.account, e.causedBy])).toEqual([['supervision-failure', '1111', 7]])
    })

    it('waits one full interval after a start before declaring a panel silent, however long ago it reported', async () => {
      const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }))
      h.values.set('1234', { lastSeen: T0 - 10 * 3600 * SECOND, lastId: 7, failed: false, reports: 0, notBefore: 0 })
      await h.start(T0)
      await h.advance(T0 + 59 * SECOND)
      expect(h.emitted).toEqual([])
      await h.advance(T0 + 60 * SECOND)
      expect(h.emitted).toEqual([{
        kind: 'supervision-failure', account: '1234', holder: h.accounts.get('1234')!.createdAt, causedBy: 7,
        data: { lastSeen: new Date(T0 - 10 * 3600 * SECOND).toISOString(), intervalSeconds: 60 },
      }])
    })

    it('keeps the grace when the panel reports soon after the start', async () => {
      const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }))
      h.values.set('1234', { lastSeen: T0 - 3600 * SECOND, lastId: 7, failed: false, reports: 0, notBefore: 0 })
      await h.start(T0)
      await h.run(linkTest('1234', T0 + 5 * SECOND))
      await h.advance(T0 + 64 * SECOND)
      expect(h.emitted).toEqual([])
      await h.advance(T0 + 65 * SECOND)
      expect(h.kinds()).toEqual(['supervision-failure 1234'])
    })

    it('watches a supervised account that never reported from the start, one interval on', async () => {
      const h = new Harness(accountsWith({ account: '1234', supervisionSeconds: 60 }))
      await h.start(T0)
      await h.advance(T0 + 60 * SECOND)
      expect(h.emitted).toEqual([{ kind: 'supervision-failure', account: '1234', holder: h.accounts.get('1234')!.createdAt, causedBy: 0, data: { lastSeen: null, intervalSeconds: 60 } }])
    })
  })

  describe('the periodic scan', () => {
    it('picks up an account added while running and watches it from the scan, one interval on', async () => {
      const accounts = accountsWith()
      const h = new Harness(accounts, { scanSeconds: 30 })
      await h.start(T0)
      expect(h.timers).toEqual(new Map([['~scan', T0 + 30 * SECOND]]))
      accounts.add({ account: '1234', supervisionSeconds: 60 })
      await h.advance(T0 + 30 * SECOND)
      expect(h.timers).toEqual(new Map([['~scan', T0 + 60 * SECOND], ['1234', T0 + 90 * SECOND]]))
      await h.advance(T0 + 89 * SECOND)
      expect(h.emitted).toEqual([])
      await h.advance(T0 + 90 * SECOND)
      expect(h.kinds()).toEqual(['supervision-failure 1234'])
    })

    it('picks up an account given an interval while running', async () => {
      const accounts = accountsWith({ account: '1234' })
      const h = new Harness(accounts)
      await h.start(T0)
      await h.run(frame('1234', T0 + SECOND))
      accounts.update('1234', { supervisionSeconds: 'SP6' })
      await h.advance(T0 + 60 * SECOND)
      expect(h.timers.get('1234')).toBe(T0 + 80 * SECOND)
      await h.advance(T0 + 80 * SECOND)
      expect(h.kinds()).toEqual(['supervision-failure 1234'])
    })

    it('scans every 60 seconds by default', async () => {
      const h = new Harness(accountsWith())
      await h.start(T0)
      expect(h.timers.get('~scan')).toBe(T0 + 60 * SECOND)
    })
  })

  describe('options', () => {
    it.each([[0], [11], [1.5], ['2']])('refuses restoreAfter %j', (restoreAfter) => {
      expect(() => new Harness(accountsWith(), { restoreAfter } as unknown as SupervisionOptions))
        .toThrow('supervision: restoreAfter is a whole number from 1 to 10')
    })

    it.each([[0], [0.5], [86_401], ['x']])('refuses scanSeconds %j', (scanSeconds) => {
      expect(() => new Harness(accountsWith(), { scanSeconds } as unknown as SupervisionOptions))
        .toThrow('supervision: scanSeconds is from 1 to 86400')
    })

    it('accepts the limits', () => {
      for (const options of [{ restoreAfter: 1 }, { restoreAfter: 10 }, { scanSeconds: 1 }, { scanSeconds: 86_400 }]) {
        expect(new Harness(accountsWith(), options).stage.name).toBe('supervision')
      }
    })
  })
})

describe('supervision through the runner, across a restart', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'dc09-supervision-')) })
  afterEach(() => rmSync(dir, { recursive: true, force: true }))

  const INTERVAL = 60 * SECOND

  async function until (what: () => boolean): Promise<void> {
    const deadline = Date.now() + 5000
    while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5))
  }

  async function failures (journal: MemoryJournal<JournalRecord>): Promise<Array<Stored<DerivedRecord>>> {
    const out: Array<Stored<DerivedRecord>> = []
    for await (const r of journal.read()) if (r.type === 'derived' && r.kind === 'supervision-failure') out.push(r)
    return out
  }

  it('after a restart long past the deadline, waits one interval from the start, then declares the panel silent once', async () => {
    const accounts = accountsWith({ account: '1234', supervisionSeconds: 60 })
    const env: StageEnvironment = { accounts, isUser: () => false, dataDir: dir, log }
    const journal = new MemoryJournal<JournalRecord>()
    const store = new PipelineStore(dir)
    let now = T0
    const clock = (): number => now

    // First run: the panel reports, then the receiver stops before its deadline.
    const first = new PipelineRunner({ journal, store, stages: [supervision({}, env)], log, clock, options: { pollMs: 5 } })
    await first.start()
    const id = await journal.append(frame('1234', T0 + SECOND))
    first.notify()
    await until(() => first.cursor === id)
    await first.stop()
    expect(first.cursor).toBe(id)

    // Ten intervals later the receiver starts again: the panel is not blamed for its absence.
    const restart = T0 + 10 * INTERVAL
    now = restart
    const second = new PipelineRunner({ journal, store, stages: [supervision({}, env)], log, clock, options: { pollMs: 5 } })
    await second.start()
    expect(second.scheduled('supervision', '1234')).toBe(true)
    await new Promise((r) => setTimeout(r, 50))
    expect(await failures(journal)).toEqual([])

    now = restart + INTERVAL - 1
    await new Promise((r) => setTimeout(r, 50))
    expect(await failures(journal)).toEqual([])

    now = restart + INTERVAL
    second.notify()
    await until(() => journal.lastId > id)
    now = restart + 20 * INTERVAL
    await new Promise((r) => setTimeout(r, 50))
    await second.stop()
    store.close()
    const found = await failures(journal)
    expect(found.map((f) => [f.account, f.causedBy, f.stage, f.data])).toEqual([
      ['1234', id, 'supervision', { lastSeen: new Date(T0 + SECOND).toISOString(), intervalSeconds: 60 }],
    ])
  })

  it('before any restart, a silent panel is declared failed one interval after its last frame', async () => {
    const accounts = accountsWith({ account: '1234', supervisionSeconds: 60 })
    const journal = new MemoryJournal<JournalRecord>()
    const store = new PipelineStore(dir)
    let now = T0
    const runner = new PipelineRunner({ journal, store, stages: [supervision({}, { accounts, isUser: () => false, dataDir: dir, log })], log, clock: () => now, options: { pollMs: 5 } })
    await runner.start()
    const id = await journal.append(frame('1234', T0 + 30 * SECOND))
    now = T0 + 30 * SECOND
    runner.notify()
    await until(() => runner.cursor === id)
    now = T0 + 89 * SECOND
    await new Promise((r) => setTimeout(r, 50))
    expect(await failures(journal)).toEqual([])
    now = T0 + 90 * SECOND
    runner.notify()
    await until(() => journal.lastId > id)
    await runner.stop()
    store.close()
    expect((await failures(journal)).map((f) => [f.account, f.causedBy])).toEqual([['1234', id]])
  })
})

describe('supervision: an account number that changes hands', () => {
  it('a removal ends the holder\'s supervision; the next holder, silent, is declared silent on time with nothing of the earlier one', async () => {
    const accounts = accountsWith({ account: '4321', supervisionSeconds: 3 })
    const h = new Harness(accounts, { scanSeconds: 1 })
    await h.start(T0)
    await h.run(frame('4321', T0 + SECOND))
    await h.advance(T0 + 10 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 4321'])
    await h.run(removal('4321', accounts.get('4321')!.createdAt, T0 + 10 * SECOND))
    expect(h.values.has('4321')).toBe(false)
    expect(h.timers.has('4321')).toBe(false)
    reAdd(accounts, '4321', 3)
    h.emitted.length = 0
    // Picked up by the next scan (T0 + 11 s), declared silent one interval on.
    await h.advance(T0 + 13_999)
    expect(h.emitted).toEqual([])
    await h.advance(T0 + 14 * SECOND)
    expect(h.emitted).toEqual([{ kind: 'supervision-failure', account: '4321', holder: accounts.get('4321')!.createdAt, causedBy: 0, data: { lastSeen: null, intervalSeconds: 3 } }])
  })

  it('the next holder\'s first frame raises no restore of the earlier holder\'s failure', async () => {
    const accounts = accountsWith({ account: '4321', supervisionSeconds: 3 })
    const h = new Harness(accounts, { scanSeconds: 1 })
    await h.start(T0)
    await h.advance(T0 + 5 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 4321'])
    await h.run(removal('4321', accounts.get('4321')!.createdAt, T0 + 5 * SECOND))
    reAdd(accounts, '4321', 3)
    await h.run(frame('4321', T0 + 6 * SECOND))
    expect(h.kinds()).toEqual(['supervision-failure 4321'])
    await h.advance(T0 + 9 * SECOND)
    expect(h.emitted.at(-1)).toMatchObject({ kind: 'supervision-failure', data: { lastSeen: new Date(T0 + 6 * SECOND).toISOString() } })
  })

  it('a removal journaled after the number was taken again leaves the later holder\'s state', async () => {
    const accounts = accountsWith({ account: '4321', supervisionSeconds: 60 })
    const h = new Harness(accounts, { scanSeconds: 3600 })
    await h.start(T0)
    const removed = reAdd(accounts, '4321', 60)
    await h.run(frame('4321', T0 + SECOND))
    await h.run(removal('4321', removed, T0 + 2 * SECOND))
    expect(h.values.get('4321')).toMatchObject({ lastSeen: T0 + SECOND, holder: accounts.get('4321')!.createdAt })
    expect(h.timers.has('4321')).toBe(true)
  })

  it('with the removal never journaled (an older version removed it), the earlier holder\'s state is not the next one\'s', async () => {
    const accounts = accountsWith({ account: '4321', supervisionSeconds: 3 })
    const h = new Harness(accounts, { scanSeconds: 1 })
    await h.start(T0)
    await h.run(frame('4321', T0 + SECOND))
    await h.advance(T0 + 4 * SECOND)
    expect(h.kinds()).toEqual(['supervision-failure 4321'])
    reAdd(accounts, '4321', 3)
    // The failed state of the earlier holder suppresses nothing: the next scan watches the new one.
    await h.advance(T0 + 8 * SECOND)
    expect(h.emitted.at(-1)).toEqual({ kind: 'supervision-failure', account: '4321', holder: accounts.get('4321')!.createdAt, causedBy: 0, data: { lastSeen: null, intervalSeconds: 3 } })
    expect(h.kinds()).toEqual(['supervision-failure 4321', 'supervision-failure 4321'])
  })

  /**
   * The holder 4321 had (t1, made a day before T0), watched from T0; its frame at T0 + 1 s and its
   * removal at T0 + 2 s, both journaled while it held the number; then t2 takes the number at
   * T0 + 3 s. The pipeline, lagging (or stopped while the commands ran), reaches them only after.
   */
  async function handedOnWhileLagging (stamped: boolean) {
    let made = T0 - 86_400 * SECOND
    const accounts = new MemoryAccountStore(undefined, { now: () => new Date(made) })
    accounts.add({ account: '4321', supervisionSeconds: 60, tenant: 't1' })
    const h = new Harness(accounts, { scanSeconds: 3600 })
    await h.start(T0)
    const t1 = accounts.get('4321')!.createdAt
    const stamp = <R extends EventRecord>(r: R, holder: string): R => (stamped ? { ...r, holder } : r)
    const report = stamp(frame('4321', T0 + SECOND), t1)
    const removed = stamp(removal('4321', t1, T0 + 2 * SECOND), t1)
    made = T0 + 3 * SECOND
    reAdd(accounts, '4321', 60)
    return { h, t2: accounts.get('4321')!.createdAt, report, removed }
  }

  it.each([
    ['stamped by the receiver with its holder', true],
    ['from before records named their holder', false],
  ])('a frame of the removed holder (%s) that the pipeline reaches after the number was taken again is no report of the next holder', async (_, stamped) => {
    const { h, t2, report, removed } = await handedOnWhileLagging(stamped)
    await h.run(report)
    await h.run(removed)
    expect(h.values.get('4321')).toBeUndefined()
    // Watched from the next scan (T0 + 3600 s), one interval on: silent, and never reported.
    await h.advance(T0 + 4000 * SECOND)
    expect(h.emitted).toEqual([{ kind: 'supervision-failure', account: '4321', holder: t2, causedBy: 0, data: { lastSeen: null, intervalSeconds: 60 } }])
  })

  it('nor does a frame of the next holder restore the earlier holder\'s failure, or take its report time', async () => {
    const accounts = accountsWith({ account: '4321', supervisionSeconds: 60 })
    const h = new Harness(accounts, { scanSeconds: 3600 })
    await h.start(T0)
    await h.run(frame('4321', T0 + SECOND))
    await h.advance(T0 + 61 * SECOND)
    reAdd(accounts, '4321', 60)
    await h.run(frame('4321', T0 + 70 * SECOND))
    expect(h.kinds()).toEqual(['supervision-failure 4321'])
    await h.advance(T0 + 130 * SECOND)
    expect(h.emitted.at(-1)).toMatchObject({ kind: 'supervision-failure', data: { lastSeen: new Date(T0 + 70 * SECOND).toISOString() } })
  })
})
