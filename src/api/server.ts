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
import type { DerivedRecord } from '../journal/record.js'
import type { TokenInfo } from './access.js'
import { journalFailing, NOT_FOUND_BODY, type ApiContext, type ApiDeps, type RouteDef } from './contract.js'
import { BulkReads, CodeAttempts, FailedAuths, RateLimiter, scopeOf, TakenNumbers } from './limiters.js'
import { openapi } from './openapi.js'
import { defaultApiOptions, type ApiOptions } from './options.js'
import { ROUTES } from './routes/index.js'

export type { ApiDeps, PipelineView } from './contract.js'
export { defaultApiOptions, validateApiOptions, type ApiOptions } from './options.js'

const UNAUTHENTICATED = { error: 'unauthenticated', message: 'a valid bearer token is needed' }
const FORBIDDEN = { error: 'forbidden', message: 'this token\'s role may not do this' }
const TOO_MANY = { error: 'rate-limited', message: 'too many requests from this token; slow down' }
const ENCODED = { error: 'unsupported-media-type', message: 'send the body uncompressed (no content-encoding)' }

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
  const failures = new FailedAuths()
  const failedAuth = (source: string): void => {
    const row = failures.add(source, clock())
    if (row === undefined) return
    deps.verifier.audit('-', 'api:unauthenticated', null, 'unauthenticated', null, row.before === undefined ? null : `${row.before} request(s) in the minute before`, source)
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
    reply.header('cache-control', 'no-store').header('x-content-type-options', 'nosniff')
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

  const waitForPipeline = (id: number): Promise<boolean> => deps.pipeline.waitFor(id, opts.resolveWaitMs)

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
        if (!(await Promise.all(raised)).every(Boolean)) answer = journalFailing()
        reply.code(answer.status)
        if (answer.retryAfter !== undefined) reply.header('retry-after', String(answer.retryAfter))
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
