/**
 * The pipeline's lease and the shared state between nodes, on a real nats-server: one holder at a
 * time, a stopped holder's lease taken at once, a dead holder's after it runs out; a change made
 * on one node seen by another's next read, with no refresh asked for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectCluster, LEASE_BUCKET } from '../../src/cluster/nats.js'
import { initCluster } from '../../src/cluster/layout.js'
import { Lease, parseLease } from '../../src/cluster/lease.js'
import { SharedState } from '../../src/cluster/shared-state.js'
import { openAccounts, openAudit, openPipelineStore, PipelineFencedError } from '../../src/cluster/parts.js'
import { Verifier } from '../../src/verification/verifier.js'
import { jetstreamManager } from '@nats-io/jetstream'
import { Batch } from '../../src/pipeline/pipeline-store.js'
import { natsServerPath, startCluster, type NatsCluster } from './nats.js'

const have = natsServerPath() !== undefined

let cluster: NatsCluster | undefined
let nc: NatsConnection | undefined
let kv: KV | undefined

beforeAll(async () => {
  if (!have) return
  cluster = await startCluster({ nodes: 1 })
  nc = await connectCluster(cluster.urls, { name: 'lease test' })
  await initCluster(nc, { replicas: 1, duplicateWindowMs: 60_000, maxBytes: 0 })
  kv = await new Kvm(nc).open(LEASE_BUCKET)
}, 30_000)

afterAll(async () => {
  await nc?.close()
  await cluster?.stopAll()
})

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Waits (blocking, as the stores do) until `done`, at most a second: another node's change shows
 * once that node's publish has reached this node's bridge, milliseconds later.
 */
function waitFor (done: () => boolean): void {
  const t0 = Date.now()
  while (!done() && Date.now() - t0 < 1000) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5)
}
const fast = { ttlMs: 1200, renewMs: 300, checkMs: 100, marginMs: 300 }

describe.skipIf(!have)('the lease', () => {
  it('has one holder, renewed; a holder that stops gives it back, and another takes it at once', async () => {
    const log: string[] = []
    const events = (name: string) => ({ acquired: () => { log.push(`${name} acquired`) }, lost: (reason: string) => { log.push(`${name} lost: ${reason}`) } })
    // A long lease: b taking it well before it would have run out shows that a gave it back.
    const slow = { ...fast, ttlMs: 4000, renewMs: 500 }
    const a = new Lease(kv!, 'test-1', 'a', slow)
    const b = new Lease(kv!, 'test-1', 'b', slow)
    a.start(events('a'))
    await sleep(300)
    b.start(events('b'))
    await sleep(1500)
    // Renewed all along: b never got it.
    expect(log).toEqual(['a acquired'])
    expect(a.held && !b.held).toBe(true)
    const t0 = Date.now()
    await a.stop()
    while (!b.held && Date.now() - t0 < 3000) await sleep(20)
    expect(b.held).toBe(true)
    // Released, so taken at b's next look, not after the lease would have run out.
    expect(Date.now() - t0).toBeLessThan(2500)
    expect(log).toEqual(['a acquired', 'b acquired'])

    await b.stop()
    expect(parseLease((await kv!.get('test-1'))!.string())).toMatchObject({ node: 'b', until: 0 })
  })

  it('is taken from a holder that died (no renewal, no release) only once it has run out', async () => {
    // What a killed holder leaves: its last renewal.
    const until = Date.now() + 1000
    await kv!.put('test-2', JSON.stringify({ node: 'ghost', until }))
    let at = 0
    const c = new Lease(kv!, 'test-2', 'c', fast)
    c.start({ acquired: () => { at = Date.now() }, lost: () => {} })
    await sleep(600)
    expect(c.held).toBe(false)
    while (!c.held && Date.now() < until + 2000) await sleep(20)
    expect(c.held).toBe(true)
    expect(at).toBeGreaterThanOrEqual(until)
    expect(at - until).toBeLessThan(fast.checkMs + 1500)
    await c.stop()
  })

  it('is lost by a holder whose renewal finds that another node wrote it (a holder that was paused)', async () => {
    const lost: number[] = []
    const d = new Lease(kv!, 'test-3', 'd', fast)
    d.start({ acquired: () => {}, lost: () => { lost.push(Date.now()) } })
    while (!d.held) await sleep(20)
    const e = await kv!.get('test-3')
    await kv!.update('test-3', JSON.stringify({ node: 'other', until: Date.now() + 5000 }), e!.revision)
    while (d.held) await sleep(20)
    expect(lost.length).toBe(1)
    await d.stop()
  })
})

describe.skipIf(!have)('the shared state between nodes', () => {
  it('shows a change made on one node at the next read on another, with no refresh', () => {
    const scope = `lease${process.pid}`
    const one = new SharedState({ servers: cluster!.urls, name: 'one', scope })
    const two = new SharedState({ servers: cluster!.urls, name: 'two', scope })
    try {
      const a = openAccounts(one).accounts
      const b = openAccounts(two).accounts
      expect(b.get('4321')).toBeUndefined()
      expect(a.add({ account: '4321', siteName: 'North' }).ok).toBe(true)
      waitFor(() => b.receiverAccount('4321') !== undefined)
      expect(b.receiverAccount('4321')?.account.siteName).toBe('North')
      expect(b.update('4321', { siteName: 'South' }).ok).toBe(true)
      waitFor(() => a.get('4321')?.siteName === 'South')
      expect(a.get('4321')?.siteName).toBe('South')
    } finally {
      one.close()
      two.close()
    }
  })
})

describe.skipIf(!have)('the pipeline state of a holder that was paused', () => {
  it('refuses its commit once another node moved the cursor, and keeps the newer state', () => {
    const scope = `fence${process.pid}`
    const one = new SharedState({ servers: cluster!.urls, name: 'paused holder', scope })
    const two = new SharedState({ servers: cluster!.urls, name: 'new holder', scope })
    try {
      const paused = openPipelineStore(one)
      const next = openPipelineStore(two)
      expect(paused.cursor()).toBe(0)
      expect(next.cursor()).toBe(0)
      const newer = new Batch()
      newer.writes.set('s\x00k', { stage: 's', key: 'k', value: '"newer"' })
      next.commit(newer, 5)
      const older = new Batch()
      older.writes.set('s\x00k', { stage: 's', key: 'k', value: '"older"' })
      expect(() => paused.commit(older, 3)).toThrow(PipelineFencedError)
      expect(paused.readOne('s', 'k')).toBe('newer')
      expect(paused.cursor()).toBe(5)
      // Started again from where it is now, the holder commits.
      paused.commit(older, 6)
      waitFor(() => next.readOne('s', 'k') === 'older')
      expect(next.readOne('s', 'k')).toBe('older')
      expect(next.cursor()).toBe(6)
    } finally {
      one.close()
      two.close()
    }
  })
})

describe.skipIf(!have)('writes that change nothing', () => {
  it('are not published: a second verifier (a command) finds the row unknown accounts read, and adds no change', async () => {
    const scope = `same${process.pid}`
    const jsm = await jetstreamManager(nc!)
    const changes = async (): Promise<number> => (await jsm.streams.info('DC09_STATE', { subjects_filter: `dc09.state.${scope}.>` })).state.messages
    const one = new SharedState({ servers: cluster!.urls, name: 'first', scope })
    try {
      const { accounts, verification } = openAccounts(one)
      const audit = openAudit(one)
      new Verifier({ store: verification, audit }, accounts, { scryptN: 16 }).close()
      const after = await changes()
      expect(after).toBeGreaterThan(0)
      new Verifier({ store: verification, audit }, accounts, { scryptN: 16 }).close()
      expect(await changes()).toBe(after)
      // Another cost is a change.
      new Verifier({ store: verification, audit }, accounts, { scryptN: 32 }).close()
      expect(await changes()).toBe(after + 1)
    } finally {
      one.close()
    }
  })
})

describe.skipIf(!have)('an account moved to another tenant', () => {
  it('gets the same new salt on every replica (its codes must verify on every node)', () => {
    const scope = `salt${process.pid}`
    const one = new SharedState({ servers: cluster!.urls, name: 'one', scope })
    const two = new SharedState({ servers: cluster!.urls, name: 'two', scope })
    try {
      const a = openAccounts(one)
      const b = openAccounts(two)
      expect(a.accounts.add({ account: '7777', tenant: 't1' }).ok).toBe(true)
      a.verification.salt('7777', { account: '7777', salt: Buffer.alloc(16, 1), n: 16, slots: Buffer.alloc(8) })
      expect(a.accounts.update('7777', { tenant: 't2' }).ok).toBe(true)
      const mine = a.verification.slots('7777', '7777')!.salt
      expect(mine.equals(Buffer.alloc(16, 1))).toBe(false)
      waitFor(() => b.accounts.get('7777')?.tenant === 't2')
      expect(b.verification.slots('7777', '7777')!.salt.toString('hex')).toBe(mine.toString('hex'))
    } finally {
      one.close()
      two.close()
    }
  })
})
