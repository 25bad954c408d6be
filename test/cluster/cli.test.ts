/**
 * The built `dc09` with `--nats`: the commands that read or change shared state use the cluster
 * instead of a data directory, so what one process changes another sees; `dc09 cluster init`
 * makes the streams once and refuses to change their replication; `dc09 cluster status` says
 * what the streams hold; and a cluster that cannot be reached is one line and exit 1.
 */
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Kvm } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectCluster, LEASE_BUCKET } from '../../src/cluster/nats.js'
import { JetStreamJournal } from '../../src/cluster/journal.js'
import { natsServerPath, startCluster, type NatsCluster } from './nats.js'

const BIN = new URL('../../dist/src/cli/main.js', import.meta.url).pathname
const have = natsServerPath() !== undefined

interface Run { code: number | null, out: string, err: string, ms: number }

/** Runs the built CLI (asynchronously: the test's own NATS connection keeps working meanwhile). */
async function dc09 (args: string[], env: Record<string, string> = {}, input = ''): Promise<Run> {
  const t0 = Date.now()
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000)
    child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8') })
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8') })
    child.on('error', reject)
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, out, err, ms: Date.now() - t0 }) })
    child.stdin.end(input)
  })
}

/** A port nothing listens on (bound, then released). */
async function closedPort (): Promise<number> {
  return await new Promise((resolve) => {
    const srv = createServer()
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port
      srv.close(() => resolve(port))
    })
  })
}

let cluster: NatsCluster
let nc: NatsConnection

beforeAll(async () => {
  if (!have) return
  cluster = await startCluster({ nodes: 1, guardMs: 120_000 })
  nc = await connectCluster(cluster.urls, { name: 'cli test' })
}, 30_000)

afterAll(async () => {
  await nc?.close()
  await cluster?.stopAll()
})

describe.skipIf(!have).sequential('dc09 with --nats (one nats-server)', () => {
  it('before cluster init, a command says the streams are missing: one line, exit 1', async () => {
    const r = await dc09(['accounts', 'list', '--nats', cluster.url])
    expect(r.code).toBe(1)
    expect(r.out).toBe('')
    expect(r.err).toBe('dc09: the cluster has no DC09_EVENTS: run `dc09 cluster init --nats ...` once first (DC09_ERR_CLUSTER_LAYOUT)\n')
  })

  it('cluster init creates the streams once, says so the second time, and refuses another replication', async () => {
    const first = await dc09(['cluster', 'init', '--nats', cluster.url, '--replicas', '1'])
    expect(first.err).toBe('')
    expect(first.code).toBe(0)
    expect(first.out).toBe('created: DC09_EVENTS, DC09_STATE, DC09_LEASES\n')
    const again = await dc09(['cluster', 'init', '--replicas', '1'], { DC09_NATS: cluster.url })
    expect(again.code).toBe(0)
    expect(again.out).toBe('existing (unchanged): DC09_EVENTS, DC09_STATE, DC09_LEASES\n')
    const r3 = await dc09(['cluster', 'init', '--nats', cluster.url, '--replicas', '3'])
    expect(r3.code).toBe(1)
    expect(r3.out).toBe('')
    expect(r3.err).toMatch(/^dc09: stream DC09_EVENTS exists with 1 replicas, not 3: .* \(DC09_ERR_CLUSTER_LAYOUT\)\n$/)
  }, 20_000)

  it('an account added through one process is listed by another (the state is the cluster\'s, no data directory)', async () => {
    const add = await dc09(['accounts', 'add', '--nats', cluster.url, '--account', '1234', '--tenant', 'acme', '--site-name', 'Shop'])
    expect(add.err).toBe('')
    expect(add.code).toBe(0)
    expect(add.out).toBe('added account 1234, no key, plain frames accepted, tenant acme, site "Shop"\n')
    const list = await dc09(['accounts', 'list'], { DC09_NATS: cluster.url })
    expect(list.code).toBe(0)
    expect(list.out).toBe('account 1234, no key, plain frames accepted, tenant acme, site "Shop"\n')
    const show = await dc09(['accounts', 'show', '--account', '1234', '--json'], { DC09_NATS: cluster.url })
    expect(JSON.parse(show.out)).toMatchObject({ account: '1234', tenant: 'acme' })
  }, 20_000)

  it('without --nats or DC09_NATS, --data is still required', async () => {
    const r = await dc09(['accounts', 'list'])
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/^error: required option '--data <dir>' not specified/)
  })

  it('tokens made through the cluster are listed from another process, and users too', async () => {
    const create = await dc09(['tokens', 'create', '--nats', cluster.url, '--role', 'operator', '--name', 'night shift'])
    expect(create.err).toBe('')
    expect(create.code).toBe(0)
    expect(create.out).toMatch(/^\S{20,}\n$/)
    const list = await dc09(['tokens', 'list', '--nats', cluster.url])
    expect(list.code).toBe(0)
    expect(list.out).toMatch(/^[0-9a-f]{12} operator "night shift": active, made \S+\n$/)
    expect(list.out).not.toContain(create.out.trim())
    const user = await dc09(['users', 'add', '--nats', cluster.url, '--account', '1234', '--user', '1', '--name', 'Ann'])
    expect(user.code).toBe(0)
    expect(user.out).toBe(`account 1234: user 1 added; set a code with: dc09 codes set --nats ${cluster.url} --account 1234 --user 1\n`)
    const users = await dc09(['users', 'list', '--account', '1234'], { DC09_NATS: cluster.url })
    expect(users.out).toBe('user 1 (Ann): no code\n')
    const audit = await dc09(['audit', '--nats', cluster.url])
    expect(audit.out).toMatch(/token-create/)
    expect(audit.out).toMatch(/user-add account 1234 user 1/)
  }, 30_000)

  it('journal export prints the events stream as JSON lines, nothing when it is empty', async () => {
    const empty = await dc09(['journal', 'export', '--nats', cluster.url])
    expect(empty.err).toBe('')
    expect(empty.code).toBe(0)
    expect(empty.out).toBe('')
    const journal = await JetStreamJournal.open(nc)
    const id = await journal.append({ type: 'derived', receivedAt: 1_700_000_000_000, kind: 'test', account: '1234', stage: 'cli-test', causedBy: 0, n: 0, data: { x: 1 } })
    await journal.close()
    const one = await dc09(['journal', 'export'], { DC09_NATS: cluster.url })
    expect(one.code).toBe(0)
    expect(one.out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown)).toEqual([
      { id, type: 'derived', receivedAt: 1_700_000_000_000, kind: 'test', account: '1234', stage: 'cli-test', causedBy: 0, n: 0, data: { x: 1 } },
    ])
  }, 20_000)

  it('cluster status: each stream, the pipeline\'s holder and lag', async () => {
    const r = await dc09(['cluster', 'status', '--nats', cluster.url])
    expect(r.err).toBe('')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^DC09_EVENTS: 1 message\(s\), \d+ bytes, last sequence 1, leader \(none\)\n/m)
    expect(r.out).toMatch(/^DC09_STATE: \d+ message\(s\), \d+ bytes, last sequence \d+, leader \(none\)\n/m)
    expect(r.out).toMatch(/^pipeline: no holder; 1 event\(s\) behind \(cursor 0 of 1\)\n$/m)
    // The lease as the pipeline's holder keeps it: the node, and until when (epoch ms).
    const until = Date.now() + 60_000
    const kv = await new Kvm(nc).open(LEASE_BUCKET)
    await kv.put('pipeline', JSON.stringify({ node: 'node-a', until }))
    const held = await dc09(['cluster', 'status', '--nats', cluster.url])
    expect(held.out).toMatch(new RegExp(`^pipeline: held by node-a until ${new Date(until).toISOString()}; 1 event\\(s\\) behind \\(cursor 0 of 1\\)\n$`, 'm'))
    const json = await dc09(['cluster', 'status', '--json'], { DC09_NATS: cluster.url })
    const s = JSON.parse(json.out) as { streams: Array<{ name: string, messages: number, lastSeq: number, followers: unknown[] }>, pipeline: { holder: unknown, cursor: number, lag: number } }
    expect(s.streams.map((x) => x.name)).toEqual(['DC09_EVENTS', 'DC09_STATE'])
    expect(s.streams[0]).toMatchObject({ messages: 1, lastSeq: 1, leader: null, followers: [] })
    expect(s.pipeline).toEqual({ holder: { node: 'node-a', until, current: true }, cursor: 0, lag: 1 })
  }, 20_000)

  it('a cluster that cannot be reached: one line, exit 1, in about 10 s at most', async () => {
    const port = await closedPort()
    for (const args of [['accounts', 'list'], ['journal', 'export']]) {
      const r = await dc09([...args, '--nats', `127.0.0.1:${port}`])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.out).toBe('')
      expect(r.err).toMatch(/^dc09: cannot reach the cluster .*\(DC09_ERR_CLUSTER_UNAVAILABLE\)\n$/)
      expect(r.ms).toBeLessThan(12_000)
    }
  }, 30_000)
})
