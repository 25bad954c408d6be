/**
 * Authentication and roles, generated from the route table: every route that needs a token
 * refuses a missing, malformed, forged, expired or revoked one with the same 401, and a token of
 * a role the route does not name with 403; public routes answer without a token.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROLES, type Role } from '../../src/api/access.js'
import type { RouteDef } from '../../src/api/contract.js'
import { ROUTES } from '../../src/api/routes/index.js'
import { Harness, type Response } from './harness.js'

const UNAUTHENTICATED = { error: 'unauthenticated', message: 'a valid bearer token is needed' }
const FORBIDDEN = { error: 'forbidden', message: 'this token\'s role may not do this' }

/** Values for path parameters that pass the schema (auth is checked before it anyway). */
const PARAMS: Readonly<Record<string, string>> = { account: 'A1001', user: '1', id: '1' }
const TOKEN_PARAMS: Readonly<Record<string, string>> = { id: '000000000000' }

function urlOf (r: RouteDef): string {
  const values = r.path.startsWith('/v1/tokens/') ? TOKEN_PARAMS : PARAMS
  return r.path.replace(/:([a-z]+)/g, (_m, name: string) => values[name] ?? '1')
}

/** A body that would pass the route's schema, so that nothing but the token decides the answer. */
function bodyOf (r: RouteDef): unknown {
  if (r.schema?.body === undefined) return undefined
  const samples: Readonly<Record<string, unknown>> = {
    'POST /v1/accounts': { account: 'C3001' },
    'PATCH /v1/accounts/:account': { siteName: 'Probe' },
    'PUT /v1/accounts/:account/key': { key: '00112233445566778899aabbccddeeff' },
    'POST /v1/accounts/:account/users': { user: 5 },
    'PUT /v1/accounts/:account/users/:user/code': { code: '64820597318' },
    'PUT /v1/accounts/:account/users/:user/duress-code': { code: '64820597318' },
    'POST /v1/accounts/:account/cases/:id/resolve': { note: 'probe' },
    'POST /v1/accounts/:account/verify': { code: '64820597318' },
    'POST /v1/tenants': { tenant: 'probe' },
    'POST /v1/tokens': { role: 'operator' },
    'POST /v1/codes/reset-all': { confirm: 'every code on every account' },
  }
  const key = `${r.method} ${r.path}`
  if (!(key in samples)) throw new Error(`no sample body for ${key}: add one`)
  return samples[key]
}

const guarded = ROUTES.filter((r) => r.roles.length > 0)
const open = ROUTES.filter((r) => r.roles.length === 0)

let now = Date.parse('2030-01-01T00:00:00Z')
let h: Harness
const tokens = {} as Record<Role, string>
let expiring: Record<Role, string>
let revoked: Record<Role, string>
const unauthenticated: Response[] = []

beforeAll(async () => {
  // No rate limit in the way: this file sends many requests with few tokens.
  h = await new Harness({ clock: () => now, api: { rateBurst: 1_000_000, ratePerSecond: 1_000_000 } }).start()
  for (const role of ROLES) tokens[role] = h.token(role, role === 'installer' ? 'alpha' : undefined)
  const inAMinute = new Date(now + 60_000)
  expiring = {} as Record<Role, string>
  revoked = {} as Record<Role, string>
  for (const role of ROLES) {
    const tenant = role === 'installer' ? 'alpha' : undefined
    expiring[role] = h.token(role, tenant, inAMinute)
    revoked[role] = h.token(role, tenant)
  }
  // Each works before it expires or is revoked...
  for (const role of ROLES) {
    for (const t of [expiring[role], revoked[role]]) expect((await h.request('GET', '/v1/me', t)).status).toBe(200)
  }
  // ...and not after.
  for (const role of ROLES) expect(h.access.revokeToken(revoked[role].split('_')[1]!).ok).toBe(true)
  now += 120_000
  // The ordinary tokens have no expiry and still work.
  for (const role of ROLES) expect((await h.request('GET', '/v1/me', tokens[role])).status).toBe(200)
  await h.request('POST', '/v1/accounts', tokens.admin, { account: 'A1001', tenant: 'alpha' })
})

afterAll(async () => {
  await h?.close()
})

function expect401 (r: Response, what: string): void {
  expect(r.status, `${what}: ${r.body}`).toBe(401)
  expect(r.headers['www-authenticate'], what).toBe('Bearer')
  expect(r.json(), what).toEqual(UNAUTHENTICATED)
  unauthenticated.push(r)
}

describe(`every one of the ${guarded.length} routes that need a token`, () => {
  it('is a route of the table with roles (sanity)', () => {
    expect(guarded.length).toBeGreaterThan(20)
    for (const r of guarded) for (const role of r.roles) expect(ROLES).toContain(role)
    console.log(`auth: ${guarded.length} guarded routes, ${open.length} public routes, ${ROUTES.length} in all`)
  })

  for (const r of guarded) {
    describe(`${r.method} ${r.path}`, () => {
      const url = urlOf(r)
      const body = bodyOf(r)

      it('without an Authorization header: 401, WWW-Authenticate: Bearer', async () => {
        expect401(await h.request(r.method, url, undefined, body), 'no header')
      })

      it('with a malformed or foreign credential: 401', async () => {
        const id = tokens.admin.split('_')[1]!
        const headers: string[] = [
          'Bearer x',
          'Bearer dc09_zz_zz',
          'Bearer ',
          'Bearer',
          `Basic ${Buffer.from('admin:admin').toString('base64')}`,
          `Basic ${Buffer.from(`admin:${tokens.admin}`).toString('base64')}`,
          `Token ${tokens.admin}`,
          tokens.admin,
          `Bearer dc09_${id}_${'A'.repeat(43)}`,
          `Bearer dc09_000000000000_${tokens.admin.split('_').slice(2).join('_')}`,
          `Bearer ${tokens.admin}x`,
          `Bearer ${tokens.admin.slice(0, -1)}`,
          `Bearer ${tokens.admin.replace('dc09_', 'dc10_')}`,
          `Bearer ${tokens.admin.toUpperCase()}`,
          `Bearer ${'dc09_'.repeat(200)}`,
        ]
        for (const authorization of headers) {
          expect401(await h.request(r.method, url, undefined, body, { authorization }), authorization.slice(0, 40))
        }
      })

      it('with an expired token of any role: 401', async () => {
        for (const role of ROLES) expect401(await h.request(r.method, url, expiring[role], body), `expired ${role}`)
      })

      it('with a revoked token of any role: 401', async () => {
        for (const role of ROLES) expect401(await h.request(r.method, url, revoked[role], body), `revoked ${role}`)
      })

      const wrong = ROLES.filter((role) => !r.roles.includes(role))
      if (wrong.length > 0) {
        it(`with a token of a role it does not name (${wrong.join(', ')}): 403`, async () => {
          for (const role of wrong) {
            const res = await h.request(r.method, url, tokens[role], body)
            expect(res.status, `${role}: ${res.body}`).toBe(403)
            expect(res.json(), role).toEqual(FORBIDDEN)
            expect(res.headers['www-authenticate'], role).toBeUndefined()
          }
        })
      }

      it(`with a token of a role it names (${r.roles.join(', ')}): neither 401 nor 403`, async () => {
        for (const role of r.roles) {
          const res = await h.request(r.method, url, tokens[role], body)
          expect([401, 403], `${role}: ${res.status} ${res.body}`).not.toContain(res.status)
        }
      })
    })
  }

  it('every 401 was the same answer', () => {
    expect(unauthenticated.length).toBeGreaterThan(guarded.length * 20)
    const first = unauthenticated[0]!
    for (const r of unauthenticated) {
      expect(r.body).toBe(first.body)
      const { date: _a, ...rest } = r.headers
      const { date: _b, ...firstRest } = first.headers
      expect(rest).toEqual(firstRest)
    }
    console.log(`auth: ${unauthenticated.length} refused credentials, one identical 401 body`)
  })
})

describe(`the ${open.length} public routes`, () => {
  it('are /healthz, /metrics and /v1/openapi.json', () => {
    expect(open.map((r) => `${r.method} ${r.path}`).sort()).toEqual(['GET /healthz', 'GET /metrics', 'GET /v1/openapi.json'])
  })
  for (const r of open) {
    it(`${r.method} ${r.path}: 200 without a token, and with a bad one`, async () => {
      expect((await h.request(r.method, r.path)).status).toBe(200)
      expect((await h.request(r.method, r.path, undefined, undefined, { authorization: 'Bearer x' })).status).toBe(200)
      expect((await h.request(r.method, r.path, expiring.admin)).status).toBe(200)
    })
  }
})

describe('tokens as listed', () => {
  const FIELDS = ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'role', 'tenant']

  it('dc09 tokens list (listTokens) never holds a hash or a secret', () => {
    const list = h.access.listTokens()
    // Ours, and those POST /v1/tokens made above.
    for (const t of Object.values({ ...tokens, ...expiring, ...revoked })) expect(list.map((k) => k.id)).toContain(t.split('_')[1])
    const secrets = Object.values({ ...tokens, ...expiring, ...revoked }).flatMap((t) => [t, t.split('_').slice(2).join('_')])
    for (const t of list) {
      expect(Object.keys(t).sort()).toEqual(FIELDS)
      expect(t).not.toHaveProperty('hash')
      expect(t).not.toHaveProperty('secret')
      expect(t).not.toHaveProperty('token')
      const text = JSON.stringify(t)
      for (const s of secrets) expect(text).not.toContain(s)
    }
    // The revoked and expired ones are listed as such.
    for (const role of ROLES) {
      expect(list.find((t) => t.id === revoked[role].split('_')[1])?.revokedAt).not.toBeNull()
      expect(list.find((t) => t.id === expiring[role].split('_')[1])?.expiresAt).toBe(new Date(Date.parse('2030-01-01T00:00:00Z') + 60_000).toISOString())
    }
  })

  it('GET /v1/tokens neither', async () => {
    const r = await h.request('GET', '/v1/tokens', tokens.admin)
    expect(r.status).toBe(200)
    const items = r.json<{ items: Array<Record<string, unknown>> }>().items
    expect(items.length).toBe(h.access.listTokens().length)
    for (const t of items) expect(Object.keys(t).sort()).toEqual(FIELDS)
    for (const t of Object.values({ ...tokens, ...expiring, ...revoked })) expect(r.body).not.toContain(t.split('_').slice(2).join('_'))
  })
})
