/**
 * A whole HTTP interface on a temporary data directory, for the API tests: real account store,
 * verifier (cheap scrypt), tokens, a memory journal tapped into the recent events, and a running
 * pipeline (classify, supervision, cases) so cases open and close as in the receiver. Requests go
 * through fastify's inject (no sockets), and every response body is kept so a test can search
 * the whole run's answers for secrets.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { SqliteAccountStore } from '../../src/accounts/sqlite-store.js'
import { AccessStore } from '../../src/api/access.js'
import { Metrics } from '../../src/api/metrics.js'
import { RecentEvents } from '../../src/api/recent.js'
import { buildApi, type ApiOptions } from '../../src/api/server.js'
import { tapJournal, type Journal } from '../../src/journal/journal.js'
import { MemoryJournal } from '../../src/journal/memory-journal.js'
import { PipelineRunner } from '../../src/pipeline/runner.js'
import { cases } from '../../src/pipeline/stages/cases.js'
import { classify } from '../../src/pipeline/stages/classify.js'
import { supervision, type SupervisionOptions } from '../../src/pipeline/stages/supervision.js'
import { PipelineStore } from '../../src/pipeline/store.js'
import { parseContactId } from '../../src/protocol/index.js'
import type { FrameRecord, JournalRecord } from '../../src/journal/record.js'
import { Verifier, type VerifierOptions } from '../../src/verification/verifier.js'

export interface Response {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  json<T = any> (): T
}

export interface HarnessOptions {
  readonly api?: Partial<ApiOptions>
  readonly verifier?: Partial<VerifierOptions>
  readonly clock?: () => number
  /** The pipeline's clock (when timers are due), apart from the interface's. */
  readonly runnerClock?: () => number
  readonly supervision?: SupervisionOptions
  /** Leave the pipeline stopped at start (the test starts `runner` itself): a pipeline lagging behind the journal. */
  readonly pipelineStopped?: boolean
}

export class Harness {
  readonly dir: string
  readonly pepper: Buffer
  readonly accounts: SqliteAccountStore
  readonly verifier: Verifier
  readonly access: AccessStore
  readonly memory = new MemoryJournal<JournalRecord>()
  readonly journal: Journal<JournalRecord>
  readonly recent = new RecentEvents({ perAccount: 50, total: 10_000 })
  readonly store: PipelineStore
  readonly runner: PipelineRunner
  readonly metrics = new Metrics()
  readonly app: FastifyInstance
  /** Every response body this harness gave, for the secret search. */
  readonly bodies: string[] = []
  readonly #pipelineStopped: boolean

  constructor (o: HarnessOptions = {}) {
    this.dir = mkdtempSync(join(tmpdir(), 'dc09-api-'))
    this.#pipelineStopped = o.pipelineStopped ?? false
    this.pepper = Buffer.alloc(32, 7)
    const log = pino({ level: 'silent' })
    this.accounts = new SqliteAccountStore(this.dir)
    this.verifier = new Verifier(this.dir, this.accounts, { pepper: this.pepper, scryptN: 16, ...o.verifier })
    this.access = new AccessStore(this.dir, { clock: o.clock })
    this.store = new PipelineStore(this.dir)
    this.journal = tapJournal(this.memory, (record, id) => {
      this.recent.add(record, id)
      runner.notify()
    }, (seconds) => this.metrics.commitSeconds.observe(seconds))
    const env = { accounts: this.accounts, isUser: (a: string, u: number) => this.verifier.isUser(a, u), dataDir: this.dir, log }
    // The journal's tap runs on appends, which start only after the runner exists.
    const runner = new PipelineRunner({ journal: this.journal, store: this.store, stages: [classify(), supervision(o.supervision ?? {}, env), cases({}, env)], log, clock: o.runnerClock, options: { pollMs: 10 } })
    this.runner = runner
    this.app = buildApi({
      accounts: this.accounts,
      verifier: this.verifier,
      access: this.access,
      journal: this.journal,
      recent: this.recent,
      pipeline: { store: this.store, cursor: () => runner.cursor },
      metrics: this.metrics,
      log,
      clock: o.clock,
    }, o.api)
  }

  async start (): Promise<this> {
    if (!this.#pipelineStopped) await this.runner.start()
    await this.app.ready()
    return this
  }

  /** A token of this role (and tenant), made as `dc09 tokens create` makes it. */
  token (role: 'admin' | 'operator' | 'installer', tenant?: string, expiresAt?: Date): string {
    const r = this.access.createToken({ role, tenant, name: `${role} ${tenant ?? ''}`.trim(), expiresAt })
    if (!r.ok) throw new Error(r.reason)
    return r.value.token
  }

  async request (method: string, url: string, token?: string, body?: unknown, headers: Record<string, string> = {}): Promise<Response> {
    const res = await this.app.inject({
      method: method as never,
      url,
      headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    this.bodies.push(res.body)
    return { status: res.statusCode, headers: res.headers as Response['headers'], body: res.body, json: () => JSON.parse(res.body) }
  }

  /** Journals a Contact ID frame from a panel, as the receiver would, and waits for the pipeline to run it. */
  async frame (account: string, data: string): Promise<number> {
    const id = await this.journalFrame(account, data)
    await this.settled(id)
    return id
  }

  /** Journals a Contact ID frame from a panel as the receiver would (named for the account's holder now), without waiting for the pipeline. */
  async journalFrame (account: string, data: string): Promise<number> {
    const parsed = parseContactId(Buffer.from(`#${account}|${data}`))
    if (!parsed.ok) throw new Error(parsed.reason)
    const r: FrameRecord = {
      type: 'frame', receivedAt: Date.now(), transport: 'tcp', peer: '127.0.0.1:5000', account, holder: this.accounts.get(account)?.createdAt, rcvr: undefined, lpref: '0', seq: '0001', token: 'ADM-CID',
      encrypted: false, events: [parsed.event], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
    }
    return this.journal.append(r)
  }

  /** Waits until the pipeline has run the journal up to `id`. */
  async settled (id = this.memory.lastId): Promise<void> {
    for (let i = 0; i < 500 && this.runner.cursor < id; i++) await new Promise((resolve) => setTimeout(resolve, 10))
    if (this.runner.cursor < id) throw new Error(`the pipeline did not reach ${id}`)
  }

  async close (): Promise<void> {
    await this.app.close()
    await this.runner.stop()
    this.store.close()
    this.verifier.close()
    this.access.close()
    this.accounts.close()
    rmSync(this.dir, { recursive: true, force: true })
  }
}
