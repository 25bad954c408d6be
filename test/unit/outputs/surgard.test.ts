/**
 * The Sur-Gard output over real TCP on 127.0.0.1, driven by the strict test client: delivery in
 * order with every record parsed back, NAKs and the NAK limit, hang-ups, several clients, B32,
 * and the limits on clients and on bytes that are not answers. The paths that wait for silence
 * (ACK timeouts, link failure and recovery) are in surgard-link.test.ts.
 */
import { createServer } from 'node:net'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import type { Delivery, OutputContext, SiaItem } from '../../../src/outputs/output.js'
import { NAKED_OUT, surgardOutput } from '../../../src/outputs/surgard/output.js'
import { OK, cidEvent, numbers, siaEvent, until, useSurgardHarness } from '../../support/surgard-harness.js'

const { start, client } = useSurgardHarness()
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

  it('heartbeats when idle, in the 1RR000 layout, each answered', async () => {
    const h = await start({ heartbeatMs: 150 })
    const c = await client(h)
    await c.until(() => c.heartbeats >= 2)
    expect(c.records[0]).toMatchObject({ kind: 'heartbeat', receiver: '01', line: '000' })
    expect(c.errors).toEqual([])
    expect(h.troubles).toEqual([])
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

  it('more clients than the limit are refused', async () => {
    const lines: string[] = []
    const h = await start({ maxClients: 2 }, {}, lines)
    await client(h)
    await client(h)
    await until(() => h.out.window === 2)
    for (let i = 0; i < 3; i++) {
      const extra = await client(h)
      await extra.done
      expect(extra.closed).toBe(true)
    }
    expect(h.out.status().connected).toBe(2)
    // One line for the three (a client that keeps trying does not flood the log).
    expect(lines.filter((l) => l.includes('too many clients'))).toHaveLength(1)
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
