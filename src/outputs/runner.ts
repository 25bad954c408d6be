/**
 * The delivery core: runs one output as a consumer of the journal with its own durable position.
 *
 * It reads the journal in order from the output's cursor (`output:<name>` in the pipeline's
 * store, so that in a cluster the position is shared and the next holder resumes from it), keeps
 * what the output's filter lets through, and hands each event to the output, with at most
 * `output.window` deliveries in flight. The cursor moves over the delivered prefix only: an event
 * is never counted as done before the far end has it, and after a crash the output starts again
 * from the first event it had not finished (at least once: duplicates only around a crash, never
 * gaps). An event the output gives up on is parked in the output's dead letters (its state, with
 * the error), and an `output-parked` trouble is journaled: it reaches the other outputs and the
 * pipeline, so nothing is dropped silently.
 *
 * Commands reach a running output through the journal (`dc09 outputs retry|replay` journal an
 * `output-retry` or `output-replay` event, stage `outputs`): they work alike on one node and in a
 * cluster, whichever node runs the outputs, they are in the journal's history (who asked, when),
 * and the output acts on them in order, once (the id of the last command done is kept with the
 * cursor).
 */
import type { AccountStore } from '../accounts/account-store.js'
import type { Journal, JournalReader, Stored } from '../journal/journal.js'
import { expandRecord, type DerivedRecord, type JournalRecord } from '../journal/record.js'
import type { Logger } from '../log.js'
import { Batch, type PipelineStore } from '../pipeline/pipeline-store.js'
import { toOutputEvent } from './event.js'
import { kindsOf, type Delivery, type EventKind, type Output, type OutputEvent, type OutputStatus, type OutputTroubleKind } from './output.js'

/** The stage name the output's commands and troubles are journaled under. */
export const OUTPUTS_STAGE = 'outputs'
/** Kinds of command event (`data.output`: the output's name; replay: `data.from`, a journal id). */
export const OUTPUT_RETRY = 'output-retry'
export const OUTPUT_REPLAY = 'output-replay'
export const OUTPUT_PARKED = 'output-parked'
/** The account of events about the receiver itself (an output's link): none. */
export const RECEIVER_ACCOUNT = ''

/** The pipeline store's stage (state) and cursor names of an output. */
export const outputStage = (name: string): string => `output:${name}`
/** Where the names of the outputs that ever ran are kept (stage `outputs`, key `output:<name>`). */
export const REGISTRY_STAGE = 'outputs'

export interface OutputFilter {
  /** Kinds of event it gets (see `kindsOf`). */
  readonly kinds: ReadonlySet<EventKind>
  /** Only these installer companies' accounts (undefined: every event, whoever's). */
  readonly tenants?: ReadonlySet<string> | undefined
  /** Add the site, its address and keyholders to each event. */
  readonly personal: boolean
  /** The first time it runs, take the journal from its first event (else from the next one). */
  readonly fromBeginning?: boolean | undefined
}

/** An event the output gave up on, kept in its state under `parked:<id>`. */
export interface ParkedEvent {
  readonly id: number
  readonly account: string
  readonly error: string
  readonly attempts: number
  /** When it was parked, ISO. */
  readonly at: string
  /** How many times it was parked (a retry that failed again parks it again). */
  readonly times: number
}

/** Running totals, kept in the output's state (`stats`) and committed with its cursor. */
export interface OutputTotals {
  delivered: number
  retried: number
  parked: number
}

/** What `dc09 outputs status`, the metrics and the HTTP interface show of an output. */
export interface OutputRunnerStatus extends OutputTotals, OutputStatus {
  readonly name: string
  readonly type: string
  readonly cursor: number
  readonly lag: number
  /** Events in the output's dead letters now. */
  readonly waiting: number
}

export interface OutputRunnerDeps {
  readonly journal: Journal<JournalRecord>
  readonly store: PipelineStore
  readonly accounts: Pick<AccountStore, 'get'>
  readonly output: Output
  readonly filter: OutputFilter
  readonly log: Logger
  readonly clock?: (() => number) | undefined
  /** Most time between commits of the position while events flow (ms). Default 200. */
  readonly commitMs?: number | undefined
  /** How often to look for new events when not told (ms). Default 200. */
  readonly pollMs?: number | undefined
}

/** Records read at once (and at most this many skipped by the filter between commits). */
const READ_BATCH = 256
/** The longest error text kept with a parked event. */
const MAX_ERROR = 500

const padId = (id: number): string => String(id).padStart(15, '0')
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

interface Pending {
  readonly id: number
  readonly event: OutputEvent | undefined
  readonly holder: string | undefined
  done: boolean
  result: Delivery | undefined
}

export class OutputRunner {
  readonly #d: OutputRunnerDeps
  readonly #stage: string
  readonly #clock: () => number
  #reader: JournalReader<JournalRecord> | undefined
  /** Committed: every event up to here is done. */
  #cursor = 0
  /** The last journal id handed on (delivered, in flight, or skipped). */
  #handed = 0
  readonly #pending: Pending[] = []
  #inFlight = 0
  #totals: OutputTotals = { delivered: 0, retried: 0, parked: 0 }
  #waiting = 0
  #lastCommit = 0
  #running = false
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #troubleN = 0
  #live: OutputStatus | undefined
  /** Troubles journaled but not yet committed: awaited before the next commit. */
  readonly #troubles: Array<Promise<unknown>> = []

  constructor (deps: OutputRunnerDeps) {
    this.#d = deps
    this.#stage = outputStage(deps.output.name)
    this.#clock = deps.clock ?? Date.now
  }

  get name (): string { return this.#d.output.name }

  get cursor (): number { return this.#cursor }

  get lag (): number { return Math.max(0, this.#d.journal.lastId - this.#cursor) }

  status (): OutputRunnerStatus {
    const s = this.#d.output.status()
    return { name: this.name, type: this.#d.output.type, cursor: this.#cursor, lag: this.lag, ...this.#totals, waiting: this.#waiting, state: s.state, connected: s.connected }
  }

  /**
   * Starts the output and the reading. `abort`: aborted while the output started (its owner
   * stopped meanwhile), the output is closed again and nothing runs.
   */
  async start (abort?: AbortSignal): Promise<void> {
    const { store, output } = this.#d
    this.#cursor = store.cursor(this.#stage)
    const known = store.readOne(REGISTRY_STAGE, `output:${output.name}`) !== undefined
    // A new output starts with the next event, unless configured to take the journal from its
    // beginning: months of old alarms sent to automation as new ones would be dispatched on.
    // `dc09 outputs replay` sends history on purpose.
    if (!known && this.#cursor === 0 && !this.#d.filter.fromBeginning) this.#cursor = await latestId(this.#d.journal)
    this.#handed = this.#cursor
    this.#totals = { delivered: 0, retried: 0, parked: 0, ...store.readOne<OutputTotals>(this.#stage, 'stats') }
    this.#waiting = store.read(this.#stage, 'parked:').length
    // The output's name, so that the commands find it while it is not running; committed before
    // the output listens or connects, so that a failure here leaves nothing open.
    const batch = new Batch()
    store.state(REGISTRY_STAGE, [batch]).set(`output:${output.name}`, { type: output.type })
    store.commit(batch, this.#cursor, undefined, this.#stage)
    await output.start({
      log: this.#d.log,
      clock: this.#clock,
      trouble: (kind, detail) => { this.#trouble(kind, detail) },
      retried: () => { this.#totals.retried++ },
    })
    if (abort?.aborted === true) {
      await output.close().catch(() => {})
      return
    }
    this.#lastCommit = this.#clock()
    this.#reader = this.#d.journal.reader(this.#cursor + 1)
    this.#running = true
    this.#loop = this.#run()
  }

  /** New events were journaled: look now rather than at the next poll. */
  notify (): void {
    this.#wake?.()
  }

  /** Stops reading, closes the output (deliveries in flight are not counted), commits what was delivered. */
  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.notify()
    // Closed first: a delivery the loop waits for (a retry while the far end is down) rejects now.
    await this.#d.output.close().catch((err: unknown) => { this.#d.log.warn({ output: this.name, err: (err as Error).message }, 'output: could not close cleanly') })
    await this.#loop
    try {
      await this.#commit(true)
    } catch (err) {
      this.#d.log.warn({ output: this.name, err: (err as Error).message }, 'output: could not commit its position at stop; it resumes from the last one committed')
    }
    await this.#reader?.close()
  }

  async #run (): Promise<void> {
    while (this.#running) {
      try {
        const records = await this.#reader!.next(READ_BATCH)
        for (const r of records) {
          // A replay moved the reader: the rest of this batch is read again from there.
          if (!this.#running || await this.#take(r)) break
        }
        await this.#commit(records.length === 0)
        if (records.length === 0) await this.#idle()
      } catch (err) {
        this.#d.log.error({ output: this.name, err: (err as Error).message }, 'output: could not read the journal or commit its position; retrying')
        await sleep(1000)
        // Refused because the position is not where this runner last saw it: a commit whose answer
        // was lost, or a replica of the shared state that was behind when it started (or another
        // node runs it, and the lease stops this one soon). It starts again from the position as
        // the store has it now, or every commit after would be refused too.
        if ((err as { code?: unknown }).code === 'DC09_ERR_PIPELINE_FENCED') this.#resync()
        await this.#reader?.close().catch(() => {})
        this.#reader = this.#d.journal.reader(this.#handed + 1)
      }
    }
  }

  /** Takes the position, totals and dead letters from the store again, forgetting what is in flight (it is sent again). */
  #resync (): void {
    const { store } = this.#d
    this.#pending.length = 0
    this.#cursor = store.cursor(this.#stage)
    this.#handed = this.#cursor
    this.#totals = { delivered: 0, retried: 0, parked: 0, ...store.readOne<OutputTotals>(this.#stage, 'stats') }
    this.#waiting = store.read(this.#stage, 'parked:').length
    this.#d.log.warn({ output: this.name, cursor: this.#cursor }, 'output: going on from its position as the store has it')
  }

  /** Waits for new events, a delivery's answer, or the poll interval. */
  #idle (): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, this.#d.pollMs ?? 200)
      const self = this
      function done (): void { clearTimeout(t); self.#wake = undefined; resolve() }
      this.#wake = done
    })
  }

  /** Hands one record on (or skips it); true when a replay moved the reader. */
  async #take (stored: Stored<JournalRecord>): Promise<boolean> {
    const record = expandRecord(stored)
    if (record.type === 'derived' && record.stage === OUTPUTS_STAGE && (record.kind === OUTPUT_RETRY || record.kind === OUTPUT_REPLAY)) {
      if (record.data.output === this.name) return await this.#command(record as Stored<DerivedRecord>)
      this.#skip(record.id)
      return false
    }
    const event = this.#eventOf(record)
    if (event === undefined) { this.#skip(record.id); return false }
    while (this.#inFlight >= Math.max(1, this.#d.output.window) && this.#running) {
      await this.#commit(false)
      await this.#idle()
    }
    if (this.#running) this.#send({ id: record.id, event, holder: record.holder, done: false, result: undefined })
    return false
  }

  /** The outward form of a record, when this output's filter lets it through. */
  #eventOf (record: ReturnType<typeof expandRecord>): OutputEvent | undefined {
    const { filter } = this.#d
    const account = record.account === RECEIVER_ACCOUNT ? undefined : this.#d.accounts.get(record.account)
    const event = toOutputEvent(record, account, filter.personal)
    if (!kindsOf(event).some((k) => filter.kinds.has(k))) return undefined
    // An output's own parked events would be parked again by it, and so on.
    if (event.type === OUTPUT_PARKED && event.data?.output === this.name) return undefined
    if (filter.tenants !== undefined) {
      // An installer company's output gets what its panels sent and whether they report, as its
      // installers see them through the HTTP interface: cases, verifications and duress are the centre's.
      if (event.tenant === null || !filter.tenants.has(event.tenant)) return undefined
      if (event.type !== 'frame' && !event.type.startsWith('supervision')) return undefined
    }
    return event
  }

  #skip (id: number): void {
    this.#handed = id
    this.#pending.push({ id, event: undefined, holder: undefined, done: true, result: undefined })
  }

  #send (p: Pending): void {
    this.#handed = Math.max(this.#handed, p.id)
    this.#pending.push(p)
    this.#inFlight++
    this.#d.output.deliver(p.event!).then((result) => {
      p.done = true
      p.result = result
      this.#inFlight--
      this.#wake?.()
    }, (err: unknown) => {
      this.#inFlight--
      // Closed: not delivered; it is sent again from the cursor.
      if (!this.#running) return
      // An output that fails otherwise (a bug) must not hold the position back for ever: parked, with the reason.
      p.done = true
      p.result = { ok: false, error: `the output failed: ${(err as Error).message}`, attempts: 1 }
      this.#wake?.()
    })
  }

  /**
   * Commits the done prefix: moves the cursor past it, parks what was given up on (journaling a
   * trouble for each first), counts. `force`: even when the last commit was just now.
   */
  async #commit (force: boolean): Promise<void> {
    let n = 0
    while (n < this.#pending.length && this.#pending[n]!.done) n++
    // The connection as last written, for `dc09 outputs status` (which reads the store).
    const live = this.#d.output.status()
    const liveChanged = live.state !== this.#live?.state || live.connected !== this.#live.connected
    if (n === 0 && this.#troubles.length === 0 && !liveChanged) return
    if (!force && n < READ_BATCH && this.#clock() - this.#lastCommit < (this.#d.commitMs ?? 200)) return
    const done = this.#pending.slice(0, n)
    const batch = new Batch()
    const state = this.#d.store.state(this.#stage, [batch])
    const appends: Array<Promise<unknown>> = this.#troubles.splice(0)
    const totals = { ...this.#totals }
    let waiting = this.#waiting
    for (const p of done) {
      if (p.result === undefined) continue
      const key = `parked:${padId(p.id)}`
      if (p.result.ok) {
        totals.delivered++
        // Parked before, delivered now (a replay): it leaves the dead letters.
        if (waiting > 0 && state.get(key) !== undefined) { state.delete(key); waiting-- }
        continue
      }
      const before = state.get<ParkedEvent>(key)
      const parked: ParkedEvent = { id: p.id, account: p.event!.account, error: p.result.error.slice(0, MAX_ERROR), attempts: p.result.attempts, at: new Date(this.#clock()).toISOString(), times: (before?.times ?? 0) + 1 }
      if (before === undefined) waiting++
      state.set(key, parked)
      totals.parked++
      this.#d.log.error({ output: this.name, id: p.id, attempts: parked.attempts, err: parked.error }, 'output: event parked in the output\'s dead letters')
      const trouble = this.#parkedTrouble(p.id, p.event!, p.holder, parked)
      if (trouble !== undefined) appends.push(trouble)
    }
    // A trouble is in the journal before the cursor passes what it is about.
    await Promise.all(appends)
    state.set('stats', totals)
    if (liveChanged) state.set('live', { state: live.state, connected: live.connected, at: new Date(this.#clock()).toISOString() })
    const cursor = n > 0 ? done[n - 1]!.id : undefined
    this.#d.store.commit(batch, cursor, undefined, this.#stage)
    this.#pending.splice(0, n)
    // Retries counted meanwhile stay counted.
    this.#totals = { ...totals, retried: this.#totals.retried }
    this.#waiting = waiting
    this.#live = live
    if (cursor !== undefined) this.#cursor = cursor
    this.#lastCommit = this.#clock()
  }

  /**
   * Journals that an event was parked, for the other outputs and the pipeline. Not for an event
   * that is itself about the outputs (another output's parked event, a link trouble): two outputs
   * that refuse each other's troubles would otherwise make them without end.
   */
  #parkedTrouble (id: number, event: OutputEvent, holder: string | undefined, parked: ParkedEvent): Promise<number> | undefined {
    if (event.by === OUTPUTS_STAGE) return undefined
    return this.#d.journal.append({
      type: 'derived', receivedAt: this.#clock(), kind: OUTPUT_PARKED, account: event.account, ...(holder === undefined ? {} : { holder }),
      stage: OUTPUTS_STAGE, causedBy: id, n: parked.times - 1, data: { output: this.name, error: parked.error, attempts: parked.attempts },
    })
  }

  /** Journals a trouble of the output's own link (failed, restored); committed before the next position. */
  #trouble (kind: OutputTroubleKind, detail: string): void {
    const record: DerivedRecord = {
      type: 'derived', receivedAt: this.#clock(), kind, account: RECEIVER_ACCOUNT, holder: '', stage: OUTPUTS_STAGE,
      // No cause to be replayed from: a number of its own (a restart within the journal's
      // duplicate window must not take it for the one before).
      causedBy: 0, n: this.#clock() * 1000 + (this.#troubleN++ % 1000),
      data: { output: this.name, detail: detail.slice(0, MAX_ERROR) },
    }
    const p = this.#d.journal.append(record).catch((err: unknown) => {
      this.#d.log.error({ output: this.name, kind, err: (err as Error).message }, 'output: could not journal its trouble')
    })
    this.#troubles.push(p)
    this.#d.log.warn({ output: this.name, kind, detail }, kind === 'output-link-failed' ? 'output: link failed' : 'output: link restored')
    this.#wake?.()
  }

  /** Waits until every delivery in flight has its answer (or the runner stops), and commits. */
  async #drain (): Promise<void> {
    while (this.#inFlight > 0 && this.#running) await this.#idle()
    await this.#commit(true)
  }

  /** Does a command addressed to this output, once; true when it moved the reader (a replay). */
  async #command (record: Stored<DerivedRecord>): Promise<boolean> {
    const doneUpTo = this.#d.store.readOne<number>(this.#stage, 'command') ?? 0
    if (record.id <= doneUpTo) { this.#skip(record.id); return false }
    await this.#drain()
    if (!this.#running) return false
    if (record.kind === OUTPUT_REPLAY) {
      const batch = new Batch()
      this.#d.store.state(this.#stage, [batch]).set('command', record.id)
      const from = Math.max(1, Math.min(Number(record.data.from) || 1, record.id))
      this.#d.log.warn({ output: this.name, from, upTo: record.id - 1 }, 'output: replaying events from the journal, as a command asked')
      // The cursor goes back; the command is marked done with it, so that meeting it again ends the replay.
      this.#d.store.commit(batch, from - 1, undefined, this.#stage)
      this.#cursor = from - 1
      this.#handed = from - 1
      await this.#reader?.close()
      this.#reader = this.#d.journal.reader(from)
      return true
    }
    // Retry: each parked event again, in journal order; it leaves the dead letters once
    // delivered. The command is marked done at the end: stopped or failed part way, it is done
    // again from the start (what was delivered meanwhile is no longer parked).
    const parked = this.#d.store.read<ParkedEvent>(this.#stage, 'parked:')
    this.#d.log.warn({ output: this.name, events: parked.length }, 'output: sending its parked events again, as a command asked')
    for (const [key, p] of parked) {
      if (!this.#running) return false
      // An empty read is a journal that cannot answer now (an election): the retry fails and is
      // done again; the event stays parked.
      const stored = await this.#recordAt(p.id)
      const event = stored === undefined ? undefined : this.#eventOf(expandRecord(stored))
      const b = new Batch()
      const s = this.#d.store.state(this.#stage, [b])
      if (event === undefined) {
        // Nothing left to send: the journal no longer has it (restored from an older backup), or
        // it is no longer this output's (its filter changed, or the account's tenant).
        const why = stored === undefined ? 'is no longer in the journal' : 'is one its filter no longer takes'
        this.#d.log.warn({ output: this.name, id: p.id }, `output: a parked event ${why}; it leaves the dead letters unsent`)
        s.delete(key)
        this.#d.store.commit(b, undefined, undefined, this.#stage)
        this.#waiting--
        continue
      }
      const result = await this.#d.output.deliver(event).catch((err: unknown) => {
        if (this.#running) this.#d.log.error({ output: this.name, id: p.id, err: (err as Error).message }, 'output: failed while sending a parked event again; the retry is done again at the next start')
        return undefined
      })
      if (result === undefined) return false
      if (result.ok) {
        s.delete(key)
        this.#waiting--
        this.#totals.delivered++
      } else {
        const again: ParkedEvent = { ...p, error: result.error.slice(0, MAX_ERROR), attempts: result.attempts, at: new Date(this.#clock()).toISOString(), times: p.times + 1 }
        s.set(key, again)
        this.#totals.parked++
        await this.#parkedTrouble(p.id, event, stored?.holder, again)
      }
      s.set('stats', this.#totals)
      this.#d.store.commit(b, undefined, undefined, this.#stage)
    }
    const done = new Batch()
    this.#d.store.state(this.#stage, [done]).set('command', record.id)
    this.#d.store.commit(done, undefined, undefined, this.#stage)
    this.#skip(record.id)
    return false
  }

  /**
   * The record `id`; undefined when the journal has none there any more (it gives a later one).
   * A journal that gives nothing is one that cannot answer now (an election): that throws, and
   * the command is done again.
   */
  async #recordAt (id: number): Promise<Stored<JournalRecord> | undefined> {
    const reader = this.#d.journal.reader(id)
    try {
      const [r] = await reader.next(1)
      if (r === undefined) throw new Error(`the journal did not give event ${id}`)
      return r.id === id ? r : undefined
    } finally {
      await reader.close()
    }
  }
}

/**
 * The journal's last id as it is now: a cluster's stream is asked (the id this process last saw
 * may be old), a local journal knows.
 */
async function latestId (journal: Journal<JournalRecord>): Promise<number> {
  const asked = (journal as { lastSequence?: () => Promise<number> }).lastSequence
  return typeof asked === 'function' ? Math.max(journal.lastId, await asked.call(journal)) : journal.lastId
}
