/** The API tokens: an admin's to list, make and revoke (a secret is shown once, when made). */
import { invalid, notFound, ok, type RouteDef } from '../contract.js'
import { tokenBody, tokenParam, params } from '../schemas.js'
import { ADMIN } from './common.js'

export const TOKEN_ROUTES: readonly RouteDef[] = [
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
]
