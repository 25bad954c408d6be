/** The tenants (installer companies): an admin's. */
import { conflict, invalid, ok, type RouteDef } from '../contract.js'
import { tenantBody } from '../schemas.js'
import { ADMIN } from './common.js'

export const TENANT_ROUTES: readonly RouteDef[] = [
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
]
