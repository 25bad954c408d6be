/**
 * The pipeline runner: reads the journal from its persisted cursor, in order, and feeds every
 * event through the stages, at least once. It is decoupled from the receiver: a slow or failing
 * stage never delays an ACK.
 *
 * For each event: each stage runs (a stage never runs on an event it made itself); a stage that
 * throws is retried with backoff, and after the last attempt the event is parked for that stage
 * in the dead-letter list, with the error, and the pipeline goes on. The events the stages made
 * are journaled (with the id of their cause), then the stages' state and the cursor are
 * committed together.
 *
 * Events run in batches (up to BATCH_EVENTS read at once): the events the stages make while a
 * batch runs are appended as they come, in order, without waiting for each one's commit, and all
 * are awaited before the batch's state and cursor are committed (one journal round trip and one
 * SQLite transaction per batch, not per event). Due timers run the same way, up to DUE_BATCH to a
 * commit. After a crash the runner resumes from the cursor: stage state is as it was
 * before the replayed event, and events already journaled by the first run are recognised by
 * (cause, stage, kind, account, position) and not journaled again.
 */
import type { Journal, JournalReader, Stored } from '../journal/journal.js'
import type { Logger } from '../log.js'
import { expandRecord, type DerivedRecord, type JournalRecord } from '../journal/record.js'
import { CursorWaiters } from './cursor-waiters.js'
import { Scheduler } from './scheduler.js'
import type { Emit, Stage, StageContext, StageResult } from './stage.js'
import { Batch, type PipelineStore } from './pipeline-store.js'

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

/** Thrown through a stage's start when the runner is stopped meanwhile. */
const START_ABORTED = new Error('the pipeline was stopped while it started')

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Events read and run to one commit: a crash replays at most this many. */
const BATCH_EVENTS = 1024
/** Due timers run to one commit: a burst of thousands is a few commits, not thousands. */
const DUE_BATCH = 1000
const NO_ANNOTATIONS: Readonly<Record<string, unknown>> = Object.freeze({})

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
  /** Receive time of the oldest event read and not yet committed (undefined: none held). */
  #oldestAt: number | undefined
  readonly #byName = new Map<string, Stage>()
  #running = false
  /** stop() was called: a start in progress gives up at its next page. */
  #stopRequested = false
  #starting: Promise<void> | undefined
  #loop: Promise<void> | undefined
  #wakeUp: (() => void) | undefined
  readonly #idleWaiters: Array<(now: number | undefined) => void> = []
  /** Who waits for the cursor to reach an event (the HTTP interface, resolving a case). */
  readonly #waiters = new CursorWaiters()
  /** Events run, for status and tests. */
  processed = 0

  constructor (deps: RunnerDeps) {
    this.#deps = deps
    this.#opts = { ...defaultRunnerOptions, ...deps.options }
    this.#clock = deps.clock ?? Date.now
    this.#scheduler = new Scheduler(() => this.notify(), this.#clock)
    for (const s of deps.stages) this.#byName.set(s.name, s)
  }

  /** Journal ids not yet through the pipeline. */
  get lag (): number {
    return Math.max(0, this.#deps.journal.lastId - this.#cursor)
  }

  get cursor (): number {
    return this.#cursor
  }

  /**
   * Resolves true once the events up to journal id `id` have been run and committed (at once if
   * they have), false after `timeoutMs` if they have not by then. Woken by the commit, not polled.
   */
  waitFor (id: number, timeoutMs: number): Promise<boolean> {
    return this.#waiters.wait(this.#cursor, id, timeoutMs)
  }

  /** Waits in progress, for tests. */
  get waiting (): number {
    return this.#waiters.size
  }

  #advance (cursor: number): void {
    this.#cursor = cursor
    this.#waiters.advance(cursor)
  }

  /**
   * How far behind the pipeline is in time: 0 when caught up, else `now` minus the receive time
   * of the oldest journaled event not yet run through (the first of the batch being run, or of
   * the next batch read). Seconds.
   */
  lagSeconds (now: number = this.#clock()): number {
    if (this.lag === 0 || this.#oldestAt === undefined) return 0
    return Math.max(0, (now - this.#oldestAt) / 1000)
  }

  start (): Promise<void> {
    this.#starting = this.#start().catch((err: unknown) => {
      if (err !== START_ABORTED) throw err
    })
    return this.#starting
  }

  async #start (): Promise<void> {
    const { store, journal, stages } = this.#deps
    // Waits made before the start for events already run end now.
    this.#advance(store.cursor())
    // What a batch journaled before a crash has ids above the cursor committed before it (it was
    // appended after its events were read): no need to look further back, however long ago the
    // stages last made something.
    this.#emittedMark = Math.max(store.cursor('main:emitted'), this.#cursor)
    await this.#scanEmitted()
    // Events left from before this start wait while the stages start: the lag counts from the oldest.
    const first = journal.reader(this.#cursor + 1)
    this.#oldestAt = (await first.next(1))[0]?.receivedAt
    await first.close()
    const now = this.#clock()
    // Every stage's start runs to its end before the first event: a start rebuilds state and
    // timers from what was committed (supervision moves every account's deadline one interval
    // on), and an event run meanwhile would read state half rebuilt. Events wait in the journal;
    // a start over many accounts commits in pages and yields between them (`ctx.checkpoint`).
    for (const stage of stages) {
      if (stage.start === undefined) continue
      let batch = new Batch()
      let timers: Array<() => void> = []
      const ctx = this.#context(stage, [batch], now, timers)
      const checkpoint = async (): Promise<void> => {
        if (this.#stopRequested) throw START_ABORTED
        store.commit(batch, undefined)
        for (const t of timers) t()
        batch = new Batch()
        timers = []
        Object.assign(ctx, this.#context(stage, [batch], now, timers))
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
      Object.assign(ctx, { checkpoint })
      await stage.start(ctx)
      await checkpoint()
    }
    if (this.#stopRequested) return
    this.#reader = journal.reader(this.#cursor + 1)
    this.#running = true
    this.#loop = this.#run()
  }

  /** New events were journaled (or a timer is due): look now rather than at the next poll. */
  notify (): void {
    // Events came while none was held (caught up, or still starting): the lag is counted from
    // now, to the millisecond of their commit, until they are read and their own times known.
    if (this.#oldestAt === undefined && this.lag > 0) this.#oldestAt = this.#clock()
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

  /**
   * Resolves the next time the run loop has nothing to do (the stage harness waits on it): it
   * read no new event and no timer was due at the time it resolves with. Events journaled
   * meanwhile may still wait: compare the cursor with the journal's last id. Undefined: stopped.
   */
  whenIdle (): Promise<number | undefined> {
    if (!this.#running) return Promise.resolve(undefined)
    return new Promise((resolve) => { this.#idleWaiters.push(resolve) })
  }

  /** Finishes the event in progress and stops. */
  async stop (): Promise<void> {
    this.#stopRequested = true
    this.#running = false
    this.#scheduler.stop()
    this.notify()
    // A start in progress ends at its next page, without running anything.
    await this.#starting?.catch(() => {})
    await this.#loop
    for (const w of this.#idleWaiters.splice(0)) w(undefined)
    await this.#reader?.close()
    for (const s of this.#deps.stages) await s.close?.()
  }

  async #run (): Promise<void> {
    while (this.#running) {
      try {
        const batch = await this.#reader!.next(BATCH_EVENTS)
        this.#oldestAt = batch[0]?.receivedAt
        if (batch.length > 0) {
          await this.#runEvents(batch)
          // Under steady load, timers due up to the receive time of what has been read: every
          // report received before such a deadline has been seen, so the decision is sound.
          await this.#runDue(Math.min(this.#clock(), batch.at(-1)!.receivedAt))
          continue
        }
        // Caught up: a panel's last report is not waiting in the journal, so any due timer fires.
        const now = this.#clock()
        if (await this.#runDue(now) === 0) {
          for (const w of this.#idleWaiters.splice(0)) w(now)
          await this.#idle()
        }
      } catch (err) {
        // Journal or pipeline database failures: wait and go on from the cursor.
        this.#deps.log.error({ err: (err as Error).message }, 'pipeline: could not run; retrying')
        await sleep(1000)
        await this.#reader?.close()
        // What this run journaled of the batch that failed must not be journaled again.
        await this.#scanEmitted()
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

  /** Events stages made after the last committed batch: a replay must not journal them again. */
  async #scanEmitted (): Promise<void> {
    this.#emitted.clear()
    const tail = this.#deps.journal.reader(this.#emittedMark + 1)
    try {
      for (let b = await tail.next(1000); b.length > 0; b = await tail.next(1000)) {
        for (const r of b) if (r.type === 'derived') this.#emitted.add(emitKey(r.causedBy, r.stage, r.kind, r.account, r.n))
      }
    } finally {
      await tail.close()
    }
  }

  /**
   * Runs a batch of events, then commits the stages' state and the cursor once for all of them
   * (a crash replays at most one batch, which the state and the emitted-event keys make harmless).
   */
  async #runEvents (records: Array<Stored<JournalRecord>>): Promise<void> {
    const batch = new Batch()
    const appends: Array<Promise<number>> = []
    let last = this.#cursor
    for (const stored of records) {
      if (!this.#running) break
      // Once per event, for every stage: a frame's events rebuilt in full from the journal's compact form.
      const record = expandRecord(stored)
      let emits: Array<{ stage: string, emit: Emit }> | undefined
      let annotations = NO_ANNOTATIONS
      for (const stage of this.#deps.stages) {
        // A stage never derives again from an event it made itself.
        if (record.type === 'derived' && record.stage === stage.name) continue
        const ann = annotations
        const result = await this.#attempt(stage, batch, record.receivedAt, record.id, (ctx) => stage.run({ record, annotations: ann }, ctx))
        if (result == null) continue
        if (result.add !== undefined) annotations = { ...annotations, ...result.add }
        if (result.emit !== undefined) for (const emit of result.emit) (emits ??= []).push({ stage: stage.name, emit })
      }
      if (emits !== undefined) this.#journal(emits, record.id, appends, record)
      last = record.id
      this.processed++
    }
    const mark = await settle(appends)
    for (const stage of this.#deps.stages) await stage.flush?.()
    this.#deps.store.commit(batch, last, mark)
    this.#advance(last)
    if (mark !== undefined) this.#emittedMark = mark
  }

  /**
   * Runs every timer due at `now`, DUE_BATCH to a commit (one store transaction and one wait for
   * the journal per batch, not per timer). Returns how many ran.
   */
  /**
   * Runs one batch of the timers due at `now` (at most DUE_BATCH) and commits it; how many ran.
   * One batch a call: the run loop reads new events between batches, so a burst of deadlines, or
   * a timer that sets the next one at once (supervision's scan, a page at a time), never holds
   * the events back for long.
   */
  async #runDue (now: number): Promise<number> {
    const due = this.#scheduler.due(now, DUE_BATCH)
    if (due.length > 0) {
      const batch = new Batch()
      const appends: Array<Promise<number>> = []
      for (const d of due) {
        const stage = this.#byName.get(d.stage)
        if (stage?.due === undefined) continue
        const result = await this.#attempt(stage, batch, d.at, 0, (ctx) => stage.due!(d.key, ctx), d.key)
        if (result?.emit !== undefined && result.emit.length > 0) this.#journal(result.emit.map((emit) => ({ stage: stage.name, emit })), 0, appends)
      }
      try {
        const mark = await settle(appends)
        this.#deps.store.commit(batch, undefined, mark)
        if (mark !== undefined) this.#emittedMark = mark
      } catch (err) {
        // Their state was not committed: every timer of the batch is set again as it was (unless
        // the stage set it anew), or a silent panel, which sends nothing to set it, would never
        // be declared silent. The loop retries them after its pause.
        for (const d of due) if (!this.#scheduler.has(d.stage, d.key)) this.#scheduler.schedule(d.stage, d.key, d.at)
        throw err
      }
      // Between batches, the event loop gets a turn (a worker's messages, the journal's answers).
      await new Promise<void>((resolve) => setImmediate(resolve))
    }
    return due.length
  }

  /** Runs a stage with retries; its writes and timers count only if it succeeds. */
  async #attempt (stage: Stage, batch: Batch, now: number, id: number, fn: (ctx: StageContext) => StageResult | void | Promise<StageResult | void>, timer = ''): Promise<StageResult | void> {
    // One context per stage, reused from attempt to attempt and event to event (attempts run one
    // at a time): its writes and timers are its own until the attempt succeeds.
    const slot = this.#slot(stage)
    slot.batches[1] = batch
    slot.ctx.now = now
    let lastError: unknown
    try {
      for (let attempt = 0; attempt <= this.#opts.retries; attempt++) {
        slot.own.writes.clear()
        slot.timers.length = 0
        try {
          const result = await fn(slot.ctx)
          for (const [k, w] of slot.own.writes) batch.writes.set(k, w)
          for (const t of slot.timers) {
            if (t.at === undefined) this.#scheduler.cancel(stage.name, t.key)
            else this.#scheduler.schedule(stage.name, t.key, t.at)
          }
          return result
        } catch (err) {
          lastError = err
          if (attempt < this.#opts.retries) {
            this.#deps.log.warn({ stage: stage.name, id, attempt: attempt + 1, err: (err as Error).message }, 'pipeline: a stage failed; retrying')
            await sleep(this.#opts.backoffMs[Math.min(attempt, this.#opts.backoffMs.length - 1)] ?? 1000)
          }
        }
      }
    } finally {
      slot.own.writes.clear()
      slot.timers.length = 0
    }
    const error = lastError instanceof Error ? lastError.message : String(lastError)
    this.#deps.log.error({ stage: stage.name, id, ...(timer === '' ? {} : { timer }), attempts: this.#opts.retries + 1, err: error }, 'pipeline: event parked in the dead-letter list for this stage')
    batch.dead.push({ id, stage: stage.name, timer, error, attempts: this.#opts.retries + 1, at: new Date(this.#clock()).toISOString() })
    return undefined
  }

  readonly #slots = new Map<Stage, Slot>()

  #slot (stage: Stage): Slot {
    let slot = this.#slots.get(stage)
    if (slot === undefined) {
      const own = new Batch()
      const batches = [own, own]
      const timers: Slot['timers'] = []
      const ctx: StageContext & { now: number } = {
        state: this.#deps.store.state(stage.name, batches),
        now: 0,
        schedule: (key, at) => { timers.push({ key, at }) },
        scheduled: (key) => this.#scheduler.has(stage.name, key),
        cancel: (key) => { timers.push({ key, at: undefined }) },
        log: this.#deps.log,
      }
      slot = { own, batches, timers, ctx }
      this.#slots.set(stage, slot)
    }
    return slot
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
   * Journals what the stages made, skipping what a run before a crash already journaled: the
   * appends start now, in order, and are awaited with the rest of the batch (`appends`). Each
   * names the holder of its account number: its own, or that of the event that caused it, when
   * of the same account (whoever holds the number when the pipeline gets there is not taken for it).
   */
  #journal (emits: Array<{ stage: string, emit: Emit }>, cause: number, appends: Array<Promise<number>>, from?: { readonly account: string, readonly holder?: string | undefined }): void {
    const seen = new Map<string, number>()
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
      appends.push(this.#deps.journal.append(record))
    }
  }
}

/** Waits for every append (also after one fails: a retry must see all that were journaled); the last id. */
async function settle (appends: Array<Promise<number>>): Promise<number | undefined> {
  if (appends.length === 0) return undefined
  const results = await Promise.allSettled(appends)
  let last: number | undefined
  for (const r of results) {
    if (r.status === 'rejected') throw r.reason
    last = last === undefined ? r.value : Math.max(last, r.value)
  }
  return last
}

/** A stage's reusable context: its attempt's own writes and timers, then the batch's. */
interface Slot {
  readonly own: Batch
  readonly batches: Batch[]
  readonly timers: Array<{ key: string, at: number | undefined }>
  readonly ctx: StageContext & { now: number }
}

function emitKey (causedBy: number, stage: string, kind: string, account: string, n: number): string {
  return `${causedBy}|${stage}|${kind}|${account}|${n}`
}
