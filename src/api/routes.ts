/**
 * The route table of the HTTP interface: every route, who may call it, what it accepts, what it
 * audits. The server registers exactly these, the OpenAPI description is made from them, and
 * the tenant-isolation tests are generated from them.
 *
 * Tenant scoping is done once, in `visibleAccount`: an account outside an installer's tenant is
 * looked up by the same query and answered by the same not-found as an account that does not
 * exist. Everything under an account goes through it first.
 */
import type { Account } from '../accounts/account.js'
import { ACCOUNT_REMOVED } from '../pipeline/stage.js'
import { caseOfHolder, openCaseOf, type Case } from '../pipeline/stages/cases.js'
import { holderState } from '../pipeline/stages/supervision.js'
import type { DerivedRecord } from '../journal/record.js'
import type { Role, TokenInfo } from './access.js'
import type { EventView } from './recent.js'
import {
  accountCreate, accountParam, accountPatch, auditQuery, caseParam, casesQuery, codeBody, eventsQuery, keyBody,
  pageQuery, params, resetAllBody, resolveBody, tenantBody, tokenBody, tokenParam, userBody, userParam,
} from './schemas.js'
import type { Answer, ApiContext, CodeSetEnd } from './server.js'

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface RouteDef {
  readonly method: Method
  /** Fastify's form: `/v1/accounts/:account`. */
  readonly path: string
  /** Who may call it; empty: anyone, without a token. */
  readonly roles: readonly Role[]
  readonly summary: string
  /** The audit trail's action name, for routes that read or change accounts, users, codes, keys, cases, tokens. */
  readonly audit?: string
  readonly schema?: { readonly params?: object, readonly querystring?: object, readonly body?: object }
  readonly handler: (c: ApiContext) => Answer | Promise<Answer>
}

const ALL: readonly Role[] = ['admin', 'operator', 'installer']
const MANAGE: readonly Role[] = ['admin', 'installer']
const CENTRE: readonly Role[] = ['admin', 'operator']
const ADMIN: readonly Role[] = ['admin']

// ------------------------------------------------------------ answers

export const NOT_FOUND_BODY = { error: 'not-found', message: 'not found' } as const
export const notFound = (): Answer => ({ status: 404, body: NOT_FOUND_BODY })
export const conflict = (): Answer => ({ status: 409, body: { error: 'conflict', message: 'the request conflicts with the current state' } })
export const invalid = (message: string): Answer => ({ status: 400, body: { error: 'invalid', message } })
/** Seconds a busy answer asks the caller to wait: a hash takes tens of milliseconds, a full queue about two seconds. */
const BUSY_RETRY_SECONDS = 1
/** Too many codes being checked or set at once (the hashing queue is full): nothing was done. */
export const busy = (): Answer => ({ status: 503, retryAfter: BUSY_RETRY_SECONDS, body: { error: 'busy', message: 'too many codes are being checked or set right now; try again shortly' } })
const ok = (body: unknown, status = 200): Answer => ({ status, body })
const noContent = (): Answer => ({ status: 204 })

// ------------------------------------------------------------ views

/**
 * An account as this role may see it: installers never see the prominent-person marker, nor a
 * time that moved when only it changed (their updatedAt is that of the fields they see).
 */
export function accountView (a: Account, role: Role): Record<string, unknown> {
  const { visibleUpdatedAt, ...all } = a
  if (role !== 'installer') return all
  const { vip: _vip, ...rest } = all
  return { ...rest, updatedAt: visibleUpdatedAt }
}

function caseView (c: Case): Record<string, unknown> {
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString())
  return {
    id: c.id, account: c.account, state: c.state, openedAt: iso(c.openedAt), alarms: c.alarms ?? c.events.length, events: c.events,
    cancelUntil: iso(c.cancelUntil), verifyBy: iso(c.verifyBy), escalated: c.escalated, duress: c.duress, closedAt: iso(c.closedAt), closedBy: c.closedBy ?? null,
  }
}

/** Installers see what their panels sent and whether they report; case and verification events are the centre's. */
function installerMaySee (e: EventView): boolean {
  return e.type === 'frame' || (e.kind !== undefined && e.kind.startsWith('supervision'))
}

const limitOf = (c: ApiContext): number => Math.min(Number(c.query.limit ?? c.opts.pageSize), c.opts.pageSize)

// ------------------------------------------------------------ scoping

/**
 * The account named in the path, if this token may see it: one lookup whatever the answer, and
 * for an installer one that cannot tell another tenant's account from none. An installer's reads
 * are counted toward the bulk-read alarm, found or not.
 */
export function visibleAccount (c: ApiContext): Account | undefined {
  const number = c.params.account!.toUpperCase()
  c.audit.account = number
  c.countReads([number])
  // An installer's lookup names its tenant: another tenant's account is never read, so it costs
  // what a missing one costs.
  return c.who.role === 'installer' ? c.deps.accounts.getInTenant(number, c.who.tenant ?? '\u0000') : c.deps.accounts.get(number)
}

/** Fields an installer may not set: the marker it cannot see, and another tenant. */
function installerFields (c: ApiContext, body: Record<string, unknown>): Answer | undefined {
  if (c.who.role !== 'installer') return undefined
  if ('vip' in body) return invalid('body must NOT have additional properties')
  if ('tenant' in body && body.tenant !== c.who.tenant) return invalid('tenant: an installer manages its own tenant\'s accounts only')
  return undefined
}

function accountFailure (r: { code: string, reason: string }): Answer {
  // A number that is taken (or holds an earlier holder's leftovers) says nothing of whose it is.
  if (r.code === 'DC09_ERR_ACCOUNT_EXISTS' || r.code === 'DC09_ERR_ACCOUNT_LEFTOVERS') return conflict()
  if (r.code === 'DC09_ERR_ACCOUNT_NOT_FOUND') return notFound()
  return invalid(r.reason)
}

function userFailure (r: { code: string, reason: string }): Answer {
  if (r.code === 'DC09_ERR_BUSY') return busy()
  if (r.code === 'DC09_ERR_USER_NOT_FOUND') return notFound()
  // A code hashed while the account moved, changed hands or had its codes reset: nothing was set,
  // and the answer says no more than any conflict (not whose the account is now).
  if (r.code === 'DC09_ERR_ACCOUNT_CHANGED') return conflict()
  if (r.code === 'DC09_ERR_USER_EXISTS' || r.code === 'DC09_ERR_CODE_TAKEN') return { status: 409, body: { error: 'conflict', message: r.code === 'DC09_ERR_CODE_TAKEN' ? r.reason : 'the request conflicts with the current state' } }
  return invalid(r.reason)
}

const caseKey = (id: number): string => `case:${String(id).padStart(16, '0')}`

/**
 * One page of cases, oldest first, read in SQL with bounded work (the pipeline keeps closed cases
 * for weeks: there may be many). `next` is the case id to go on after.
 */
function casePage (c: ApiContext, state: string, account?: Account): Answer {
  const where: Record<string, string> = {}
  if (account !== undefined) where.account = account.account
  if (state === 'open') where.state = 'open'
  if (state === 'closed') where['!state'] = 'open'
  const limit = limitOf(c)
  const after = c.query.after === undefined ? undefined : caseKey(Number(c.query.after))
  const page = c.deps.pipeline.store.page<Case>('cases', 'case:', after, limit, where)
  // An account's cases are its holder's: a previous holder's of the number are not listed.
  const items = page.items.filter(([, k]) => account === undefined || caseOfHolder(k, account))
  return ok({ items: items.map(([, k]) => caseView(k)), next: page.next === undefined ? null : Number(page.next.slice(5)) })
}

/** The case in the path, if it is this account's (not a previous holder's of the number). */
function caseOf (c: ApiContext, a: Account): Case | undefined {
  const id = Number(c.params.id)
  const found = c.deps.pipeline.store.readOne<Case>('cases', caseKey(id))
  return found !== undefined && caseOfHolder(found, a) ? found : undefined
}

async function journal (c: ApiContext, r: Omit<DerivedRecord, 'type' | 'receivedAt' | 'causedBy' | 'n' | 'stage'>, stage = 'api'): Promise<number | Answer> {
  try {
    return await c.deps.journal.append({ type: 'derived', receivedAt: c.now(), stage, causedBy: 0, n: 0, ...r })
  } catch {
    return { status: 503, body: { error: 'unavailable', message: 'the journal cannot commit; try again' } }
  }
}

const me = (who: TokenInfo): Record<string, unknown> => ({ id: who.id, role: who.role, tenant: who.tenant, name: who.name, expiresAt: who.expiresAt })

// ------------------------------------------------------------ the table

export const ROUTES: readonly RouteDef[] = [
  {
    method: 'GET', path: '/healthz', roles: [], summary: 'up, and whether the journal commits (no token needed)',
    handler: (c) => {
      const journal = c.deps.journal.healthy
      return ok({ status: journal ? 'ok' : 'degraded', journal: journal ? 'ok' : 'failing' }, journal ? 200 : 503)
    },
  },
  {
    method: 'GET', path: '/metrics', roles: [], summary: 'Prometheus metrics (no account numbers or personal data in them)',
    handler: async (c) => ({ status: 200, body: await c.deps.metrics.scrape(c.now()), type: c.deps.metrics.registry.contentType }),
  },
  {
    method: 'GET', path: '/v1/openapi.json', roles: [], summary: 'this interface, described in OpenAPI 3.1',
    handler: (c) => ok(c.openapi()),
  },
  {
    method: 'GET', path: '/v1/me', roles: ALL, summary: 'the token in use: its role, tenant and name',
    handler: (c) => ok(me(c.who)),
  },

  // Accounts.
  {
    method: 'GET', path: '/v1/accounts', roles: ALL, summary: 'one page of accounts (an installer: its own tenant\'s); q: the start of the number or of the site name', audit: 'accounts-list',
    schema: { querystring: pageQuery },
    handler: (c) => {
      const limit = limitOf(c)
      let tenant = c.query.tenant
      if (c.who.role === 'installer') {
        // An installer's list is its tenant's, whatever it asks for.
        if (tenant !== undefined && tenant !== c.who.tenant) return ok({ items: [], next: null })
        tenant = c.who.tenant ?? '\u0000'
      }
      const items = c.deps.accounts.list({ tenant, after: c.query.after, limit, search: c.query.q })
      c.countReads(items.map((a) => a.account))
      c.audit.detail = `${items.length} account(s)`
      return ok({ items: items.map((a) => accountView(a, c.who.role)), next: items.length === limit ? items.at(-1)!.account : null })
    },
  },
  {
    method: 'POST', path: '/v1/accounts', roles: MANAGE, summary: 'add an account (the JSON of an entry of dc09 accounts import)', audit: 'account-create',
    schema: { body: accountCreate },
    handler: (c) => {
      const body = c.body as Record<string, unknown> & { account: string }
      c.audit.account = body.account.toUpperCase()
      const refused = installerFields(c, body)
      if (refused !== undefined) return refused
      const input = c.who.role === 'installer' ? { ...body, tenant: c.who.tenant } : body
      // A tenant that probed too many taken numbers adds none for a while, free or taken alike.
      const wait = c.takenNumbersWait()
      if (wait > 0) return { status: 429, retryAfter: wait, body: { error: 'rate-limited', message: 'too many account numbers were refused as taken; this tenant may add accounts again later' } }
      if (c.who.role === 'installer' && c.deps.accounts.count(c.who.tenant!) >= c.opts.maxAccountsPerTenant) {
        return { status: 403, body: { error: 'quota', message: `a tenant has at most ${c.opts.maxAccountsPerTenant} accounts; an admin can add more` } }
      }
      const r = c.deps.accounts.add(input)
      if (!r.ok) {
        if (r.code === 'DC09_ERR_ACCOUNT_EXISTS' || r.code === 'DC09_ERR_ACCOUNT_LEFTOVERS') {
          // Probing numbers is how enumeration looks: a taken number counts as a read, and one
          // of another tenant (its own it can list) toward the limit of taken numbers.
          const number = body.account.toUpperCase()
          c.countReads([number])
          if (c.who.role === 'installer' && c.deps.accounts.getInTenant(number, c.who.tenant ?? '\u0000') === undefined) c.numberTaken()
        }
        return accountFailure(r)
      }
      return ok(accountView(r.value, c.who.role), 201)
    },
  },
  {
    method: 'GET', path: '/v1/accounts/:account', roles: ALL, summary: 'an account: settings, site, keyholders (never its key)', audit: 'account-read',
    schema: { params: params(accountParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      return a === undefined ? notFound() : ok(accountView(a, c.who.role))
    },
  },
  {
    method: 'PATCH', path: '/v1/accounts/:account', roles: MANAGE, summary: 'change an account (only the given fields; null clears one)', audit: 'account-update',
    schema: { params: params(accountParam), body: accountPatch },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const body = c.body as Record<string, unknown>
      const refused = installerFields(c, body)
      if (refused !== undefined) return refused
      const r = c.deps.accounts.update(a.account, body)
      if (!r.ok) return accountFailure(r)
      // A move to another tenant (an admin's): the store cleared every code with it.
      if (a.tenant !== undefined && r.value.tenant !== a.tenant) c.audit.detail = `moved from tenant ${a.tenant} to tenant ${r.value.tenant ?? '(none)'}; every disarm and duress code cleared`
      return ok(accountView(r.value, c.who.role))
    },
  },
  {
    method: 'DELETE', path: '/v1/accounts/:account', roles: MANAGE,
    summary: 'remove an account, its users and their codes (an installer: not while it has an open case; an admin\'s removal closes it)', audit: 'account-remove',
    schema: { params: params(accountParam) },
    handler: async (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      // An alarm in progress is the centre's: an installer does not end it by removing the account.
      const open = openCaseOf(c.deps.pipeline.store, a)
      if (open !== undefined && c.who.role !== 'admin') return conflict()
      // Journaled first, so the pipeline meets the end of this holder in order (and drops what it
      // keeps of it) before anything of a next holder of the number; nothing is removed if it cannot be.
      const id = await journal(c, { kind: ACCOUNT_REMOVED.kind, account: a.account, holder: a.createdAt, data: { createdAt: a.createdAt, tenant: a.tenant ?? null, by: c.actor } }, ACCOUNT_REMOVED.stage)
      if (typeof id !== 'number') return id
      let r: ReturnType<typeof c.deps.accounts.remove>
      try {
        // This holder only: while the removal was journaled, the number may have been removed
        // and given to someone else, whose account, users and codes stay (then: not found).
        r = c.deps.accounts.remove(a.account, { createdAt: a.createdAt })
      } catch (err) {
        // The removal is journaled, so the stages have dropped this holder's state (its open case
        // closed, its supervision ended) while its account stays. Removing it again journals the
        // removal again (harmless) and finishes it.
        c.deps.log.error({ err: (err as Error).message, account: a.account }, 'api: an account whose removal was journaled could not be deleted; removing it again finishes it')
        return { status: 503, body: { error: 'unavailable', message: 'the account could not be removed; remove it again to finish' } }
      }
      if (!r.ok) return accountFailure(r)
      if (open !== undefined) {
        c.audit.detail = `case ${open.id} closed`
        c.deps.verifier.audit(c.actor, 'case-account-removed', a.account, 'ok', null, `case ${open.id} closed: the account was removed`, c.source)
      }
      c.deps.recent.forget(a.account)
      return noContent()
    },
  },
  {
    method: 'PUT', path: '/v1/accounts/:account/key', roles: MANAGE, summary: 'set or rotate the account\'s AES key (write-only)', audit: 'key-set',
    schema: { params: params(accountParam), body: keyBody },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const body = c.body as { key: string, keyFormat?: 'hex' | 'ascii' }
      const r = c.deps.accounts.update(a.account, { key: body.key, keyFormat: body.keyFormat ?? 'hex' })
      return r.ok ? noContent() : accountFailure(r)
    },
  },
  {
    method: 'DELETE', path: '/v1/accounts/:account/key', roles: MANAGE, summary: 'remove the account\'s AES key (its panel then sends plain frames)', audit: 'key-remove',
    schema: { params: params(accountParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const r = c.deps.accounts.update(a.account, { key: null })
      return r.ok ? noContent() : accountFailure(r)
    },
  },

  // Users and their codes.
  {
    method: 'GET', path: '/v1/accounts/:account/users', roles: ALL, summary: 'the account\'s users, and whether each has a code (never the code)', audit: 'users-list',
    schema: { params: params(accountParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const needsNew = c.deps.verifier.needsNewCodes(a.account)
      return ok({ items: c.deps.verifier.listUsers(a.account).map((u) => ({ ...u, needsNewCode: needsNew && !u.hasCode })) })
    },
  },
  {
    method: 'POST', path: '/v1/accounts/:account/users', roles: MANAGE, summary: 'add a user (keyholder) to the account', audit: 'user-add',
    schema: { params: params(accountParam), body: userBody },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const body = c.body as { user: number, name?: string }
      c.audit.user = body.user
      const r = c.deps.verifier.addUser(a.account, body.user, body.name, c.actor)
      return r.ok ? ok({ user: body.user, name: body.name ?? null, hasCode: false, hasDuressCode: false }, 201) : userFailure(r)
    },
  },
  {
    method: 'DELETE', path: '/v1/accounts/:account/users/:user', roles: MANAGE, summary: 'remove a user and their codes', audit: 'user-remove',
    schema: { params: params(accountParam, userParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      c.audit.user = Number(c.params.user)
      const r = c.deps.verifier.removeUser(a.account, Number(c.params.user), c.actor)
      return r.ok ? noContent() : userFailure(r)
    },
  },
  ...(['code', 'duress-code'] as const).map((which): RouteDef => ({
    method: 'PUT', path: `/v1/accounts/:account/users/:user/${which}`, roles: MANAGE,
    summary: which === 'code' ? 'set or reset the user\'s disarm code (write-only)' : 'set or reset the user\'s duress code (write-only)',
    audit: which === 'code' ? 'code-set' : 'duress-code-set',
    schema: { params: params(accountParam, userParam), body: codeBody },
    handler: async (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const user = Number(c.params.user)
      c.audit.user = user
      if (!c.deps.verifier.isUser(a.account, user)) return notFound()
      // The place is taken before the code is hashed, and held until the answer is known.
      const place = c.codePlace(a.account)
      // Only sets still in flight hold the places: one is free again within moments.
      if (place === 'busy') return busy()
      if (typeof place === 'number') return { status: 429, retryAfter: place, body: { error: 'rate-limited', message: 'too many codes tried or refused as in use; codes may be set again later' } }
      let end: CodeSetEnd = 'other'
      try {
        const r = await c.deps.verifier.setCode(a.account, user, (c.body as { code: string }).code, which === 'duress-code', c.actor)
        if (!r.ok && r.code === 'DC09_ERR_CODE_TAKEN') end = 'in-use'
        if (!r.ok && r.code === 'DC09_ERR_BUSY') end = 'busy'
        return r.ok ? noContent() : userFailure(r)
      } finally {
        place.done(end)
      }
    },
  })),

  // What the account's panel said, and whether it reports.
  {
    method: 'GET', path: '/v1/accounts/:account/events', roles: ALL, summary: 'the account\'s recent events, newest first (before: an event id, for the next page)', audit: 'events-read',
    schema: { params: params(accountParam), querystring: eventsQuery },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const limit = limitOf(c)
      // Only this holder's: an event names the holder of the number it was received or made for
      // (whoever holds it when the pipeline gets there may be a later one); one from before events
      // named it, only since the account was made.
      const since = a.createdAt
      const installer = c.who.role === 'installer'
      const mine = (e: EventView, holder: string | undefined): boolean => (holder !== undefined ? holder === a.createdAt : e.receivedAt >= since)
      const items = c.deps.recent.list(a.account, limit, c.query.before === undefined ? undefined : Number(c.query.before), (e, holder) => mine(e, holder) && (!installer || installerMaySee(e)))
      return ok({ items, next: items.length === limit ? items.at(-1)!.id : null })
    },
  },
  {
    method: 'GET', path: '/v1/accounts/:account/supervision', roles: ALL, summary: 'whether the account\'s panel reports within its interval', audit: 'supervision-read',
    schema: { params: params(accountParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      // State of another holder of the number is not this account's.
      const s = holderState(c.deps.pipeline.store.readOne<{ lastSeen: number, failed: boolean, notBefore: number, holder?: string }>('supervision', a.account), a)
      return ok({
        account: a.account,
        supervisionSeconds: a.supervisionSeconds ?? null,
        supervised: a.supervisionSeconds !== undefined,
        lastSeen: s === undefined || s.lastSeen === 0 ? null : new Date(s.lastSeen).toISOString(),
        failed: s?.failed ?? false,
      })
    },
  },

  // Cases, verification.
  {
    method: 'GET', path: '/v1/cases', roles: CENTRE, summary: 'one page of alarm cases (state: open, closed or all; default open)', audit: 'cases-list',
    schema: { querystring: casesQuery },
    handler: (c) => {
      const answer = casePage(c, c.query.state ?? 'open')
      c.audit.detail = `${(answer.body as { items: unknown[] }).items.length} case(s)`
      return answer
    },
  },
  {
    method: 'GET', path: '/v1/accounts/:account/cases', roles: CENTRE, summary: 'the account\'s alarm cases, open and closed', audit: 'cases-read',
    schema: { params: params(accountParam), querystring: casesQuery },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      return casePage(c, c.query.state ?? 'all', a)
    },
  },
  {
    method: 'GET', path: '/v1/accounts/:account/cases/:id', roles: CENTRE, summary: 'one alarm case', audit: 'case-read',
    schema: { params: params(accountParam, caseParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      const k = a === undefined ? undefined : caseOf(c, a)
      return k === undefined ? notFound() : ok(caseView(k))
    },
  },
  {
    method: 'POST', path: '/v1/accounts/:account/cases/:id/resolve', roles: CENTRE, summary: 'close an open case as resolved by the operator (with a note)', audit: 'case-resolve',
    schema: { params: params(accountParam, caseParam), body: resolveBody },
    handler: async (c) => {
      const a = visibleAccount(c)
      const k = a === undefined ? undefined : caseOf(c, a)
      if (a === undefined || k === undefined) return notFound()
      // One resolution of a case at a time: of two at once, the second is a conflict.
      if (k.state !== 'open' || c.resolving.has(k.id)) return conflict()
      c.resolving.add(k.id)
      try {
        const note = (c.body as { note?: string } | undefined)?.note
        // The cases stage owns cases: the request is journaled, and the stage closes the case.
        const id = await journal(c, { kind: 'case-resolve', account: k.account, holder: a.createdAt, data: { caseId: k.id, by: c.actor, ...(note === undefined ? {} : { note }) } })
        if (typeof id !== 'number') return id
        const done = await c.waitForPipeline(id)
        const now = caseOf(c, a)
        if (now === undefined || (done && (now.state !== 'resolved' || now.closedBy !== c.actor))) return conflict()
        return done ? ok(caseView(now)) : ok({ ...caseView(now), state: 'resolving' }, 202)
      } finally {
        c.resolving.delete(k.id)
      }
    },
  },
  {
    method: 'POST', path: '/v1/accounts/:account/verify', roles: CENTRE,
    summary: 'check a disarm code the keyholder gave (constant time; a duress code answers as valid and silently raises a duress case)', audit: 'verify',
    schema: { params: params(accountParam), body: codeBody },
    handler: async (c) => {
      const account = c.params.account!.toUpperCase()
      c.audit.account = account
      let failed = false
      const r = await c.deps.verifier.verify(account, (c.body as { code: string }).code, c.actor, async (e) => {
        const id = await journal(c, { kind: e.kind, account: e.account, ...(e.holder === undefined ? {} : { holder: e.holder }), data: e.data })
        if (typeof id !== 'number') {
          failed = true
          throw new Error('journal')
        }
      }, c.source).catch((err: unknown) => {
        if (failed) return undefined
        if ((err as { code?: unknown }).code === 'DC09_ERR_BUSY') return 'busy' as const
        throw err
      })
      if (r === 'busy') return busy()
      if (r === undefined) return { status: 503, body: { error: 'unavailable', message: 'the journal cannot commit; try again' } }
      c.deps.metrics.verifications.inc({ outcome: r.result })
      c.audit.outcome = r.result
      return ok(r)
    },
  },
  {
    method: 'POST', path: '/v1/accounts/:account/unlock', roles: CENTRE, summary: 'lift the account\'s verification lock after failed attempts', audit: 'verify-unlock',
    schema: { params: params(accountParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      c.deps.verifier.unlock(a.account, c.actor)
      return noContent()
    },
  },

  // Running the centre.
  {
    method: 'GET', path: '/v1/tenants', roles: ADMIN, summary: 'the tenants (installer companies)', audit: 'tenants-list',
    handler: (c) => ok({ items: c.deps.access.listTenants() }),
  },
  {
    method: 'POST', path: '/v1/tenants', roles: ADMIN, summary: 'register a tenant', audit: 'tenant-create',
    schema: { body: tenantBody },
    handler: (c) => {
      const b = c.body as { tenant: string, name?: string }
      const r = c.deps.access.addTenant(b.tenant, b.name)
      return r.ok ? ok(r.value, 201) : r.code === 'DC09_ERR_ACCESS_EXISTS' ? conflict() : invalid(r.reason)
    },
  },
  {
    method: 'GET', path: '/v1/tokens', roles: ADMIN, summary: 'the API tokens (never a secret or hash)', audit: 'tokens-list',
    handler: (c) => ok({ items: c.deps.access.listTokens() }),
  },
  {
    method: 'POST', path: '/v1/tokens', roles: ADMIN, summary: 'make a token; the answer holds it, the only time it is shown', audit: 'token-create',
    schema: { body: tokenBody },
    handler: (c) => {
      const b = c.body as { role: string, tenant?: string, name?: string, expiresInDays?: number }
      const r = c.deps.access.createToken({ role: b.role, tenant: b.tenant, name: b.name, expiresAt: b.expiresInDays === undefined ? undefined : new Date(c.now() + b.expiresInDays * 86_400_000) })
      if (!r.ok) return invalid(r.reason)
      c.audit.detail = `token ${r.value.info.id} (${r.value.info.role}${r.value.info.tenant === null ? '' : `, tenant ${r.value.info.tenant}`})`
      return ok({ token: r.value.token, ...r.value.info }, 201)
    },
  },
  {
    method: 'DELETE', path: '/v1/tokens/:id', roles: ADMIN, summary: 'revoke a token, for good', audit: 'token-revoke',
    schema: { params: params(tokenParam) },
    handler: (c) => {
      c.audit.detail = `token ${c.params.id}`
      const r = c.deps.access.revokeToken(c.params.id!)
      return r.ok ? ok(r.value) : notFound()
    },
  },
  {
    method: 'GET', path: '/v1/audit', roles: ADMIN, summary: 'the audit trail, newest first (before: a row id, for the next page)',
    schema: { querystring: auditQuery },
    handler: (c) => {
      const limit = limitOf(c)
      const items = c.deps.verifier.auditTrail(limit, c.query.before === undefined ? undefined : Number(c.query.before))
      return ok({ items, next: items.length === limit ? items.at(-1)!.id : null })
    },
  },
  {
    method: 'POST', path: '/v1/codes/reset-all', roles: ADMIN, summary: 'make every disarm and duress code invalid at once (a leak is suspected)', audit: 'codes-reset-all',
    schema: { body: resetAllBody },
    handler: (c) => {
      const n = c.deps.verifier.resetAll(c.actor)
      c.audit.detail = `${n} account(s)`
      return ok({ accounts: n })
    },
  },
]

/** The OpenAPI 3.1 description, made from the table. */
export function openapi (routes: readonly RouteDef[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const path = r.path.replace(/:([a-z]+)/g, '{$1}')
    const parameters: unknown[] = []
    const p = r.schema?.params as { properties?: Record<string, unknown> } | undefined
    for (const [name, schema] of Object.entries(p?.properties ?? {})) parameters.push({ name, in: 'path', required: true, schema })
    const q = r.schema?.querystring as { properties?: Record<string, unknown> } | undefined
    for (const [name, schema] of Object.entries(q?.properties ?? {})) parameters.push({ name, in: 'query', required: false, schema })
    paths[path] ??= {}
    paths[path][r.method.toLowerCase()] = {
      summary: r.summary,
      ...(r.roles.length === 0 ? { security: [] } : { description: `Roles: ${r.roles.join(', ')}.` }),
      ...(parameters.length === 0 ? {} : { parameters }),
      ...(r.schema?.body === undefined ? {} : { requestBody: { required: true, content: { 'application/json': { schema: r.schema.body } } } }),
      responses: {
        200: { description: 'done' },
        ...(r.roles.length === 0 ? {} : { 401: { description: 'no valid token' }, 403: { description: 'the token\'s role may not do this' }, 429: { description: 'too many requests from this token' } }),
        ...(r.schema?.params === undefined ? {} : { 404: { description: 'not found (or not this token\'s to see: the same answer)' } }),
        ...(r.schema?.body === undefined && r.schema?.querystring === undefined ? {} : { 400: { description: 'the request does not follow the schema' } }),
      },
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'dc09 alarm receiver', version: '1', description: 'Accounts, users, codes, events, supervision and cases. Bearer tokens: dc09 tokens create.' },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  }
}
