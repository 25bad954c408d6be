/**
 * The HTTP interface (fastify): JSON over HTTP on its own port, for operators, installers and
 * admins. Every request passes, in this order: the route is known; the bearer token is checked
 * (401; a public route or a bad token is limited by address); the token's rate (429); its role may
 * use the route (403); a body in an encoding it does not decode is refused (415); fastify
 * validates the request against the schema (400); the handler runs;
 * the answer gets its security headers; an audit row and a metric are written. Errors never carry
 * a secret or a piece of the request back.
 */
import { isIP } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { AccountStore } from '../accounts/account-store.js'
import type { Journal } from '../journal/journal.js'
import type { PipelineStore } from '../pipeline/store.js'
import type { Logger } from '../log.js'
import type { DerivedRecord, JournalRecord } from '../journal/record.js'
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
  /** Accounts an installer's tenant (all its tokens) may read in a minute before a security event is journaled. */
  readonly bulkReadPerMinute: number
  /** How long resolving a case waits for the pipeline to close it before answering 202. */
  readonly resolveWaitMs: number
  /**
   * Codes an installer's tenant (all its tokens; an admin: its token) may have refused as already
   * in use on an account, per hour (each tells that a code is in use). Also how many code sets it
   * may have in flight at once (more are answered busy): each could end as such a refusal.
   */
  readonly codeConflictsPerHour: number
  /** Codes a tenant (an admin: its token) may set on one account, per hour. */
  readonly codeSetsPerAccountPerHour: number
  /** Numbers an installer's tenant may have refused as taken by another tenant, per hour (each tells that the number exists). */
  readonly takenNumbersPerHour: number
  /** Accounts an installer's tenant may have (an installer adds them at its token's rate otherwise). */
  readonly maxAccountsPerTenant: number
  /** Recent events kept in memory for GET .../events: per account, and in all. */
  readonly recentPerAccount: number
  readonly recentTotal: number
  /**
   * Addresses or networks (CIDR) of the reverse proxies in front of the interface: requests from
   * them are taken as from the client their X-Forwarded-For names (limits by address, the audit
   * trail). Empty: the header is ignored, the peer is the client.
   */
  readonly trustProxy: readonly string[]
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
  takenNumbersPerHour: 20,
  maxAccountsPerTenant: 100_000,
  recentPerAccount: 50,
  recentTotal: 50_000,
  trustProxy: Object.freeze([]) as readonly string[],
  recentMaxBytes: DEFAULT_RECENT_BYTES,
})

type NumericOption = Exclude<keyof ApiOptions, 'trustProxy'>

const API_BOUNDS: Readonly<Record<NumericOption, readonly [number, number]>> = {
  bodyLimit: [1024, 16 << 20],
  rateBurst: [1, 100_000],
  ratePerSecond: [1, 100_000],
  pageSize: [1, 999],
  bulkReadPerMinute: [1, 1_000_000],
  // Below the 30 s after which an idle connection is closed (which would read as the client hanging up).
  resolveWaitMs: [0, 20_000],
  codeConflictsPerHour: [1, 1000],
  codeSetsPerAccountPerHour: [1, 10_000],
  takenNumbersPerHour: [1, 100_000],
  maxAccountsPerTenant: [1, 10_000_000],
  recentPerAccount: [1, 1000],
  recentTotal: [1, 10_000_000],
  recentMaxBytes: [1 << 20, 64 * 2 ** 30],
}

/** The most trusted proxies: a list, not a way to trust the world address by address. */
const MAX_PROXIES = 64

/** Why a trustProxy value is not a list of addresses and CIDR networks, if it is not. */
function proxiesProblem (v: unknown): string | undefined {
  const problem = `trustProxy is a list of at most ${MAX_PROXIES} addresses or CIDR networks of reverse proxies (e.g. ["10.0.0.5", "192.168.0.0/16"])`
  if (!Array.isArray(v) || v.length > MAX_PROXIES) return problem
  for (const p of v) {
    if (typeof p !== 'string') return problem
    const [addr, bits, ...more] = p.split('/')
    const family = isIP(addr ?? '')
    if (family === 0 || more.length > 0) return problem
    if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128))) return problem
  }
  return undefined
}

/** Checks the `api` object of a limits file: known names, whole numbers within bounds, trusted proxies. */
export function validateApiOptions (raw: unknown): { ok: true, value: Partial<ApiOptions> } | { ok: false, reason: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'must be a JSON object' }
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'trustProxy') {
      const problem = proxiesProblem(v)
      if (problem !== undefined) return { ok: false, reason: problem }
      continue
    }
    const b = Object.hasOwn(API_BOUNDS, k) ? API_BOUNDS[k as NumericOption] : undefined
    if (b === undefined) return { ok: false, reason: `no setting ${k} (known: ${[...Object.keys(API_BOUNDS), 'trustProxy'].join(', ')})` }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < b[0] || v > b[1]) return { ok: false, reason: `${k} is a whole number from ${b[0]} to ${b[1]}` }
  }
  return { ok: true, value: raw as Partial<ApiOptions> }
}

/** What a handler answers: a status, a body (JSON unless `type` says otherwise), a retry-after, nothing else. */
export interface Answer {
  readonly status: number
  readonly body?: unknown
  readonly type?: string
  /** Seconds, for a 429 or a 503. */
  readonly retryAfter?: number
}

/**
 * How a code set with a place ended: refused as in use on the account, refused as busy (nothing
 * was hashed), or anything else.
 */
export type CodeSetEnd = 'in-use' | 'busy' | 'other'

/** A place to set a code, taken before the code is hashed; `done` says how the set ended. */
export interface CodePlace {
  done (end: CodeSetEnd): void
}

/** What a handler gets: the request's parts, who is asking, and the services. */
export interface ApiContext {
  readonly deps: ApiDeps
  readonly opts: ApiOptions
  /** The token (public routes: a placeholder, an installer of no tenant, that reaches nothing). */
  readonly who: TokenInfo
  /** Who, for the audit trail: `role:token-id`. */
  readonly actor: string
  /** Where from: the client's address (the peer's, unless it is a trusted proxy). */
  readonly source: string
  readonly params: Readonly<Record<string, string | undefined>>
  readonly query: Readonly<Record<string, string | undefined>>
  readonly body: unknown
  /** What the audit row says beyond who, what, when, where and the status. */
  readonly audit: { account?: string | null, user?: number | null, detail?: string | null, outcome?: string }
  /** Counts accounts an installer read (found or not) toward its tenant's bulk-read alarm. */
  countReads (accounts: readonly string[]): void
  /**
   * A place to try a code on this account now (counts the attempt), the seconds until there is
   * one, or `busy` when only sets still in flight hold the places (one is free again shortly).
   */
  codePlace (account: string): CodePlace | number | 'busy'
  /** Seconds until an installer's tenant may add accounts again after probing taken numbers; 0: now. */
  takenNumbersWait (): number
  /** Counts a number an installer was refused as taken by another tenant. */
  numberTaken (): void
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
const ENCODED = { error: 'unsupported-media-type', message: 'send the body uncompressed (no content-encoding)' }

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
 * Distinct accounts each tenant's installers read in the current minute (found or not), all its
 * tokens together: crossing the limit raises one event per minute. Polling one account again and
 * again is not a bulk read. Bounded: a window stops collecting once it has raised.
 */
class BulkReads {
  readonly #windows = new Map<string, { start: number, accounts: Set<string>, raised: boolean }>()
  constructor (readonly perMinute: number) {}

  add (key: string, accounts: readonly string[], now: number): number | undefined {
    let w = this.#windows.get(key)
    if (w === undefined || now - w.start >= 60_000) {
      if (this.#windows.size >= 100_000) for (const [k, v] of this.#windows) if (now - v.start >= 60_000) this.#windows.delete(k)
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

interface HourWindow { start: number, n: number, pending: number }

/** Counts per key in hour-long windows. Bounded: expired windows are swept when the map grows. */
class Hourly {
  readonly #windows = new Map<string, HourWindow>()

  get (key: string, now: number): HourWindow {
    let w = this.#windows.get(key)
    if (w === undefined || now - w.start >= 3_600_000) {
      if (this.#windows.size >= 100_000) for (const [k, v] of this.#windows) if (now - v.start >= 3_600_000) this.#windows.delete(k)
      w = { start: now, n: 0, pending: 0 }
      this.#windows.set(key, w)
    }
    return w
  }

  /** Seconds until this window is over. */
  static wait (w: HourWindow, now: number): number {
    return Math.max(1, Math.ceil((w.start + 3_600_000 - now) / 1000))
  }
}

/**
 * Setting codes, per tenant (an admin: per token) per hour. A code refused because another user of
 * the account has it says "this code is in use here": the first such refusal raises a security
 * event, and past a few the tenant may set no more codes for the hour. A place is taken before the
 * code is hashed and held until the answer, so a burst of concurrent requests cannot all pass
 * the limit while the first are still hashing; when only such places fill the limit, the answer
 * is busy (a place is free again when a set ends), not the rest of the hour. Attempts on one
 * account are limited too, so guessing by trying codes that are accepted is slow as well; a set
 * refused as busy did not try its code and does not count.
 */
class CodeAttempts {
  readonly #hour = new Hourly()
  constructor (readonly conflictsPerHour: number, readonly perAccountPerHour: number) {}

  /**
   * A place to try a code on this account (the attempt counted), the seconds until there is one,
   * or `busy`: the limit is not reached, but sets in flight (each could end refused as in use)
   * hold the rest of it.
   */
  take (scope: string, account: string, now: number): { settle (end: CodeSetEnd): number } | number | 'busy' {
    const c = this.#hour.get(`c:${scope}`, now)
    if (c.n >= this.conflictsPerHour) return Hourly.wait(c, now)
    if (c.n + c.pending >= this.conflictsPerHour) return 'busy'
    const a = this.#hour.get(`a:${scope}:${account}`, now)
    if (a.n >= this.perAccountPerHour) return Hourly.wait(a, now)
    a.n++
    c.pending++
    let open = true
    // The refusals so far this hour, counting this one if it was one.
    return {
      settle: (end) => {
        if (open) {
          open = false
          c.pending--
          if (end === 'in-use') c.n++
          // Refused before its code was hashed: no attempt on the account.
          if (end === 'busy' && a.n > 0) a.n--
        }
        return c.n
      },
    }
  }
}

/**
 * Account numbers an installer's tenant was refused as taken by another tenant, per hour: each
 * says "this number exists". Past the limit the tenant may add no accounts for the hour (a 201
 * for a free number would tell it from a taken one).
 */
class TakenNumbers {
  readonly #hour = new Hourly()
  constructor (readonly perHour: number) {}

  wait (scope: string, now: number): number {
    const w = this.#hour.get(scope, now)
    return w.n >= this.perHour ? Hourly.wait(w, now) : 0
  }

  /** Counts one; the number this hour. */
  taken (scope: string, now: number): number {
    return ++this.#hour.get(scope, now).n
  }
}

/** What the per-tenant limits count by: an installer's tenant (all its tokens), else the token. */
const scopeOf = (who: TokenInfo): string => (who.role === 'installer' ? `tenant:${who.tenant ?? ''}` : `token:${who.id}`)

/** The audit trail's placeholder for a path parameter that is not of its pattern. */
export const INVALID_PARAM = '(invalid)'

const patterns = new Map<string, RegExp>()

/**
 * A path parameter as the audit trail may record it: as asked when it matches its pattern, else
 * the placeholder (it may be any text, terminal escapes too); undefined when the route has none.
 */
function pathParam (def: RouteDef, params: unknown, name: string): string | undefined {
  const schema = (def.schema?.params as { properties?: Record<string, { pattern?: string }> } | undefined)?.properties?.[name]
  if (schema?.pattern === undefined) return undefined
  let re = patterns.get(schema.pattern)
  if (re === undefined) patterns.set(schema.pattern, re = new RegExp(schema.pattern))
  const v = (params as Record<string, unknown> | null | undefined)?.[name]
  return typeof v === 'string' && re.test(v) ? v : INVALID_PARAM
}

/** The client's address for the audit trail: an address, or a placeholder for anything else a header made of it. */
const sourceOf = (req: FastifyRequest): string => (isIP(req.ip) === 0 ? INVALID_PARAM : req.ip)

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
  return ({ 400: 'invalid', 401: 'unauthenticated', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 413: 'too-large', 415: 'unsupported-media-type', 429: 'rate-limited', 503: 'unavailable' } as Record<number, string>)[status] ?? `error ${status}`
}

/** Builds the interface (not listening: `listen`, or `inject` in tests). */
export function buildApi (deps: ApiDeps, options: Partial<ApiOptions> = {}, routes: readonly RouteDef[] = ROUTES): FastifyInstance {
  const opts: ApiOptions = { ...defaultApiOptions, ...options }
  const clock = deps.clock ?? Date.now
  const rate = new RateLimiter(opts.rateBurst, opts.ratePerSecond)
  const bulk = new BulkReads(opts.bulkReadPerMinute)
  const codes = new CodeAttempts(opts.codeConflictsPerHour, opts.codeSetsPerAccountPerHour)
  const taken = new TakenNumbers(opts.takenNumbersPerHour)
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
    // X-Forwarded-For only from the listed proxies: from anyone else it is whatever they want it to be.
    trustProxy: opts.trustProxy.length > 0 ? [...opts.trustProxy] : false,
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
  /** A body in an encoding the interface does not decode would be read as plain: refused instead. */
  const encoded = async (req: FastifyRequest, reply: FastifyReply): Promise<boolean> => {
    const encoding = req.headers['content-encoding']
    if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return false
    await reply.code(415).send(ENCODED)
    return true
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
      if (await encoded(req, reply)) return reply
      return
    }
    const header = req.headers.authorization
    const who = typeof header === 'string' && header.startsWith('Bearer ') ? deps.access.authenticate(header.slice(7).trim()) : undefined
    if (who === undefined) {
      // Guessing tokens from one address is limited, and audited once a minute (apart from the
      // public routes' allowance: a health probe from behind the same address still answers).
      if (await tooMany(`badtoken:${req.ip}`)) return reply
      failedAuth(sourceOf(req))
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
    if (await encoded(req, reply)) return reply
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
    // A request refused before its handler ran still names the account and user it asked for,
    // when they are of their patterns: a path may hold any text, terminal escapes too.
    const asked = pathParam(def, req.params, 'account')
    const account = a.account ?? (asked === INVALID_PARAM ? asked : asked?.toUpperCase() ?? null)
    const askedUser = pathParam(def, req.params, 'user')
    const user = a.user ?? (askedUser === undefined || askedUser === INVALID_PARAM ? null : Number(askedUser))
    try {
      deps.verifier.audit(`${req.who.role}:${req.who.id}`, `api:${def.audit}`, account, a.outcome ?? outcome, user, a.detail ?? null, sourceOf(req))
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
          source: sourceOf(req),
          params: (req.params ?? {}) as Record<string, string>,
          query: (req.query ?? {}) as Record<string, string>,
          body: req.body,
          audit,
          countReads: (accounts) => {
            if (who.role !== 'installer' || accounts.length === 0) return
            const total = bulk.add(scopeOf(who), accounts, clock())
            if (total !== undefined) raised.push(raise(deps, who, sourceOf(req), clock(), 'bulk-read', { accountsInMinute: total }, `${total} account(s) in a minute`))
          },
          codePlace: (account) => {
            const place = codes.take(scopeOf(who), account, clock())
            if (typeof place === 'number' || place === 'busy') return place
            return {
              done: (end) => {
                const n = place.settle(end)
                const inUse = end === 'in-use'
                if (inUse && (n === 1 || n === opts.codeConflictsPerHour)) {
                  raised.push(raise(deps, who, sourceOf(req), clock(), 'code-probe', { conflictsInHour: n, blocked: n >= opts.codeConflictsPerHour },
                    n === 1 ? 'a code was refused as already in use on the account' : `${n} codes refused as in use within an hour; code setting stopped for the hour`))
                }
              },
            }
          },
          takenNumbersWait: () => (who.role === 'installer' ? taken.wait(scopeOf(who), clock()) : 0),
          numberTaken: () => {
            if (who.role !== 'installer') return
            const n = taken.taken(scopeOf(who), clock())
            if (n === opts.takenNumbersPerHour) {
              raised.push(raise(deps, who, sourceOf(req), clock(), 'account-probe', { takenInHour: n, blocked: true },
                `${n} account numbers refused as another tenant's within an hour; adding accounts stopped for the hour`))
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
        if (answer.retryAfter !== undefined) void reply.header('retry-after', String(answer.retryAfter))
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
