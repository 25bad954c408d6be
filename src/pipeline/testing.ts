/**
 * A test harness for pipeline stages, for any test runner (`node --test`, vitest, mocha, plain
 * node): it runs the stages through the pipeline's own loader, runner and scheduler, over a
 * journal in memory, the pipeline's store in a temporary directory, and a clock that moves only
 * when the test says so.
 *
 *   const h = await createHarness({ stages: [{ module: './my-stage.mjs', options: { reports: 2 } }] })
 *   const { emitted } = await h.contactId('1234', '1302 01 000')   // a frame, run through every stage
 *   await h.advance(60_000)                                       // timers due meanwhile fire
 *   h.emitted('maintenance-due'); h.state('battery-watch'); h.deadLetters()
 *   await h.close()
 *
 * Each call that feeds or advances returns once every stage has run everything there is to run
 * (what the stages emitted included) and the pipeline has committed it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import type { AccountInput } from '../accounts/account.js'
import { MemoryAccountStore } from '../accounts/memory-store.js'
import { compactEvents } from '../journal/compact.js'
import type { Stored } from '../journal/journal.js'
import { MemoryJournal } from '../journal/memory-journal.js'
import { expandRecord, type DerivedRecord, type EventRecord, type JournalFrame, type JournalRecord } from '../journal/record.js'
import type { Logger } from '../log.js'
import { parseContactId, parseSia, type DecodedEvent } from '../protocol/index.js'
import { loadPipeline, type StageSpec } from './loader.js'
import { PipelineRunner } from './runner.js'
import { ACCOUNT_REMOVED, type Stage, type StageEnvironment, type StageFactory } from './stage.js'
import { PipelineStore, type DeadLetter } from './store.js'

export type { DeadLetter } from './store.js'
export type { StageSpec } from './loader.js'

/**
 * A stage for the harness: as in a pipeline file (a built-in name, `{ name, options }`, or
 * `{ module, options }` with a path resolved from `baseDir`), a factory with its options, or a
 * stage already made.
 */
export type HarnessStage = StageSpec | Stage | { readonly factory: StageFactory, readonly options?: Readonly<Record<string, unknown>> | undefined }

export interface HarnessOptions {
  /** The stages, in order. */
  readonly stages: readonly HarnessStage[]
  /** Where module paths are resolved from (default: the working directory). */
  readonly baseDir?: string | undefined
  /** The accounts the stages see (`env.accounts`), as in `dc09 accounts import`. */
  readonly accounts?: readonly AccountInput[] | undefined
  /** User numbers `env.isUser` knows, by account: `{ "1234": [1, 2] }`. */
  readonly users?: Readonly<Record<string, readonly number[]>> | undefined
  /** The fake clock's start: epoch ms or an ISO date (default 2026-01-01T00:00:00Z). */
  readonly start?: number | string | undefined
  /** Attempts after the first before an event is parked in the dead-letter list (default 3, as in the receiver, but without waiting between them). */
  readonly retries?: number | undefined
  /** How long a feed or advance may take, in real milliseconds, before it fails (default 10,000). */
  readonly timeoutMs?: number | undefined
  /** Where the stages and the runner log (default: nowhere). */
  readonly log?: Logger | undefined
}

/** A derived event to feed, as a command or another producer would journal it. */
export interface DerivedInput {
  readonly kind: string
  readonly account: string
  /** Who made it (default `test`); a stage never runs on an event made under its own name. */
  readonly stage?: string | undefined
  readonly data?: Readonly<Record<string, unknown>> | undefined
  readonly causedBy?: number | undefined
  readonly holder?: string | undefined
}

/** What became of one event fed to the pipeline. */
export interface Fed {
  /** Its journal id. */
  readonly id: number
  /** The record, as the stages were given it. */
  readonly record: Stored<EventRecord>
  /** What the stages added to it (`add`), all together. */
  readonly annotations: Readonly<Record<string, unknown>>
  /** What the stages emitted from it (events whose `causedBy` is its id). */
  readonly emitted: Array<Stored<DerivedRecord>>
}

/** A mistake in using the harness (a bad event, a stage that cannot be made, a pipeline that never settles). */
export class HarnessError extends Error {
  override readonly name = 'HarnessError'
}

/** The name of the harness's own last stage, which notes what the stages added to each event. */
const OBSERVER = 'dc09-harness'
const RESERVED = [ACCOUNT_REMOVED.stage, 'api', 'verify', OBSERVER]
const DEFAULT_START = Date.UTC(2026, 0, 1)
const ACCOUNT_RE = /^[0-9A-Za-z]{3,16}$/

/** Makes the stages (checked as when a pipeline is loaded), then starts the pipeline on them. */
export async function createHarness (options: HarnessOptions): Promise<StageHarness> {
  if (typeof options !== 'object' || options === null || !Array.isArray(options.stages) || options.stages.length === 0) {
    throw new HarnessError('createHarness: expected { stages: [...] } with at least one stage')
  }
  const now = startTime(options.start)
  const dir = mkdtempSync(join(tmpdir(), 'dc09-harness-'))
  try {
    return await StageHarness.open(options, now, dir)
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}

export class StageHarness {
  /** The accounts the stages see: add, update or remove them between events. */
  readonly accounts: MemoryAccountStore
  readonly #journal = new RecordingJournal()
  readonly #store: PipelineStore
  readonly #runner: PipelineRunner
  readonly #names: ReadonlySet<string>
  readonly #annotations = new Map<number, Readonly<Record<string, unknown>>>()
  readonly #timeoutMs: number
  readonly #dir: string
  readonly #time: { now: number }
  #seq = 0
  #closed = false

  private constructor (accounts: MemoryAccountStore, store: PipelineStore, stages: readonly Stage[], time: { now: number }, dir: string, opts: HarnessOptions) {
    this.accounts = accounts
    this.#store = store
    this.#dir = dir
    this.#time = time
    this.#timeoutMs = opts.timeoutMs ?? 10_000
    this.#names = new Set(stages.map((s) => s.name))
    const observer: Stage = { name: OBSERVER, run: ({ record, annotations }) => { this.#annotations.set(record.id, annotations) } }
    this.#runner = new PipelineRunner({
      journal: this.#journal,
      store,
      stages: [...stages, observer],
      log: opts.log ?? silent(),
      clock: () => this.#time.now,
      options: { retries: opts.retries ?? 3, backoffMs: [0], pollMs: 2 },
    })
  }

  /** Use `createHarness`. */
  static async open (opts: HarnessOptions, start: number, dir: string): Promise<StageHarness> {
    // One clock for the harness and the accounts (created and changed at the harness's time).
    const time = { now: start }
    const accounts = new MemoryAccountStore(undefined, { now: () => new Date(time.now) })
    for (const input of opts.accounts ?? []) {
      const added = accounts.add(input)
      if (!added.ok) throw new HarnessError(`accounts: ${JSON.stringify((input as { account?: unknown })?.account)}: ${added.reason}`)
    }
    // Account numbers are matched without regard to case, as the receiver does.
    const users = new Map(Object.entries(opts.users ?? {}).map(([account, list]) => [account.toUpperCase(), list]))
    const env: StageEnvironment = {
      accounts,
      isUser: (account, user) => users.get(account.toUpperCase())?.includes(user) === true,
      dataDir: dir,
      log: opts.log ?? silent(),
    }
    const stages: Stage[] = []
    try {
      await makeStages(opts.stages, env, opts.baseDir ?? process.cwd(), stages)
    } catch (err) {
      // Those made before the one that failed may hold files open.
      for (const s of stages) await s.close?.()
      throw err
    }
    const store = new PipelineStore(dir)
    const h = new StageHarness(accounts, store, stages, time, dir, opts)
    try {
      await h.#settle(h.#runner.start())
    } catch (err) {
      await h.close()
      throw err
    }
    return h
  }

  /** The fake clock (epoch ms): events fed are received at this time. */
  get now (): number {
    return this.#time.now
  }

  /** A frame from `account` with one Contact ID event, e.g. `contactId('1234', '1130 01 015')` (qualifier and code, group, zone or user). */
  async contactId (account: string, data: string): Promise<Fed> {
    const where = `contactId(${JSON.stringify(account)}, ${JSON.stringify(data)})`
    checkAccount(where, account)
    if (typeof data !== 'string') throw new HarnessError(`${where}: the event is text, such as '1130 01 015'`)
    const parsed = parseContactId(Buffer.from(`#${account}|${data}`, 'latin1'))
    if (!parsed.ok) throw new HarnessError(`${where}: ${parsed.code}: ${parsed.reason}`)
    return this.#frame(account, 'ADM-CID', [parsed.value], undefined)
  }

  /** A frame from `account` with a SIA-DCS block, e.g. `sia('1234', 'Nri1/BA015')` (one or more events). */
  async sia (account: string, data: string): Promise<Fed> {
    const where = `sia(${JSON.stringify(account)}, ${JSON.stringify(data)})`
    checkAccount(where, account)
    if (typeof data !== 'string') throw new HarnessError(`${where}: the block is text, such as 'Nri1/BA015'`)
    const parsed = parseSia(Buffer.from(`#${account}|${data}`, 'latin1'))
    if (!parsed.ok) throw new HarnessError(`${where}: ${parsed.code}: ${parsed.reason}`)
    return this.#frame(account, 'SIA-DCS', parsed.value.events, parsed.value.text)
  }

  /** A NULL link test from `account`: no event, only a sign of life. */
  async linkTest (account: string): Promise<Fed> {
    checkAccount(`linkTest(${JSON.stringify(account)})`, account)
    return this.#frame(account, 'NULL', [], undefined)
  }

  /** An event made outside the stages (by a command, the HTTP interface...). */
  async derived (input: DerivedInput): Promise<Fed> {
    const where = 'derived(...)'
    if (typeof input !== 'object' || input === null) throw new HarnessError(`${where}: expected { kind, account, stage?, data? }`)
    if (typeof input.kind !== 'string' || input.kind === '') throw new HarnessError(`${where}: kind must be a non-empty string`)
    if (typeof input.account !== 'string') throw new HarnessError(`${where}: account must be a string`)
    if (input.data !== undefined && (typeof input.data !== 'object' || input.data === null || Array.isArray(input.data))) throw new HarnessError(`${where}: data must be an object`)
    const record: DerivedRecord = {
      type: 'derived',
      receivedAt: this.#time.now,
      kind: input.kind,
      account: input.account,
      ...(input.holder === undefined ? {} : { holder: input.holder }),
      stage: input.stage ?? 'test',
      causedBy: input.causedBy ?? 0,
      n: 0,
      data: input.data ?? {},
    }
    return this.#feed(record)
  }

  /** Moves the clock on by `ms` and runs every timer due meanwhile (each with its due time as `ctx.now`); what the stages emitted. */
  async advance (ms: number): Promise<Array<Stored<DerivedRecord>>> {
    if (!Number.isFinite(ms) || ms < 0) throw new HarnessError(`advance(${String(ms)}): milliseconds, a finite number at least 0 (the clock never goes back)`)
    return this.advanceTo(this.#time.now + ms)
  }

  /** Moves the clock to `at` (epoch ms or an ISO date) and runs every timer due by then; what the stages emitted. */
  async advanceTo (at: number | string): Promise<Array<Stored<DerivedRecord>>> {
    const t = startTime(at)
    if (t < this.#time.now) throw new HarnessError(`advanceTo(${JSON.stringify(at)}): before the clock (${new Date(this.#time.now).toISOString()}); the clock never goes back`)
    this.#open()
    const from = this.#journal.lastId
    this.#time.now = t
    this.#runner.notify()
    await this.#settle()
    return this.#emittedAfter(from)
  }

  /** Every event the stages emitted so far, in journal order; only those of `kind` if given. */
  emitted (kind?: string): Array<Stored<DerivedRecord>> {
    return this.#emittedAfter(0).filter((r) => kind === undefined || r.kind === kind)
  }

  /** Everything in the journal: what was fed and what the stages emitted, in order. */
  journal (): Array<Stored<EventRecord>> {
    return this.#journal.records.map(expandRecord)
  }

  /** A stage's committed state: every key under `prefix` (default all) and its value. */
  state<T = unknown> (stage: string, prefix = ''): Record<string, T> {
    this.#known(stage)
    return Object.fromEntries(this.#store.read<T>(stage, prefix))
  }

  /** Events and timers a stage failed on after every attempt, with the error. */
  deadLetters (): DeadLetter[] {
    return this.#store.deadLetters()
  }

  /** Whether a stage has a timer set under `key`. */
  scheduled (stage: string, key: string): boolean {
    this.#known(stage)
    return this.#runner.scheduled(stage, key)
  }

  /** Timers set, all stages together. */
  get timers (): number {
    return this.#runner.timers
  }

  /** Stops the pipeline (each stage's `close` runs) and deletes its temporary directory. */
  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([this.#runner.stop(), new Promise((resolve) => { timer = setTimeout(resolve, this.#timeoutMs) })])
    } finally {
      clearTimeout(timer)
      this.#store.close()
      rmSync(this.#dir, { recursive: true, force: true })
    }
  }

  #open (): void {
    if (this.#closed) throw new HarnessError('the harness is closed')
  }

  #known (stage: string): void {
    if (!this.#names.has(stage)) throw new HarnessError(`no stage named ${JSON.stringify(stage)} (there are ${[...this.#names].join(', ')})`)
  }

  #frame (account: string, token: string, events: readonly DecodedEvent[], text: string | undefined): Promise<Fed> {
    const acct = account.toUpperCase()
    const holder = this.accounts.get(acct)?.createdAt
    const flags: { linkTest?: true, unknownCode?: true, quarantine?: true } = {}
    if (token === 'NULL') flags.linkTest = true
    if (events.some((e) => !e.known)) flags.unknownCode = true
    if (holder === undefined) flags.quarantine = true
    // As the receiver journals it: the events in compact form when they fit it.
    const ev = compactEvents(events)
    this.#seq = (this.#seq % 9999) + 1
    const record: JournalFrame = {
      type: 'frame',
      receivedAt: this.#time.now,
      transport: 'tcp',
      peer: '127.0.0.1:0',
      account: acct,
      holder,
      rcvr: undefined,
      lpref: '0',
      seq: String(this.#seq).padStart(4, '0'),
      token,
      encrypted: false,
      ev,
      events: ev === undefined && events.length > 0 ? events : undefined,
      xdata: [],
      text,
      panelTime: undefined,
      flags,
      quirks: [],
      dedupe: undefined,
      raw: '',
    }
    return this.#feed(record)
  }

  async #feed (record: JournalRecord): Promise<Fed> {
    this.#open()
    const id = await this.#journal.append(record)
    this.#runner.notify()
    await this.#settle()
    const stored = this.#journal.records.find((r) => r.id === id)!
    return {
      id,
      record: expandRecord(stored),
      annotations: this.#annotations.get(id) ?? {},
      emitted: this.#emittedAfter(id).filter((r) => r.causedBy === id),
    }
  }

  /** Waits until the runner has run every journaled event and no timer is due at the clock's time. */
  async #settle (started?: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new HarnessError(`the stages did not finish within ${this.#timeoutMs} ms (journal id ${this.#runner.cursor} of ${this.#journal.lastId} run): ` +
          'a stage may be waiting on a promise that never settles'))
      }, this.#timeoutMs)
    })
    try {
      if (started !== undefined) await Promise.race([started, timeout])
      for (;;) {
        const idleAt = await Promise.race([this.#runner.whenIdle(), timeout])
        if (idleAt === undefined) throw new HarnessError('the pipeline stopped')
        if (idleAt >= this.#time.now && this.#runner.cursor === this.#journal.lastId) return
      }
    } finally {
      clearTimeout(timer)
    }
  }

  #emittedAfter (id: number): Array<Stored<DerivedRecord>> {
    return this.#journal.records.filter((r): r is Stored<DerivedRecord> => r.id > id && r.type === 'derived' && this.#names.has(r.stage))
  }
}

/** A memory journal that also keeps what it committed at hand, for the harness to read without waiting. */
class RecordingJournal extends MemoryJournal<JournalRecord> {
  readonly records: Array<Stored<JournalRecord>> = []

  override async append (record: JournalRecord): Promise<number> {
    const id = await super.append(record)
    this.records.push(JSON.parse(JSON.stringify({ ...record, id })) as Stored<JournalRecord>)
    return id
  }
}

function silent (): Logger {
  return pino({ level: 'silent' })
}

function startTime (at: number | string | undefined): number {
  if (at === undefined) return DEFAULT_START
  const t = typeof at === 'string' ? Date.parse(at) : at
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new HarnessError(`not a time: ${JSON.stringify(at)} (epoch milliseconds or an ISO date)`)
  return t
}

function checkAccount (where: string, account: unknown): void {
  if (typeof account !== 'string' || !ACCOUNT_RE.test(account)) throw new HarnessError(`${where}: the account is 3 to 16 letters or digits, such as '1234'`)
}

function isStage (s: unknown): s is Stage {
  return typeof s === 'object' && s !== null && typeof (s as { run?: unknown }).run === 'function'
}

/** The stages, made in order: pipeline-file entries by the pipeline's own loader, the rest here with the same checks of name and shape. */
async function makeStages (entries: readonly HarnessStage[], env: StageEnvironment, baseDir: string, stages: Stage[]): Promise<void> {
  for (const [i, entry] of entries.entries()) {
    const where = `stage ${i + 1}`
    let stage: unknown
    if (isStage(entry)) stage = entry
    else if (typeof entry === 'object' && entry !== null && 'factory' in entry) {
      if (typeof entry.factory !== 'function') throw new HarnessError(`${where}: factory must be a function (options, env) => stage`)
      try {
        stage = await entry.factory(entry.options ?? {}, env)
      } catch (err) {
        throw new HarnessError(`${where}: ${(err as Error).message}`)
      }
    } else {
      try {
        stage = (await loadPipeline({ stages: [entry] }, env, baseDir))[0]
      } catch (err) {
        throw new HarnessError((err as Error).message.replace(/^stage 1/, where))
      }
    }
    if (!isStage(stage) || typeof stage.name !== 'string' || stage.name === '') throw new HarnessError(`${where}: a stage is { name, run(event, ctx) }`)
    for (const hook of ['start', 'due', 'flush', 'close'] as const) {
      if (stage[hook] !== undefined && typeof stage[hook] !== 'function') throw new HarnessError(`${where} (${stage.name}): ${hook} must be a function`)
    }
    if (RESERVED.includes(stage.name)) throw new HarnessError(`${where}: the stage name ${JSON.stringify(stage.name)} is reserved`)
    if (stages.some((s) => s.name === stage.name)) throw new HarnessError(`${where}: a second stage named ${JSON.stringify(stage.name)}`)
    stages.push(stage)
  }
}
