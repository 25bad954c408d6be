/**
 * The Sur-Gard output over real TCP on 127.0.0.1, driven by the strict test client: every answer
 * an automation can give (ACK, NAK, nothing, a hang-up), link failure and recovery, the NAK limit,
 * several clients, B32, and the limits on clients and on bytes that are not answers. Timeouts are
 * short (tuning), so the whole file runs in a few seconds.
 */
import { createServer } from 'node:net'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import type { ContactIdItem, Delivery, OutputContext, OutputEvent, OutputTroubleKind, SiaItem } from '../../../src/outputs/output.js'
import { NAKED_OUT, surgardOutput, type SurgardOutput, type SurgardTuning } from '../../../src/outputs/surgard/output.js'
import type { SurgardOptions } from '../../../src/outputs/surgard/records.js'
import { SurgardTestClient, type Answer, type ParsedRecord } from '../../support/surgard-client.js'

/**
 * Tests where every record is answered at once wait long for answers, so a loaded machine never
 * turns a slow ACK into a retry; tests of silence use a short timeout.
 */
const PATIENT_MS = 1000
const SHORT_MS = 150

interface Harness {
  readonly out: SurgardOutput
  readonly port: number
  readonly troubles: Array<[OutputTroubleKind, string]>
  readonly retries: () => number
}

const started: SurgardOutput[] = []
const clients: SurgardTestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map(async (c) => { await c.close() }))
  await Promise.all(started.splice(0).map(async (o) => { await o.close() }))
})

async function start (tuning: SurgardTuning = {}, options: Partial<SurgardOptions> = {}): Promise<Harness> {
  const o: SurgardOptions = { host: '127.0.0.1', port: 0, receiver: '01', line: '001', header: 5, b32: false, heartbeatSeconds: 30, ackTimeoutSeconds: 4, ...options }
  const out = surgardOutput('automation', o, { ackTimeoutMs: PATIENT_MS, heartbeatMs: 10_000, ...tuning })
  const troubles: Array<[OutputTroubleKind, string]> = []
  let retries = 0
  const ctx: OutputContext = {
    log: pino({ level: 'silent' }),
    clock: () => Date.now(),
    trouble: (kind, detail) => { troubles.push([kind, detail]) },
    retried: () => { retries++ },
  }
  await out.start(ctx)
  started.push(out)
  return { out, port: out.address()?.port ?? 0, troubles, retries: () => retries }
}

async function client (h: Harness, answer?: (r: ParsedRecord, i: number) => Answer, o: { b32?: boolean, header?: 3 | 5 } = {}): Promise<SurgardTestClient> {
  const c = await SurgardTestClient.connect(h.port, { ...o, ...(answer === undefined ? {} : { answer }) })
  clients.push(c)
  return c
}

let nextId = 1
function cidEvent (number: string, account = '1234'): OutputEvent {
  const item: ContactIdItem = { format: 'ADM-CID', qualifier: '1', code: '131', group: '01', number, class: 'alarm' }
  return { id: nextId++, at: '2026-12-03T00:00:00.000Z', tenant: null, account, type: 'frame', class: 'alarm', protocol: 'ADM-CID', events: [item] }
}
function siaEvent (items: SiaItem[], account = '1234'): OutputEvent {
  return { id: nextId++, at: '2026-12-03T00:00:00.000Z', tenant: null, account, type: 'frame', class: 'alarm', protocol: 'SIA-DCS', events: items }
}

/** Resolves with what deliver answered, or `pending` if it has not answered within `ms`. */
async function within<T> (p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let t: NodeJS.Timeout | undefined
  const r = await Promise.race([p, new Promise<'pending'>((resolve) => { t = setTimeout(() => { resolve('pending') }, ms) })])
  clearTimeout(t)
  return r
}

async function until (ok: () => boolean, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const OK: Delivery = { ok: true }
const numbers = (c: SurgardTestClient): string[] => c.events.map((r) => (r.kind === 'cid' ? r.number : '?'))

describe('one client', () => {
  it('delivers in order, each record parsed back into the event it came from', async () => {
    const h = await start()
    const c = await client(h)
    const events = [cidEvent('001'), cidEvent('002', '12345678'), siaEvent([
      { format: 'SIA-DCS', block: 'N', code: 'BA', number: '01', class: 'alarm', modifiers: { ri: '1' } },
      { format: 'SIA-DCS', block: 'N', code: 'BR', number: '01', class: 'restore', modifiers: { ri: '1' } },
    ])]
    expect(await Promise.all(events.map(async (e) => await h.out.deliver(e)))).toEqual([OK, OK, OK])
    expect(c.errors).toEqual([])
    expect(c.events).toEqual([
      expect.objectContaining({ kind: 'cid', protocol: '5', receiver: '01', line: '001', account: '1234', qualifier: 'E', code: '131', group: '01', number: '001' }),
      expect.objectContaining({ kind: 'cid', protocol: 'Q', account: '0012345678', number: '002' }),
      expect.objectContaining({
        kind: 'sia',
        account: '1234',
        events: [
          { block: 'N', code: 'BA', number: '01', modifiers: { ri: '1' } },
          { block: 'N', code: 'BR', number: '01', modifiers: { ri: '1' } },
        ],
      }),
    ])
    expect(h.out.status()).toEqual({ state: 'up', connected: 1 })
    expect(h.out.window).toBe(1)
    expect(h.troubles).toEqual([])
  })

  it('an event of several records is delivered once all are ACKed, in order', async () => {
    const h = await start()
    const c = await client(h)
    const items: SiaItem[] = Array.from({ length: 30 }, (_, i) => ({ format: 'SIA-DCS', block: 'N', code: 'BA', number: String(i + 1).padStart(3, '0'), class: 'alarm' }))
    expect(await h.out.deliver(siaEvent(items))).toEqual(OK)
    const got = c.events.flatMap((r) => (r.kind === 'sia' ? r.events.map((e) => e.number) : []))
    expect(c.events.length).toBeGreaterThan(1)
    expect(got).toEqual(items.map((i) => i.number))
  })

  it('events with no Sur-Gard form are delivered at once, without a client', async () => {
    const h = await start()
    const e = cidEvent('001')
    expect(await h.out.deliver({ ...e, protocol: 'NULL', class: 'link-test', events: undefined })).toEqual(OK)
    expect(await h.out.deliver({ ...e, type: 'case-opened', events: undefined })).toEqual(OK)
    expect(h.out.status()).toEqual({ state: 'down', connected: 0 })
  })

  it('a NAK sends the record again at once; the link stays up', async () => {
    const h = await start()
    const c = await client(h, (_r, i) => (i < 2 ? 'nak' : 'ack'))
    expect(await h.out.deliver(cidEvent('007'))).toEqual(OK)
    expect(numbers(c)).toEqual(['007', '007', '007'])
    expect(h.retries()).toBe(2)
    expect(h.troubles).toEqual([])
  })

  it('an event NAKed 20 times is given up (parked), and the next one goes', async () => {
    const h = await start()
    const c = await client(h, (r) => (r.kind === 'cid' && r.number === '001' ? 'nak' : 'ack'))
    const first = h.out.deliver(cidEvent('001'))
    const second = h.out.deliver(cidEvent('002'))
    expect(await first).toEqual({ ok: false, error: NAKED_OUT, attempts: 20 })
    expect(NAKED_OUT).toBe('NAKed 20 times by the automation')
    expect(await second).toEqual(OK)
    expect(numbers(c).filter((n) => n === '001')).toHaveLength(20)
    expect(h.troubles).toEqual([])
  })

  it('no answer sends it again after the ACK timeout; answered on the 4th attempt, no trouble', async () => {
    const h = await start({ ackTimeoutMs: SHORT_MS })
    const c = await client(h, (_r, i) => (i < 3 ? 'none' : 'ack'))
    expect(await h.out.deliver(cidEvent('003'))).toEqual(OK)
    expect(numbers(c)).toEqual(['003', '003', '003', '003'])
    expect(h.retries()).toBe(3)
    expect(h.troubles).toEqual([])
  })

  it('bytes that are not ACK or NAK are no answer: the record goes again, then an ACK after noise counts', async () => {
    const h = await start({ ackTimeoutMs: SHORT_MS })
    const c = await client(h, (_r, i) => {
      if (i === 0) { c.write(Buffer.from('hello')); return 'none' }
      c.write([0x41, 0x42])
      return 'ack'
    })
    expect(await h.out.deliver(cidEvent('004'))).toEqual(OK)
    expect(numbers(c)).toEqual(['004', '004'])
  })

  it('4 attempts unanswered: link failed, only heartbeats, then the first ACKed heartbeat restores it and the backlog flushes in order', async () => {
    const h = await start({ ackTimeoutMs: SHORT_MS, heartbeatMs: 200 })
    let answering = false
    const c = await client(h, () => (answering ? 'ack' : 'none'))
    const pending = [h.out.deliver(cidEvent('001')), h.out.deliver(cidEvent('002'))]
    await until(() => h.troubles.length === 1)
    expect(h.troubles[0]?.[0]).toBe('output-link-failed')
    expect(h.out.status()).toEqual({ state: 'failed', connected: 1 })
    expect(numbers(c)).toEqual(['001', '001', '001', '001'])
    // Failed: heartbeats go out, 4 attempts each, and no event record.
    const before = c.records.length
    await c.until(() => c.heartbeats >= 2)
    expect(c.records.slice(before).every((r) => r.kind === 'heartbeat')).toBe(true)
    expect(await within(Promise.race(pending), 50)).toBe('pending')
    answering = true
    expect(await Promise.all(pending)).toEqual([OK, OK])
    expect(h.troubles.map(([k]) => k)).toEqual(['output-link-failed', 'output-link-restored'])
    expect(numbers(c)).toEqual(['001', '001', '001', '001', '001', '002'])
    // The restore came from a heartbeat: the first record after it is the backlog's first.
    const lastHeartbeat = c.records.findLastIndex((r) => r.kind === 'heartbeat')
    expect(c.records.slice(lastHeartbeat + 1).map((r) => r.kind)).toEqual(['cid', 'cid'])
    expect(h.out.status()).toEqual({ state: 'up', connected: 1 })
  })

  it('NAKs count across a link failure towards the 20', async () => {
    const h = await start({ ackTimeoutMs: SHORT_MS, heartbeatMs: 150 })
    let mode: Answer = 'nak'
    let naks = 0
    const c = await client(h, (r) => {
      if (r.kind === 'heartbeat') return mode === 'none' ? 'none' : 'ack'
      if (mode === 'nak' && ++naks === 10) mode = 'none'
      return mode
    })
    const p = h.out.deliver(cidEvent('009'))
    await until(() => h.troubles.length === 1)
    mode = 'nak'
    expect(await p).toEqual({ ok: false, error: NAKED_OUT, attempts: 24 })
    expect(numbers(c)).toHaveLength(24)
  })

  it('heartbeats when idle, in the 1RR000 layout, each answered', async () => {
    const h = await start({ heartbeatMs: 150 })
    const c = await client(h)
    await c.until(() => c.heartbeats >= 2)
    expect(c.records[0]).toMatchObject({ kind: 'heartbeat', receiver: '01', line: '000' })
    expect(c.errors).toEqual([])
    expect(h.troubles).toEqual([])
  })

  it('a heartbeat never answered fails the link too', async () => {
    const h = await start({ ackTimeoutMs: SHORT_MS, heartbeatMs: 100 })
    await client(h, () => 'none')
    await until(() => h.troubles.length === 1)
    expect(h.troubles[0]?.[0]).toBe('output-link-failed')
  })

  it('a hang-up with a record in flight puts it back first; the next client gets it, in order', async () => {
    const h = await start()
    const c1 = await client(h, () => 'disconnect')
    const p = [h.out.deliver(cidEvent('001')), h.out.deliver(cidEvent('002'))]
    await c1.done
    await until(() => h.out.status().connected === 0)
    expect(h.retries()).toBe(1)
    const c2 = await client(h)
    expect(await Promise.all(p)).toEqual([OK, OK])
    expect(numbers(c1)).toEqual(['001'])
    expect(numbers(c2)).toEqual(['001', '002'])
  })

  it('no client: events wait (down); after 4 ACK timeouts the link is failed; a client that ACKs restores it', async () => {
    const h = await start({ ackTimeoutMs: SHORT_MS })
    const p = h.out.deliver(cidEvent('005'))
    expect(h.out.status()).toEqual({ state: 'down', connected: 0 })
    await until(() => h.troubles.length === 1)
    expect(h.troubles[0]).toEqual(['output-link-failed', 'no automation client is connected'])
    expect(h.out.status().state).toBe('failed')
    expect(await within(p, 10)).toBe('pending')
    const c = await client(h)
    expect(await p).toEqual(OK)
    expect(numbers(c)).toEqual(['005'])
    expect(h.troubles.map(([k]) => k)).toEqual(['output-link-failed', 'output-link-restored'])
  })

  it('an answer with nothing in flight is ignored', async () => {
    const h = await start()
    const c = await client(h)
    c.write([0x06, 0x15, 0x06])
    expect(await h.out.deliver(cidEvent('006'))).toEqual(OK)
    expect(numbers(c)).toEqual(['006'])
  })
})

describe('several clients', () => {
  it('events go round the free clients; heartbeats go to each', async () => {
    const h = await start({ heartbeatMs: 150 })
    const a = await client(h)
    const b = await client(h)
    await until(() => h.out.window === 2)
    const p: Array<Promise<Delivery>> = []
    for (let i = 1; i <= 6; i++) p.push(h.out.deliver(cidEvent(String(i).padStart(3, '0'))))
    expect(await Promise.all(p)).toEqual(Array(6).fill(OK))
    expect(numbers(a).length).toBeGreaterThan(0)
    expect(numbers(b).length).toBeGreaterThan(0)
    expect([...numbers(a), ...numbers(b)].sort()).toEqual(['001', '002', '003', '004', '005', '006'])
    await a.until(() => a.heartbeats >= 1)
    await b.until(() => b.heartbeats >= 1)
    expect(h.out.status()).toEqual({ state: 'up', connected: 2 })
  })

  it('a silent client fails alone: its event goes to the other, and the link is not failed', async () => {
    const h = await start({ ackTimeoutMs: SHORT_MS })
    const silent = await client(h, () => 'none')
    await until(() => h.out.window === 1)
    const other = await client(h)
    await until(() => h.out.window === 2)
    const p = [h.out.deliver(cidEvent('001')), h.out.deliver(cidEvent('002'))]
    expect(await Promise.all(p)).toEqual([OK, OK])
    expect(numbers(silent)).toEqual(['001', '001', '001', '001'])
    expect(numbers(other)).toEqual(['002', '001'])
    expect(h.troubles).toEqual([])
  })

  it('more clients than the limit are refused', async () => {
    const h = await start({ maxClients: 2 })
    await client(h)
    await client(h)
    await until(() => h.out.window === 2)
    const third = await client(h)
    await third.done
    expect(third.closed).toBe(true)
    expect(h.out.status().connected).toBe(2)
  })
})

describe('B32', () => {
  it('records carry the length header; answers come with theirs', async () => {
    const h = await start({}, { b32: true })
    const c = await client(h, (_r, i) => (i === 0 ? 'nak' : 'ack'), { b32: true })
    expect(await h.out.deliver(cidEvent('011'))).toEqual(OK)
    expect(c.errors).toEqual([])
    expect(numbers(c)).toEqual(['011', '011'])
    expect([...(c.packets[0] as Buffer).subarray(0, 4)]).toEqual([0, 0, 0, 0x27])
  })
})

describe('limits and life cycle', () => {
  it('a client that sends too many bytes that are not answers is dropped', async () => {
    const h = await start({ maxNoiseBytes: 64 })
    const c = await client(h)
    c.write(Buffer.alloc(40, 0x41))
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(c.closed).toBe(false)
    c.write(Buffer.alloc(40, 0x41))
    await c.done
    await until(() => h.out.status().connected === 0)
  })

  it('answers with nothing in flight, and B32 headers without an answer, are noise too', async () => {
    const h = await start({ maxNoiseBytes: 64 })
    const c = await client(h)
    c.write(Buffer.alloc(65, 0x06))
    await c.done
    const h32 = await start({ maxNoiseBytes: 64 }, { b32: true })
    const c32 = await client(h32, undefined, { b32: true })
    c32.write(Array.from({ length: 20 }, () => [0, 0, 0, 5]).flat())
    await c32.done
  })

  it('noise is counted between answers only: answers reset the count', async () => {
    const h = await start({ maxNoiseBytes: 64 })
    const c = await client(h, () => { c.write(Buffer.alloc(40, 0x41)); return 'ack' })
    for (let i = 0; i < 4; i++) expect(await h.out.deliver(cidEvent('012'))).toEqual(OK)
    expect(c.closed).toBe(false)
  })

  it('close rejects pending deliveries and refuses new ones', async () => {
    const h = await start()
    await client(h, () => 'none')
    const p = h.out.deliver(cidEvent('013'))
    const q = h.out.deliver(cidEvent('014'))
    await until(() => h.out.window === 1)
    await h.out.close()
    await expect(p).rejects.toThrow(/closed/)
    await expect(q).rejects.toThrow(/closed/)
    await expect(h.out.deliver(cidEvent('015'))).rejects.toThrow(/closed/)
  })

  it('start rejects when the port is taken', async () => {
    const taken = createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as { port: number }).port
    const out = surgardOutput('x', { host: '127.0.0.1', port, receiver: '01', line: '001', header: 5, b32: false, heartbeatSeconds: 30, ackTimeoutSeconds: 4 })
    const ctx: OutputContext = { log: pino({ level: 'silent' }), clock: () => Date.now(), trouble: () => {}, retried: () => {} }
    await expect(out.start(ctx)).rejects.toThrow(/EADDRINUSE/)
    await out.close()
    await new Promise<void>((resolve) => taken.close(() => { resolve() }))
  })
})
