/**
 * The outputs a receiver runs, together: started where the pipeline runs (at once on one node; on
 * the holder of the pipeline's lease in a cluster), told of new events, stopped together. An output
 * that cannot start (its port in use, say) is tried again every few seconds while the others run.
 */
import type { AccountStore } from '../accounts/account-store.js'
import type { Journal } from '../journal/journal.js'
import type { JournalRecord } from '../journal/record.js'
import type { Logger } from '../log.js'
import type { PipelineStore } from '../pipeline/pipeline-store.js'
import type { Output } from './output.js'
import { OutputRunner, type OutputFilter, type OutputRunnerStatus } from './runner.js'

export interface OutputSetDeps {
  readonly journal: Journal<JournalRecord>
  readonly store: PipelineStore
  readonly accounts: Pick<AccountStore, 'get'>
  readonly log: Logger
  /** Most time between commits of each output's position while events flow (ms; default 200). */
  readonly commitMs?: number | undefined
}

/** An output made from its configuration, with its filter. */
export interface ConfiguredOutput {
  readonly output: Output
  readonly filter: OutputFilter
}

const RETRY_START_MS = 5000

export class OutputSet {
  readonly #runners: OutputRunner[]
  readonly #log: Logger
  #stopped = false
  readonly #retries = new Set<NodeJS.Timeout>()
  readonly #started = new Set<OutputRunner>()
  readonly #starting = new Set<Promise<void>>()
  readonly #abort = new AbortController()

  constructor (outputs: readonly ConfiguredOutput[], deps: OutputSetDeps) {
    this.#log = deps.log
    this.#runners = outputs.map((o) => new OutputRunner({ ...deps, output: o.output, filter: o.filter }))
  }

  get size (): number { return this.#runners.length }

  /** Starts every output; one that fails is logged and tried again later (the rest run). */
  async start (): Promise<void> {
    await Promise.all(this.#runners.map((r) => this.#start(r)))
  }

  /** Starts one output (tracked, so that a stop waits for it). */
  #start (r: OutputRunner): Promise<void> {
    const p = this.#startOne(r)
    this.#starting.add(p)
    void p.finally(() => this.#starting.delete(p))
    return p
  }

  async #startOne (r: OutputRunner): Promise<void> {
    if (this.#stopped) return
    try {
      await r.start(this.#abort.signal)
    } catch (err) {
      if (this.#stopped) return
      this.#log.error({ output: r.name, err: (err as Error).message }, `output: cannot start; trying again in ${RETRY_START_MS / 1000} s`)
      const t = setTimeout(() => { this.#retries.delete(t); void this.#start(r) }, RETRY_START_MS)
      this.#retries.add(t)
      return
    }
    // Stopped while it started (the lease lost meanwhile): an output that saw it closed itself;
    // one that had just begun to run is stopped here.
    if (this.#stopped) { await r.stop(); return }
    this.#started.add(r)
    this.#log.info({ output: r.name, type: r.status().type, cursor: r.cursor }, 'output started: delivering from its position in the journal')
  }

  notify (): void {
    for (const r of this.#started) r.notify()
  }

  status (): OutputRunnerStatus[] {
    return this.#runners.map((r) => r.status())
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#abort.abort()
    for (const t of this.#retries) clearTimeout(t)
    this.#retries.clear()
    // Starts in progress end first (an output that was starting closes itself again).
    await Promise.allSettled([...this.#starting])
    await Promise.all([...this.#started].map((r) => r.stop()))
    this.#started.clear()
  }
}
