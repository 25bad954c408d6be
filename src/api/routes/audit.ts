/** The audit trail: an admin's to read, newest first. */
import { ok, type RouteDef } from '../contract.js'
import { auditQuery } from '../schemas.js'
import { ADMIN, limitOf } from './common.js'

export const AUDIT_ROUTES: readonly RouteDef[] = [
  {
    method: 'GET', path: '/v1/audit', roles: ADMIN, summary: 'the audit trail, newest first (before: a row id, for the next page)',
    schema: { querystring: auditQuery },
    handler: (c) => {
      const limit = limitOf(c)
      const items = c.deps.verifier.auditTrail(limit, c.query.before === undefined ? undefined : Number(c.query.before))
      return ok({ items, next: items.length === limit ? items.at(-1)!.id : null })
    },
  },
]
