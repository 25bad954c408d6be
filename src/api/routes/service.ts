/** The interface itself: whether it is up, its metrics, its description, and the token in use. */
import type { TokenInfo } from '../access.js'
import { ok, type RouteDef } from '../contract.js'
import { ALL } from './common.js'

const me = (who: TokenInfo): Record<string, unknown> => ({ id: who.id, role: who.role, tenant: who.tenant, name: who.name, expiresAt: who.expiresAt })

export const SERVICE_ROUTES: readonly RouteDef[] = [
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
]
