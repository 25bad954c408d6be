/**
 * The pipeline runner: reads the journal from its persisted cursor, in order, and feeds every
 * event through the stages, at least once. It is decoupled from the receiver: a slow or failing
 * stage never delays an ACK.
 *
 * For each event: each stage runs (a stage never runs on an event it made itself); a stage that
 * throws is retried with backoff, and after the last attempt the event is parked for that stage
 * in the dead-letter list, with the error, and the pipeline goes on. The events the stages made
 * are journaled (with the id of their cause), then the stages' state and the cursor are
 * committed together. After a crash the runner resumes from the cursor: stage state is as it was
 * before the replayed event, and events already journaled by the first run are recognised by
 * (cause, stage, kind, account, position) and not journaled again.
 */
import type { Journal, JournalReader, Stored } from '../journal/journal.js'
import type { Logger } from '../receiver/log.js'
import { expandRecord, type DerivedRecord, type JournalRecord } from '../receiver/record.js'
import { Scheduler } from './scheduler.js'
import type { Emit, Stage, StageContext, StageResult } from './stage.js'
import { Batch, type PipelineStore } from './store.js'

export interface RunnerOptions {
  /** Attempts after the first before an event is parked for a stage. */
  readonly retries: number
  /** Waits between attempts (the last one repeats). */
  readonly backoffMs: readonly number[]
  /** How often to look for new events when not told. */
  readonly pollMs: number
}

export const defaultRunnerOptions: RunnerOptions = Object.freeze({ retries: 3, backoffMs: [100, 1000, 5000], pollMs: 200 })

export interface RunnerDeps {
  readonly journal: Journal<JournalRecord>
  readonly store: PipelineStore
  readonly stages: readonly Stage[]
  readonly log: Logger
  readonly clock?: (() => number) | undefined
  readonly options?: Partial<RunnerOptions> | undefined
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export class PipelineRunner {
  readonly #deps: RunnerDeps
  readonly #opts: RunnerOptions
  readonly #clock: () => number
  readonly #scheduler: Scheduler
  #reader: JournalReader<JournalRecord> | undefined
  #cursor = 0
  #emittedMark = 0
  /** Emissions journaled whose batch may not have been committed (rebuilt on start). */
  readonly #emitted = new Set<string>()
  #running = false
  #loop: Promise<void> | undefined
  #wakeUp: (() => void) | undefined
  /** Events run, for status and tests. */
  processed = 0
  /** When the oldest event read and not yet run was received. */
  #pendingSince: number | undefined

  constructor (deps: RunnerDeps) {
    this.#deps = deps
    this.#opts = { ...defaultRunnerOptions, ...deps.options }
    this.#clock = deps.clock ?? Date.now
    this.#scheduler = new Scheduler(() => this.notify(), this.#clock)
  }

  /** Journal ids not yet through the pipeline. */
  get lag (): number {
    return Math.max(0, this.#deps.journal.lastId - this.#cursor)
  }

  /** Seconds since the oldest event not yet run was received: 0 when caught up. */
  lagSeconds (now: number): number {
    if (this.lag === 0 || this.#pendingSince === undefined) return 0
    return Math.max(0, (now - this.#pendingSince) / 1000)
  }

  get cursor (): number {
    return this.#cursor
  }

  async start (): Promise<void> {
    const { store, journal, stages } = this.#deps
    this.#cursor = store.cursor()
    this.#emittedMark = store.cursor('main:emitted')
    // Events stages made after the last committed batch: a replay must not journal them again.
    const tail = journal.reader(this.#emittedMark + 1)
    for (let b = await tail.next(1000); b.length > 0; b = await tail.next(1000)) {
      for (const r of b) if (r.type === 'derived') this.#emitted.add(emitKey(r.causedBy, r.stage, r.kind, r.account, r.n))
    }
    await tail.close()
    const now = this.#clock()
    for (const stage of stages) {
      if (stage.start === undefined) continue
      const batch = new Batch()
      const timers: Array<() => void> = []
      await stage.start(this.#context(stage, [batch], now, timers))
      store.commit(batch, undefined)
      for (const t of timers) t()
    }
    this.#reader = journal.reader(this.#cursor + 1)
    this.#running = true
    this.#loop = this.#run()
  }

  /** New events were journaled (or a timer is due): look now rather than at the next poll. */
  notify (): void {
    this.#wakeUp?.()
  }

  /** Timers waiting, for status and tests. */
  get timers (): number {
    return this.#scheduler.size
  }

  /** Whether a stage has a timer under `key`. */
  scheduled (stage: string, key: string): boolean {
    return this.#scheduler.has(stage, key)
  }

  /** Finishes the event in progress and stops. */
  async stop (): Promise<void> {
    this.#running = false
    this.#scheduler.stop()
    this.notify()
    await this.#loop
    await this.#reader?.close()
    for (const s of this.#deps.stages) await s.close?.()
  }

  async #run (): Promise<void> {
    while (this.#running) {
      try {
        const batch = await this.#reader!.next(256)
        this.#pendingSince = batch[0]?.receivedAt
        if (batch.length > 0) {
          await this.#runEvents(batch)
          // Under steady load, timers due up to the receive time of what has been read: every
          // report received before such a deadline has been seen, so the decision is sound.
          for (const d of this.#scheduler.due(Math.min(this.#clock(), batch.at(-1)!.receivedAt))) await this.#runDue(d.stage, d.key, d.at)
          continue
        }
        // Caught up: a panel's last report is not waiting in the journal, so any due timer fires.
        const due = this.#scheduler.due(this.#clock())
        for (const d of due) await this.#runDue(d.stage, d.key, d.at)
        if (due.length === 0) await this.#idle()
      } catch (err) {
        // Journal or pipeline database failures: wait and go on from the cursor.
        this.#deps.log.error({ err: (err as Error).message }, 'pipeline: could not run; retrying')
        await sleep(1000)
        await this.#reader?.close()
        this.#reader = this.#deps.journal.reader(this.#cursor + 1)
      }
    }
  }

  #idle (): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, Math.min(this.#opts.pollMs, Math.max(1, this.#scheduler.next() - this.#clock())))
      function done (): void { clearTimeout(t); resolve() }
      this.#wakeUp = () => { this.#wakeUp = undefined; done() }
    })
  }

  /**
   * Runs a batch of events, then commits the stages' state and the cursor once for all of them
   * (a crash replays at most one batch, which the state and the emitted-event keys make harmless).
   */
  async #runEvents (records: Array<Stored<JournalRecord>>): Promise<void> {
    const batch = new Batch()
    let mark: number | undefined
    let last = this.#cursor
    for (const stored of records) {
      if (!this.#running) break
      // Once per event, for every stage: a frame's events rebuilt in full from the journal's compact form.
      const record = expandRecord(stored)
      const emits: Array<{ stage: string, emit: Emit }> = []
      let annotations: Record<string, unknown> = {}
      for (const stage of this.#deps.stages) {
        // A stage never derives again from an event it made itself.
        if (record.type === 'derived' && record.stage === stage.name) continue
        const result = await this.#attempt(stage, batch, record.receivedAt, record.id, (ctx) => stage.run({ record, annotations }, ctx))
        if (result?.add !== undefined) annotations = { ...annotations, ...result.add }
        for (const emit of result?.emit ?? []) emits.push({ stage: stage.name, emit })
      }
      mark = (await this.#journal(emits, record.id, record)) ?? mark
      last = record.id
      this.processed++
    }
    this.#deps.store.commit(batch, last, mark)
    this.#cursor = last
  }

  async #runDue (stageName: string, key: string, at: number): Promise<void> {
    const stage = this.#deps.stages.find((s) => s.name === stageName)
    if (stage?.due === undefined) return
    const batch = new Batch()
    const result = await this.#attempt(stage, batch, at, 0, (ctx) => stage.due!(key, ctx), key)
    const mark = await this.#journal((result?.emit ?? []).map((emit) => ({ stage: stage.name, emit })), 0)
    this.#deps.store.commit(batch, undefined, mark)
  }

  /** Runs a stage with retries; its writes and timers count only if it succeeds. */
  async #attempt (stage: Stage, batch: Batch, now: number, id: number, fn: (ctx: StageContext) => StageResult | void | Promise<StageResult | void>, timer = ''): Promise<StageResult | void> {
    let lastError: unknown
    for (let attempt = 0; attempt <= this.#opts.retries; attempt++) {
      const own = new Batch()
      const timers: Array<() => void> = []
      try {
        const result = await fn(this.#context(stage, [own, batch], now, timers))
        for (const [k, w] of own.writes) batch.writes.set(k, w)
        for (const t of timers) t()
        return result
      } catch (err) {
        lastError = err
        if (attempt < this.#opts.retries) {
          this.#deps.log.warn({ stage: stage.name, id, attempt: attempt + 1, err: (err as Error).message }, 'pipeline: a stage failed; retrying')
          await sleep(this.#opts.backoffMs[Math.min(attempt, this.#opts.backoffMs.length - 1)] ?? 1000)
        }
      }
    }
    const error = lastError instanceof Error ? lastError.message : String(lastError)
    this.#deps.log.error({ stage: stage.name, id, ...(timer === '' ? {} : { timer }), attempts: this.#opts.retries + 1, err: error }, 'pipeline: event parked in the dead-letter list for this stage')
    batch.dead.push({ id, stage: stage.name, timer, error, attempts: this.#opts.retries + 1, at: new Date(this.#clock()).toISOString() })
    return undefined
  }

  #context (stage: Stage, batches: Batch[], now: number, timers: Array<() => void>): StageContext {
    return {
      state: this.#deps.store.state(stage.name, batches),
      now,
      schedule: (key, at) => { timers.push(() => this.#scheduler.schedule(stage.name, key, at)) },
      scheduled: (key) => this.#scheduler.has(stage.name, key),
      cancel: (key) => { timers.push(() => this.#scheduler.cancel(stage.name, key)) },
      log: this.#deps.log,
    }
  }

  /**
   * Journals what the stages made, skipping what a run before a crash already journaled. Each
   * names the holder of its account number: its own, or that of the event that caused it, when
   * of the same account (whoever holds the number when the pipeline gets there is not taken for
   * it). Returns the last id.
   */
  async #journal (emits: Array<{ stage: string, emit: Emit }>, cause: number, from?: { readonly account: string, readonly holder?: string | undefined }): Promise<number | undefined> {
    const seen = new Map<string, number>()
    let last: number | undefined
    for (const { stage, emit } of emits) {
      const causedBy = emit.causedBy ?? cause
      const base = `${causedBy}|${stage}|${emit.kind}|${emit.account}`
      const n = seen.get(base) ?? 0
      seen.set(base, n + 1)
      const key = emitKey(causedBy, stage, emit.kind, emit.account, n)
      if (this.#emitted.delete(key)) continue
      const holder = emit.holder ?? (from?.account === emit.account ? from.holder : undefined)
      const record: DerivedRecord = {
        type: 'derived', receivedAt: this.#clock(), kind: emit.kind, account: emit.account, ...(holder === undefined ? {} : { holder }), stage, causedBy, n, data: emit.data ?? {},
      }
      last = await this.#deps.journal.append(record)
    }
    return last
  }
}

function emitKey (causedBy: number, stage: string, kind: string, account: string, n: number): string {
  return `${causedBy}|${stage}|${kind}|${account}|${n}`
}
