/**
 * The per-token and per-tenant limits and alarms: the request rate, the bulk-read alarm, code probing.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CODE, derived, expectOk, Harness, idOf, tick } from './harness.js'

// ------------------------------------------------------------ rate limit

describe('rate limit', () => {
  let h: Harness
  let now = Date.UTC(2026, 10, 27)
  beforeAll(async () => {
    h = await new Harness({ clock: () => now, api: { rateBurst: 5, ratePerSecond: 1 } }).start()
  })
  afterAll(async () => { await h.close() })

  it('lets a burst through, then 429 with retry-after, per token, and recovers with time', async () => {
    const a = h.token('operator')
    const b = h.token('operator')
    for (let i = 0; i < 5; i++) expectOk(await h.request('GET', '/v1/me', a))
    const refused = await h.request('GET', '/v1/me', a)
    expect(refused.status).toBe(429)
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(refused.json()).toMatchObject({ error: 'rate-limited' })
    // The limit is the token's: another is unaffected.
    expectOk(await h.request('GET', '/v1/me', b))
    // Still refused while the clock stands still.
    expect((await h.request('GET', '/v1/me', a)).status).toBe(429)
    now += 2000
    expectOk(await h.request('GET', '/v1/me', a))
    expectOk(await h.request('GET', '/v1/me', a))
    expect((await h.request('GET', '/v1/me', a)).status).toBe(429)
  })

  it('limits public routes and bad tokens per address, each apart, and apart from any token\'s allowance', async () => {
    now += 60_000
    const t = h.token('operator')
    const bad = 'dc09_000000000000_' + 'A'.repeat(43)
    for (let i = 0; i < 5; i++) expect((await h.request('GET', '/v1/me', bad)).status).toBe(401)
    // The address's bad-token allowance is used up...
    expect((await h.request('GET', '/v1/me', 'not-a-token')).status).toBe(429)
    // ...and a health probe from the same address still answers, as does a valid token.
    for (let i = 0; i < 5; i++) expectOk(await h.request('GET', '/healthz'))
    expect((await h.request('GET', '/metrics')).status).toBe(429)
    expectOk(await h.request('GET', '/v1/me', t))
    now += 2000
    expectOk(await h.request('GET', '/healthz'))
    expect((await h.request('GET', '/v1/me', bad)).status).toBe(401)
  })

  it('audits requests without a valid token once a minute per address, with the count since', async () => {
    now += 120_000
    const rows = () => h.verifier.auditTrail(1000).filter((r) => r.action === 'api:unauthenticated')
    const before = rows().length
    for (let i = 0; i < 3; i++) expect((await h.request('GET', '/v1/cases', 'dc09_000000000000_' + 'B'.repeat(43))).status).toBe(401)
    expect(rows()).toHaveLength(before + 1)
    now += 61_000
    expect((await h.request('GET', '/v1/cases')).status).toBe(401)
    expect(rows()).toHaveLength(before + 2)
    expect(rows()[0]).toMatchObject({ actor: '-', outcome: 'unauthenticated', source: '127.0.0.1', detail: '3 request(s) in the minute before' })
  })

  it('writes no audit row for a request refused for its rate', async () => {
    now += 60_000
    const t = h.token('operator')
    for (let i = 0; i < 5; i++) expectOk(await h.request('GET', '/v1/accounts', t))
    const before = h.verifier.auditTrail(1)[0]?.id
    for (let i = 0; i < 20; i++) expect((await h.request('GET', '/v1/accounts', t)).status).toBe(429)
    for (let i = 0; i < 20; i++) expect((await h.request('GET', '/v1/tokens', t)).status).toBe(429)
    expect(h.verifier.auditTrail(1)[0]?.id).toBe(before)
  })
})

// ------------------------------------------------------------ bulk-read alarm

describe('bulk-read alarm', () => {
  let h: Harness
  let now = Date.UTC(2026, 10, 27, 12)
  let admin: string
  const bulkRecords = async () => (await derived(h, 'security')).filter((r) => r.stage === 'api' && r.data.reason === 'bulk-read')
  const bulkAudits = () => h.verifier.auditTrail(1000).filter((r) => r.action === 'api:bulk-read')
  beforeAll(async () => {
    h = await new Harness({ clock: () => now, api: { bulkReadPerMinute: 10, rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    for (let i = 0; i < 12; i++) expectOk(await h.request('POST', '/v1/accounts', admin, { account: `B${String(i).padStart(3, '0')}`, tenant: 'bulk' }), 201)
  })
  afterAll(async () => { await h.close() })

  it('an installer listing more accounts than the limit raises exactly one security event in the minute', async () => {
    const inst = h.token('installer', 'bulk')
    expect((await h.request('GET', '/v1/accounts', inst)).json().items).toHaveLength(12)
    for (let i = 0; i < 5; i++) expectOk(await h.request('GET', `/v1/accounts/B00${i}`, inst))
    expectOk(await h.request('GET', '/v1/accounts', inst))
    await tick()
    const mine = (await bulkRecords()).filter((r) => r.data.token === idOf(inst))
    expect(mine).toHaveLength(1)
    expect(mine[0]).toMatchObject({ type: 'derived', stage: 'api', kind: 'security', account: '', data: { reason: 'bulk-read', tenant: 'bulk', token: idOf(inst) } })
    const audits = bulkAudits().filter((r) => r.actor === `installer:${idOf(inst)}`)
    expect(audits).toHaveLength(1)
    expect(audits[0]).toMatchObject({ action: 'api:bulk-read', source: '127.0.0.1' })
  })

  it('counts GETs of accounts, found or not', async () => {
    // A new minute: the tenant's alarm of the last one has been raised.
    now += 61_000
    const inst = h.token('installer', 'bulk')
    for (let i = 0; i < 10; i++) expect((await h.request('GET', `/v1/accounts/X${String(i).padStart(3, '0')}`, inst)).status).toBe(404)
    await tick()
    expect((await bulkRecords()).filter((r) => r.data.token === idOf(inst))).toHaveLength(0)
    expectOk(await h.request('GET', '/v1/accounts/B000', inst))
    await tick()
    expect((await bulkRecords()).filter((r) => r.data.token === idOf(inst))).toHaveLength(1)
    expect(bulkAudits().filter((r) => r.actor === `installer:${idOf(inst)}`)).toHaveLength(1)
  })

  it('counts 409 conflicts on taken numbers', async () => {
    const inst = h.token('installer', 'other')
    for (let i = 0; i < 11; i++) expect((await h.request('POST', '/v1/accounts', inst, { account: `B${String(i).padStart(3, '0')}` })).status).toBe(409)
    await tick()
    expect((await bulkRecords()).filter((r) => r.data.token === idOf(inst))).toHaveLength(1)
  })

  it('raises again in a new minute', async () => {
    now += 61_000
    const inst = h.token('installer', 'bulk')
    expectOk(await h.request('GET', '/v1/accounts', inst))
    await tick()
    expect((await bulkRecords()).filter((r) => r.data.token === idOf(inst))).toHaveLength(1)
    now += 61_000
    expectOk(await h.request('GET', '/v1/accounts', inst))
    await tick()
    expect((await bulkRecords()).filter((r) => r.data.token === idOf(inst))).toHaveLength(2)
  })

  it('counts distinct accounts: polling one account again and again is not a bulk read', async () => {
    const inst = h.token('installer', 'bulk')
    for (let i = 0; i < 30; i++) expectOk(await h.request('GET', '/v1/accounts/B001', inst))
    for (let i = 0; i < 30; i++) expectOk(await h.request('GET', '/v1/accounts/B001/events', inst))
    await tick()
    expect((await bulkRecords()).filter((r) => r.data.token === idOf(inst))).toHaveLength(0)
  })

  it('answers the read that trips the alarm only once the alarm is journaled (503 when it cannot be)', async () => {
    now += 120_000
    const inst = h.token('installer', 'bulk')
    for (let i = 0; i < 10; i++) expectOk(await h.request('GET', `/v1/accounts/B${String(i).padStart(3, '0')}`, inst))
    h.memory.failWith = new Error('disk full')
    try {
      const tripped = await h.request('GET', '/v1/accounts/B010', inst)
      expect(tripped.status).toBe(503)
      expect(tripped.body).not.toContain('B010')
    } finally {
      h.memory.failWith = undefined
    }
  })

  it('an operator (or admin) reading many accounts raises nothing', async () => {
    const before = (await bulkRecords()).length
    const auditsBefore = bulkAudits().length
    const op = h.token('operator')
    expectOk(await h.request('GET', '/v1/accounts', op))
    for (let i = 0; i < 12; i++) expectOk(await h.request('GET', `/v1/accounts/B${String(i).padStart(3, '0')}`, op))
    expectOk(await h.request('GET', '/v1/accounts', admin))
    await tick()
    expect(await bulkRecords()).toHaveLength(before)
    expect(bulkAudits()).toHaveLength(auditsBefore)
  })
})

// ------------------------------------------------------------ code probing

describe('code probing', () => {
  let h: Harness
  let now = Date.UTC(2026, 10, 27, 12)
  beforeAll(async () => {
    h = await new Harness({ clock: () => now, api: { codeConflictsPerHour: 3, rateBurst: 10_000 } }).start()
    const admin = h.token('admin')
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'P100', tenant: 'probe' }), 201)
    for (const user of [1, 2]) expectOk(await h.request('POST', '/v1/accounts/P100/users', admin, { user }), 201)
    expectOk(await h.request('PUT', '/v1/accounts/P100/users/1/code', admin, { code: CODE }), 204)
  })
  afterAll(async () => { await h.close() })

  it('stops a tenant setting codes for the hour after a few were refused as in use, and raises a security event', async () => {
    const inst = h.token('installer', 'probe')
    // Each 409 tells the installer that user 2's candidate is someone's code on the account.
    for (let i = 0; i < 3; i++) expect((await h.request('PUT', '/v1/accounts/P100/users/2/code', inst, { code: CODE })).status).toBe(409)
    await tick()
    // One event at the first refusal, one when the token is stopped.
    const events = (await derived(h, 'security')).filter((r) => r.data.reason === 'code-probe')
    expect(events.map((e) => e.data)).toMatchObject([
      { token: idOf(inst), tenant: 'probe', conflictsInHour: 1, blocked: false },
      { token: idOf(inst), tenant: 'probe', conflictsInHour: 3, blocked: true },
    ])
    expect(h.verifier.auditTrail(1000).filter((r) => r.action === 'api:code-probe')).toHaveLength(2)
    // Now even a fresh code is refused, before any hashing, until the hour is over.
    const blocked = await h.request('PUT', '/v1/accounts/P100/users/2/code', inst, { code: '920417' })
    expect(blocked.status).toBe(429)
    expect(blocked.json()).toMatchObject({ error: 'rate-limited' })
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0)
    expect(h.verifier.listUsers('P100').find((u) => u.user === 2)?.hasCode).toBe(false)
    // Nor can another token of the same tenant; an admin still can.
    expect((await h.request('PUT', '/v1/accounts/P100/users/2/code', h.token('installer', 'probe'), { code: '920417' })).status).toBe(429)
    expectOk(await h.request('PUT', '/v1/accounts/P100/users/2/code', h.token('admin'), { code: '920417' }), 204)
    now += 3_600_001
    expectOk(await h.request('PUT', '/v1/accounts/P100/users/2/duress-code', inst, { code: '317760' }), 204)
  })

  it('limits the codes a tenant may set on one account in an hour, accepted or not', async () => {
    const h2 = await new Harness({ clock: () => now, api: { codeSetsPerAccountPerHour: 4, rateBurst: 10_000 } }).start()
    try {
      const admin = h2.token('admin')
      for (const account of ['Q100', 'Q200']) {
        expectOk(await h2.request('POST', '/v1/accounts', admin, { account, tenant: 'probe' }), 201)
        expectOk(await h2.request('POST', `/v1/accounts/${account}/users`, admin, { user: 1 }), 201)
      }
      const inst = h2.token('installer', 'probe')
      const codes = ['582039', '693140', '704251', '815362', '926473']
      for (const code of codes.slice(0, 4)) expectOk(await h2.request('PUT', '/v1/accounts/Q100/users/1/code', inst, { code }), 204)
      expect((await h2.request('PUT', '/v1/accounts/Q100/users/1/code', inst, { code: codes[4] })).status).toBe(429)
      // Another account, or the next hour, is a new allowance.
      expectOk(await h2.request('PUT', '/v1/accounts/Q200/users/1/code', inst, { code: codes[4] }), 204)
      now += 3_600_001
      expectOk(await h2.request('PUT', '/v1/accounts/Q100/users/1/code', inst, { code: codes[4] }), 204)
    } finally {
      await h2.close()
    }
  })
})
