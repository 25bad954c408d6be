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
import { PipelineStore } from '../pipeline/store.js'
import { createLogger } from '../log.js'
import { Verifier } from '../verification/verifier.js'
import type { FromWorker, ServicesConfig, ToWorker } from './messages.js'
import { RemoteJournal } from './remote-journal.js'

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

const journal = new RemoteJournal(join(cfg.data, 'journal'), cfg.at, cfg.healthy, (req, record) => post({ t: 'append', req, record }))
const metricRequests = new Map<number, (text: string) => void>()
let metricReq = 0
let runner: PipelineRunner | undefined
let api: RunningApi | undefined
let followRecent: () => void = () => {}
const closers: Array<() => void | Promise<void>> = []
let stopping = false
let ready = false

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'committed':
      journal.committed(m.at, m.healthy)
      runner?.notify()
      followRecent()
      break
    case 'appended':
      journal.appended(m.req, m.id, m.error)
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
  await runner?.stop().catch((err: unknown) => { log.error({ err: (err as Error).message }, 'pipeline: could not stop cleanly') })
  for (const c of closers.reverse()) { try { await c() } catch { /* closing anyway */ } }
  await journal.close()
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

async function start (): Promise<void> {
  const accounts = new NotifyingAccountStore(cfg.data, { maxWindowSeconds: cfg.maxWindowSeconds })
  closers.push(() => accounts.close())
  const verifier = new Verifier(cfg.data, accounts, { pepper: Buffer.from(cfg.pepper), ...cfg.verification })
  closers.push(() => verifier.close())
  const store = new PipelineStore(cfg.data)
  closers.push(() => store.close())
  const { config, baseDir } = cfg.pipeline === undefined ? { config: DEFAULT_PIPELINE, baseDir: cfg.cwd } : readPipelineConfig(cfg.pipeline)
  const stages = await loadPipeline(config, { accounts, isUser: (a, u) => verifier.isUser(a, u), dataDir: cfg.data, log }, baseDir)
  const pipeline = new PipelineRunner({ journal, store, stages, log })
  runner = pipeline
  if (cfg.api !== undefined) {
    const access = new AccessStore(cfg.data)
    closers.push(() => access.close())
    const metrics = new Metrics('interface')
    metrics.setSources({
      pipelineLag: () => pipeline.lag,
      pipelineLagSeconds: () => pipeline.lagSeconds(Date.now()),
      deadLetters: () => store.deadLetterCount(),
      more: receiverMetrics,
    })
    // Each account's recent events, from memory: filled from the journal's end, then followed as it grows.
    const limits = { ...defaultApiOptions, ...cfg.api.options }
    const events = new RecentEvents({ perAccount: limits.recentPerAccount, total: limits.recentTotal, maxBytes: limits.recentMaxBytes })
    // Filled up to one id and followed from the next: commits made while it fills are not missed.
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
    api = await startApi({ accounts, verifier, access, journal, recent: events, metrics, log, pipeline: { store, waitFor: (id, ms) => pipeline.waitFor(id, ms) } }, cfg.api.options, cfg.api)
      .catch((err: unknown) => { throw new Error(`the HTTP interface cannot listen on ${cfg.api!.host}:${cfg.api!.port}: ${(err as Error).message}`) })
    log.info({ host: cfg.api.host, port: api.port }, 'HTTP interface listening')
  }
  ready = true
  post({ t: 'ready', apiPort: api?.port })
  // The pipeline starts after the receiver answers panels: a start over a million supervised
  // accounts takes a while, and delays nothing but the pipeline.
  const t0 = Date.now()
  await pipeline.start()
  if (!stopping) log.info({ ms: Date.now() - t0, cursor: pipeline.cursor, lag: pipeline.lag }, 'pipeline started: its stages rebuilt their state and timers; running events from its cursor')
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
