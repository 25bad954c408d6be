/**
 * Accounts: list, add, read, change and remove them, and set or remove their AES keys. An
 * installer manages its own tenant's accounts only, and never sees the prominent-person marker.
 */
import type { Account } from '../../accounts/account.js'
import { ACCOUNT_REMOVED } from '../../pipeline/stage.js'
import { casesReadModel } from '../../pipeline/stages/cases.js'
import type { Role } from '../access.js'
import { conflict, invalid, noContent, notFound, ok, type Answer, type ApiContext, type RouteDef } from '../contract.js'
import { accountCreate, accountParam, accountPatch, keyBody, pageQuery, params } from '../schemas.js'
import { ALL, journalEvent, limitOf, MANAGE, visibleAccount } from './common.js'

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

export const ACCOUNT_ROUTES: readonly RouteDef[] = [
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
      const open = casesReadModel(c.deps.pipeline.store).openOf(a)
      if (open !== undefined && c.who.role !== 'admin') return conflict()
      // Journaled first, so the pipeline meets the end of this holder in order (and drops what it
      // keeps of it) before anything of a next holder of the number; nothing is removed if it cannot be.
      const id = await journalEvent(c, { kind: ACCOUNT_REMOVED.kind, account: a.account, holder: a.createdAt, data: { createdAt: a.createdAt, tenant: a.tenant ?? null, by: c.actor } }, ACCOUNT_REMOVED.stage)
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
]
