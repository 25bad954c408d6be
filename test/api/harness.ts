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
import { expect } from 'vitest'
import { SqliteAccountStore } from '../../src/accounts/sqlite-store.js'
import type { AccountStore } from '../../src/accounts/account-store.js'
import { SharedState } from '../../src/cluster/shared-state.js'
import { openAccounts, openAudit, openPipelineStore } from '../../src/cluster/parts.js'
import type { PipelineStore as Store } from '../../src/pipeline/pipeline-store.js'
import { AccessStore } from '../../src/api/access.js'
import { Metrics } from '../../src/api/metrics.js'
import { RecentEvents } from '../../src/api/recent.js'
import { buildApi, type ApiOptions } from '../../src/api/server.js'
import { tapJournal, type Journal, type Stored } from '../../src/journal/journal.js'
import { MemoryJournal } from '../../src/journal/memory-journal.js'
import { PipelineRunner } from '../../src/pipeline/runner.js'
import { cases } from '../../src/pipeline/stages/cases.js'
import { classify } from '../../src/pipeline/stages/classify.js'
import { supervision, type SupervisionOptions } from '../../src/pipeline/stages/supervision.js'
import { PipelineStore } from '../../src/pipeline/store.js'
import { parseContactId } from '../../src/protocol/index.js'
import type { DerivedRecord, FrameRecord, JournalRecord } from '../../src/journal/record.js'
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
  /**
   * The stores of a cluster node instead of the data directory's: replicas of the shared state on
   * these NATS servers (each harness in a scope of its own). Default: what `useCluster` set.
   */
  readonly cluster?: { readonly servers: readonly string[] } | undefined
}

let clusterDefault: { readonly servers: readonly string[] } | undefined
let scopes = 0

/** Every harness made from now on in this process uses the cluster's stores (the cluster variant of a suite). */
export function useCluster (servers: readonly string[]): void {
  clusterDefault = { servers }
}

export class Harness {
  readonly dir: string
  readonly pepper: Buffer
  readonly accounts: AccountStore
  /** The SQLite file that holds the accounts, users and codes (in a cluster, this node's replica of them). */
  readonly accountsDb: string
  readonly state: SharedState | undefined
  readonly verifier: Verifier
  readonly access: AccessStore
  readonly memory = new MemoryJournal<JournalRecord>()
  readonly journal: Journal<JournalRecord>
  readonly recent = new RecentEvents({ perAccount: 50, total: 10_000 })
  readonly store: Store
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
    const cluster = o.cluster ?? clusterDefault
    if (cluster === undefined) {
      this.state = undefined
      this.accountsDb = join(this.dir, 'accounts.db')
      this.accounts = new SqliteAccountStore(this.dir)
      this.verifier = new Verifier(this.dir, this.accounts, { pepper: this.pepper, scryptN: 16, ...o.verifier })
      this.access = new AccessStore(this.dir, { clock: o.clock })
      this.store = new PipelineStore(this.dir)
    } else {
      const state = this.state = new SharedState({ servers: cluster.servers, name: 'api harness', dir: join(this.dir, 'replica'), scope: `h${process.pid}x${++scopes}` })
      this.accountsDb = join(this.dir, 'replica', 'accounts', 'accounts.db')
      const { accounts, verification, tokens } = openAccounts(state)
      this.accounts = accounts
      this.verifier = new Verifier({ store: verification, audit: openAudit(state) }, accounts, { pepper: this.pepper, scryptN: 16, ...o.verifier })
      this.access = new AccessStore(tokens, { clock: o.clock })
      this.store = openPipelineStore(state)
    }
    this.journal = tapJournal(this.memory, (record, id) => {
      this.recent.add(record, id)
      this.runner.notify()
    }, (seconds) => this.metrics.commitSeconds.observe(seconds))
    const env = { accounts: this.accounts, isUser: (a: string, u: number) => this.verifier.isUser(a, u), dataDir: this.dir, log }
    this.runner = new PipelineRunner({ journal: this.journal, store: this.store, stages: [classify(), supervision(o.supervision ?? {}, env), cases({}, env)], log, clock: o.runnerClock, options: { pollMs: 10 } })
    this.app = buildApi({
      accounts: this.accounts,
      verifier: this.verifier,
      access: this.access,
      journal: this.journal,
      recent: this.recent,
      pipeline: { store: this.store, waitFor: (id, ms) => this.runner.waitFor(id, ms) },
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
      encrypted: false, events: [parsed.value], xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
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
    this.state?.close()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

// ------------------------------------------------------------ shared by the test files

export const KEY = '00112233445566778899aabbccddeeff'
export const CODE = '739154'
export const DURESS = '482916'
export const WRONG = '105938'

/** The token's id: `dc09_<id>_<secret>`. */
export const idOf = (token: string): string => token.split('_')[1]!

/** Lets commits queued with setImmediate (the memory journal's) and their callbacks run. */
export const tick = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
}

/** Everything in the journal, in order. */
export async function records (h: Harness): Promise<Array<Stored<JournalRecord>>> {
  const out: Array<Stored<JournalRecord>> = []
  for await (const r of h.memory.read()) out.push(r)
  return out
}

/** The events the pipeline and the interface made (of one kind). */
export async function derived (h: Harness, kind?: string): Promise<Array<Stored<DerivedRecord>>> {
  return (await records(h)).filter((r): r is Stored<DerivedRecord> => r.type === 'derived' && (kind === undefined || r.kind === kind))
}

/** The status is this one; else the body is shown. */
export function expectOk (r: Response, status = 200): void {
  expect(r.status, r.body).toBe(status)
}

/** Waits (a little) until `fn` holds. */
export async function until (fn: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await fn()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('timed out')
}
