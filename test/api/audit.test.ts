/**
 * The audit trail: what each route writes to it, and reading it.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES } from '../../src/api/routes/index.js'
import { CODE, DURESS, expectOk, Harness, idOf, KEY, tick, WRONG } from './harness.js'

// ------------------------------------------------------------ audit

describe('audit trail', () => {
  let h: Harness
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
  })
  afterAll(async () => { await h.close() })

  it('writes a row per audited request: actor, api:<name>, account, outcome, source; never a code, key or token', async () => {
    const admin = h.token('admin')
    const op = h.token('operator')
    const inst = h.token('installer', 'aud')
    const actor = (t: string) => {
      const role = t === admin ? 'admin' : t === op ? 'operator' : 'installer'
      return `${role}:${idOf(t)}`
    }
    let made = ''
    const steps: Array<[string, string, string, unknown, string, string | null, string]> = [
      // method, url, token, body, action, account, outcome
      ['POST', '/v1/accounts', inst, { account: 'a100', siteName: 'Audit Villa' }, 'account-create', 'A100', 'ok'],
      ['POST', '/v1/accounts', inst, { account: 'A100' }, 'account-create', 'A100', 'conflict'],
      ['POST', '/v1/accounts', inst, { account: 'A101', keyholders: [{ name: 'Ann', phone: 'nope', order: 1 }] }, 'account-create', 'A101', 'invalid'],
      ['GET', '/v1/accounts', inst, undefined, 'accounts-list', null, 'ok'],
      ['GET', '/v1/accounts/A100', inst, undefined, 'account-read', 'A100', 'ok'],
      ['GET', '/v1/accounts/Z999', inst, undefined, 'account-read', 'Z999', 'not-found'],
      ['PATCH', '/v1/accounts/A100', inst, { siteAddress: 'Main St 1' }, 'account-update', 'A100', 'ok'],
      ['PATCH', '/v1/accounts/A100', op, { siteAddress: 'Main St 2' }, 'account-update', 'A100', 'forbidden'],
      ['PATCH', '/v1/accounts/A100', inst, { windowAhead: '5' }, 'account-update', 'A100', 'invalid'],
      ['PUT', '/v1/accounts/A100/key', inst, { key: KEY }, 'key-set', 'A100', 'ok'],
      ['DELETE', '/v1/accounts/A100/key', inst, undefined, 'key-remove', 'A100', 'ok'],
      ['POST', '/v1/accounts/A100/users', inst, { user: 1, name: 'Ann' }, 'user-add', 'A100', 'ok'],
      ['POST', '/v1/accounts/A100/users', inst, { user: 2, name: 'Bob' }, 'user-add', 'A100', 'ok'],
      ['POST', '/v1/accounts/A100/users', inst, { user: 1 }, 'user-add', 'A100', 'conflict'],
      ['PUT', '/v1/accounts/A100/users/1/code', inst, { code: CODE }, 'code-set', 'A100', 'ok'],
      ['PUT', '/v1/accounts/A100/users/1/duress-code', inst, { code: DURESS }, 'duress-code-set', 'A100', 'ok'],
      ['PUT', '/v1/accounts/A100/users/9/code', inst, { code: CODE }, 'code-set', 'A100', 'not-found'],
      ['GET', '/v1/accounts/A100/users', inst, undefined, 'users-list', 'A100', 'ok'],
      ['DELETE', '/v1/accounts/A100/users/2', inst, undefined, 'user-remove', 'A100', 'ok'],
      ['GET', '/v1/accounts/A100/events', inst, undefined, 'events-read', 'A100', 'ok'],
      ['GET', '/v1/accounts/A100/supervision', inst, undefined, 'supervision-read', 'A100', 'ok'],
      ['POST', '/v1/accounts/A100/verify', op, { code: CODE }, 'verify', 'A100', 'valid'],
      ['POST', '/v1/accounts/A100/verify', op, { code: WRONG }, 'verify', 'A100', 'invalid'],
      ['POST', '/v1/accounts/A100/verify', inst, { code: CODE }, 'verify', 'A100', 'forbidden'],
      ['POST', '/v1/accounts/A100/unlock', op, undefined, 'verify-unlock', 'A100', 'ok'],
      ['GET', '/v1/cases', op, undefined, 'cases-list', null, 'ok'],
      ['GET', '/v1/accounts/A100/cases', op, undefined, 'cases-read', 'A100', 'ok'],
      ['GET', '/v1/accounts/A100/cases/12345', op, undefined, 'case-read', 'A100', 'not-found'],
      ['POST', '/v1/accounts/A100/cases/12345/resolve', op, { note: 'x' }, 'case-resolve', 'A100', 'not-found'],
      ['GET', '/v1/tenants', admin, undefined, 'tenants-list', null, 'ok'],
      ['POST', '/v1/tenants', admin, { tenant: 'newco', name: 'New Co' }, 'tenant-create', null, 'ok'],
      ['POST', '/v1/tenants', admin, { tenant: 'newco' }, 'tenant-create', null, 'conflict'],
      ['GET', '/v1/tokens', admin, undefined, 'tokens-list', null, 'ok'],
      ['GET', '/v1/tokens', op, undefined, 'tokens-list', null, 'forbidden'],
      ['POST', '/v1/tokens', admin, { role: 'operator', name: 'night shift' }, 'token-create', null, 'ok'],
      ['DELETE', '/v1/tokens/TOKEN', admin, undefined, 'token-revoke', null, 'ok'],
      ['POST', '/v1/codes/reset-all', admin, { confirm: 'every code on every account' }, 'codes-reset-all', null, 'ok'],
      ['DELETE', '/v1/accounts/A100', inst, undefined, 'account-remove', 'A100', 'ok'],
    ]
    const madeTokens: string[] = []
    for (const [method, url0, token, body, action, account, outcome] of steps) {
      const url = url0.replace('TOKEN', made)
      const r = await h.request(method, url, token, body)
      if (action === 'token-create' && r.status === 201) {
        made = r.json().id
        madeTokens.push(r.json().token)
      }
      await tick()
      const row = h.verifier.auditTrail(20).find((x) => x.action.startsWith('api:'))
      expect(row, `${method} ${url}`).toMatchObject({ actor: actor(token), action: `api:${action}`, account, outcome, source: '127.0.0.1' })
    }
    // Every audited route was exercised.
    const actions = new Set(h.verifier.auditTrail(10_000).map((x) => x.action))
    for (const r of ROUTES) if (r.audit !== undefined) expect(actions, r.audit).toContain(`api:${r.audit}`)
    // No row holds a code, a key, or a token's secret.
    const all = JSON.stringify(h.verifier.auditTrail(10_000))
    for (const secret of [CODE, DURESS, WRONG, KEY, KEY.toUpperCase(), admin, op, inst, ...madeTokens]) expect(all).not.toContain(secret)
    for (const t of [admin, op, inst, ...madeTokens]) expect(all).not.toContain(t.split('_').slice(2).join('_'))
  })

  it('does not answer HEAD or OPTIONS on token routes without a token', async () => {
    for (const url of ['/v1/accounts', '/v1/tokens', '/v1/audit']) {
      for (const method of ['HEAD', 'OPTIONS']) {
        const r = await h.request(method, url)
        expect([401, 404, 405], `${method} ${url}`).toContain(r.status)
      }
    }
  })

  it('writes one row a minute per address for requests without a valid token, and none for unaudited routes', async () => {
    const before = h.verifier.auditTrail(1)[0]?.id ?? 0
    expect((await h.request('GET', '/v1/accounts')).status).toBe(401)
    expect((await h.request('GET', '/v1/accounts', 'dc09_000000000000_' + 'A'.repeat(43))).status).toBe(401)
    expectOk(await h.request('GET', '/healthz'))
    expectOk(await h.request('GET', '/v1/me', h.token('operator')))
    await tick()
    const rows = h.verifier.auditTrail(100).filter((r) => r.id > before)
    // At most one: another test in this block may already have opened this address's minute.
    expect(rows.every((r) => r.action === 'api:unauthenticated' && r.actor === '-' && r.source === '127.0.0.1')).toBe(true)
    expect(rows.length).toBeLessThanOrEqual(1)
  })
})
