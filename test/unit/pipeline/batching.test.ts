/**
 * The runner at scale, over a MemoryJournal and a real PipelineStore: a start over many accounts
 * commits in pages, a burst of deadlines is run in a few batches (one store commit each, not one
 * per timer), stages' buffered output is flushed before the cursor is committed, the lag in
 * seconds, and the account lookups the stages share within a batch.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { AccountStore } from '../../../src/accounts/account-store.js'
import type { Account } from '../../../src/accounts/account.js'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import { memoAccounts } from '../../../src/pipeline/loader.js'
import { PipelineRunner } from '../../../src/pipeline/runner.js'
import type { Stage } from '../../../src/pipeline/stage.js'
import { SUPERVISION_PAGE, supervision } from '../../../src/pipeline/stages/supervision.js'
import { Batch, PipelineStore } from '../../../src/pipeline/store.js'
import type { FrameRecord, JournalRecord } from '../../../src/journal/record.js'

const log = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 10, 26, 8)

function nullFrame (account: string, receivedAt: number): FrameRecord {
  return {
    type: 'frame', receivedAt, transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0000', token: 'NULL',
    encrypted: false, events: [], xdata: [], text: undefined, panelTime: undefined, flags: { linkTest: true }, quirks: [], dedupe: undefined, raw: '',
  }
}

async function until (what: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * `n` supervised accounts (20 s), made a day before T0: what supervision reads of an account
 * store (get, and the supervised ones in pages), over a sorted array; the memory store imports
 * thousands slowly.
 */
function accountsOf (n: number): AccountStore {
  const made = new Date(T0 - 86_400_000).toISOString()
  const all: Account[] = Array.from({ length: n }, (_, i) => ({ account: String(100000 + i), supervisionSeconds: 20, createdAt: made }) as unknown as Account)
  const byNumber = new Map(all.map((a) => [a.account, a]))
  return {
    get: (account: string) => byNumber.get(account),
    supervised: (after: string | undefined, limit: number) => {
      let lo = 0
      if (after !== undefined) while (lo < all.length && all[lo]!.account <= after) lo++
      return all.slice(lo, lo + limit)
    },
  } as unknown as AccountStore
}

let dir: string
let journal: MemoryJournal<JournalRecord>
let store: PipelineStore
let runner: PipelineRunner | undefined
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-batching-'))
  journal = new MemoryJournal<JournalRecord>()
  store = new PipelineStore(dir)
})
afterEach(async () => {
  await runner?.stop()
  runner = undefined
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

const failures = async (): Promise<number> => {
  let n = 0
  for await (const r of journal.read()) if (r.type === 'derived' && r.kind === 'supervision-failure') n++
  return n
}

describe('a start over many accounts', () => {
  it('commits a page at a time, and yields to the event loop between pages', async () => {
    const n = 2 * SUPERVISION_PAGE + 500
    const accounts = accountsOf(n)
    const commits: number[] = []
    const commit = store.commit.bind(store)
    vi.spyOn(store, 'commit').mockImplementation((batch, ...rest) => {
      commits.push(batch.writes.size)
      commit(batch, ...rest)
    })
    let turns = 0
    const ticker = setInterval(() => { turns++ }, 0)
    runner = new PipelineRunner({ journal, store, stages: [supervision({}, { accounts, isUser: () => false, dataDir: dir, log })], log, clock: () => T0 })
    await runner.start()
    clearInterval(ticker)
    expect(commits.reduce((a, b) => a + b, 0)).toBe(n)
    expect(commits.length).toBeGreaterThanOrEqual(3)
    expect(Math.max(...commits)).toBeLessThanOrEqual(SUPERVISION_PAGE)
    expect(turns).toBeGreaterThan(0)
    expect(runner.timers).toBe(n + 1) // every account, and the scan
    expect(store.readOne<{ notBefore: number }>('supervision', String(100000 + n - 1))?.notBefore).toBe(T0 + 20_000)
  })
})

describe('a burst of deadlines', () => {
  it('5,000 accounts silent at once: all reported in the same pass, a store commit per batch of timers, not per timer', async () => {
    const n = 5000
    const accounts = accountsOf(n)
    let now = T0
    runner = new PipelineRunner({ journal, store, stages: [supervision({}, { accounts, isUser: () => false, dataDir: dir, log })], log, clock: () => now, options: { pollMs: 5 } })
    await runner.start()
    const spy = vi.spyOn(store, 'commit')
    now = T0 + 20_000
    runner.notify()
    await until(() => journal.lastId >= n)
    expect(await failures()).toBe(n)
    // Within the second after they were due (this machine is shared and slow at times: the
    // bound is what the batching gives, not a measure of it).
    const fired = Date.now()
    await until(() => runner!.lag === 0)
    expect(Date.now() - fired).toBeLessThan(5000)
    // Timer batches commit no cursor; the failures, journaled, then run as events, in batches too.
    const timerCommits = spy.mock.calls.filter(([, cursor]) => cursor === undefined).length
    expect(timerCommits).toBeGreaterThanOrEqual(1)
    expect(timerCommits).toBeLessThanOrEqual(Math.ceil(n / 1000) + 1)
    expect(spy.mock.calls.length - timerCommits).toBeLessThanOrEqual(Math.ceil(n / 256) + 1)
    // Every failure journaled is remembered as such: a replay would not journal it again.
    expect(store.read<{ failed: boolean }>('supervision', '1').filter(([, st]) => st.failed)).toHaveLength(n)
  })
})

describe('flush before commit', () => {
  it('a stage\'s flush runs after its batch, before the cursor moves past it; a failing flush runs the batch again', async () => {
    const written: number[] = []
    let pending: number[] = []
    let failOnce = true
    const cursorsAtFlush: number[] = []
    const buffered: Stage = {
      name: 'buffered',
      run: ({ record }) => { pending.push(record.id) },
      flush: () => {
        cursorsAtFlush.push(store.cursor())
        if (failOnce) {
          failOnce = false
          pending = []
          throw new Error('disk full')
        }
        written.push(...pending)
        pending = []
      },
    }
    for (let i = 0; i < 5; i++) await journal.append(nullFrame('1234', T0))
    runner = new PipelineRunner({ journal, store, stages: [buffered], log, clock: () => T0, options: { pollMs: 5 } })
    await runner.start()
    await until(() => runner!.cursor === 5, 5000)
    expect(written).toEqual([1, 2, 3, 4, 5])
    expect(cursorsAtFlush).toEqual([0, 0])
    expect(store.cursor()).toBe(5)
  })
})

describe('lagSeconds', () => {
  it('0 when caught up; else now minus the receive time of the oldest event not yet run', async () => {
    let release!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const slow: Stage = { name: 'slow', run: async ({ record }) => { if (record.id === 1) await gate } }
    runner = new PipelineRunner({ journal, store, stages: [slow], log, clock: () => T0 + 100_000, options: { pollMs: 5 } })
    await runner.start()
    expect(runner.lagSeconds(T0 + 100_000)).toBe(0)
    await journal.append(nullFrame('1234', T0 + 10_000))
    await journal.append(nullFrame('1234', T0 + 20_000))
    runner.notify()
    await until(() => runner!.lag === 2 && runner!.lagSeconds(T0 + 100_000) > 0)
    expect(runner.lagSeconds(T0 + 100_000)).toBe(90)
    expect(runner.lagSeconds(T0 + 40_000)).toBe(30)
    release()
    await until(() => runner!.lag === 0)
    expect(runner.lagSeconds(T0 + 100_000)).toBe(0)
  })
})

describe('the store\'s state cache', () => {
  it('holds at most cacheEntries values, least recently used dropped first, and reads stay right', () => {
    const small = new PipelineStore(join(dir, 'small'), { cacheEntries: 100 })
    try {
      for (let page = 0; page < 10; page++) {
        const batch = new Batch()
        const st = small.state('s', [batch])
        for (let i = 0; i < 100; i++) st.set(`k${page * 100 + i}`, { i: page * 100 + i })
        small.commit(batch, undefined)
        expect(small.cached).toBeLessThanOrEqual(100)
      }
      const view = small.state('s', [new Batch()])
      // A hot key read again and again stays; the rest come from SQLite when needed.
      for (let i = 0; i < 1000; i++) {
        expect(view.get<{ i: number }>('k7')).toEqual({ i: 7 })
        expect(view.get<{ i: number }>(`k${i}`)).toEqual({ i })
      }
      expect(view.get('missing')).toBeUndefined()
      expect(small.cached).toBeLessThanOrEqual(100)
    } finally {
      small.close()
    }
  })
})

describe('memoAccounts', () => {
  it('reads an account once within a turn of the event loop, and again after it', async () => {
    const accounts = new MemoryAccountStore()
    accounts.add({ account: '100000', supervisionSeconds: 20 })
    const get = vi.spyOn(accounts, 'get')
    const memo = memoAccounts(accounts)
    expect(memo.get('100000')?.supervisionSeconds).toBe(20)
    expect(memo.get('100000')?.supervisionSeconds).toBe(20)
    expect(memo.get('999999')).toBeUndefined()
    expect(memo.get('999999')).toBeUndefined()
    expect(get).toHaveBeenCalledTimes(2)
    expect(memo.count()).toBe(1)
    accounts.update('100000', { supervisionSeconds: 60 })
    await new Promise((r) => setImmediate(r))
    expect(memo.get('100000')?.supervisionSeconds).toBe(60)
    expect(get).toHaveBeenCalledTimes(3)
  })
})
