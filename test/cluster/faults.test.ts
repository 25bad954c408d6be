/**
 * The cluster under faults: two receivers (`dc09 serve --nats`) on a real 3-node JetStream
 * cluster take load from dual-path panels (the simulator) while one fault at a time is injected:
 * a receiver killed, the events stream's leader killed, a follower killed, the pipeline's lease
 * holder killed, a server frozen past the election timeout, everything restarted. After each
 * round, every event a panel saw acknowledged is in the events stream exactly once, and the
 * pipeline (on whichever node holds its lease) has written it out. A summary table of the ACK
 * waits, lease takeovers and elections is printed at the end.
 *
 * DC09_CLUSTER_ROUNDS=n runs n rounds (the soak: scripts/cluster-soak.sh); the default is 10.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, fstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { Kvm, type KV } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JetStreamJournal } from '../../src/cluster/journal.js'
import { initCluster } from '../../src/cluster/layout.js'
import { parseLease } from '../../src/cluster/lease.js'
import { connectCluster, EVENTS_STREAM, LEASE_BUCKET } from '../../src/cluster/nats.js'
import { openAccounts } from '../../src/cluster/parts.js'
import { SharedState } from '../../src/cluster/shared-state.js'
import { makeFleet } from '../../src/sim/fleet.js'
import { NATS_MISSING, natsServerPath, startCluster, startWatchdog, type NatsCluster, type Watchdog, retry } from './nats.js'

const missing = natsServerPath() === undefined
const CLI = resolve('dist/src/cli/main.js')

const ROUNDS = Math.max(1, Number(process.env.DC09_CLUSTER_ROUNDS ?? 10) || 10)
/** Generous per round: the slowest (a restart of everything, a frozen server) take 15-25 s. */
const ROUND_BUDGET_MS = 60_000
const SETUP_BUDGET_MS = 60_000
const TEST_TIMEOUT_MS = SETUP_BUDGET_MS + ROUNDS * ROUND_BUDGET_MS
/** Events per panel per round, half a second apart: about 3 s of load. */
const STEPS = 6
const STEP_S = 0.5
/** When the fault strikes, from the start of the round's load. */
const FAULT_AT_MS = 1000
/** Longer than the servers' election timeout (4-9 s). */
const FREEZE_MS = 10_000
/** A killed receiver is started again after this long. */
const DOWN_MS = 2000
/**
 * How long the pipeline gets to write out a round's events after the load ends. A server frozen
 * and resumed can leave the cluster without a metadata leader for 15 s or more (nats-server
 * 2.9.10): the lease and the shared state wait for it.
 */
const PIPELINE_WAIT_MS = 60_000
/** How long acknowledged events may take to show up in reads of the stream after a fault. */
const VISIBLE_WAIT_MS = 30_000

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen({ host: '127.0.0.1', port: 0 }, () => {
      const a = srv.address()
      const port = typeof a === 'object' && a !== null ? a.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** A receiver (`dc09 serve --nats`) in a process group of its own, its stdout (JSON lines) appended to a file. */
class Receiver {
  readonly name: string
  readonly data: string
  readonly port: number
  readonly log: string
  child: ChildProcess | undefined
  exited: Promise<void> = Promise.resolve()

  constructor (name: string, dir: string, port: number) {
    this.name = name
    this.data = join(dir, name)
    this.port = port
    this.log = join(dir, `${name}.log`)
  }

  get pid (): number | undefined {
    return this.child?.pid
  }

  /** Starts it and waits until it listens; tried again while it exits early (the cluster still electing leaders). */
  async start (ctx: { urls: string[], pepper: string, watchdog: Watchdog, webhook: string, secret: string }, ms = 40_000): Promise<void> {
    const deadline = Date.now() + ms
    for (let attempt = 1; ; attempt++) {
      const from = existsSync(this.log) ? statSync(this.log).size : 0
      const out = openSync(this.log, 'a')
      let child: ChildProcess
      try {
        child = spawn(process.execPath, [CLI, 'serve', '--nats', ctx.urls.join(','), '--node', this.name, '--data', this.data,
          '--port', String(this.port), '--api-port', '0', '--log-level', 'info', '--webhook', ctx.webhook, '--webhook-secret-file', ctx.secret], {
          detached: true,
          stdio: ['ignore', out, out],
          env: { ...process.env, DC09_PEPPER_FILE: ctx.pepper },
        })
      } finally {
        closeSync(out)
      }
      this.child = child
      const pgid = child.pid!
      ctx.watchdog.track(pgid)
      let gone = false
      this.exited = new Promise((resolve) => child.once('exit', () => {
        gone = true
        ctx.watchdog.untrack(pgid)
        if (this.child === child) this.child = undefined
        resolve()
      }))
      for (;;) {
        if (this.#logSince(from).includes('"msg":"listening"')) return
        if (gone) break
        if (Date.now() > deadline) throw new Error(`${this.name} did not listen within ${ms} ms:\n${this.#logSince(from).slice(-2000)}`)
        await sleep(100)
      }
      if (Date.now() > deadline) throw new Error(`${this.name} exited while starting (attempt ${attempt}):\n${this.#logSince(from).slice(-2000)}`)
      await sleep(500)
    }
  }

  #logSince (from: number): string {
    try {
      return readFrom(this.log, from).toString('utf8')
    } catch {
      return ''
    }
  }

  /** Signals the whole process group; waits for the exit (SIGKILL after `graceMs`). */
  async stop (signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
    const child = this.child
    if (child?.pid === undefined) return
    try { process.kill(-child.pid, signal) } catch {}
    const timedOut = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)])
    if (timedOut) {
      try { process.kill(-child.pid, 'SIGKILL') } catch {}
      await this.exited
    }
  }

  /** The pipeline's output lines written on this node since `offset` bytes (whole lines only); the new offset. */
  output (offset: number): { ids: number[], offset: number } {
    const file = join(this.data, 'events.jsonl')
    if (!existsSync(file)) return { ids: [], offset }
    const buf = readFrom(file, offset)
    const end = buf.lastIndexOf(0x0a) + 1
    const ids = buf.subarray(0, end).toString('utf8').split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { id: number }).id)
    return { ids, offset: offset + end }
  }
}

/** A file's bytes from `offset` on (logs and outputs grow long in a soak: never read from the start again). */
function readFrom (file: string, offset: number): Buffer {
  const fd = openSync(file, 'r')
  try {
    const size = fstatSync(fd).size
    if (size <= offset) return Buffer.alloc(0)
    const buf = Buffer.alloc(size - offset)
    return buf.subarray(0, readSync(fd, buf, 0, buf.length, offset))
  } finally {
    closeSync(fd)
  }
}

type Fault = 'kill receiver A' | 'kill stream leader' | 'kill follower' | 'kill lease holder' | 'freeze a server' | 'restart everything'
const ALL_FAULTS: Fault[] = ['kill receiver A', 'kill stream leader', 'kill follower', 'kill lease holder', 'freeze a server', 'restart everything']
/** DC09_CLUSTER_FAULTS=2,5: only these faults (by position in the list above), to look into one. */
const FAULTS = process.env.DC09_CLUSTER_FAULTS === undefined
  ? ALL_FAULTS
  : process.env.DC09_CLUSTER_FAULTS.split(',').map((n) => ALL_FAULTS[Number(n) - 1]).filter((f): f is Fault => f !== undefined)
/** DC09_CLUSTER_KEEP=1: keep the temporary directory (receivers' and servers' logs, stores) even when every round passed (it is kept when one fails). */
const KEEP = process.env.DC09_CLUSTER_KEEP === '1'

interface RoundResult {
  round: number
  fault: Fault
  /** Which node or receiver it hit. */
  target: string
  acked: number
  failed: number
  maxAckWaitMs: number
  /** Kill of the lease holder: until another node wrote the lease. */
  takeoverMs?: number
  /** Kill or freeze of the stream leader: until the stream had a leader again (a restart of everything: from the servers' stop). */
  electionMs?: number
  /** Pipeline lines written again (a batch replayed after a failover), this round. */
  rewritten: number
  /** From the fault until everything ran again (restarts included). */
  faultMs: number
  /** Records that reads of the stream did not show yet, taken from its leader one by one. */
  staleReads: number
  /** From the end of the load until the pipeline had written out every acknowledged event. */
  pipelineMs: number
  ms: number
}

interface SimSummary { acknowledged: number, failed: number, paths?: { maxAckWaitMs: number } }
interface AckedLine { account: string, seq: number, identity: string | null }

describe.skipIf(missing)(missing ? NATS_MISSING : 'the cluster under faults: acknowledged events are stored once and run by the pipeline', () => {
  let dir = ''
  let cluster: NatsCluster | undefined
  let nc: NatsConnection | undefined
  let kv: KV
  let journal: JetStreamJournal
  let jsm: JetStreamManager
  let watchdog: Watchdog
  let pepper = ''
  let hookServer: Server | undefined
  let hookUrl = ''
  /** Requests the webhook got, by journal id. */
  const hooked = new Map<number, number>()
  const receivers: Receiver[] = []
  const sims = new Set<ChildProcess>()
  let guard: NodeJS.Timeout | undefined
  /** The fleet split in two: panels with primary A (secondary B), and the reverse. */
  const fleets: string[] = []
  const results: RoundResult[] = []
  const t0 = Date.now()
  let passed = false

  const killChildren = (): void => {
    for (const r of receivers) if (r.pid !== undefined) { try { process.kill(-r.pid, 'SIGKILL') } catch {} }
    for (const s of sims) if (s.pid !== undefined) { try { process.kill(-s.pid, 'SIGKILL') } catch {} }
  }

  beforeAll(async () => {
    expect(existsSync(CLI), `${CLI} is missing: run npm run build first`).toBe(true)
    guard = setTimeout(() => {
      killChildren()
      process.emitWarning(`cluster fault suite: children SIGKILLed by the ${TEST_TIMEOUT_MS} ms guard`)
    }, TEST_TIMEOUT_MS + 30_000)
    guard.unref()
    dir = mkdtempSync(join(tmpdir(), 'dc09-faults-'))
    watchdog = startWatchdog()
    // Removed if this process dies without its handlers; a failed run keeps it (afterAll).
    if (!KEEP) watchdog.trackDir(dir)
    cluster = await startCluster({ nodes: 3, guardMs: TEST_TIMEOUT_MS + 30_000, dir: join(dir, 'nats') })
    nc = await connectCluster(cluster.urls, { name: 'fault suite' })
    await retry(() => initCluster(nc!, { replicas: 3, duplicateWindowMs: 120_000, maxBytes: 0 }))
    kv = await new Kvm(nc).open(LEASE_BUCKET)
    journal = await retry(() => JetStreamJournal.open(nc!))
    jsm = await jetstreamManager(nc, { timeout: 5000 })

    // 20 accounts, half with AES-128 keys; each half of the fleet mixes both.
    const keyed = makeFleet(10, 'hex', 100000)
    const plain = makeFleet(10, 'none', 200000)
    const state = new SharedState({ servers: cluster.urls, name: 'fault suite setup' })
    try {
      const r = openAccounts(state).accounts.import([...keyed, ...plain])
      expect(r.ok).toBe(true)
    } finally {
      state.close()
    }
    for (const [i, half] of [[...keyed.slice(0, 5), ...plain.slice(0, 5)], [...keyed.slice(5), ...plain.slice(5)]].entries()) {
      const f = join(dir, `fleet-${i}.json`)
      writeFileSync(f, JSON.stringify(half), { mode: 0o600 })
      fleets.push(f)
    }
    pepper = join(dir, 'pepper')
    writeFileSync(pepper, randomBytes(32), { mode: 0o600 })
    // A webhook output runs on whichever node holds the pipeline's lease, from the position in the
    // shared state: what reaches it is counted by journal id.
    writeFileSync(join(dir, 'hook.secret'), randomBytes(24).toString('hex'), { mode: 0o600 })
    hookServer = createHttpServer((req, res) => {
      const id = Number(req.headers['x-dc09-id'])
      hooked.set(id, (hooked.get(id) ?? 0) + 1)
      req.resume()
      req.on('end', () => res.writeHead(204).end())
    })
    await new Promise<void>((resolve) => hookServer!.listen(0, '127.0.0.1', resolve))
    hookUrl = `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/`
    for (const name of ['rA', 'rB']) {
      const r = new Receiver(name, dir, await freePort())
      mkdirSync(r.data, { recursive: true, mode: 0o700 })
      receivers.push(r)
    }
    await Promise.all(receivers.map((r) => r.start(ctx())))
  }, SETUP_BUDGET_MS)

  afterAll(async () => {
    // Printed also when a round failed: the rounds before it, and how long they took.
    if (results.length > 0) printSummary(results, Date.now() - t0, shortReads)
    clearTimeout(guard)
    for (const s of sims) if (s.pid !== undefined) { try { process.kill(-s.pid, 'SIGKILL') } catch {} }
    await Promise.all(receivers.map((r) => r.stop('SIGTERM', 5000)))
    await nc?.close().catch(() => {})
    hookServer?.closeAllConnections()
    hookServer?.close()
    await cluster?.stopAll()
    if (KEEP || !passed) console.log(`kept ${dir}: the receivers' logs (rA.log, rB.log) and data, the servers' (nats/)`)
    else if (dir !== '') rmSync(dir, { recursive: true, force: true })
    if (dir !== '') watchdog?.untrackDir(dir)
    watchdog?.close()
  }, 60_000)

  const ctx = (): { urls: string[], pepper: string, watchdog: Watchdog, webhook: string, secret: string } => ({ urls: cluster!.urls, pepper, watchdog, webhook: hookUrl, secret: join(dir, 'hook.secret') })
  const byName = (name: string): Receiver => receivers.find((r) => r.name === name)!

  /** Every panel sends STEPS events of its own for this round (the group and zone say which), so no identity repeats within the duplicate window. */
  function scenario (round: number): string {
    const codes = ['1130', '3130', '1401', '3401', '1602', '1110', '1570', '3570']
    const group = String(round % 100).padStart(2, '0')
    const steps = Array.from({ length: STEPS }, (_, i) => ({
      at: i * STEP_S,
      event: `ADM-CID ${codes[i % codes.length]} ${group} ${String(Math.floor(round / 100) % 10)}${String(i).padStart(2, '0')}`,
    }))
    // One link test per panel, which is never journaled and has no identity.
    steps.splice(3, 0, { at: 3 * STEP_S, event: 'NULL' })
    const file = join(dir, `scenario-${round}.json`)
    writeFileSync(file, JSON.stringify({ steps }))
    return file
  }

  /** One simulator run (half the fleet, primary `a`, secondary `b`): its summary and acked log. */
  function simulate (round: number, half: number, a: Receiver, b: Receiver, scenarioFile: string): Promise<{ summary: SimSummary, acked: AckedLine[] }> {
    const ackedLog = join(dir, `acked-${round}-${half}.jsonl`)
    const child = spawn(process.execPath, [CLI, 'simulate', '--port', String(a.port), '--secondary', `127.0.0.1:${b.port}`, '--failback', '2',
      '--acked-log', ackedLog, '--accounts', fleets[half]!, '--scenario', scenarioFile, '--ack-timeout', '2000', '--retries', '2', '--json'],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    sims.add(child)
    watchdog.track(child.pid!)
    let out = ''
    let err = ''
    child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
    return new Promise((resolve, reject) => {
      child.once('exit', () => {
        sims.delete(child)
        watchdog.untrack(child.pid!)
        try {
          const summary = JSON.parse(out) as SimSummary
          const acked = existsSync(ackedLog)
            ? readFileSync(ackedLog, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as AckedLine)
            : []
          resolve({ summary, acked })
        } catch (e) {
          reject(new Error(`simulator ${half} of round ${round}: no summary (${(e as Error).message})\n${out}\n${err}`))
        }
      })
    })
  }

  /** The lease as stored, when held (not run out). */
  async function leaseHolder (): Promise<string | undefined> {
    const e = await kv.get('pipeline').catch(() => null)
    const v = e === null || e.operation !== 'PUT' ? undefined : parseLease(e.string())
    return v !== undefined && v.until > Date.now() ? v.node : undefined
  }

  async function waitFor<T> (what: string, fn: () => Promise<T | undefined>, ms: number): Promise<T> {
    const deadline = Date.now() + ms
    for (;;) {
      const v = await fn()
      if (v !== undefined) return v
      if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`)
      await sleep(100)
    }
  }

  /** Injects the fault; resolves once everything is running again, with what it measured. */
  async function inject (fault: Fault, r: RoundResult): Promise<void> {
    const c = cluster!
    switch (fault) {
      case 'kill receiver A': {
        const a = byName('rA')
        r.target = a.name
        await a.stop('SIGKILL')
        await sleep(DOWN_MS)
        await a.start(ctx())
        break
      }
      case 'kill stream leader': {
        const leader = await c.waitForLeader(EVENTS_STREAM, 20_000)
        r.target = leader
        const t = Date.now()
        await c.kill(leader, 'SIGKILL')
        await c.waitForLeader(EVENTS_STREAM, 30_000, leader)
        r.electionMs = Date.now() - t
        await c.restart(leader)
        break
      }
      case 'kill follower': {
        const leader = await c.waitForLeader(EVENTS_STREAM, 20_000)
        const follower = c.nodes.find((n) => n.name !== leader)!.name
        r.target = follower
        await c.kill(follower, 'SIGKILL')
        await sleep(DOWN_MS)
        await c.restart(follower)
        break
      }
      case 'kill lease holder': {
        const holder = await waitFor('a pipeline lease holder', leaseHolder, 20_000)
        const victim = byName(holder)
        r.target = holder
        const t = Date.now()
        await victim.stop('SIGKILL')
        await waitFor('another node taking the lease', async () => { const h = await leaseHolder(); return h !== undefined && h !== holder ? h : undefined }, 30_000)
        r.takeoverMs = Date.now() - t
        await victim.start(ctx())
        break
      }
      case 'freeze a server': {
        const leader = await c.waitForLeader(EVENTS_STREAM, 20_000)
        r.target = leader
        const t = Date.now()
        c.stop(leader)
        const elected = c.waitForLeader(EVENTS_STREAM, FREEZE_MS + 20_000, leader).then(() => { r.electionMs = Date.now() - t })
        await sleep(FREEZE_MS)
        c.cont(leader)
        await elected
        break
      }
      case 'restart everything': {
        r.target = 'all'
        await Promise.all(receivers.map((x) => x.stop('SIGTERM', 15_000)))
        // What the stream's leader holds before and after: a restart must not take messages away.
        const before = await retry(() => jsm.streams.info(EVENTS_STREAM)).then((i) => i.state.last_seq)
        const t = Date.now()
        for (const n of c.nodes) await c.kill(n.name, 'SIGTERM')
        await Promise.all(c.nodes.map((n) => c.restart(n.name, 60_000)))
        await c.waitForLeader(EVENTS_STREAM, 30_000)
        r.electionMs = Date.now() - t
        const after = await retry(() => jsm.streams.info(EVENTS_STREAM)).then((i) => i.state.last_seq)
        expect(after, `round ${r.round}: the stream's last sequence went from ${before} to ${after} in the restart`).toBeGreaterThanOrEqual(before)
        await Promise.all(receivers.map((x) => x.start(ctx(), 60_000)))
        break
      }
    }
  }

  /** Stream records seen so far: how many frames carry each identity, and the journal ids of each. */
  const stored = new Map<string, number[]>()
  let streamRead = 0
  /** Reads of the stream that ended before its last sequence (the consumer's replica behind the leader). */
  let shortReads = 0
  const record = (rec: { id: number, type: string, dedupe?: string | undefined }): void => {
    streamRead = rec.id
    if (rec.type !== 'frame' || rec.dedupe === undefined) return
    const ids = stored.get(rec.dedupe) ?? []
    ids.push(rec.id)
    stored.set(rec.dedupe, ids)
  }
  /** Reads the stream (an ordered consumer) up to the last sequence the servers report. */
  async function readStream (): Promise<void> {
    const deadline = Date.now() + 30_000
    const target = await retry(() => journal.lastSequence())
    while (streamRead < target) {
      if (Date.now() > deadline) throw new Error(`the stream could not be read up to ${target} within 30 s (read up to ${streamRead})`)
      try {
        for await (const rec of journal.read(streamRead + 1)) record(rec)
      } catch {
        // An election in progress: read on from where it stopped.
      }
      if (streamRead < target) {
        shortReads++
        await sleep(200)
      }
    }
  }
  /**
   * Reads on, one message at a time from the stream's leader, until it has no next one: after a
   * leader change, a restarted replica that is behind may answer the stream's info (and serve the
   * consumer) for half a minute and more. How many records only the leader gave.
   */
  async function readFromLeader (): Promise<number> {
    let n = 0
    for (;;) {
      const m = await retry(() => jsm.streams.getMessage(EVENTS_STREAM, { seq: streamRead + 1 }))
      if (m === null) return n
      record({ ...(JSON.parse(m.string()) as { type: string, dedupe?: string }), id: m.seq })
      n++
    }
  }

  /** Pipeline output so far, both nodes: lines per journal id. */
  const written = new Map<number, number>()
  const offsets = new Map<string, number>()
  function readOutput (): number {
    let again = 0
    for (const r of receivers) {
      const { ids, offset } = r.output(offsets.get(r.name) ?? 0)
      offsets.set(r.name, offset)
      for (const id of ids) {
        const n = (written.get(id) ?? 0) + 1
        written.set(id, n)
        if (n > 1) again++
      }
    }
    return again
  }

  it(`runs ${ROUNDS} rounds of load, each with one fault, and loses or doubles no acknowledged event`, async () => {
    const [A, B] = receivers as [Receiver, Receiver]
    for (let round = 1; round <= ROUNDS; round++) {
      const fault = FAULTS[(round - 1) % FAULTS.length]!
      const r: RoundResult = { round, fault, target: '', acked: 0, failed: 0, maxAckWaitMs: 0, rewritten: 0, faultMs: 0, staleReads: 0, pipelineMs: 0, ms: 0 }
      const start = Date.now()
      const file = scenario(round)
      const runs = Promise.all([simulate(round, 0, A, B, file), simulate(round, 1, B, A, file)])
      // Awaited below; should the fault throw first, its failure is the one reported.
      runs.catch(() => {})
      await sleep(FAULT_AT_MS)
      const faultAt = Date.now()
      await inject(fault, r)
      r.faultMs = Date.now() - faultAt
      const sim = await runs
      const loadEnd = Date.now()
      const acked = sim.flatMap((s) => s.acked).filter((a) => a.identity !== null)
      r.acked = acked.length
      r.failed = sim.reduce((n, s) => n + s.summary.failed, 0)
      r.maxAckWaitMs = Math.max(...sim.map((s) => s.summary.paths?.maxAckWaitMs ?? 0))

      // Every acknowledged event is in the stream, once. Just after a leader change, the servers
      // may answer for a while from a replica that has not caught up: what the reads did not
      // show is asked of the leader, message by message (counted as stale).
      const visibleBy = Date.now() + VISIBLE_WAIT_MS
      await readStream()
      while (!acked.every((a) => stored.has(a.identity!)) && Date.now() < visibleBy) {
        r.staleReads += await readFromLeader()
        if (!acked.every((a) => stored.has(a.identity!))) await sleep(500)
      }
      if (!acked.every((a) => stored.has(a.identity!))) {
        // Still missing: read the whole stream again from its first message, in case they were
        // stored at sequences the reads had already passed; say what the leader holds.
        const info = await retry(() => jsm.streams.info(EVENTS_STREAM))
        console.log(`round ${round}: acknowledged events missing after reading to ${streamRead}; the leader (${info.cluster?.leader ?? '?'}) holds ${info.state.first_seq}..${info.state.last_seq} (${info.state.messages} messages); reading it all again`)
        stored.clear()
        streamRead = 0
        await readStream()
        r.staleReads += await readFromLeader()
      }
      const notOnce = acked.filter((a) => stored.get(a.identity!)?.length !== 1)
        .map((a) => `${a.account}/${a.seq}: stored ${stored.get(a.identity!)?.length ?? 0} times`)
      expect(notOnce, `round ${round} (${fault}): acknowledged events not stored exactly once`).toEqual([])

      // The pipeline wrote every one out, on whichever node held its lease.
      const ids = acked.map((a) => stored.get(a.identity!)![0]!)
      const deadline = loadEnd + PIPELINE_WAIT_MS
      let unwritten = ids
      let unhooked = ids
      for (;;) {
        r.rewritten += readOutput()
        unwritten = ids.filter((id) => !written.has(id))
        unhooked = ids.filter((id) => !hooked.has(id))
        if ((unwritten.length === 0 && unhooked.length === 0) || Date.now() > deadline) break
        await sleep(200)
      }
      r.pipelineMs = Date.now() - loadEnd
      expect(unwritten, `round ${round} (${fault}): acknowledged events the pipeline did not write out within ${PIPELINE_WAIT_MS} ms`).toEqual([])
      expect(unhooked, `round ${round} (${fault}): acknowledged events the webhook output did not deliver within ${PIPELINE_WAIT_MS} ms`).toEqual([])
      r.ms = Date.now() - start
      results.push(r)
      // A long soak keeps no per-round files.
      for (const f of [file, join(dir, `acked-${round}-0.jsonl`), join(dir, `acked-${round}-1.jsonl`)]) rmSync(f, { force: true })
    }
    const twice = [...hooked.values()].filter((n) => n > 1).length
    console.log(`webhook output: ${hooked.size} events delivered over the ${ROUNDS} rounds, ${twice} of them more than once (sent again after a failover)`)
    passed = true
  }, TEST_TIMEOUT_MS)
})

function printSummary (results: RoundResult[], totalMs: number, shortReads: number): void {
  const head = ['round', 'fault', 'target', 'acked', 'failed', 'max ACK wait ms', 'takeover ms', 'election ms', 'fault ms', 'rewritten', 'stale records', 'pipeline ms', 'round ms']
  const rows = results.map((r) => [r.round, r.fault, r.target, r.acked, r.failed, Math.round(r.maxAckWaitMs), r.takeoverMs ?? '', r.electionMs ?? '', r.faultMs, r.rewritten, r.staleReads, r.pipelineMs, r.ms].map(String))
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |'
  const text = [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line), `${results.length} rounds in ${(totalMs / 1000).toFixed(1)} s; reads of the stream that ended before its last sequence (read again): ${shortReads}`].join('\n')
  console.log(text)
}
