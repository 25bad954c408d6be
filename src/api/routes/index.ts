/**
 * The route table of the HTTP interface: every route, who may call it, what it accepts, what it
 * audits, one file per resource. The server registers exactly these, in this order; the OpenAPI
 * description is made from them, and the tenant-isolation tests are generated from them.
 */
import type { RouteDef } from '../contract.js'
import { ACCOUNT_ROUTES } from './accounts.js'
import { AUDIT_ROUTES } from './audit.js'
import { CASE_ROUTES } from './cases.js'
import { CODES_ROUTES } from './codes.js'
import { EVENT_ROUTES } from './events.js'
import { SERVICE_ROUTES } from './service.js'
import { SUPERVISION_ROUTES } from './supervision.js'
import { TENANT_ROUTES } from './tenants.js'
import { TOKEN_ROUTES } from './tokens.js'
import { USER_ROUTES } from './users.js'
import { VERIFICATION_ROUTES } from './verification.js'

export const ROUTES: readonly RouteDef[] = [
  ...SERVICE_ROUTES,
  ...ACCOUNT_ROUTES,
  ...USER_ROUTES,
  ...EVENT_ROUTES,
  ...SUPERVISION_ROUTES,
  ...CASE_ROUTES,
  ...VERIFICATION_ROUTES,
  ...TENANT_ROUTES,
  ...TOKEN_ROUTES,
  ...AUDIT_ROUTES,
  ...CODES_ROUTES,
]
