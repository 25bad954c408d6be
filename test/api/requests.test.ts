/**
 * Requests any route may get: validation (schemas, bodies, content types, sizes) and paging.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CODE, expectOk, Harness } from './harness.js'

// ------------------------------------------------------------ validation

describe('validation', () => {
  let h: Harness
  let admin: string
  let op: string
  beforeAll(async () => {
    h = await new Harness({ api: { bodyLimit: 1024, rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: '1234' }), 201)
  })
  afterAll(async () => { await h.close() })

  it('refuses a body over bodyLimit with 413, without echoing it', async () => {
    const r = await h.request('POST', '/v1/accounts', admin, { account: '5555', siteName: 'SECRETSITE'.repeat(120) })
    expect(r.status).toBe(413)
    expect(r.json()).toMatchObject({ error: 'too-large' })
    expect(r.body).not.toContain('SECRETSITE')
    expect(h.accounts.get('5555')).toBeUndefined()
  })

  it('accepts a body just under the limit', async () => {
    const r = await h.request('POST', '/v1/accounts', admin, { account: '5556', siteName: 'x'.repeat(150) })
    expectOk(r, 201)
  })

  it.each([
    ['windowAhead as a string', { windowAhead: '5' }],
    ['vip as a string', { vip: 'yes' }],
    ['keyholders as an object', { keyholders: {} }],
    ['encryptionRequired as a number', { encryptionRequired: 1 }],
    ['siteName as a number', { siteName: 42 }],
    ['a keyholder order as a string', { keyholders: [{ name: 'Ann', phone: '+370 600 00000', order: '1' }] }],
  ])('refuses wrong types (%s) with 400 invalid, no coercion', async (_name, fields) => {
    const r = await h.request('POST', '/v1/accounts', admin, { account: '6000', ...fields })
    expect(r.status).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid' })
    expect(h.accounts.get('6000')).toBeUndefined()
    const p = await h.request('PATCH', '/v1/accounts/1234', admin, fields)
    expect(p.status).toBe(400)
    expect(p.json()).toMatchObject({ error: 'invalid' })
  })

  it('refuses a timestamp window wider than the duplicate window (a replay after it would pass), 400 invalid', async () => {
    const r = await h.request('POST', '/v1/accounts', admin, { account: '6002', windowAhead: 20, windowBehind: 600 })
    expect(r.status).toBe(400)
    expect(r.json()).toMatchObject({ error: 'invalid' })
    expect(h.accounts.get('6002')).toBeUndefined()
    const p = await h.request('PATCH', '/v1/accounts/1234', admin, { windowBehind: 86_400 })
    expect(p.status).toBe(400)
    expect(p.json()).toMatchObject({ error: 'invalid' })
    expectOk(await h.request('PATCH', '/v1/accounts/1234', admin, { windowAhead: 20, windowBehind: 580 }))
  })

  it('refuses unknown fields, at the top level and inside a keyholder', async () => {
    let r = await h.request('POST', '/v1/accounts', admin, { account: '6001', colour: 'red' })
    expect(r.status).toBe(400)
    expect(r.json().error).toBe('invalid')
    r = await h.request('POST', '/v1/accounts', admin, { account: '6001', keyholders: [{ name: 'Ann', phone: '+370 600 00000', order: 1, email: 'a@b.c' }] })
    expect(r.status).toBe(400)
    expect(r.json().error).toBe('invalid')
    r = await h.request('PATCH', '/v1/accounts/1234', admin, { colour: 'red' })
    expect(r.status).toBe(400)
    expect(h.accounts.get('6001')).toBeUndefined()
  })

  it('refuses invalid JSON with a fixed message that never echoes the body', async () => {
    const r = await h.request('POST', '/v1/accounts', admin, '{"account": "6002", "key": "SECRETKEYMATERIAL')
    expect(r.status).toBe(400)
    expect(r.json()).toEqual({ error: 'invalid', message: 'the body is not valid JSON' })
    expect(r.body).not.toContain('SECRETKEYMATERIAL')
    expect(r.body).not.toContain('6002')
    const v = await h.request('POST', '/v1/accounts/1234/verify', op, '{"code": "987123')
    expect(v.status).toBe(400)
    expect(v.body).not.toContain('987123')
  })

  it('refuses a body that is not JSON with 415', async () => {
    const r = await h.request('POST', '/v1/accounts', admin, 'account=6003', { 'content-type': 'text/plain' })
    expect(r.status).toBe(415)
    expect(r.json()).toMatchObject({ error: 'unsupported-media-type' })
    expect(h.accounts.get('6003')).toBeUndefined()
  })

  it.each(['application/xml', 'application/x-www-form-urlencoded'])('refuses a %s body with 415', async (type) => {
    const r = await h.request('POST', '/v1/accounts', admin, 'account=6003', { 'content-type': type })
    expect(r.status).toBe(415)
    expect(r.json()).toEqual({ error: 'unsupported-media-type', message: 'send application/json' })
  })

  it('refuses bad path parameters with 400', async () => {
    expect((await h.request('GET', '/v1/accounts/ab', admin)).status).toBe(400)
    expect((await h.request('GET', '/v1/accounts/12-34', admin)).status).toBe(400)
    expect((await h.request('DELETE', '/v1/accounts/1234/users/0', admin)).status).toBe(400)
    expect((await h.request('PUT', '/v1/accounts/1234/users/0/code', admin, { code: CODE })).status).toBe(400)
    expect((await h.request('GET', '/v1/accounts/1234/cases/x', op)).status).toBe(400)
    expect((await h.request('POST', '/v1/accounts/1234/cases/0/resolve', op, {})).status).toBe(400)
    expect((await h.request('DELETE', '/v1/tokens/nothex', admin)).status).toBe(400)
    const r = await h.request('GET', '/v1/accounts/ab', admin)
    expect(r.json().error).toBe('invalid')
  })

  it('refuses limit=0 and limit=1000 in the query', async () => {
    expect((await h.request('GET', '/v1/accounts?limit=0', admin)).status).toBe(400)
    expect((await h.request('GET', '/v1/accounts?limit=1000', admin)).status).toBe(400)
    expect((await h.request('GET', '/v1/accounts?limit=-1', admin)).status).toBe(400)
    expect((await h.request('GET', '/v1/accounts?limit=abc', admin)).status).toBe(400)
    expect((await h.request('GET', '/v1/accounts/1234/events?limit=0', admin)).status).toBe(400)
    expect((await h.request('GET', '/v1/cases?limit=1000', op)).status).toBe(400)
    expect((await h.request('GET', '/v1/accounts?unknown=1', admin)).status).toBe(400)
    expectOk(await h.request('GET', '/v1/accounts?limit=999', admin))
  })

  it.each([
    ['a bad phone', { keyholders: [{ name: 'Ann', phone: 'call-me', order: 1 }] }, /keyholders\[0\]\.phone/],
    ['a duplicate keyholder order', { keyholders: [{ name: 'Ann', phone: '+370 600 00000', order: 1 }, { name: 'Bob', phone: '+370 600 00001', order: 1 }] }, /keyholders\[1\]\.order/],
    ['a siteName with control characters', { siteName: 'Home\u0007Office' }, /siteName/],
    ['a siteAddress with a newline', { siteAddress: 'Main St 1\nVilnius' }, /siteAddress/],
    ['a keyholder name with control characters', { keyholders: [{ name: 'Ann\u0000', phone: '+370 600 00000', order: 1 }] }, /keyholders\[0\]\.name/],
    ['a bad time zone', { timeZone: 'Mars/Base' }, /timeZone/],
  ])('applies the validateAccount rules through the API (%s): 400 naming the field', async (_name, fields, re) => {
    const r = await h.request('POST', '/v1/accounts', admin, { account: '6004', ...fields })
    expect(r.status).toBe(400)
    expect(r.json().error).toBe('invalid')
    expect(r.json().message).toMatch(re)
    expect(h.accounts.get('6004')).toBeUndefined()
    const p = await h.request('PATCH', '/v1/accounts/1234', admin, fields)
    expect(p.status).toBe(400)
    expect(p.json().message).toMatch(re)
  })

  it('refuses an empty PATCH', async () => {
    expect((await h.request('PATCH', '/v1/accounts/1234', admin, {})).status).toBe(400)
  })
})

// ------------------------------------------------------------ page size

describe('page size', () => {
  let h: Harness
  let admin: string
  const numbers = Array.from({ length: 12 }, (_, i) => `P${String(i + 1).padStart(3, '0')}`)
  beforeAll(async () => {
    h = await new Harness({ api: { pageSize: 5, rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    for (const account of numbers) expectOk(await h.request('POST', '/v1/accounts', admin, { account }), 201)
  })
  afterAll(async () => { await h.close() })

  it('returns at most pageSize accounts, and next', async () => {
    const r = await h.request('GET', '/v1/accounts', admin)
    expectOk(r)
    const { items, next } = r.json()
    expect(items).toHaveLength(5)
    expect(next).toBe(items[4].account)
  })

  it('pages through every account exactly once by after=next', async () => {
    const seen: string[] = []
    let after: string | null = null
    for (let page = 0; page < 10; page++) {
      const r = await h.request('GET', `/v1/accounts${after === null ? '' : `?after=${after}`}`, admin)
      expectOk(r)
      const body: { items: Array<{ account: string }>, next: string | null } = r.json()
      expect(body.items.length).toBeLessThanOrEqual(5)
      seen.push(...body.items.map((a: { account: string }) => a.account))
      after = body.next
      if (after === null) break
    }
    expect(after).toBeNull()
    expect(seen).toEqual(numbers)
  })

  it('limit=3 gives 3; a limit over pageSize gives pageSize', async () => {
    const three = (await h.request('GET', '/v1/accounts?limit=3', admin)).json()
    expect(three.items).toHaveLength(3)
    expect(three.next).toBe('P003')
    const big = (await h.request('GET', '/v1/accounts?limit=50', admin)).json()
    expect(big.items).toHaveLength(5)
  })

  it('caps the audit trail and the events list at pageSize too', async () => {
    expect((await h.request('GET', '/v1/audit?limit=50', admin)).json().items).toHaveLength(5)
  })
})
