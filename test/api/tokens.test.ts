/**
 * Tokens and tenants, made and revoked through the interface.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectOk, Harness, idOf } from './harness.js'

// ------------------------------------------------------------ tokens and tenants

describe('tokens and tenants via the API', () => {
  let h: Harness
  let admin: string
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
  })
  afterAll(async () => { await h.close() })

  it('makes a token that works, lists it without secrets, and revokes it', async () => {
    const made = await h.request('POST', '/v1/tokens', admin, { role: 'installer', tenant: 't1', name: 'n' })
    expectOk(made, 201)
    const body = made.json()
    expect(body).toMatchObject({ role: 'installer', tenant: 't1', name: 'n', revokedAt: null })
    expect(body.token).toMatch(/^dc09_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
    expect(idOf(body.token)).toBe(body.id)
    const me = await h.request('GET', '/v1/me', body.token)
    expectOk(me)
    expect(me.json()).toMatchObject({ id: body.id, role: 'installer', tenant: 't1', name: 'n' })

    const list = await h.request('GET', '/v1/tokens', admin)
    expectOk(list)
    const listed = (list.json().items as Array<Record<string, unknown>>).find((t) => t.id === body.id)
    expect(listed).toMatchObject({ id: body.id, role: 'installer', tenant: 't1', name: 'n' })
    for (const t of list.json().items as Array<Record<string, unknown>>) {
      expect(Object.keys(t).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'role', 'tenant'])
    }
    const secret = body.token.split('_').slice(2).join('_') as string
    expect(list.body).not.toContain(secret)
    expect(list.body).not.toMatch(/hash/i)

    const revoked = await h.request('DELETE', `/v1/tokens/${body.id}`, admin)
    expectOk(revoked)
    expect(revoked.json().revokedAt).toEqual(expect.any(String))
    const after = await h.request('GET', '/v1/me', body.token)
    expect(after.status).toBe(401)
    expect(after.headers['www-authenticate']).toBe('Bearer')
    expect((await h.request('DELETE', '/v1/tokens/000000000000', admin)).status).toBe(404)
  })

  it('refuses bad token requests', async () => {
    expect((await h.request('POST', '/v1/tokens', admin, { role: 'installer' })).status).toBe(400)
    expect((await h.request('POST', '/v1/tokens', admin, { role: 'operator', tenant: 't1' })).status).toBe(400)
    expect((await h.request('POST', '/v1/tokens', admin, { role: 'root' })).status).toBe(400)
    expect((await h.request('POST', '/v1/tokens', admin, { role: 'operator', expiresInDays: 0 })).status).toBe(400)
    expect((await h.request('POST', '/v1/tokens', h.token('operator'), { role: 'admin' })).status).toBe(403)
    expect((await h.request('POST', '/v1/tokens', h.token('installer', 't1'), { role: 'installer', tenant: 't1' })).status).toBe(403)
    const exp = await h.request('POST', '/v1/tokens', admin, { role: 'operator', expiresInDays: 2 })
    expectOk(exp, 201)
    expect(Date.parse(exp.json().expiresAt) - Date.now()).toBeGreaterThan(86_400_000)
  })

  it('registers and lists tenants', async () => {
    const made = await h.request('POST', '/v1/tenants', admin, { tenant: 'acme', name: 'Acme Alarms' })
    expectOk(made, 201)
    expect(made.json()).toMatchObject({ tenant: 'acme', name: 'Acme Alarms' })
    expect((await h.request('POST', '/v1/tenants', admin, { tenant: 'acme' })).status).toBe(409)
    expect((await h.request('POST', '/v1/tenants', admin, { tenant: 'bad tenant' })).status).toBe(400)
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'T100', tenant: 'onlyinaccounts' }), 201)
    const list = await h.request('GET', '/v1/tenants', admin)
    expectOk(list)
    const names = (list.json().items as Array<{ tenant: string }>).map((t) => t.tenant)
    expect(names).toEqual(expect.arrayContaining(['acme', 't1', 'onlyinaccounts']))
    expect((await h.request('GET', '/v1/tenants', h.token('operator'))).status).toBe(403)
  })
})
