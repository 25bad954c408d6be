/**
 * The receiver's side of the services worker (worker.ts): starts it, answers its appends and
 * metrics requests, tells it of every commit, and starts it again if it dies. The receiver goes
 * on answering panels whatever happens to the worker: what it journals waits for the pipeline
 * in the journal.
 */
import { Worker } from 'node:worker_threads'
import type { AccountStore } from '../accounts/account-store.js'
import type { Metrics } from '../api/metrics.js'
import type { CommittedPosition } from '../journal/file-journal.js'
import type { Journal } from '../journal/journal.js'
import type { Logger } from '../log.js'
import type { JournalRecord } from '../journal/record.js'
import type { FromWorker, ServicesConfig, ToWorker } from './messages.js'

export interface ServicesDeps {
  /** The journal as the receiver appends to it (the worker's appends go the same way). */
  readonly journal: Journal<JournalRecord>
  readonly position: () => CommittedPosition
  readonly accounts: AccountStore
  /** The receiver's part of the metrics, which the interface's /metrics shows too. */
  readonly metrics: Metrics
  readonly log: Logger
}

/**
 * How long after an unexpected exit the worker is started again: doubling from the first to the
 * last while it keeps dying soon after each start (a stage that crashes on every replay of the
 * same event must not spin), back to the first once it has run a minute.
 */
const RESTART_MS = [1000, 60_000] as const

export class ServicesHost {
  readonly #deps: ServicesDeps
  #config: ServicesConfig
  #worker: Worker | undefined
  #stopping = false
  #posted = false
  #stopped: (() => void) | undefined
  #restartMs: number = RESTART_MS[0]
  #startedAt = 0
  apiPort: number | undefined

  private constructor (config: ServicesConfig, deps: ServicesDeps) {
    this.#config = config
    this.#deps = deps
  }

  /** Starts the worker; resolves once it is ready, rejects with its reason if it cannot start. */
  static async start (config: Omit<ServicesConfig, 'at' | 'healthy'>, deps: ServicesDeps): Promise<ServicesHost> {
    const host = new ServicesHost({ ...config, at: deps.position(), healthy: deps.journal.healthy }, deps)
    await host.#spawn()
    return host
  }

  #spawn (): Promise<void> {
    const config = { ...this.#config, at: this.#deps.position(), healthy: this.#deps.journal.healthy }
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: config })
    this.#worker = worker
    this.#startedAt = Date.now()
    const answer = (m: ToWorker): void => { if (this.#worker === worker) worker.postMessage(m) }
    return new Promise<void>((resolve, reject) => {
      let ready = false
      worker.on('message', (m: FromWorker) => {
        switch (m.t) {
          case 'ready':
            ready = true
            this.apiPort = m.apiPort
            // Started again, the interface keeps the port it had (port 0 chose one the first time).
            if (m.apiPort !== undefined && this.#config.api !== undefined) this.#config = { ...this.#config, api: { ...this.#config.api, port: m.apiPort } }
            resolve()
            break
          case 'failed':
            reject(new Error(m.message))
            break
          // Answered to the worker that asked: one started again numbers its requests from 1 too,
          // and must never get an answer meant for the one before it.
          case 'append':
            this.#deps.journal.append(m.record).then(
              (id) => answer({ t: 'appended', req: m.req, id }),
              (err: unknown) => answer({ t: 'appended', req: m.req, error: (err as Error).message }))
            break
          case 'metrics?':
            this.#deps.metrics.registry.metrics().then(
              (text) => answer({ t: 'metrics', req: m.req, text }),
              () => answer({ t: 'metrics', req: m.req, text: '' }))
            break
          case 'accounts-changed':
            try { this.#deps.accounts.refresh() } catch (err) { this.#deps.log.error({ err: (err as Error).message }, 'could not read account changes; will retry') }
            break
          case 'stopped':
            if (this.#stopping) this.#stopped?.()
            break
        }
      })
      worker.on('error', (err) => {
        this.#deps.log.error({ err: err.message }, 'services: the pipeline and HTTP interface thread failed')
      })
      worker.on('exit', (code) => {
        if (this.#worker === worker) this.#worker = undefined
        // Stopping: whether or not it was ready (a stop may come while one started again is starting).
        if (this.#stopping) { this.#stopped?.(); reject(new Error('stopped')); return }
        if (!ready) { reject(new Error(`the services thread exited (${code}) before it was ready`)); return }
        this.#deps.log.error({ code }, 'services: the pipeline and HTTP interface thread stopped; starting it again (panels are answered meanwhile)')
        this.#restart()
      })
    })
  }

  #restart (): void {
    const wait = Date.now() - this.#startedAt >= 60_000 ? RESTART_MS[0] : this.#restartMs
    this.#restartMs = Math.min(wait * 2, RESTART_MS[1])
    setTimeout(() => {
      if (this.#stopping) return
      this.#spawn().catch((err: unknown) => {
        if (this.#stopping) return
        this.#deps.log.error({ err: (err as Error).message }, 'services: could not start the pipeline and HTTP interface thread again; retrying')
        this.#restart()
      })
    }, wait).unref()
  }

  #send (m: ToWorker): void {
    this.#worker?.postMessage(m)
  }

  /** A record was committed: the worker hears of it once per group (not once per record). */
  committed (): void {
    if (this.#posted) return
    this.#posted = true
    queueMicrotask(() => {
      this.#posted = false
      this.#send({ t: 'committed', at: this.#deps.position(), healthy: this.#deps.journal.healthy })
    })
  }

  /** Stops the interface and the pipeline (what they journal on the way still commits); waits at most `timeoutMs`. */
  async stop (timeoutMs = 15_000): Promise<void> {
    this.#stopping = true
    const worker = this.#worker
    if (worker === undefined) return
    const exited = new Promise<void>((resolve) => { this.#stopped = resolve })
    this.#send({ t: 'stop' })
    const timer = setTimeout(() => { void worker.terminate() }, timeoutMs)
    await exited
    clearTimeout(timer)
  }
}
