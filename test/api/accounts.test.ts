/**
 * Accounts: adding, reading, changing and removing them, and the tenant quota.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CODE, DURESS, expectOk, Harness, KEY } from './harness.js'

// ------------------------------------------------------------ accounts

describe('accounts', () => {
  let h: Harness
  let admin: string
  let op: string
  let inst: string
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    inst = h.token('installer', 'alpha')
  })
  afterAll(async () => { await h.close() })

  it('gives installer-created accounts the installer\'s tenant', async () => {
    const r = await h.request('POST', '/v1/accounts', inst, { account: 'AC01', siteName: 'Alpha Shop' })
    expectOk(r, 201)
    expect(r.json()).toMatchObject({ account: 'AC01', tenant: 'alpha', siteName: 'Alpha Shop' })
    expect(r.json()).not.toHaveProperty('vip')
    expect(h.accounts.get('AC01')?.tenant).toBe('alpha')
    expectOk(await h.request('POST', '/v1/accounts', inst, { account: 'AC02', tenant: 'alpha' }), 201)
  })

  it('refuses an installer giving another tenant, or vip', async () => {
    let r = await h.request('POST', '/v1/accounts', inst, { account: 'AC03', tenant: 'beta' })
    expect(r.status).toBe(400)
    expect(r.json().message).toMatch(/tenant/)
    r = await h.request('POST', '/v1/accounts', inst, { account: 'AC03', vip: true })
    expect(r.status).toBe(400)
    r = await h.request('POST', '/v1/accounts', inst, { account: 'AC03', vip: false })
    expect(r.status).toBe(400)
    expect(h.accounts.get('AC03')).toBeUndefined()
    r = await h.request('PATCH', '/v1/accounts/AC01', inst, { tenant: 'beta' })
    expect(r.status).toBe(400)
    r = await h.request('PATCH', '/v1/accounts/AC01', inst, { vip: true })
    expect(r.status).toBe(400)
    r = await h.request('PATCH', '/v1/accounts/AC01', inst, { tenant: null })
    expect(r.status).toBe(400)
    expect(h.accounts.get('AC01')).toMatchObject({ tenant: 'alpha', vip: false })
  })

  it('lets an admin set vip, which operators see and installers do not', async () => {
    expectOk(await h.request('PATCH', '/v1/accounts/AC01', admin, { vip: true }))
    expect((await h.request('GET', '/v1/accounts/AC01', op)).json().vip).toBe(true)
    const seen = await h.request('GET', '/v1/accounts/AC01', inst)
    expect(seen.json()).not.toHaveProperty('vip')
    expect((await h.request('GET', '/v1/accounts', inst)).json().items.every((a: object) => !('vip' in a))).toBe(true)
    const patched = await h.request('PATCH', '/v1/accounts/AC01', inst, { siteName: 'Alpha Shop 2' })
    expectOk(patched)
    expect(patched.json()).not.toHaveProperty('vip')
    expect(h.accounts.get('AC01')?.vip).toBe(true)
  })

  it('refuses operators creating, changing or removing accounts (403)', async () => {
    expect((await h.request('POST', '/v1/accounts', op, { account: 'AC09' })).status).toBe(403)
    expect((await h.request('PATCH', '/v1/accounts/AC01', op, { siteName: 'x' })).status).toBe(403)
    expect((await h.request('DELETE', '/v1/accounts/AC01', op)).status).toBe(403)
    expect((await h.request('PUT', '/v1/accounts/AC01/key', op, { key: KEY })).status).toBe(403)
    expect((await h.request('POST', '/v1/accounts/AC01/users', op, { user: 1 })).status).toBe(403)
    expect(h.accounts.get('AC09')).toBeUndefined()
    expect(h.accounts.get('AC01')?.siteName).toBe('Alpha Shop 2')
  })

  it('sets a key write-only: hasKey true, the key nowhere; DELETE key: hasKey false', async () => {
    const put = await h.request('PUT', '/v1/accounts/AC02/key', inst, { key: KEY })
    expect(put.status).toBe(204)
    expect(put.body).toBe('')
    const got = await h.request('GET', '/v1/accounts/AC02', inst)
    expect(got.json()).toMatchObject({ hasKey: true, keyFormat: 'hex', encryptionRequired: true })
    expect(got.json()).not.toHaveProperty('key')
    expect(got.json()).not.toHaveProperty('keyText')
    await h.request('GET', '/v1/accounts', admin)
    await h.request('GET', '/v1/audit', admin)
    const everything = h.bodies.join('\n') + (await h.request('GET', '/metrics')).body + JSON.stringify(h.verifier.auditTrail(10_000))
    expect(everything.toLowerCase()).not.toContain(KEY)
    expect((await h.request('DELETE', '/v1/accounts/AC02/key', inst)).status).toBe(204)
    expect((await h.request('GET', '/v1/accounts/AC02', inst)).json()).toMatchObject({ hasKey: false, encryptionRequired: false })
    // A bad key is refused with a reason that does not repeat it.
    const bad = await h.request('PUT', '/v1/accounts/AC02/key', inst, { key: 'ZZ' + KEY.slice(2) })
    expect(bad.status).toBe(400)
    expect(bad.body).not.toContain(KEY.slice(2))
  })

  it('refuses a user name with a format character (a right-to-left override, a zero-width space), as for keyholders', async () => {
    expectOk(await h.request('POST', '/v1/accounts', inst, { account: 'AC09' }), 201)
    for (const [i, name] of ['Evil \u202Egnp.exe', 'zero\u200Bwidth', 'tab\there'].entries()) {
      const r = await h.request('POST', '/v1/accounts/AC09/users', inst, { user: i + 1, name })
      expect(r.status, JSON.stringify(name)).toBe(400)
      expect(r.json()).toMatchObject({ error: 'invalid' })
    }
    expectOk(await h.request('POST', '/v1/accounts/AC09/users', inst, { user: 1, name: 'می\u200Cخواهم' }), 201)
    expect((await h.request('GET', '/v1/accounts/AC09/users', inst)).json().items.map((u: { name: string }) => u.name)).toEqual(['می\u200Cخواهم'])
  })

  it('DELETE removes the account, its users from the verifier, and its recent events', async () => {
    expectOk(await h.request('POST', '/v1/accounts', inst, { account: 'AC05' }), 201)
    expectOk(await h.request('POST', '/v1/accounts/AC05/users', inst, { user: 1, name: 'Ann' }), 201)
    expectOk(await h.request('PUT', '/v1/accounts/AC05/users/1/code', inst, { code: CODE }), 204)
    // A periodic test: an alarm would open a case, and an installer does not remove an account with one open.
    await h.frame('AC05', '1602 00 000')
    expect((await h.request('GET', '/v1/accounts/AC05/events', inst)).json().items.length).toBeGreaterThan(0)
    expect(h.verifier.listUsers('AC05')).toHaveLength(1)
    expect((await h.request('DELETE', '/v1/accounts/AC05', inst)).status).toBe(204)
    expect(h.accounts.get('AC05')).toBeUndefined()
    expect(h.verifier.listUsers('AC05')).toEqual([])
    expect(h.recent.list('AC05', 100)).toEqual([])
    expect((await h.request('GET', '/v1/accounts/AC05', inst)).status).toBe(404)
    expect((await h.request('DELETE', '/v1/accounts/AC05', inst)).status).toBe(404)
    // A new account with the same number starts clean.
    expectOk(await h.request('POST', '/v1/accounts', inst, { account: 'AC05' }), 201)
    expect((await h.request('GET', '/v1/accounts/AC05/events', inst)).json().items).toEqual([])
    expect((await h.request('GET', '/v1/accounts/AC05/users', inst)).json().items).toEqual([])
  })

  it('lists users with hasCode, hasDuressCode and needsNewCode (after reset-all)', async () => {
    expectOk(await h.request('POST', '/v1/accounts', inst, { account: 'AC06' }), 201)
    expectOk(await h.request('POST', '/v1/accounts/AC06/users', inst, { user: 1, name: 'Ann' }), 201)
    expectOk(await h.request('POST', '/v1/accounts/AC06/users', inst, { user: 2, name: 'Bob' }), 201)
    expectOk(await h.request('PUT', '/v1/accounts/AC06/users/1/code', inst, { code: CODE }), 204)
    expectOk(await h.request('PUT', '/v1/accounts/AC06/users/1/duress-code', inst, { code: DURESS }), 204)
    let users = (await h.request('GET', '/v1/accounts/AC06/users', op)).json().items
    expect(users).toEqual([
      { user: 1, name: 'Ann', hasCode: true, hasDuressCode: true, needsNewCode: false },
      { user: 2, name: 'Bob', hasCode: false, hasDuressCode: false, needsNewCode: false },
    ])
    expect((await h.request('POST', '/v1/codes/reset-all', admin, { confirm: 'yes' })).status).toBe(400)
    expect((await h.request('POST', '/v1/codes/reset-all', op, { confirm: 'every code on every account' })).status).toBe(403)
    const reset = await h.request('POST', '/v1/codes/reset-all', admin, { confirm: 'every code on every account' })
    expectOk(reset)
    expect(reset.json().accounts).toBeGreaterThanOrEqual(1)
    users = (await h.request('GET', '/v1/accounts/AC06/users', inst)).json().items
    expect(users).toEqual([
      { user: 1, name: 'Ann', hasCode: false, hasDuressCode: false, needsNewCode: true },
      { user: 2, name: 'Bob', hasCode: false, hasDuressCode: false, needsNewCode: true },
    ])
    expect((await h.request('POST', '/v1/accounts/AC06/verify', op, { code: CODE })).json().result).toBe('invalid')
    expectOk(await h.request('PUT', '/v1/accounts/AC06/users/1/code', inst, { code: CODE }), 204)
    users = (await h.request('GET', '/v1/accounts/AC06/users', inst)).json().items
    expect(users[0]).toMatchObject({ user: 1, hasCode: true, needsNewCode: false })
    expect(users[1]).toMatchObject({ user: 2, hasCode: false, needsNewCode: true })
  })

  it('refuses weak codes and a code already used on the account', async () => {
    expectOk(await h.request('POST', '/v1/accounts', inst, { account: 'AC07' }), 201)
    expectOk(await h.request('POST', '/v1/accounts/AC07/users', inst, { user: 1 }), 201)
    expectOk(await h.request('POST', '/v1/accounts/AC07/users', inst, { user: 2 }), 201)
    expect((await h.request('PUT', '/v1/accounts/AC07/users/1/code', inst, { code: '123456' })).status).toBe(400)
    expect((await h.request('PUT', '/v1/accounts/AC07/users/1/code', inst, { code: '12a456' })).status).toBe(400)
    expectOk(await h.request('PUT', '/v1/accounts/AC07/users/1/code', inst, { code: CODE }), 204)
    const taken = await h.request('PUT', '/v1/accounts/AC07/users/2/code', inst, { code: CODE })
    expect(taken.status).toBe(409)
    expect(taken.body).not.toContain(CODE)
  })

  it('searches the start of the number and of the site name with q', async () => {
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'SRCH1', siteName: 'Green Bakery' }), 201)
    const items = (await h.request('GET', '/v1/accounts?q=green%20bak', admin)).json().items as Array<{ account: string }>
    expect(items.map((a) => a.account)).toEqual(['SRCH1'])
    expect((await h.request('GET', '/v1/accounts?q=srch', admin)).json().items.map((a: { account: string }) => a.account)).toEqual(['SRCH1'])
    // A prefix: the middle of a name is not searched.
    expect((await h.request('GET', '/v1/accounts?q=bakery', admin)).json().items).toEqual([])
    // An installer's search stays within its tenant.
    expect((await h.request('GET', '/v1/accounts?q=green%20bak', inst)).json().items).toEqual([])
  })
})

// ------------------------------------------------------------ tenant quota

describe('tenant quota', () => {
  it('stops an installer adding accounts past maxAccountsPerTenant; an admin still can', async () => {
    const h = await new Harness({ api: { maxAccountsPerTenant: 2 } }).start()
    try {
      const inst = h.token('installer', 'small')
      for (const account of ['Q001', 'Q002']) expectOk(await h.request('POST', '/v1/accounts', inst, { account }), 201)
      const refused = await h.request('POST', '/v1/accounts', inst, { account: 'Q003' })
      expect(refused.status).toBe(403)
      expect(refused.json()).toMatchObject({ error: 'quota' })
      expect(h.accounts.get('Q003')).toBeUndefined()
      // Another tenant's installer is not held by it, and an admin decides beyond it.
      expectOk(await h.request('POST', '/v1/accounts', h.token('installer', 'other'), { account: 'Q004' }), 201)
      expectOk(await h.request('POST', '/v1/accounts', h.token('admin'), { account: 'Q003', tenant: 'small' }), 201)
      expect(h.accounts.count('small')).toBe(3)
    } finally {
      await h.close()
    }
  })
})
