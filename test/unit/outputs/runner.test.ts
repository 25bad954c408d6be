/**
 * The delivery core over a MemoryJournal and a MemoryPipelineStore, with a scripted output:
 * journal order, the filter, the window, the durable position (a restart resumes from the first
 * event not delivered), parking with its trouble, link troubles, and the retry and replay commands.
 */
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import type { DerivedRecord, FrameRecord, JournalRecord } from '../../../src/journal/record.js'
import { MemoryPipelineStore } from '../../../src/pipeline/memory-store.js'
import { DEFAULT_KINDS, type Delivery, type EventKind, type Output, type OutputContext, type OutputEvent } from '../../../src/outputs/output.js'
import { OUTPUT_REPLAY, OUTPUT_RETRY, OUTPUTS_STAGE, OutputRunner, outputStage, type OutputFilter, type ParkedEvent } from '../../../src/outputs/runner.js'
import { OutputSet } from '../../../src/outputs/set.js'
import { parseContactId } from '../../../src/protocol/contact-id.js'

const silent = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 11, 3, 8)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until (what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out')
    await sleep(2)
  }
}

/** A frame record as the receiver journals it, its event decoded from real Contact ID text. */
function frame (account: string, data: string, token = 'ADM-CID', holder?: string): FrameRecord {
  const events = []
  if (data !== '') {
    const e = parseContactId(Buffer.from(data, 'latin1'))
    if (!e.ok) throw new Error('test event does not decode')
    events.push(e.value)
  }
  return {
    type: 'frame', receivedAt: T0, transport: 'tcp', peer: '127.0.0.1:5000', account, ...(holder === undefined ? {} : { holder }), rcvr: undefined, lpref: '0', seq: '0001', token,
    encrypted: false, events, xdata: [], text: undefined, panelTime: undefined, flags: token === 'NULL' ? { linkTest: true } : {}, quirks: [], dedupe: undefined, raw: 'UkFX',
  }
}

const alarm = (account: string, zone = 1, holder?: string): FrameRecord => frame(account, `#${account}|1130 01 ${String(zone).padStart(3, '0')}`, 'ADM-CID', holder)
const linkTest = (account: string): FrameRecord => frame(account, '', 'NULL')

function command (kind: string, data: Record<string, unknown>): DerivedRecord {
  return { type: 'derived', receivedAt: T0, kind, account: '0000', stage: OUTPUTS_STAGE, causedBy: 0, n: 0, data }
}

/** An output whose answers the test gives: `answer(id)` decides, or deliveries wait for `release`. */
class Scripted implements Output {
  readonly name: string
  readonly type = 'test'
  window = 4
  readonly got: OutputEvent[] = []
  readonly held = new Map<number, (d: Delivery) => void>()
  answer: ((e: OutputEvent) => Delivery | undefined) = () => ({ ok: true })
  ctx: OutputContext | undefined
  closed = false
  readonly #rejects = new Set<(e: Error) => void>()

  constructor (name = 'hook') { this.name = name }
  async start (ctx: OutputContext): Promise<void> { this.ctx = ctx; this.closed = false }
  deliver (event: OutputEvent): Promise<Delivery> {
    this.got.push(event)
    const now = this.answer(event)
    if (now !== undefined) return Promise.resolve(now)
    return new Promise((resolve, reject) => {
      this.#rejects.add(reject)
      this.held.set(event.id, (d) => { this.#rejects.delete(reject); this.held.delete(event.id); resolve(d) })
    })
  }

  release (id: number, d: Delivery = { ok: true }): void { this.held.get(id)!(d) }
  status () { return { state: 'up' as const, connected: 1 } }
  async close (): Promise<void> {
    this.closed = true
    for (const r of this.#rejects) r(new Error('closed'))
    this.#rejects.clear()
    this.held.clear()
  }
}

let journal: MemoryJournal<JournalRecord>
let store: MemoryPipelineStore
let accounts: MemoryAccountStore
const running: OutputRunner[] = []

beforeEach(() => {
  journal = new MemoryJournal<JournalRecord>()
  store = new MemoryPipelineStore()
  accounts = new MemoryAccountStore(undefined, { now: () => new Date(T0 - 60_000) })
})
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop()
})

function filter (f: Partial<{ kinds: EventKind[], tenants: string[], personal: boolean }> = {}): OutputFilter {
  return { kinds: new Set(f.kinds ?? DEFAULT_KINDS), tenants: f.tenants === undefined ? undefined : new Set(f.tenants), personal: f.personal ?? false, fromBeginning: true }
}

async function run (output: Output, f: OutputFilter = filter()): Promise<OutputRunner> {
  const r = new OutputRunner({ journal, store, accounts, output, filter: f, log: silent, commitMs: 0, pollMs: 5 })
  running.push(r)
  await r.start()
  return r
}

async function stop (r: OutputRunner): Promise<void> {
  running.splice(running.indexOf(r), 1)
  await r.stop()
}

describe('the delivery core', () => {
  it('delivers in journal order, without link tests by default, and commits its position', async () => {
    for (const a of ['1001', '1002']) await journal.append(alarm(a))
    await journal.append(linkTest('1003'))
    await journal.append(alarm('1004'))
    const out = new Scripted()
    const r = await run(out)
    await until(() => r.cursor === 4)
    expect(out.got.map((e) => [e.id, e.account, e.class])).toEqual([[1, '1001', 'alarm'], [2, '1002', 'alarm'], [4, '1004', 'alarm']])
    expect(store.cursor(outputStage('hook'))).toBe(4)
    expect(r.status()).toMatchObject({ delivered: 3, parked: 0, lag: 0 })
    // Link tests when asked for.
    const tests = new Scripted('tests')
    await run(tests, filter({ kinds: ['link-test'] }))
    await until(() => tests.got.length === 1)
    expect(tests.got[0]).toMatchObject({ id: 3, class: 'link-test', protocol: 'NULL' })
  })

  it('resumes after a restart from the first event not delivered: no gap, duplicates only of what was in flight', async () => {
    for (let i = 1; i <= 6; i++) await journal.append(alarm('1001', i))
    const out = new Scripted()
    out.answer = (e) => (e.id <= 2 ? { ok: true } : undefined)
    const r = await run(out)
    await until(() => out.held.size === 4)
    // 3 and 5 answered; 4 and 6 not: the position may only pass 3.
    out.release(3)
    out.release(5)
    await until(() => r.cursor === 3)
    await sleep(20)
    expect(r.cursor).toBe(3)
    await stop(r)
    expect(store.cursor(outputStage('hook'))).toBe(3)
    const again = new Scripted()
    const r2 = await run(again)
    await until(() => r2.cursor === 6)
    expect(again.got.map((e) => e.id)).toEqual([4, 5, 6])
  })

  it('never has more deliveries in flight than the output\'s window', async () => {
    for (let i = 1; i <= 10; i++) await journal.append(alarm('1001', i))
    const out = new Scripted()
    out.window = 2
    out.answer = () => undefined
    await run(out)
    await until(() => out.held.size === 2)
    await sleep(30)
    expect(out.got.length).toBe(2)
    out.release(1)
    await until(() => out.got.length === 3)
    expect(out.held.size).toBe(2)
  })

  it('parks what the output gives up on, journals a trouble for it, and goes on', async () => {
    for (let i = 1; i <= 3; i++) await journal.append(alarm('1001', i))
    const out = new Scripted()
    out.answer = (e) => (e.id === 2 ? { ok: false, error: 'HTTP 400 Bad Request', attempts: 1 } : { ok: true })
    const other = new Scripted('other')
    const r = await run(out)
    await run(other)
    await until(() => r.cursor >= 3 && journal.lastId >= 4)
    const parked = store.read<ParkedEvent>(outputStage('hook'), 'parked:')
    expect(parked.map(([, p]) => [p.id, p.error, p.attempts, p.times])).toEqual([[2, 'HTTP 400 Bad Request', 1, 1]])
    expect(r.status()).toMatchObject({ delivered: 2, parked: 1, waiting: 1 })
    const trouble: Array<{ id: number } & JournalRecord> = []
    for await (const x of journal.read(4)) trouble.push(x)
    expect(trouble[0]).toMatchObject({ type: 'derived', kind: 'output-parked', stage: 'outputs', causedBy: 2, account: '1001', data: { output: 'hook', error: 'HTTP 400 Bad Request' } })
    // The other output gets the trouble; the output it is about does not.
    await until(() => other.got.some((e) => e.type === 'output-parked'))
    await sleep(20)
    expect(out.got.some((e) => e.type === 'output-parked')).toBe(false)
  })

  it('journals the link troubles the output reports', async () => {
    const out = new Scripted('automation')
    await run(out)
    out.ctx!.trouble('output-link-failed', 'no ACK after 4 attempts')
    out.ctx!.trouble('output-link-restored', 'a heartbeat was acknowledged')
    await until(() => journal.lastId === 2)
    const got: JournalRecord[] = []
    for await (const x of journal.read(1)) got.push(x)
    expect(got).toMatchObject([
      { type: 'derived', kind: 'output-link-failed', stage: 'outputs', account: '', data: { output: 'automation', detail: 'no ACK after 4 attempts' } },
      { type: 'derived', kind: 'output-link-restored', stage: 'outputs', account: '', data: { output: 'automation' } },
    ])
  })

  it('gives a tenant\'s output only that tenant\'s accounts, and never a secret; personal data only when asked', async () => {
    accounts.add({ account: '2001', tenant: 'alpha', siteName: 'Villa Alpha', siteAddress: '1 Road', keyholders: [{ name: 'Ann', phone: '+100', order: 1 }], vip: true, key: '00112233445566778899AABBCCDDEEFF' })
    accounts.add({ account: '2002', tenant: 'beta', siteName: 'Beta House' })
    const holder = accounts.get('2001')!.createdAt
    await journal.append(alarm('2001', 1, holder))
    await journal.append(alarm('2002', 1, accounts.get('2002')!.createdAt))
    await journal.append(alarm('2003'))
    await journal.append({ type: 'derived', receivedAt: T0, kind: 'verification', account: '2001', holder, stage: 'verify', causedBy: 0, n: 0, data: { outcome: 'valid', user: 3, code: '1234', pin: '9999', vip: true } })
    const alpha = new Scripted('alpha')
    const all = new Scripted('all')
    await run(alpha, filter({ tenants: ['alpha'] }))
    await run(all, filter({ personal: true }))
    const r = running.at(-2)!
    await until(() => all.got.length === 4 && r.cursor === 4)
    // The verification is the centre's: an installer company's output gets its panels' frames (and supervision) only.
    expect(alpha.got.map((e) => [e.id, e.tenant])).toEqual([[1, 'alpha']])
    expect(alpha.got[0]!.site).toBeUndefined()
    expect(all.got[0]!.site).toEqual({ name: 'Villa Alpha', address: '1 Road', keyholders: [{ name: 'Ann', phone: '+100', order: 1 }] })
    expect(all.got[2]).toMatchObject({ account: '2003', tenant: null })
    expect(all.got[3]!.data).toEqual({ outcome: 'valid', user: 3 })
    const text = JSON.stringify([...alpha.got, ...all.got])
    for (const secret of ['00112233445566778899AABBCCDDEEFF', '"vip"', '1234"', '9999', 'UkFX']) expect(text).not.toContain(secret)
  })

  it('does not take an earlier holder\'s event for the account there now', async () => {
    await journal.append(alarm('3001', 1, '2020-01-01T00:00:00.000Z'))
    accounts.add({ account: '3001', tenant: 'alpha' })
    const alpha = new Scripted('alpha')
    const r = await run(alpha, filter({ tenants: ['alpha'] }))
    await until(() => r.cursor === 1)
    expect(alpha.got).toEqual([])
  })

  it('replays from a journal id once when a command asks, and sends the parked events again on retry', async () => {
    for (let i = 1; i <= 4; i++) await journal.append(alarm('1001', i))
    const out = new Scripted()
    let refuse = true
    out.answer = (e) => (e.id === 2 && refuse ? { ok: false, error: 'refused', attempts: 3 } : { ok: true })
    const r = await run(out)
    // 5: the output-parked trouble, skipped by the output it is about.
    await until(() => r.cursor === 5 && r.status().waiting === 1)
    // Replay from 3: events 3 and 4 again, then on.
    const replay = await journal.append(command(OUTPUT_REPLAY, { output: 'hook', from: 3 }))
    // A command for another output is not this one's.
    await journal.append(command(OUTPUT_REPLAY, { output: 'other', from: 1 }))
    await journal.append(alarm('1001', 9))
    await until(() => r.cursor === 8)
    // The output-parked trouble (5) is not sent to the output it is about.
    expect(out.got.map((e) => e.id)).toEqual([1, 2, 3, 4, 3, 4, 8])
    expect(store.readOne(outputStage('hook'), 'command')).toBe(replay)
    refuse = false
    r.notify()
    await journal.append(command(OUTPUT_RETRY, { output: 'hook' }))
    await until(() => r.cursor === 9)
    expect(out.got.map((e) => e.id).slice(7)).toEqual([2])
    expect(store.read(outputStage('hook'), 'parked:')).toEqual([])
    expect(r.status()).toMatchObject({ waiting: 0, parked: 1 })
    // A restart does not do the commands again.
    await stop(r)
    const again = new Scripted()
    const r2 = await run(again)
    await journal.append(alarm('1001', 10))
    await until(() => r2.cursor === 10)
    expect(again.got.map((e) => e.id)).toEqual([10])
  })

  it('stops with deliveries in flight without counting them; they go again at the next start', async () => {
    for (let i = 1; i <= 3; i++) await journal.append(alarm('1001', i))
    const out = new Scripted()
    out.answer = (e) => (e.id === 1 ? { ok: true } : undefined)
    const r = await run(out)
    await until(() => out.held.size === 2)
    await stop(r)
    expect(out.closed).toBe(true)
    expect(store.cursor(outputStage('hook'))).toBe(1)
    const again = new Scripted()
    const r2 = await run(again)
    await until(() => r2.cursor === 3)
    expect(again.got.map((e) => e.id)).toEqual([2, 3])
  })

  it('starts a new output with the next event, unless told to take the journal from its beginning', async () => {
    await journal.append(alarm('1001', 1))
    await journal.append(alarm('1001', 2))
    const fresh = new Scripted('fresh')
    const r = await run(fresh, { ...filter(), fromBeginning: false })
    await journal.append(alarm('1001', 3))
    await until(() => r.cursor === 3)
    expect(fresh.got.map((e) => e.id)).toEqual([3])
    // Known already: it resumes from its position, whatever the option says.
    await stop(r)
    await journal.append(alarm('1001', 4))
    const again = new Scripted('fresh')
    const r2 = await run(again, { ...filter(), fromBeginning: false })
    await until(() => r2.cursor === 4)
    expect(again.got.map((e) => e.id)).toEqual([4])
  })

  it('journals no trouble for a parked trouble: two outputs that refuse everything do not feed each other', async () => {
    await journal.append(alarm('1001', 1))
    const a = new Scripted('a')
    const b = new Scripted('b')
    a.answer = b.answer = () => ({ ok: false, error: 'HTTP 422', attempts: 1 })
    const ra = await run(a)
    const rb = await run(b)
    // The frame parked by both (2 troubles), each trouble parked by the other, and no more.
    await until(() => ra.cursor === 3 && rb.cursor === 3 && ra.status().waiting === 2 && rb.status().waiting === 2)
    await sleep(50)
    expect(journal.lastId).toBe(3)
  })

  it('keeps duress from outputs that did not ask for it by name, and the centre\'s events from an installer company\'s', async () => {
    accounts.add({ account: '2001', tenant: 'alpha' })
    const holder = accounts.get('2001')!.createdAt
    await journal.append({ type: 'derived', receivedAt: T0, kind: 'duress', account: '2001', holder, stage: 'verify', causedBy: 0, n: 0, data: { outcome: 'valid', user: 3 } })
    await journal.append({ type: 'derived', receivedAt: T0, kind: 'case-opened', account: '2001', holder, stage: 'cases', causedBy: 1, n: 0, data: { duress: true } })
    await journal.append({ type: 'derived', receivedAt: T0, kind: 'supervision-failure', account: '2001', holder, stage: 'supervision', causedBy: 0, n: 0, data: {} })
    const alpha = new Scripted('alpha')
    const all = new Scripted('all')
    const centre = new Scripted('centre')
    const ra = await run(alpha, filter({ tenants: ['alpha'], kinds: [...DEFAULT_KINDS, 'duress'] }))
    const rall = await run(all)
    await run(centre, filter({ kinds: ['duress'] }))
    await until(() => ra.cursor === 3 && rall.cursor === 3 && centre.got.length === 2)
    expect(alpha.got.map((e) => e.type)).toEqual(['supervision-failure'])
    expect(all.got.map((e) => e.type)).toEqual(['supervision-failure'])
    expect(centre.got.map((e) => e.type)).toEqual(['duress', 'case-opened'])
  })

  it('stops while a retry waits for a far end that is down', async () => {
    await journal.append(alarm('1001', 1))
    const out = new Scripted()
    let refuse = true
    out.answer = () => (refuse ? { ok: false, error: 'down', attempts: 1 } : undefined)
    const r = await run(out)
    await until(() => r.status().waiting === 1)
    refuse = false
    await journal.append(command(OUTPUT_RETRY, { output: 'hook' }))
    await until(() => out.held.size === 1)
    await stop(r)
    // Not done: the next start does it again.
    expect(store.read(outputStage('hook'), 'parked:').length).toBe(1)
    const again = new Scripted()
    const r2 = await run(again)
    await until(() => r2.status().waiting === 0)
    expect(again.got.map((e) => e.id)).toEqual([1])
  })

  it('sends on retry only what its filter takes now', async () => {
    accounts.add({ account: '2001', tenant: 'alpha' })
    await journal.append(alarm('2001', 1, accounts.get('2001')!.createdAt))
    const out = new Scripted('t')
    out.answer = () => ({ ok: false, error: 'x', attempts: 1 })
    const r = await run(out, filter({ tenants: ['alpha'] }))
    await until(() => r.status().waiting === 1)
    await stop(r)
    // Now for beta only: alpha's parked event is not beta's to get; it leaves the dead letters unsent.
    const beta = new Scripted('t')
    const rb = await run(beta, filter({ tenants: ['beta'] }))
    await journal.append(command(OUTPUT_RETRY, { output: 't' }))
    await until(() => rb.status().waiting === 0)
    expect(beta.got).toEqual([])
  })

  it('keeps a parked event when the journal cannot give it on retry, and retries again', async () => {
    await journal.append(alarm('1001', 1))
    await journal.append(alarm('1001', 2))
    const out = new Scripted('g')
    out.answer = (e) => (e.id === 2 ? { ok: false, error: 'x', attempts: 1 } : { ok: true })
    const r = await run(out)
    await until(() => r.status().waiting === 1 && r.cursor === 3)
    await stop(r)
    // A journal that gives nothing for a moment (an election).
    let gaps = 1
    const reader = journal.reader.bind(journal)
    journal.reader = (from = 1) => {
      const inner = reader(from)
      if (from !== 2 || gaps === 0) return inner
      gaps--
      return { next: async () => [], close: async () => { await inner.close() } }
    }
    const again = new Scripted('g')
    const r2 = await run(again)
    await journal.append(command(OUTPUT_RETRY, { output: 'g' }))
    await until(() => r2.status().waiting === 0, 8000)
    expect(gaps).toBe(0)
    expect(again.got.map((e) => e.id)).toEqual([2])
  })
})

describe('the set of outputs', () => {
  it('does not leave an output running that was still starting when the set stopped', async () => {
    await journal.append(alarm('1001', 1))
    let release!: () => void
    class Slow extends Scripted {
      override async start (ctx: OutputContext): Promise<void> { await new Promise<void>((resolve) => { release = resolve }); await super.start(ctx) }
    }
    const out = new Slow('slow')
    const set = new OutputSet([{ output: out, filter: filter() }], { journal, store, accounts, log: silent })
    const starting = set.start()
    await sleep(10)
    const stopping = set.stop()
    release()
    await stopping
    await starting
    await sleep(50)
    expect(out.got).toEqual([])
    expect(out.closed).toBe(true)
  })

  it('closes an output that had just begun to run when the set stopped, however soon after its start', async () => {
    for (let depth = 0; depth < 8; depth++) {
      const out = new Scripted(`o${depth}`)
      const set = new OutputSet([{ output: out, filter: filter() }], { journal, store, accounts, log: silent })
      let stopping: Promise<void> | undefined
      const start = out.start.bind(out)
      out.start = async (ctx) => {
        await start(ctx)
        let p: Promise<unknown> = Promise.resolve()
        for (let i = 0; i < depth; i++) p = p.then(() => {})
        void p.then(() => { stopping = set.stop() })
      }
      await set.start()
      await sleep(5)
      await stopping
      expect(out.closed, `stopped ${depth} microtasks after the start`).toBe(true)
    }
  })
})

describe('outputs that fail', () => {
  it('parks an event whose delivery failed otherwise than by a close, rather than hold the position for ever', async () => {
    await journal.append(alarm('1001', 1))
    await journal.append(alarm('1001', 2))
    const out = new Scripted()
    const deliver = out.deliver.bind(out)
    out.deliver = async (e) => { if (e.id === 1) throw new Error('a bug'); return await deliver(e) }
    const r = await run(out)
    await until(() => r.cursor >= 2)
    expect(store.read<ParkedEvent>(outputStage('hook'), 'parked:').map(([, p]) => [p.id, p.error])).toEqual([[1, 'the output failed: a bug']])
  })

  it('drops from its dead letters, on retry, an event the journal no longer has', async () => {
    await journal.append(alarm('1001', 1))
    await journal.append(alarm('1001', 2))
    const out = new Scripted('g')
    out.answer = (e) => (e.id === 1 ? { ok: false, error: 'x', attempts: 1 } : { ok: true })
    const r = await run(out)
    await until(() => r.status().waiting === 1 && r.cursor === 3)
    // The journal restored from a backup without event 1: a read from 1 gives the next one.
    const reader = journal.reader.bind(journal)
    journal.reader = (from = 1) => reader(from === 1 ? 2 : from)
    await journal.append(command(OUTPUT_RETRY, { output: 'g' }))
    await until(() => r.status().waiting === 0 && r.cursor === 4)
    expect(out.got.map((e) => e.id)).toEqual([1, 2])
  })

  it('goes on from the stored position when a commit is refused as fenced (a commit whose answer was lost)', async () => {
    // A store that refuses a commit when the position is not where the committer last read it
    // (as a cluster's is), and one commit that is applied but answered with an error.
    const inner = new MemoryPipelineStore()
    const seen = new Map<string, number>()
    let loseAnswer = 2
    const own = {
      cursor: (name = 'main') => { const c = inner.cursor(name); seen.set(name, c); return c },
      commit: (batch: Parameters<MemoryPipelineStore['commit']>[0], cursor: number | undefined, emitted?: number, name = 'main') => {
        if (name === outputStage('hook') && inner.cursor(name) !== seen.get(name)) throw Object.assign(new Error('fenced'), { code: 'DC09_ERR_PIPELINE_FENCED' })
        inner.commit(batch, cursor, emitted, name)
        if (name === outputStage('hook') && cursor !== undefined && --loseAnswer === 0) throw new Error('timeout')
        if (cursor !== undefined) seen.set(name, cursor)
      },
    }
    const fenced = new Proxy(inner, {
      get: (t, p) => (p in own ? own[p as keyof typeof own] : (t[p as keyof MemoryPipelineStore] as (...a: unknown[]) => unknown).bind(t)),
    })
    const out = new Scripted()
    const r = new OutputRunner({ journal, store: fenced, accounts, output: out, filter: filter(), log: silent, commitMs: 0, pollMs: 5 })
    running.push(r)
    await r.start()
    await journal.append(alarm('1001', 1))
    await until(() => inner.cursor(outputStage('hook')) === 1)
    await journal.append(alarm('1001', 2))
    await journal.append(alarm('1001', 3))
    await until(() => inner.cursor(outputStage('hook')) === 3, 8000)
    expect(new Set(out.got.map((e) => e.id))).toEqual(new Set([1, 2, 3]))
  })
})
