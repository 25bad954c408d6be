/**
 * The lease on a key-value bucket (faked here: get, create, and update conditional on the
 * revision, as the NATS bucket does them).
 */
import type { KV } from '@nats-io/kv'
import { afterEach, describe, expect, it } from 'vitest'
import { Lease, parseLease } from '../../../src/cluster/lease.js'

class FakeKv {
  value: string | undefined
  revision = 0

  async get (_key: string): Promise<{ revision: number, operation: 'PUT', string: () => string } | null> {
    const v = this.value
    return v === undefined ? null : { revision: this.revision, operation: 'PUT', string: () => v }
  }

  async create (_key: string, v: string): Promise<number> {
    if (this.value !== undefined) throw new Error('wrong last sequence: key exists')
    this.value = v
    return ++this.revision
  }

  async update (_key: string, v: string, revision: number): Promise<number> {
    if (revision !== this.revision) throw new Error('wrong last sequence')
    this.value = v
    return ++this.revision
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const fast = { ttlMs: 400, renewMs: 50, checkMs: 20, marginMs: 100 }

describe('Lease', () => {
  const leases: Lease[] = []
  afterEach(async () => { for (const l of leases.splice(0)) await l.stop() })

  it('takes a free lease, renews it, and gives it back on stop', async () => {
    const kv = new FakeKv()
    const l = new Lease(kv as unknown as KV, 'pipeline', 'rA', fast)
    let acquired = 0
    l.start({ acquired: () => { acquired++ }, lost: () => {} })
    await sleep(150)
    expect(l.held).toBe(true)
    expect(acquired).toBe(1)
    expect(parseLease(kv.value!)?.node).toBe('rA')
    await l.stop()
    expect(parseLease(kv.value!)?.until).toBe(0)
  })

  it('does not keep a lease whose start failed: it gives it back and tries again', async () => {
    // A node that took the lease but could not start acting (the cluster went away meanwhile)
    // held it and did nothing, so no node ran the pipeline until it stopped.
    const kv = new FakeKv()
    const l = new Lease(kv as unknown as KV, 'pipeline', 'rA', fast)
    leases.push(l)
    let attempts = 0
    const errors: string[] = []
    l.start({
      acquired: () => { if (++attempts === 1) throw new Error('the cluster is away') },
      lost: () => {},
      error: (err) => { errors.push(err.message) },
    })
    await sleep(300)
    expect(errors).toEqual(['the cluster is away'])
    expect(attempts).toBe(2)
    expect(l.held).toBe(true)
  })

  it('lets another node take a lease whose start failed, at once', async () => {
    const kv = new FakeKv()
    const a = new Lease(kv as unknown as KV, 'pipeline', 'rA', { ...fast, checkMs: 10_000 })
    const b = new Lease(kv as unknown as KV, 'pipeline', 'rB', fast)
    leases.push(a, b)
    a.start({ acquired: () => { throw new Error('cannot start') }, lost: () => {}, error: () => {} })
    await sleep(50)
    expect(a.held).toBe(false)
    let bAcquired = false
    b.start({ acquired: () => { bAcquired = true }, lost: () => {} })
    await sleep(100)
    expect(bAcquired).toBe(true)
    expect(parseLease(kv.value!)?.node).toBe('rB')
  })
})

describe('Lease under slow starts and hung renewals', () => {
  it('keeps renewing while the holder is still starting (a start longer than the lease)', async () => {
    const kv = new FakeKv()
    const l = new Lease(kv as unknown as KV, 'pipeline', 'rA', fast)
    const lost: string[] = []
    l.start({ acquired: () => sleep(fast.ttlMs * 2), lost: (r) => { lost.push(r) } })
    await sleep(fast.ttlMs * 2 + 100)
    expect(l.held).toBe(true)
    expect(lost).toEqual([])
    await l.stop()
  })

  it('stops acting before the lease runs out when a renewal hangs, without waiting for it', async () => {
    const kv = new FakeKv()
    const l = new Lease(kv as unknown as KV, 'pipeline', 'rA', fast)
    let lostAt = 0
    l.start({ acquired: () => {}, lost: () => { lostAt = Date.now() } })
    while (!l.held) await sleep(5)
    const until = parseLease(kv.value!)!.until
    // Every renewal from now on hangs (an election).
    kv.update = () => new Promise<number>(() => {})
    while (lostAt === 0 && Date.now() < until + 1000) await sleep(5)
    expect(lostAt).toBeGreaterThan(0)
    expect(lostAt).toBeLessThan(until)
  })

  it('treats another process under the same node name as another holder', async () => {
    const kv = new FakeKv()
    const a = new Lease(kv as unknown as KV, 'pipeline', 'rcv1', fast)
    const b = new Lease(kv as unknown as KV, 'pipeline', 'rcv1', fast)
    a.start({ acquired: () => {}, lost: () => {} })
    while (!a.held) await sleep(5)
    b.start({ acquired: () => {}, lost: () => {} })
    await sleep(fast.ttlMs)
    expect(a.held && !b.held).toBe(true)
    await b.stop()
    await a.stop()
  })
})
