/**
 * The services worker: the event pipeline and the HTTP interface, on a thread of their own, so
 * that the receiver's event loop does nothing but read frames, check them, journal them and
 * answer them. Everything here reaches the journal through the receiver's thread (RemoteJournal)
 * and opens its own connections to the SQLite stores (WAL: readers never wait for a writer).
 */
import { join } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import pino from 'pino'
import { SqliteAccountStore } from '../accounts/sqlite-store.js'
import type { AccountInput, AccountPatch } from '../accounts/account.js'
import { AccessStore } from '../api/access.js'
import { Metrics } from '../api/metrics.js'
import { RecentEvents } from '../api/recent.js'
import { defaultApiOptions, startApi, type RunningApi } from '../api/server.js'
import { DEFAULT_PIPELINE, loadPipeline, readPipelineConfig } from '../pipeline/loader.js'
import { PipelineRunner } from '../pipeline/runner.js'
import { SqlitePipelineStore } from '../pipeline/store.js'
import type { PipelineStore } from '../pipeline/pipeline-store.js'
import type { AccountStore } from '../accounts/account-store.js'
import type { Journal } from '../journal/journal.js'
import type { JournalRecord } from '../journal/record.js'
import { Kvm, type KV } from '@nats-io/kv'
import { SharedState } from '../cluster/shared-state.js'
import { openAccounts, openAudit, openPipelineStore } from '../cluster/parts.js'
import { connectCluster, LEASE_BUCKET } from '../cluster/nats.js'
import { JetStreamJournal } from '../cluster/journal.js'
import { Lease } from '../cluster/lease.js'
import { createLogger } from '../log.js'
import { Verifier } from '../verification/verifier.js'
import type { FromWorker, ServicesConfig, ToWorker } from './messages.js'
import { RemoteJournal } from './remote-journal.js'
import { makeOutputs } from '../outputs/config.js'
import { OutputSet } from '../outputs/set.js'

const port = parentPort!
const cfg = workerData as ServicesConfig
const post = (m: FromWorker): void => port.postMessage(m)
const destination = pino.destination({ fd: 1, sync: false })
const log = createLogger({ level: cfg.logLevel, destination })

/** The account store, telling the receiver's thread of every change the interface makes, so it applies at once. */
class NotifyingAccountStore extends SqliteAccountStore {
  override add (input: AccountInput): ReturnType<SqliteAccountStore['add']> { return changed(super.add(input)) }
  override update (account: string, patch: AccountPatch): ReturnType<SqliteAccountStore['update']> { return changed(super.update(account, patch)) }
  override remove (account: string, holder?: { readonly createdAt: string }): ReturnType<SqliteAccountStore['remove']> { return changed(super.remove(account, holder)) }
  override import (inputs: readonly unknown[]): ReturnType<SqliteAccountStore['import']> { return changed(super.import(inputs)) }
}
function changed<R extends { ok: boolean }> (r: R): R {
  if (r.ok) post({ t: 'accounts-changed' })
  return r
}

/** The journal through the receiver's thread (a single node; unused in a cluster, where the worker has its own). */
const remote = new RemoteJournal(join(cfg.data, 'journal'), cfg.at, cfg.healthy, (req, record) => post({ t: 'append', req, record }))
const metricRequests = new Map<number, (text: string) => void>()
let metricReq = 0
let runner: PipelineRunner | undefined
/** The outputs: they run where the pipeline runs, started after it and stopped with it. */
let outputs: OutputSet | undefined
let lease: Lease | undefined
let api: RunningApi | undefined
let followRecent: () => void = () => {}
const closers: Array<() => void | Promise<void>> = []
let stopping = false
let ready = false

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'committed':
      remote.committed(m.at, m.healthy)
      runner?.notify()
      outputs?.notify()
      followRecent()
      break
    case 'appended':
      remote.appended(m.req, m.id, m.error)
      break
    case 'metrics':
      metricRequests.get(m.req)?.(m.text)
      metricRequests.delete(m.req)
      break
    case 'stop':
      void stop()
      break
  }
})

async function stop (): Promise<void> {
  if (stopping) return
  stopping = true
  await api?.close().catch(() => {})
  const stopRunner = async (): Promise<void> => {
    await outputs?.stop().catch((err: unknown) => { log.error({ err: (err as Error).message }, 'outputs: could not stop cleanly') })
    await runner?.stop().catch((err: unknown) => { log.error({ err: (err as Error).message }, 'pipeline: could not stop cleanly') })
  }
  // A cluster node gives the lease back once its pipeline has stopped: another takes over at once.
  if (lease !== undefined) await lease.stop(stopRunner)
  else await stopRunner()
  for (const c of closers.reverse()) { try { await c() } catch { /* closing anyway */ } }
  await remote.close()
  destination.flushSync()
  post({ t: 'stopped' })
  port.close()
}

/** The receiver's own metrics (frames, connections, commits), asked of its thread at scrape time. */
function receiverMetrics (): Promise<string> {
  const req = ++metricReq
  return new Promise<string>((resolve) => {
    const t = setTimeout(() => { metricRequests.delete(req); resolve('') }, 2000)
    metricRequests.set(req, (text) => { clearTimeout(t); resolve(text) })
    post({ t: 'metrics?', req })
  })
}

/** What the pipeline and the interface work on: the data directory's, or the cluster's. */
interface Backends {
  readonly accounts: AccountStore
  readonly verifier: Verifier
  readonly store: PipelineStore
  readonly access: () => AccessStore
  readonly journal: Journal<JournalRecord>
  /** Cluster mode: the lease bucket, for running the pipeline on one node at a time. */
  readonly leases?: KV
}

function localBackends (): Backends {
  const accounts = new NotifyingAccountStore(cfg.data, { maxWindowSeconds: cfg.maxWindowSeconds })
  closers.push(() => accounts.close())
  const verifier = new Verifier(cfg.data, accounts, { pepper: Buffer.from(cfg.pepper), ...cfg.verification })
  closers.push(() => verifier.close())
  const store = new SqlitePipelineStore(cfg.data)
  closers.push(() => store.close())
  return { accounts, verifier, store, access: () => new AccessStore(cfg.data), journal: remote }
}

async function clusterBackends (nats: { readonly servers: readonly string[], readonly node: string }): Promise<Backends> {
  // A replica of the shared state of its own (this thread's), in the node's data directory.
  const state = new SharedState({ servers: nats.servers, name: `${nats.node} services`, dir: join(cfg.data, 'replica', 'services') })
  closers.push(() => state.close())
  const { accounts, verification, tokens } = openAccounts(state, { maxWindowSeconds: cfg.maxWindowSeconds })
  const verifier = new Verifier({ store: verification, audit: openAudit(state) }, accounts, { pepper: Buffer.from(cfg.pepper), ...cfg.verification })
  closers.push(() => verifier.close())
  const store = openPipelineStore(state)
  const nc = await connectCluster(nats.servers, { name: `${nats.node} services` })
  closers.push(async () => { await nc.close() })
  const journal = await JetStreamJournal.open(nc)
  closers.push(() => journal.close())
  const leases = await new Kvm(nc).open(LEASE_BUCKET)
  return { accounts, verifier, store, access: () => new AccessStore(tokens), journal, leases }
}

/**
 * Runs the pipeline: at once on a single node; in a cluster, only while this node holds the
 * lease, from the cursor the last holder committed (stages are replayed from it, and recognise
 * what they journaled already).
 */
async function runPipeline (b: Backends, make: () => Promise<PipelineRunner>, makeOut: () => OutputSet): Promise<void> {
  if (b.leases === undefined) {
    const pipeline = await make()
    runner = pipeline
    const t0 = Date.now()
    await pipeline.start()
    if (!stopping) log.info({ ms: Date.now() - t0, cursor: pipeline.cursor, lag: pipeline.lag }, 'pipeline started: its stages rebuilt their state and timers; running events from its cursor')
    if (!stopping) await startOutputs(makeOut())
    return
  }
  const node = cfg.nats!.node
  const l = new Lease(b.leases, 'pipeline', node)
  lease = l
  // A loss and the next take can overlap (a renewal past its deadline is lost at once, while the
  // stop it starts may take seconds, and the next tick may take the lease back): what each does
  // runs in turn, and a loss stops exactly what ran when it came.
  let turn: Promise<unknown> = Promise.resolve()
  const inTurn = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = turn.then(fn, fn)
    turn = next.catch(() => {})
    return next
  }
  l.start({
    acquired: () => inTurn(async () => {
      if (!l.held || stopping) return
      const pipeline = await make()
      // Lost again while the stages loaded: not started.
      if (!l.held || stopping) return
      runner = pipeline
      const t0 = Date.now()
      log.info({ node }, 'pipeline: this node holds the lease; starting it')
      try {
        await pipeline.start()
      } catch (err) {
        // The lease is given back (and taken again, here or elsewhere): this runner is done.
        if (runner === pipeline) runner = undefined
        await pipeline.stop().catch(() => {})
        throw err
      }
      if (!stopping && runner === pipeline) log.info({ ms: Date.now() - t0, cursor: pipeline.cursor, lag: pipeline.lag }, 'pipeline started on this node: running events from the cursor the last holder committed')
      if (!stopping && runner === pipeline && l.held) await startOutputs(makeOut())
    }),
    lost: (reason) => {
      // What runs now is what this loss stops, taken before anything else can start.
      const out = outputs
      const pipeline = runner
      outputs = undefined
      runner = undefined
      log.warn({ node, reason }, 'pipeline: this node no longer holds the lease; stopping it and the outputs here')
      return inTurn(async () => {
        try {
          await out?.stop()
        } finally {
          await pipeline?.stop()
        }
      })
    },
    error: (err) => { log.warn({ err: err.message }, 'pipeline lease: cannot reach the cluster; trying again') },
  })
}

/** Starts the outputs (none configured: nothing to do). */
async function startOutputs (set: OutputSet): Promise<void> {
  if (set.size === 0) return
  outputs = set
  await set.start()
}

/** Waits until the pipeline (here, or on the node that runs it) has committed events up to `id`. */
async function waitForPipeline (store: PipelineStore, id: number, timeoutMs: number): Promise<boolean> {
  if (runner !== undefined) return await runner.waitFor(id, timeoutMs)
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (store.cursor() >= id) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function start (): Promise<void> {
  const b = cfg.nats === undefined ? localBackends() : await clusterBackends(cfg.nats)
  const { accounts, verifier, store, journal } = b
  const { config, baseDir } = cfg.pipeline === undefined ? { config: DEFAULT_PIPELINE, baseDir: cfg.cwd } : readPipelineConfig(cfg.pipeline)
  const makeRunner = async (): Promise<PipelineRunner> => {
    const stages = await loadPipeline(config, { accounts, isUser: (a, u) => verifier.isUser(a, u), dataDir: cfg.data, log }, baseDir)
    return new PipelineRunner({ journal, store, stages, log })
  }
  // Made (their options read, their secret files too) before the worker says it is ready: a bad one stops the start.
  const outputSpecs = makeOutputs(cfg.outputs ?? [])
  // In a cluster each commit of a position is a change to the shared state, sent to every node:
  // once a second while events flow (a failover then sends at most a second's events again).
  const makeOut = (): OutputSet => new OutputSet(outputSpecs(), { journal, store, accounts, log, commitMs: cfg.nats === undefined ? 200 : 1000 })
  // A single node checks its configuration before it says it is ready (a cluster node, when it takes the lease).
  const first = cfg.nats === undefined ? await makeRunner() : undefined
  if (cfg.nats !== undefined) await loadPipeline(config, { accounts, isUser: (a, u) => verifier.isUser(a, u), dataDir: cfg.data, log }, baseDir).then(async (stages) => { for (const s of stages) await s.close?.() })
  if (cfg.api !== undefined) {
    const access = b.access()
    closers.push(() => access.close())
    const metrics = new Metrics('interface')
    metrics.setSources({
      pipelineLag: () => (runner === undefined ? Math.max(0, journal.lastId - store.cursor()) : runner.lag),
      pipelineLagSeconds: () => runner?.lagSeconds(Date.now()) ?? 0,
      deadLetters: () => store.deadLetterCount(),
      outputs: () => outputs?.status() ?? [],
      more: receiverMetrics,
    })
    const limits = { ...defaultApiOptions, ...cfg.api.options }
    const events = new RecentEvents({ perAccount: limits.recentPerAccount, total: limits.recentTotal, maxBytes: limits.recentMaxBytes })
    const upTo = journal.lastId
    await events.fill(journal.readBackwards())
    const reader = journal.reader(upTo + 1)
    let following = false
    let again = false
    followRecent = () => {
      if (following) { again = true; return }
      following = true
      void (async () => {
        try {
          do {
            again = false
            for (let b = await reader.next(1000); b.length > 0; b = await reader.next(1000)) for (const r of b) events.add(r, r.id)
          } while (again)
        } catch (err) {
          log.error({ err: (err as Error).message }, 'HTTP interface: could not read new events from the journal; recent events may lag')
        } finally {
          following = false
        }
      })()
    }
    closers.push(() => reader.close())
    // In a cluster, events come from every receiver: the interface looks for them, nobody tells it.
    if (cfg.nats !== undefined) {
      const t = setInterval(() => followRecent(), 250)
      closers.push(() => clearInterval(t))
    }
    api = await startApi({ accounts, verifier, access, journal, recent: events, metrics, log, pipeline: { store, waitFor: (id, ms) => waitForPipeline(store, id, ms) } }, cfg.api.options, cfg.api)
      .catch((err: unknown) => { throw new Error(`the HTTP interface cannot listen on ${cfg.api!.host}:${cfg.api!.port}: ${(err as Error).message}`) })
    log.info({ host: cfg.api.host, port: api.port }, 'HTTP interface listening')
  }
  ready = true
  post({ t: 'ready', apiPort: api?.port })
  await runPipeline(b, first === undefined ? makeRunner : async () => first, makeOut)
  followRecent()
}

start().catch(async (err: unknown) => {
  const message = (err as Error).message
  if (!ready) {
    // Not started: the receiver's thread reports it and decides.
    post({ t: 'failed', message })
  } else {
    log.error({ err: message }, 'services: the pipeline could not start')
  }
  await stop()
})
