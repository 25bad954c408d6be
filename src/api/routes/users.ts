/** An account's users (keyholders) and their disarm and duress codes (write-only). */
import { busy, conflict, invalid, noContent, notFound, ok, type Answer, type CodeSetEnd, type RouteDef } from '../contract.js'
import { accountParam, codeBody, params, userBody, userParam } from '../schemas.js'
import { ALL, MANAGE, visibleAccount } from './common.js'

function userFailure (r: { code: string, reason: string }): Answer {
  if (r.code === 'DC09_ERR_BUSY') return busy()
  if (r.code === 'DC09_ERR_USER_NOT_FOUND') return notFound()
  // A code hashed while the account moved, changed hands or had its codes reset: nothing was set,
  // and the answer says no more than any conflict (not whose the account is now).
  if (r.code === 'DC09_ERR_ACCOUNT_CHANGED') return conflict()
  if (r.code === 'DC09_ERR_USER_EXISTS' || r.code === 'DC09_ERR_CODE_TAKEN') return { status: 409, body: { error: 'conflict', message: r.code === 'DC09_ERR_CODE_TAKEN' ? r.reason : 'the request conflicts with the current state' } }
  return invalid(r.reason)
}

export const USER_ROUTES: readonly RouteDef[] = [
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
]
