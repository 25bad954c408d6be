/** Every disarm and duress code at once: made invalid when a leak is suspected. */
import { ok, type RouteDef } from '../contract.js'
import { resetAllBody } from '../schemas.js'
import { ADMIN } from './common.js'

export const CODES_ROUTES: readonly RouteDef[] = [
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
