/**
 * The Sur-Gard output when the automation is silent: ACK timeouts, a failed link that gets only
 * heartbeats and comes back on the first ACK with its backlog in order, NAKs counted across a
 * failure, and no client at all. Short ACK timeouts (tuning) keep the file to a few seconds.
 */
import { describe, expect, it } from 'vitest'
import { NAKED_OUT } from '../../../src/outputs/surgard/output.js'
import type { Answer } from '../../support/surgard-client.js'
import { OK, SHORT_MS, cidEvent, numbers, surgardHarness, until, within } from '../../support/surgard-harness.js'

// Each test waits out its own timeouts on its own output and port: they run side by side.
describe.concurrent('a silent automation', () => {
  it('no answer sends it again after the ACK timeout; answered on the 4th attempt, no trouble', async ({ onTestFinished }) => {
    const { start, client } = surgardHarness(onTestFinished)
    const h = await start({ ackTimeoutMs: SHORT_MS })
    const c = await client(h, (_r, i) => (i < 3 ? 'none' : 'ack'))
    expect(await h.out.deliver(cidEvent('003'))).toEqual(OK)
    expect(numbers(c)).toEqual(['003', '003', '003', '003'])
    expect(h.retries()).toBe(3)
    expect(h.troubles).toEqual([])
  })

  it('bytes that are not ACK or NAK are no answer: the record goes again, then an ACK after noise counts', async ({ onTestFinished }) => {
    const { start, client } = surgardHarness(onTestFinished)
    const h = await start({ ackTimeoutMs: SHORT_MS })
    const c = await client(h, (_r, i) => {
      if (i === 0) { c.write(Buffer.from('hello')); return 'none' }
      c.write([0x41, 0x42])
      return 'ack'
    })
    expect(await h.out.deliver(cidEvent('004'))).toEqual(OK)
    expect(numbers(c)).toEqual(['004', '004'])
  })

  it('4 attempts unanswered: link failed, only heartbeats, then the first ACKed heartbeat restores it and the backlog flushes in order', async ({ onTestFinished }) => {
    const { start, client } = surgardHarness(onTestFinished)
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

  it('NAKs count across a link failure towards the 20', async ({ onTestFinished }) => {
    const { start, client } = surgardHarness(onTestFinished)
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

  it('a heartbeat never answered fails the link too', async ({ onTestFinished }) => {
    const { start, client } = surgardHarness(onTestFinished)
    const h = await start({ ackTimeoutMs: SHORT_MS, heartbeatMs: 100 })
    await client(h, () => 'none')
    await until(() => h.troubles.length === 1)
    expect(h.troubles[0]?.[0]).toBe('output-link-failed')
  })

  it('no client: events wait (down); after 4 ACK timeouts the link is failed; a client that ACKs restores it', async ({ onTestFinished }) => {
    const { start, client } = surgardHarness(onTestFinished)
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

  it('a silent client fails alone: its event goes to the other, and the link is not failed', async ({ onTestFinished }) => {
    const { start, client } = surgardHarness(onTestFinished)
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
})
