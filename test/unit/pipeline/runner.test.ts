/**
 * The pipeline runner over a MemoryJournal and a real PipelineStore in a temp directory: order,
 * annotations, derived events, retries and dead letters, the persisted cursor, replays after a
 * crash, and timers on an injected clock. Then the store's own rules.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import type { Stored } from '../../../src/journal/journal.js'
import { PipelineRunner, type RunnerOptions } from '../../../src/pipeline/runner.js'
import type { Stage } from '../../../src/pipeline/stage.js'
import { Batch, PipelineStore } from '../../../src/pipeline/store.js'
import type { Logger } from '../../../src/log.js'
import { decodeFrame, serializeFrame } from '../../../src/protocol/index.js'
import { compactEvents } from '../../../src/journal/compact.js'
import type { DerivedRecord, FrameRecord, JournalRecord } from '../../../src/journal/record.js'

const silent = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 10, 26, 8)
const fast: Partial<RunnerOptions> = { retries: 2, backoffMs: [1, 1, 1], pollMs: 5 }

function frame (account: string, receivedAt = T0): FrameRecord {
  return {
    type: 'frame', receivedAt, transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token: 'ADM-CID',
    encrypted: false, events: [], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until (what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out')
    await sleep(5)
  }
}

let dir: string
let journal: MemoryJournal<JournalRecord>
const opened: Array<() => Promise<void>> = []

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-runner-'))
  journal = new MemoryJournal<JournalRecord>()
})
afterEach(async () => {
  for (const close of opened.splice(0)) await close()
  rmSync(dir, { recursive: true, force: true })
})

/** A runner and its store on `dir`; closed after the test if the test does not close it. */
function pipeline (stages: Stage[], deps: { clock?: () => number, options?: Partial<RunnerOptions>, log?: Logger } = {}) {
  const store = new PipelineStore(dir)
  const runner = new PipelineRunner({ journal, store, stages, log: deps.log ?? silent, clock: deps.clock, options: deps.options ?? fast })
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    await runner.stop()
    store.close()
  }
  opened.push(close)
  return { runner, store, close }
}

const caughtUp = (runner: PipelineRunner) => until(() => runner.cursor === journal.lastId)

async function derived (): Promise<Array<Stored<DerivedRecord>>> {
  const out: Array<Stored<DerivedRecord>> = []
  for await (const r of journal.read()) if (r.type === 'derived') out.push(r)
  return out
}

/** A stage that notes which events it was given. */
function recorder (name: string, seen: number[]): Stage {
  return { name, run: ({ record }) => { seen.push(record.id) } }
}

describe('PipelineRunner: events', () => {
  it('runs start() first, then every event through the stages in order, in journal order', async () => {
    const calls: string[] = []
    const stage = (name: string): Stage => ({
      name,
      start: async () => {
        await sleep(10)
        calls.push(`${name} start`)
      },
      run: ({ record }) => { calls.push(`${name} ${record.id}`) },
    })
    // More than one read of the journal (the runner reads 256 at a time).
    await Promise.all(Array.from({ length: 300 }, (_, i) => journal.append(frame('1234', T0 + i))))
    const { runner } = pipeline([stage('a'), stage('b')])
    await runner.start()
    await caughtUp(runner)
    expect(calls.slice(0, 2)).toEqual(['a start', 'b start'])
    expect(calls.slice(2)).toEqual(Array.from({ length: 300 }, (_, i) => [`a ${i + 1}`, `b ${i + 1}`]).flat())
  })

  it('gives stages a frame\'s events in full, from the compact form the receiver journals and from the full one of older journals', async () => {
    const d = decodeFrame(serializeFrame({ token: 'SIA-DCS', seq: 1, lpref: '0', acct: '1234', data: '#1234|Nri1/BA01^door^/ri2/BA02' }))
    if (!d.ok) throw new Error(d.reason)
    const { events: _e, ...fields } = frame('1234')
    await journal.append({ ...fields, ev: compactEvents(d.value.events) })
    await journal.append({ ...fields, events: d.value.events })
    const seen: unknown[] = []
    const { runner } = pipeline([{ name: 'look', run: ({ record }) => { if (record.type === 'frame') seen.push(record.events) } }])
    await runner.start()
    await caughtUp(runner)
    expect(seen).toEqual([d.value.events, d.value.events])
  })

  it('shows what earlier stages added to an event to the stages after them, for that event only', async () => {
    const seen: Array<[string, number, Record<string, unknown>]> = []
    const stage = (name: string, add?: (id: number) => Record<string, unknown>): Stage => ({
      name,
      run: ({ record, annotations }) => {
        seen.push([name, record.id, { ...annotations }])
        return add === undefined ? undefined : { add: add(record.id) }
      },
    })
    await journal.append(frame('1234'))
    await journal.append(frame('1234'))
    const { runner } = pipeline([stage('first', (id) => ({ class: `c${id}` })), stage('second', (id) => ({ zone: id })), stage('third')])
    await runner.start()
    await caughtUp(runner)
    expect(seen).toEqual([
      ['first', 1, {}], ['second', 1, { class: 'c1' }], ['third', 1, { class: 'c1', zone: 1 }],
      ['first', 2, {}], ['second', 2, { class: 'c2' }], ['third', 2, { class: 'c2', zone: 2 }],
    ])
  })

  it('journals what a stage emits as derived records: cause, stage and position', async () => {
    const watch: Stage = {
      name: 'watch',
      run: ({ record }) => record.type !== 'frame'
        ? undefined
        : { emit: [{ kind: 'alert', account: record.account, data: { x: 1 } }, { kind: 'alert', account: record.account }, { kind: 'note', account: '9999' }] },
    }
    await journal.append(frame('1234'))
    const { runner } = pipeline([watch], { clock: () => T0 + 5000 })
    await runner.start()
    await caughtUp(runner)
    const base = { type: 'derived', receivedAt: T0 + 5000, stage: 'watch', causedBy: 1 }
    expect(await derived()).toEqual([
      { ...base, id: 2, kind: 'alert', account: '1234', n: 0, data: { x: 1 } },
      { ...base, id: 3, kind: 'alert', account: '1234', n: 1, data: {} },
      { ...base, id: 4, kind: 'note', account: '9999', n: 0, data: {} },
    ])
  })

  it('names on what a stage emits the holder of the event that caused it (of the same account), unless the stage names one', async () => {
    const watch: Stage = {
      name: 'watch',
      run: ({ record }) => record.type !== 'frame'
        ? undefined
        : { emit: [{ kind: 'alert', account: record.account }, { kind: 'about-a-case', account: record.account, holder: 'h0' }, { kind: 'note', account: '9999' }] },
    }
    await journal.append({ ...frame('1234'), holder: 'h1' })
    await journal.append(frame('5678'))
    const { runner } = pipeline([watch], { clock: () => T0 + 5000 })
    await runner.start()
    await caughtUp(runner)
    expect((await derived()).map((r) => [r.causedBy, r.kind, r.account, r.holder])).toEqual([
      [1, 'alert', '1234', 'h1'], [1, 'about-a-case', '1234', 'h0'], [1, 'note', '9999', undefined],
      [2, 'alert', '5678', undefined], [2, 'about-a-case', '5678', 'h0'], [2, 'note', '9999', undefined],
    ])
    // A record that names no holder has no holder field at all (as records before holders were named).
    expect(Object.keys((await derived()).find((r) => r.causedBy === 2 && r.kind === 'alert')!)).not.toContain('holder')
  })

  it('never gives a stage an event it made itself; the stages before and after it get it', async () => {
    const early: number[] = []
    const made: number[] = []
    const late: number[] = []
    // The maker emits for every event it is given: were it given its own, it would never stop.
    const maker: Stage = { name: 'maker', run: ({ record }) => { made.push(record.id); return { emit: [{ kind: 'made', account: record.account }] } } }
    await journal.append(frame('1234'))
    const { runner } = pipeline([recorder('early', early), maker, recorder('late', late)])
    await runner.start()
    await caughtUp(runner)
    expect(journal.lastId).toBe(2)
    expect(made).toEqual([1])
    expect(early).toEqual([1, 2])
    expect(late).toEqual([1, 2])
  })
})

describe('PipelineRunner: failing stages', () => {
  it('retries a throwing stage, then parks the event for it in the dead-letter list and goes on', async () => {
    let attempts = 0
    const flakySeen: number[] = []
    const afterSeen: number[] = []
    const flaky: Stage = {
      name: 'flaky',
      run: ({ record }) => {
        if (record.id === 2) {
          attempts++
          throw new Error(`cannot handle ${record.id}`)
        }
        flakySeen.push(record.id)
      },
    }
    for (let i = 0; i < 3; i++) await journal.append(frame('1234'))
    const { runner, store } = pipeline([flaky, recorder('after', afterSeen)], { clock: () => T0 + 9000 })
    await runner.start()
    await caughtUp(runner)
    expect(attempts).toBe(3) // retries: 2
    expect(store.deadLetters()).toEqual([
      { id: 2, stage: 'flaky', timer: '', error: 'cannot handle 2', attempts: 3, at: new Date(T0 + 9000).toISOString() },
    ])
    expect(flakySeen).toEqual([1, 3])
    expect(afterSeen).toEqual([1, 2, 3])
    expect(store.cursor()).toBe(3)
  })

  it('waits the backoff between attempts', async () => {
    const at: number[] = []
    const failing: Stage = { name: 'failing', run: () => { at.push(performance.now()); throw new Error('no') } }
    await journal.append(frame('1234'))
    const { runner, store } = pipeline([failing], { options: { retries: 1, backoffMs: [40], pollMs: 5 } })
    await runner.start()
    await caughtUp(runner)
    expect(at).toHaveLength(2)
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(35)
    expect(store.deadLetters()).toMatchObject([{ id: 1, stage: 'failing', attempts: 2 }])
  })

  it('keeps the state writes and timers of the attempt that succeeded only', async () => {
    let attempt = 0
    const once: Stage = {
      name: 'once',
      run: (_event, ctx) => {
        attempt++
        ctx.state.set(`attempt${attempt}`, true)
        ctx.schedule(`timer${attempt}`, T0 + 60_000)
        if (attempt === 1) throw new Error('first try fails')
      },
    }
    await journal.append(frame('1234'))
    const { runner, store } = pipeline([once], { clock: () => T0 })
    await runner.start()
    await caughtUp(runner)
    expect(store.read('once', '')).toEqual([['attempt2', true]])
    expect(runner.scheduled('once', 'timer1')).toBe(false)
    expect(runner.scheduled('once', 'timer2')).toBe(true)
    expect(store.deadLetters()).toEqual([])
  })
})

describe('PipelineRunner: cursor, state and replay', () => {
  const counter = (counts: Map<number, number>): Stage => ({
    name: 'count',
    run: ({ record }, ctx) => {
      counts.set(record.id, (counts.get(record.id) ?? 0) + 1)
      ctx.state.set('total', (ctx.state.get<number>('total') ?? 0) + 1)
    },
  })

  it('a new runner on the same data directory resumes after the last committed event', async () => {
    const counts = new Map<number, number>()
    for (let i = 0; i < 3; i++) await journal.append(frame('1234'))
    const first = pipeline([counter(counts)])
    await first.runner.start()
    await caughtUp(first.runner)
    await first.close()

    for (let i = 0; i < 2; i++) await journal.append(frame('1234'))
    const second = pipeline([counter(counts)])
    await second.runner.start()
    expect(second.runner.cursor).toBe(3)
    await caughtUp(second.runner)
    expect([...counts]).toEqual([[1, 1], [2, 1], [3, 1], [4, 1], [5, 1]])
    expect(second.store.read('count', '')).toEqual([['total', 5]])
    expect(second.store.cursor()).toBe(5)
  })

  it('commits stage state with the cursor: a batch that fails is replayed on the state as it was', async () => {
    const lines: string[] = []
    const log = pino({ level: 'error' }, { write: (line: string) => { lines.push(line) } })
    const seen: number[] = []
    const stage: Stage = {
      name: 'count',
      run: ({ record }, ctx) => {
        seen.push(record.id)
        ctx.state.set('total', (ctx.state.get<number>('total') ?? 0) + 1)
        return record.id === 2 ? { emit: [{ kind: 'second', account: record.account }] } : undefined
      },
    }
    for (let i = 0; i < 3; i++) await journal.append(frame('1234'))
    journal.failWith = new Error('disk full') // the emit from event 2 cannot be journaled
    const { runner, store } = pipeline([stage], { log })
    await runner.start()
    await until(() => lines.some((l) => l.includes('could not run')))
    expect(store.cursor()).toBe(0)
    expect(store.read('count', '')).toEqual([])

    journal.failWith = undefined // the runner tries again from its cursor
    await until(() => runner.cursor > 3 && runner.cursor === journal.lastId)
    // The failed append is found when the batch's appends are awaited, after all of it ran: the
    // whole batch runs again.
    expect(seen).toEqual([1, 2, 3, 1, 2, 3])
    expect(store.read('count', '')).toEqual([['total', 3]])
    expect((await derived()).map((d) => [d.kind, d.causedBy])).toEqual([['second', 2]])
  })

  it('does not journal again what a run before a crash journaled but did not commit', async () => {
    // The first run journaled the first of the two events `watch` makes from event 1, then stopped
    // before committing: the cursor is still 0.
    await journal.append(frame('1234'))
    await journal.append({ type: 'derived', receivedAt: T0, kind: 'alert', account: '1234', stage: 'watch', causedBy: 1, n: 0, data: { first: true } })
    const watch: Stage = {
      name: 'watch',
      run: ({ record }) => record.type !== 'frame'
        ? undefined
        : { emit: [{ kind: 'alert', account: '1234', data: { first: true } }, { kind: 'alert', account: '1234', data: { first: false } }] },
    }
    const { runner } = pipeline([watch])
    await runner.start()
    await caughtUp(runner)
    expect((await derived()).map((d) => [d.id, d.causedBy, d.n, d.data])).toEqual([[2, 1, 0, { first: true }], [3, 1, 1, { first: false }]])
  })

  it('does not mistake events of committed batches for a replay after a restart', async () => {
    // The same cause, stage, kind and account twice: once from the event, once from a timer that
    // fires after a restart. Both are new events.
    let now = T0
    const twice = (): Stage => ({
      name: 'twice',
      start: (ctx) => {
        const at = ctx.state.get<number>('again')
        if (at !== undefined) ctx.schedule('again', at)
      },
      run: ({ record }, ctx) => {
        if (record.type !== 'frame') return undefined
        ctx.state.set('again', record.receivedAt + 1000)
        ctx.state.set('cause', record.id)
        return { emit: [{ kind: 'alert', account: record.account }] }
      },
      due: (_key, ctx) => {
        ctx.state.delete('again')
        return { emit: [{ kind: 'alert', account: '1234', causedBy: ctx.state.get<number>('cause') }] }
      },
    })
    await journal.append(frame('1234'))
    const first = pipeline([twice()], { clock: () => now })
    await first.runner.start()
    await caughtUp(first.runner)
    await first.close()

    now = T0 + 2000
    const second = pipeline([twice()], { clock: () => now })
    await second.runner.start()
    await until(() => journal.lastId === 3)
    await caughtUp(second.runner)
    expect((await derived()).map((d) => [d.id, d.causedBy, d.n])).toEqual([[2, 1, 0], [3, 1, 0]])
  })
})

describe('PipelineRunner: timers', () => {
  it('runs due(key) when the injected clock passes the deadline, with now = the deadline', async () => {
    let now = T0
    const fired: Array<[string, number]> = []
    const stage: Stage = {
      name: 'timer',
      run: ({ record }, ctx) => { ctx.schedule(`k${record.id}`, record.receivedAt + 60_000) },
      due: (key, ctx) => {
        fired.push([key, ctx.now])
        return { emit: [{ kind: 'timeout', account: '1234', causedBy: 1 }] }
      },
    }
    await journal.append(frame('1234', T0))
    const { runner } = pipeline([stage], { clock: () => now })
    await runner.start()
    await caughtUp(runner)
    expect(runner.scheduled('timer', 'k1')).toBe(true)
    expect(runner.timers).toBe(1)
    await sleep(30) // several polls
    expect(fired).toEqual([])

    now = T0 + 90_000
    runner.notify()
    await until(() => fired.length === 1 && journal.lastId === 2)
    expect(fired).toEqual([['k1', T0 + 60_000]])
    expect(runner.timers).toBe(0)
    expect(await derived()).toEqual([
      { type: 'derived', id: 2, receivedAt: T0 + 90_000, kind: 'timeout', account: '1234', stage: 'timer', causedBy: 1, n: 0, data: {} },
    ])
  })

  it('sets a timer again when what it made cannot be journaled, and fires it once the journal works', async () => {
    let now = T0
    const lines: string[] = []
    const log = pino({ level: 'error' }, { write: (line: string) => { lines.push(line) } })
    const stage: Stage = {
      name: 'timer',
      run: ({ record }, ctx) => { ctx.schedule('silent', record.receivedAt + 60_000) },
      due: (key) => ({ emit: [{ kind: 'timeout', account: '1234', causedBy: 1, data: { key } }] }),
    }
    await journal.append(frame('1234', T0))
    const { runner } = pipeline([stage], { clock: () => now, log })
    await runner.start()
    await caughtUp(runner)
    journal.failWith = new Error('disk full')
    now = T0 + 90_000
    runner.notify()
    await until(() => lines.some((l) => l.includes('could not run')))
    // Not lost with the batch that failed: still set, at its deadline.
    expect(runner.scheduled('timer', 'silent')).toBe(true)
    journal.failWith = undefined
    // (The failed append took an id: the journal leaves a gap, never reuses one.)
    await until(() => runner.timers === 0 && journal.lastId === 3 && runner.cursor === 3, 5000)
    expect((await derived()).map((d) => [d.kind, d.data])).toEqual([['timeout', { key: 'silent' }]])
    expect(runner.timers).toBe(0)
  })

  it('gives up a start in progress when stopped, at the next page, and runs nothing', async () => {
    const seen: number[] = []
    let pages = 0
    const stage: Stage = {
      name: 'slow-start',
      async start (ctx) {
        for (let i = 0; i < 1000; i++) {
          ctx.state.set(`k${i}`, i)
          pages++
          await ctx.checkpoint!()
        }
      },
      run: ({ record }) => { seen.push(record.id) },
    }
    await journal.append(frame('1234'))
    const { runner, store } = pipeline([stage])
    const started = runner.start()
    await until(() => pages >= 3)
    await runner.stop()
    await started
    expect(pages).toBeLessThan(1000)
    await sleep(20)
    expect(seen).toEqual([])
    expect(store.cursor()).toBe(0)
  })

  it('gives start() the start time and keeps the timers it sets', async () => {
    let now = T0
    const calls: Array<[string, number]> = []
    const stage: Stage = {
      name: 'boot',
      start: (ctx) => {
        calls.push(['start', ctx.now])
        ctx.schedule('wake', ctx.now + 1000)
      },
      run: () => {},
      due: (key, ctx) => { calls.push([key, ctx.now]) },
    }
    const { runner } = pipeline([stage], { clock: () => now })
    await runner.start()
    expect(runner.scheduled('boot', 'wake')).toBe(true)
    now = T0 + 1000
    runner.notify()
    await until(() => calls.length === 2)
    expect(calls).toEqual([['start', T0], ['wake', T0 + 1000]])
  })

  it('parks a timer that keeps failing in the dead-letter list under its key', async () => {
    let now = T0
    const stage: Stage = {
      name: 'alarmclock',
      start: (ctx) => { ctx.schedule('ring', T0 + 10) },
      run: () => {},
      due: () => { throw new Error('bell broken') },
    }
    const { runner, store } = pipeline([stage], { clock: () => now, options: { ...fast, retries: 1 } })
    await runner.start()
    now = T0 + 10
    runner.notify()
    await until(() => store.deadLetters().length > 0)
    expect(store.deadLetters()).toEqual([{ id: 0, stage: 'alarmclock', timer: 'ring', error: 'bell broken', attempts: 2, at: new Date(T0 + 10).toISOString() }])
  })
})

describe('PipelineStore', () => {
  let store: PipelineStore
  beforeEach(() => { store = new PipelineStore(dir) })
  afterEach(() => store.close())

  it('shows a stage its pending writes over what is committed, and only its own', () => {
    const setup = new Batch()
    store.state('a', [setup]).set('k', 'committed')
    store.state('b', [setup]).set('k', 'b')
    store.commit(setup, undefined)

    const event = new Batch()
    const attempt = new Batch()
    const view = store.state('a', [attempt, event])
    expect(view.get('k')).toBe('committed')
    store.state('a', [event]).set('k', 'event')
    expect(view.get('k')).toBe('event')
    view.set('k', 'attempt')
    expect(view.get('k')).toBe('attempt')
    expect(store.state('a', [event]).get('k')).toBe('event') // writes go to the first batch only
    view.delete('k')
    expect(view.get('k')).toBeUndefined()
    expect(store.state('b', [attempt, event]).get('k')).toBe('b')
    expect(store.read('a', '')).toEqual([['k', 'committed']])
  })

  it('lists keys under a prefix in key order, committed and pending merged, deleted ones left out', () => {
    const setup = new Batch()
    const s = store.state('a', [setup])
    s.set('x:2', 2)
    s.set('x:4', 4)
    s.set('y:1', 'other prefix')
    store.commit(setup, undefined)
    const pending = new Batch()
    const view = store.state('a', [pending])
    view.set('x:3', 3)
    view.set('x:1', 1)
    view.delete('x:4')
    view.set('x:2', 22)
    expect(view.list('x:')).toEqual([['x:1', 1], ['x:2', 22], ['x:3', 3]])
  })

  it('commits state, dead letters and cursors together; they survive a reopen', () => {
    const batch = new Batch()
    store.state('a', [batch]).set('k', { v: 1 })
    batch.dead.push({ id: 7, stage: 'a', timer: '', error: 'first', attempts: 4, at: new Date(T0).toISOString() })
    store.commit(batch, 7, 9)
    const again = new Batch()
    again.dead.push({ id: 7, stage: 'a', timer: '', error: 'second', attempts: 4, at: new Date(T0 + 1).toISOString() })
    store.commit(again, undefined)
    store.close()

    store = new PipelineStore(dir)
    expect(store.cursor()).toBe(7)
    expect(store.cursor('main:emitted')).toBe(9)
    expect(store.state('a', [new Batch()]).get('k')).toEqual({ v: 1 })
    expect(store.deadLetters()).toEqual([{ id: 7, stage: 'a', timer: '', error: 'second', attempts: 4, at: new Date(T0 + 1).toISOString() }])
  })
})
