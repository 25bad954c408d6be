/**
 * The HTTP interface (fastify): JSON over HTTP on its own port, for operators, installers and
 * admins. Every request passes, in this order: the route is known; the bearer token is checked
 * (401; a public route or a bad token is limited by address); the token's rate (429); its role may
 * use the route (403); fastify validates the request against the schema (400); the handler runs;
 * the answer gets its security headers; an audit row and a metric are written. Errors never carry
 * a secret or a piece of the request back.
 */
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import type { AccountStore } from '../accounts/account-store.js'
import type { Journal } from '../journal/journal.js'
import type { PipelineStore } from '../pipeline/store.js'
import type { Logger } from '../receiver/log.js'
import type { DerivedRecord, JournalRecord } from '../receiver/record.js'
import type { Verifier } from '../verification/verifier.js'
import type { AccessStore, TokenInfo } from './access.js'
import type { Metrics } from './metrics.js'
import { DEFAULT_RECENT_BYTES, type RecentEvents } from './recent.js'
import { NOT_FOUND_BODY, openapi, ROUTES, type RouteDef } from './routes.js'

export interface ApiDeps {
  readonly accounts: AccountStore
  readonly verifier: Verifier
  readonly access: AccessStore
  /** Where verifications, duress and case resolutions are journaled (the receiver's journal). */
  readonly journal: Pick<Journal<JournalRecord>, 'append' | 'healthy'>
  readonly recent: RecentEvents
  /** The pipeline's committed state (cases, supervision) and how far it has run. */
  readonly pipeline: { readonly store: PipelineStore, readonly cursor: () => number }
  readonly metrics: Metrics
  readonly log: Logger
  readonly clock?: (() => number) | undefined
}

export interface ApiOptions {
  /** The largest request body, in bytes. */
  readonly bodyLimit: number
  /** Requests a token may make at once, and how fast that allowance refills (per second). */
  readonly rateBurst: number
  readonly ratePerSecond: number
  /** The most items a list returns (and its default). */
  readonly pageSize: number
  /** Accounts an installer token may read in a minute before a security event is journaled. */
  readonly bulkReadPerMinute: number
  /** How long resolving a case waits for the pipeline to close it before answering 202. */
  readonly resolveWaitMs: number
  /** Codes a token may have refused as already in use on an account, per hour (each tells that a code is in use). */
  readonly codeConflictsPerHour: number
  /** Codes a token may set on one account, per hour. */
  readonly codeSetsPerAccountPerHour: number
  /** Accounts an installer's tenant may have (an installer adds them at its token's rate otherwise). */
  readonly maxAccountsPerTenant: number
  /** Recent events kept in memory for GET .../events: per account, and in all. */
  readonly recentPerAccount: number
  readonly recentTotal: number
  /** Estimated bytes of memory the recent events may take in all: the oldest go first beyond it, whatever their count. */
  readonly recentMaxBytes: number
}

export const defaultApiOptions: ApiOptions = Object.freeze({
  bodyLimit: 64 * 1024,
  rateBurst: 60,
  ratePerSecond: 10,
  pageSize: 100,
  bulkReadPerMinute: 100,
  resolveWaitMs: 3000,
  codeConflictsPerHour: 5,
  codeSetsPerAccountPerHour: 20,
  maxAccountsPerTenant: 100_000,
  recentPerAccount: 50,
  recentTotal: 50_000,
  recentMaxBytes: DEFAULT_RECENT_BYTES,
})

const API_BOUNDS: Readonly<Record<keyof ApiOptions, readonly [number, number]>> = {
  bodyLimit: [1024, 16 << 20],
  rateBurst: [1, 100_000],
  ratePerSecond: [1, 100_000],
  pageSize: [1, 999],
  bulkReadPerMinute: [1, 1_000_000],
  // Below the 30 s after which an idle connection is closed (which would read as the client hanging up).
  resolveWaitMs: [0, 20_000],
  codeConflictsPerHour: [1, 1000],
  codeSetsPerAccountPerHour: [1, 10_000],
  maxAccountsPerTenant: [1, 10_000_000],
  recentPerAccount: [1, 1000],
  recentTotal: [1, 10_000_000],
  recentMaxBytes: [1 << 20, 64 * 2 ** 30],
}

/** Checks the `api` object of a limits file: known names, whole numbers within bounds. */
export function validateApiOptions (raw: unknown): { ok: true, value: Partial<ApiOptions> } | { ok: false, reason: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'must be a JSON object' }
  for (const [k, v] of Object.entries(raw)) {
    const b = Object.hasOwn(API_BOUNDS, k) ? API_BOUNDS[k as keyof ApiOptions] : undefined
    if (b === undefined) return { ok: false, reason: `no setting ${k} (known: ${Object.keys(API_BOUNDS).join(', ')})` }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < b[0] || v > b[1]) return { ok: false, reason: `${k} is a whole number from ${b[0]} to ${b[1]}` }
  }
  return { ok: true, value: raw as Partial<ApiOptions> }
}

/** What a handler answers: a status, a body (JSON unless `type` says otherwise), nothing else. */
export interface Answer {
  readonly status: number
  readonly body?: unknown
  readonly type?: string
}

/** What a handler gets: the request's parts, who is asking, and the services. */
export interface ApiContext {
  readonly deps: ApiDeps
  readonly opts: ApiOptions
  /** The token (public routes: a placeholder, an installer of no tenant, that reaches nothing). */
  readonly who: TokenInfo
  /** Who, for the audit trail: `role:token-id`. */
  readonly actor: string
  /** Where from: the peer address. */
  readonly source: string
  readonly params: Readonly<Record<string, string | undefined>>
  readonly query: Readonly<Record<string, string | undefined>>
  readonly body: unknown
  /** What the audit row says beyond who, what, when, where and the status. */
  readonly audit: { account?: string | null, user?: number | null, detail?: string | null, outcome?: string }
  /** Counts accounts an installer read (found or not) toward the bulk-read alarm. */
  countReads (accounts: readonly string[]): void
  /** Whether this token may try a code on this account now (counts the attempt). */
  mayTryCode (account: string): boolean
  /** Counts a code refused because another user of the account has it. */
  codeConflict (): void
  now (): number
  openapi (): Record<string, unknown>
  /** Cases being resolved right now (one resolution of a case at a time). */
  readonly resolving: Set<number>
  /** Resolves true once the pipeline has run the journal up to this id (false after resolveWaitMs). */
  waitForPipeline (id: number): Promise<boolean>
}

const UNAUTHENTICATED = { error: 'unauthenticated', message: 'a valid bearer token is needed' }
const FORBIDDEN = { error: 'forbidden', message: 'this token\'s role may not do this' }
const TOO_MANY = { error: 'rate-limited', message: 'too many requests from this token; slow down' }

/** Per-token (and, for public routes and bad tokens, per-address) allowance: a bucket of `burst` requests refilled at `perSecond`. */
class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number, at: number }>()
  constructor (readonly burst: number, readonly perSecond: number) {}

  /** 0 when the request may go, else the seconds until it may. */
  take (key: string, now: number): number {
    // Bounded: a full bucket is the same as none, so full ones go when there are many.
    if (this.#buckets.size >= 100_000 && !this.#buckets.has(key)) {
      for (const [k, v] of this.#buckets) if (v.tokens + ((now - v.at) / 1000) * this.perSecond >= this.burst) this.#buckets.delete(k)
    }
    const b = this.#buckets.get(key) ?? { tokens: this.burst, at: now }
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond)
    b.at = now
    this.#buckets.set(key, b)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / this.perSecond))
  }
}

/**
 * Distinct accounts each installer token read in the current minute (found or not): crossing the
 * limit raises one event per minute. Polling one account again and again is not a bulk read.
 * Bounded: a window stops collecting once it has raised.
 */
class BulkReads {
  readonly #windows = new Map<string, { start: number, accounts: Set<string>, raised: boolean }>()
  constructor (readonly perMinute: number) {}

  add (key: string, accounts: readonly string[], now: number): number | undefined {
    let w = this.#windows.get(key)
    if (w === undefined || now - w.start >= 60_000) {
      w = { start: now, accounts: new Set(), raised: false }
      this.#windows.set(key, w)
    }
    if (w.raised) return undefined
    for (const a of accounts) w.accounts.add(a)
    if (w.accounts.size <= this.perMinute) return undefined
    w.raised = true
    const n = w.accounts.size
    w.accounts.clear()
    return n
  }
}

/**
 * Setting codes, per token per hour. A code refused because another user of the account has it
 * says "this code is in use here": the first such refusal raises a security event, and past a few
 * the token may set no more codes for the hour. Attempts on one account are limited too, so
 * guessing by trying codes that are accepted is slow as well. Bounded: expired windows are swept
 * when the map grows.
 */
class CodeAttempts {
  readonly #windows = new Map<string, { start: number, n: number }>()
  constructor (readonly conflictsPerHour: number, readonly perAccountPerHour: number) {}

  #window (key: string, now: number): { start: number, n: number } {
    let w = this.#windows.get(key)
    if (w === undefined || now - w.start >= 3_600_000) {
      if (this.#windows.size >= 100_000) for (const [k, v] of this.#windows) if (now - v.start >= 3_600_000) this.#windows.delete(k)
      w = { start: now, n: 0 }
      this.#windows.set(key, w)
    }
    return w
  }

  /** Whether this token may try a code on this account now; counts the attempt if so. */
  attempt (token: string, account: string, now: number): boolean {
    if (this.#window(`c:${token}`, now).n >= this.conflictsPerHour) return false
    const a = this.#window(`a:${token}:${account}`, now)
    if (a.n >= this.perAccountPerHour) return false
    a.n++
    return true
  }

  /** Counts a refusal as in use; the number of refusals this hour. */
  conflict (token: string, now: number): number {
    const w = this.#window(`c:${token}`, now)
    return ++w.n
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    def?: RouteDef
  }
  interface FastifyRequest {
    who: TokenInfo | null
    audit: ApiContext['audit'] | null
    audited: boolean
    limited: boolean
  }
}

/** Who a public route's handler runs as: an installer of no tenant, which can reach nothing. */
const PUBLIC: TokenInfo = Object.freeze({ id: '-', role: 'installer', tenant: '\u0000', name: 'public', createdAt: '', expiresAt: null, revokedAt: null, lastUsedAt: null })

function outcomeOf (status: number): string {
  if (status < 300) return 'ok'
  return ({ 400: 'invalid', 401: 'unauthenticated', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 413: 'too-large', 429: 'rate-limited', 503: 'unavailable' } as Record<number, string>)[status] ?? `error ${status}`
}

/** Builds the interface (not listening: `listen`, or `inject` in tests). */
export function buildApi (deps: ApiDeps, options: Partial<ApiOptions> = {}, routes: readonly RouteDef[] = ROUTES): FastifyInstance {
  const opts: ApiOptions = { ...defaultApiOptions, ...options }
  const clock = deps.clock ?? Date.now
  const rate = new RateLimiter(opts.rateBurst, opts.ratePerSecond)
  const bulk = new BulkReads(opts.bulkReadPerMinute)
  const codes = new CodeAttempts(opts.codeConflictsPerHour, opts.codeSetsPerAccountPerHour)
  const resolving = new Set<number>()
  let description: Record<string, unknown> | undefined
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimit,
    routerOptions: { maxParamLength: 64 },
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 5_000,
    return503OnClosing: true,
    // Exactly the routes of the table: no HEAD twins that the table (and its tests) would not know of.
    exposeHeadRoutes: false,
    // Unknown fields are refused (not silently dropped) and types are not coerced: "5" is not 5.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  })
  // JSON only: fastify would otherwise take text/plain bodies as strings.
  app.removeContentTypeParser('text/plain')
  app.decorateRequest('who', null)
  app.decorateRequest('audit', null)
  app.decorateRequest('audited', false)
  app.decorateRequest('limited', false)
  // Requests without a valid token: one audit row per address per minute, with how many came since the last.
  const failures = new Map<string, { start: number, n: number }>()
  const failedAuth = (source: string): void => {
    const now = clock()
    const w = failures.get(source)
    if (w !== undefined && now - w.start < 60_000) {
      w.n++
      return
    }
    if (failures.size >= 10_000) failures.clear()
    failures.set(source, { start: now, n: 1 })
    deps.verifier.audit('-', 'api:unauthenticated', null, 'unauthenticated', null, w === undefined ? null : `${w.n} request(s) in the minute before`, source)
  }

  app.addHook('onRequest', async (req, reply) => {
    const def = req.routeOptions.config.def
    if (def === undefined) return
    const tooMany = async (key: string): Promise<boolean> => {
      const wait = rate.take(key, clock())
      if (wait === 0) return false
      req.limited = true
      await reply.code(429).header('retry-after', String(wait)).send(TOO_MANY)
      return true
    }
    // Public routes have no token to limit by: their callers are limited by address.
    if (def.roles.length === 0) {
      if (await tooMany(`public:${req.ip}`)) return reply
      return
    }
    const header = req.headers.authorization
    const who = typeof header === 'string' && header.startsWith('Bearer ') ? deps.access.authenticate(header.slice(7).trim()) : undefined
    if (who === undefined) {
      // Guessing tokens from one address is limited, and audited once a minute (apart from the
      // public routes' allowance: a health probe from behind the same address still answers).
      if (await tooMany(`badtoken:${req.ip}`)) return reply
      failedAuth(req.ip)
      await reply.code(401).header('www-authenticate', 'Bearer').send(UNAUTHENTICATED)
      return reply
    }
    req.who = who
    req.audit = {}
    // The rate first: a token's refused requests are limited (and so are their audit rows) too.
    if (await tooMany(who.id)) return reply
    if (!def.roles.includes(who.role)) {
      await reply.code(403).send(FORBIDDEN)
      return reply
    }
  })

  app.addHook('onSend', async (_req, reply, payload) => {
    // Personal data: no cache keeps it, no browser guesses at it.
    void reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff')
    return payload
  })

  /** The audit row of a request (once): who, what, which account and user, the outcome, from where. */
  const writeAudit = (req: FastifyRequest, outcome: string): void => {
    const def = req.routeOptions.config.def
    // Requests refused for their rate read and changed nothing, and would let a token fill the trail.
    if (def?.audit === undefined || req.who === null || req.audited || req.limited) return
    req.audited = true
    const a = req.audit ?? {}
    // A request refused before its handler ran still names the account it asked for.
    const asked = (req.params as { account?: unknown } | undefined)?.account
    const account = a.account ?? (typeof asked === 'string' ? asked.toUpperCase().slice(0, 16) : null)
    try {
      deps.verifier.audit(`${req.who.role}:${req.who.id}`, `api:${def.audit}`, account, a.outcome ?? outcome, a.user ?? null, a.detail ?? null, req.ip)
    } catch (err) {
      deps.log.error({ err: (err as Error).message, route: def.path }, 'api: could not write the audit row')
    }
  }

  app.addHook('onResponse', async (req, reply) => {
    const def = req.routeOptions.config.def
    deps.metrics.requests.inc({ method: req.method, route: def?.path ?? 'unmatched', status: String(reply.statusCode) })
    writeAudit(req, outcomeOf(reply.statusCode))
  })

  app.setNotFoundHandler(async (_req, reply) => reply.code(404).send(NOT_FOUND_BODY))

  app.setErrorHandler(async (err: Error & { code?: string, statusCode?: number, validation?: unknown }, req, reply) => {
    if (err.validation !== undefined) return reply.code(400).send({ error: 'invalid', message: err.message })
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: 'too-large', message: `a request body is at most ${opts.bodyLimit} bytes` })
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: 'unsupported-media-type', message: 'send application/json' })
    if (err.statusCode === 400) {
      // The parser's message may quote the body (a code, a key): never sent back, never logged.
      return reply.code(400).send({ error: 'invalid', message: 'the body is not valid JSON' })
    }
    deps.log.error({ err: err.message, code: err.code, route: req.routeOptions.config.def?.path }, 'api: request failed')
    return reply.code(500).send({ error: 'internal', message: 'internal error' })
  })

  const waitForPipeline = async (id: number): Promise<boolean> => {
    const until = clock() + opts.resolveWaitMs
    while (deps.pipeline.cursor() < id) {
      if (clock() >= until) return false
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
    return true
  }

  for (const def of routes) {
    app.route({
      method: def.method,
      url: def.path,
      config: { def },
      ...(def.schema === undefined ? {} : { schema: def.schema }),
      handler: async (req: FastifyRequest, reply) => {
        // A client that hangs up before its answer does not escape the trail: what it started
        // (a code set, a case resolution) may still happen.
        reply.raw.once('close', () => { if (!reply.raw.writableFinished) writeAudit(req, 'aborted') })
        const who = req.who ?? PUBLIC
        const audit = req.audit ?? {}
        // Security events this request raised: journaled before it is answered.
        const raised: Array<Promise<boolean>> = []
        const c: ApiContext = {
          deps,
          opts,
          who,
          actor: `${who.role}:${who.id}`,
          source: req.ip,
          params: (req.params ?? {}) as Record<string, string>,
          query: (req.query ?? {}) as Record<string, string>,
          body: req.body,
          audit,
          countReads: (accounts) => {
            if (who.role !== 'installer' || accounts.length === 0) return
            const total = bulk.add(who.id, accounts, clock())
            if (total !== undefined) raised.push(raise(deps, who, req.ip, clock(), 'bulk-read', { accountsInMinute: total }, `${total} account(s) in a minute`))
          },
          mayTryCode: (account) => codes.attempt(who.id, account, clock()),
          codeConflict: () => {
            const n = codes.conflict(who.id, clock())
            if (n === 1 || n === opts.codeConflictsPerHour) {
              raised.push(raise(deps, who, req.ip, clock(), 'code-probe', { conflictsInHour: n, blocked: n >= opts.codeConflictsPerHour },
                n === 1 ? 'a code was refused as already in use on the account' : `${n} codes refused as in use within an hour; code setting stopped for the hour`))
            }
          },
          now: clock,
          openapi: () => (description ??= openapi(routes)),
          waitForPipeline,
          resolving,
        }
        let answer = await def.handler(c)
        // What tripped an alarm is answered only once the alarm is in the journal.
        if (!(await Promise.all(raised)).every(Boolean)) answer = { status: 503, body: { error: 'unavailable', message: 'the journal cannot commit; try again' } }
        reply.code(answer.status)
        if (answer.body === undefined) return reply.send()
        if (answer.type !== undefined) return reply.type(answer.type).send(answer.body)
        return reply.send(answer.body)
      },
    })
  }
  return app
}

/** A security event (bulk reads, code probing): journaled, logged, counted and audited. */
/** Resolves true once the event is journaled, false if it could not be. */
function raise (deps: ApiDeps, who: TokenInfo, source: string, now: number, reason: string, data: Record<string, unknown>, detail: string): Promise<boolean> {
  const record: DerivedRecord = {
    type: 'derived', receivedAt: now, kind: 'security', account: '', stage: 'api', causedBy: 0, n: 0,
    data: { reason, token: who.id, role: who.role, tenant: who.tenant, ...data, source },
  }
  deps.metrics.securityEvents.inc({ reason })
  deps.log.warn({ security: true, reason, token: who.id, tenant: who.tenant, ...data, source }, 'api: security event')
  deps.verifier.audit(`${who.role}:${who.id}`, `api:${reason}`, null, 'alarm', null, detail, source)
  return deps.journal.append(record).then(() => true, (err: unknown) => {
    deps.log.error({ err: (err as Error).message }, 'api: could not journal a security event')
    return false
  })
}

export interface RunningApi {
  readonly port: number
  close (): Promise<void>
}

/** Builds the interface and listens on host:port (port 0: any free port). */
export async function startApi (deps: ApiDeps, options: Partial<ApiOptions>, listen: { host: string, port: number }): Promise<RunningApi> {
  const app = buildApi(deps, options)
  await app.listen({ host: listen.host, port: listen.port })
  const addr = app.server.address()
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : listen.port,
    close: () => app.close(),
  }
}
