/**
 * The HTTP interface, request by request: validation, paging, rate limits, verification, cases,
 * the bulk-read alarm, the audit trail, accounts, events, supervision, health, metrics, the
 * OpenAPI description and tokens. Each describe block runs on its own Harness (a temporary data
 * directory, a memory journal and a running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { ROUTES } from '../../src/api/routes/index.js'
import type { DerivedRecord, JournalRecord } from '../../src/journal/record.js'
import type { Stored } from '../../src/journal/journal.js'
import { Harness, type Response } from './harness.js'

const KEY = '00112233445566778899aabbccddeeff'
const CODE = '739154'
const DURESS = '482916'
const WRONG = '105938'

/** The token's id: `dc09_<id>_<secret>`. */
const idOf = (token: string): string => token.split('_')[1]!

/** Lets commits queued with setImmediate (the memory journal's) and their callbacks run. */
const tick = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
}

async function records (h: Harness): Promise<Array<Stored<JournalRecord>>> {
  const out: Array<Stored<JournalRecord>> = []
  for await (const r of h.memory.read()) out.push(r)
  return out
}

async function derived (h: Harness, kind?: string): Promise<Array<Stored<DerivedRecord>>> {
  return (await records(h)).filter((r): r is Stored<DerivedRecord> => r.type === 'derived' && (kind === undefined || r.kind === kind))
}

function expectOk (r: Response, status = 200): void {
  expect(r.status, r.body).toBe(status)
}

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

// ------------------------------------------------------------ verification

describe('verification endpoint', () => {
  let h: Harness
  let admin: string
  let op: string
  beforeAll(async () => {
    h = await new Harness({ verifier: { maxFailures: 3, lockMs: 60_000 }, api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    for (const account of ['V100', 'V200', 'V300']) {
      expectOk(await h.request('POST', '/v1/accounts', admin, { account }), 201)
      expectOk(await h.request('POST', `/v1/accounts/${account}/users`, admin, { user: 1, name: 'Ann' }), 201)
      expectOk(await h.request('PUT', `/v1/accounts/${account}/users/1/code`, admin, { code: CODE }), 204)
    }
    expectOk(await h.request('PUT', '/v1/accounts/V200/users/1/duress-code', admin, { code: DURESS }), 204)
  })
  afterAll(async () => { await h.close() })

  it('answers valid for the right code, with the account and user', async () => {
    const r = await h.request('POST', '/v1/accounts/v100/verify', op, { code: CODE })
    expectOk(r)
    expect(r.json()).toEqual({ result: 'valid', account: 'V100', user: 1 })
  })

  it('locks after maxFailures wrong codes, even against the right code, until unlocked', async () => {
    const caller = h.token('operator')
    for (let i = 0; i < 3; i++) {
      const r = await h.request('POST', '/v1/accounts/V100/verify', caller, { code: WRONG })
      expectOk(r)
      expect(r.json()).toEqual({ result: 'invalid', account: 'V100' })
    }
    const locked = await h.request('POST', '/v1/accounts/V100/verify', caller, { code: CODE })
    expectOk(locked)
    expect(locked.json()).toMatchObject({ result: 'locked', account: 'V100' })
    expect(Date.parse(locked.json().lockedUntil)).toBeGreaterThan(Date.now())
    expect(locked.json().user).toBeUndefined()
    // Another operator is locked out of the account too: the lock is the account's.
    expect((await h.request('POST', '/v1/accounts/V100/verify', op, { code: CODE })).json().result).toBe('locked')
    expect((await h.request('POST', '/v1/accounts/V100/unlock', caller)).status).toBe(204)
    expect((await h.request('POST', '/v1/accounts/V100/verify', caller, { code: CODE })).json()).toEqual({ result: 'valid', account: 'V100', user: 1 })
  })

  it('answers a duress code exactly as the disarm code, and silently journals duress and opens a duress case', async () => {
    const a = await h.request('POST', '/v1/accounts/V200/verify', op, { code: CODE })
    const b = await h.request('POST', '/v1/accounts/V200/verify', op, { code: DURESS })
    expect(b.status).toBe(a.status)
    expect(b.body).toBe(a.body)
    expect(a.json()).toEqual({ result: 'valid', account: 'V200', user: 1 })
    const { date: _da, ...ha } = a.headers
    const { date: _db, ...hb } = b.headers
    expect(hb).toEqual(ha)
    await h.settled()
    const mine = (await derived(h)).filter((r) => r.account === 'V200' && r.stage === 'api')
    expect(mine.map((r) => r.kind)).toEqual(['verification', 'duress'])
    expect(mine[0]!.data).toMatchObject({ outcome: 'valid', user: 1 })
    expect(mine[1]!.data).toMatchObject({ user: 1 })
    const cases = (await h.request('GET', '/v1/cases', op)).json().items as Array<{ account: string, duress: boolean, state: string }>
    expect(cases.filter((c) => c.account === 'V200')).toEqual([expect.objectContaining({ account: 'V200', duress: true, state: 'open' })])
    // The metrics cannot tell them apart either.
    const metrics = (await h.request('GET', '/metrics')).body
    expect(metrics).not.toMatch(/outcome="duress"/)
  })

  it('answers 503 when the journal cannot commit, and nothing claims valid', async () => {
    const before = (await h.request('GET', '/metrics')).body.match(/dc09_verifications_total\{outcome="valid"\} (\d+)/)?.[1]
    const recordsBefore = (await records(h)).length
    h.memory.failWith = new Error('disk')
    let r: Response
    try {
      r = await h.request('POST', '/v1/accounts/V300/verify', op, { code: CODE })
    } finally {
      h.memory.failWith = undefined
    }
    expect(r.status).toBe(503)
    expect(r.json()).toMatchObject({ error: 'unavailable' })
    expect(r.body).not.toContain('valid"')
    expect(r.body).not.toContain('"user"')
    await tick()
    expect((await records(h)).length).toBe(recordsBefore)
    const after = (await h.request('GET', '/metrics')).body.match(/dc09_verifications_total\{outcome="valid"\} (\d+)/)?.[1]
    expect(after).toBe(before)
    const row = h.verifier.auditTrail(50).find((x) => x.action === 'api:verify' && x.account === 'V300')
    expect(row?.outcome).toBe('unavailable')
  })

  it('leaves no audit row claiming valid for a verification whose answer was 503', async () => {
    // The previous test presented V300's right code while the journal could not commit.
    const rows = h.verifier.auditTrail(1000).filter((x) => x.account === 'V300')
    expect(rows.length).toBeGreaterThan(0)
    expect(rows.filter((x) => x.outcome === 'valid')).toEqual([])
  })

  it('refuses installers (403) and answers invalid for an unknown account', async () => {
    const inst = h.token('installer', 't1')
    const r = await h.request('POST', '/v1/accounts/V100/verify', inst, { code: CODE })
    expect(r.status).toBe(403)
    expect(r.json()).toMatchObject({ error: 'forbidden' })
    expect((await h.request('POST', '/v1/accounts/V100/unlock', inst)).status).toBe(403)
    const unknown = await h.request('POST', '/v1/accounts/NOSUCH9/verify', h.token('operator'), { code: CODE })
    expectOk(unknown)
    expect(unknown.json()).toEqual({ result: 'invalid', account: 'NOSUCH9' })
  })
})

// ------------------------------------------------------------ hashing queue

describe('a full hashing queue', () => {
  let h: Harness
  let admin: string
  let op: string
  /** Hashes wait until released: the queue (one running, one waiting) stays full while the test looks. */
  let release: Array<() => void> = []
  let holding = false
  beforeAll(async () => {
    const { hashCode } = await import('../../src/verification/codes.js')
    const hash: typeof hashCode = async (...args) => {
      if (holding) await new Promise<void>((resolve) => release.push(resolve))
      return await hashCode(...args)
    }
    h = await new Harness({ verifier: { hash, hashConcurrency: 1, hashQueue: 1 }, api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'Q100' }), 201)
    for (const user of [1, 2]) expectOk(await h.request('POST', '/v1/accounts/Q100/users', admin, { user }), 201)
    expectOk(await h.request('PUT', '/v1/accounts/Q100/users/1/code', admin, { code: CODE }), 204)
  })
  afterAll(async () => { await h.close() })

  it('answers 503 busy to a verification or a code setting, journals and counts nothing, and works again once it drains', async () => {
    holding = true
    const first = h.request('POST', '/v1/accounts/Q100/verify', op, { code: CODE })
    const second = h.request('POST', '/v1/accounts/Q100/verify', op, { code: WRONG })
    await tick()
    const before = (await derived(h, 'verification')).length
    const busy = await h.request('POST', '/v1/accounts/Q100/verify', op, { code: WRONG })
    expect(busy.status).toBe(503)
    expect(busy.json()).toMatchObject({ error: 'busy' })
    const setBusy = await h.request('PUT', '/v1/accounts/Q100/users/2/code', admin, { code: DURESS })
    expect(setBusy.status).toBe(503)
    expect(setBusy.json()).toMatchObject({ error: 'busy' })
    expect((await derived(h, 'verification')).length).toBe(before)
    holding = false
    while (release.length > 0) release.shift()!()
    await tick()
    while (release.length > 0) release.shift()!()
    expect((await first).json()).toEqual({ result: 'valid', account: 'Q100', user: 1 })
    expect((await second).json()).toEqual({ result: 'invalid', account: 'Q100' })
    expectOk(await h.request('PUT', '/v1/accounts/Q100/users/2/code', admin, { code: DURESS }), 204)
    expect(h.verifier.auditTrail(100).filter((r) => r.action === 'verify').map((r) => r.outcome)).toEqual(['invalid', 'valid'])
  })
})

// ------------------------------------------------------------ cases

describe('cases', () => {
  let h: Harness
  let admin: string
  let op: string
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    for (const account of ['C100', 'C200']) expectOk(await h.request('POST', '/v1/accounts', admin, { account }), 201)
    await h.frame('C100', '1130 01 015')
    await h.frame('C200', '1130 01 016')
  })
  afterAll(async () => { await h.close() })

  const caseOf = async (account: string): Promise<{ id: number, state: string }> => {
    const items = (await h.request('GET', '/v1/cases?state=all', op)).json().items as Array<{ id: number, account: string, state: string }>
    return items.find((c) => c.account === account)!
  }

  it('lists an alarm as an open case', async () => {
    const r = await h.request('GET', '/v1/cases', op)
    expectOk(r)
    const c = (r.json().items as Array<{ account: string, state: string, alarms: number }>).find((k) => k.account === 'C100')
    expect(c).toMatchObject({ account: 'C100', state: 'open', alarms: 1 })
    expect((await h.request('GET', '/v1/cases', h.token('installer', 't1'))).status).toBe(403)
  })

  it('resolves a case (closedBy names the operator\'s token), refuses resolving it again, and lists it as closed', async () => {
    const { id } = await caseOf('C100')
    const r = await h.request('POST', `/v1/accounts/C100/cases/${id}/resolve`, op, { note: 'false alarm, keyholder on site' })
    expectOk(r)
    expect(r.json()).toMatchObject({ id, account: 'C100', state: 'resolved', closedBy: `operator:${idOf(op)}` })
    expect(r.json().closedAt).toEqual(expect.any(String))
    const again = await h.request('POST', `/v1/accounts/C100/cases/${id}/resolve`, op, { note: 'again' })
    expect(again.status).toBe(409)
    expect(again.json().error).toBe('conflict')
    const closed = (await h.request('GET', '/v1/cases?state=closed', op)).json().items as Array<{ id: number }>
    expect(closed.map((c) => c.id)).toContain(id)
    const open = (await h.request('GET', '/v1/cases', op)).json().items as Array<{ id: number }>
    expect(open.map((c) => c.id)).not.toContain(id)
    expect((await h.request('GET', `/v1/accounts/C100/cases/${id}`, op)).json().state).toBe('resolved')
    const resolved = (await derived(h, 'case-resolved')).find((x) => x.account === 'C100')
    expect(resolved?.data).toMatchObject({ caseId: id })
  })

  it('answers one of two concurrent resolutions 409, not both 200', async () => {
    await h.frame('C100', '1130 01 018')
    const { id } = (await h.request('GET', '/v1/accounts/C100/cases?state=open', op)).json().items[0] as { id: number }
    const op2 = h.token('operator')
    const [a, b] = await Promise.all([
      h.request('POST', `/v1/accounts/C100/cases/${id}/resolve`, op, { note: 'first' }),
      h.request('POST', `/v1/accounts/C100/cases/${id}/resolve`, op2, { note: 'second' }),
    ])
    expect([a.status, b.status].sort()).toEqual([200, 409])
  })

  it('resolves without a note (empty body object)', async () => {
    const { id } = await caseOf('C200')
    const r = await h.request('POST', `/v1/accounts/C200/cases/${id}/resolve`, op, {})
    expectOk(r)
    expect(r.json().state).toBe('resolved')
  })

  it('answers 404 for a case id of another account, and for an unknown case', async () => {
    await h.frame('C200', '1130 01 017')
    const { id } = await caseOf('C100')
    expect((await h.request('GET', `/v1/accounts/C200/cases/${id}`, op)).status).toBe(404)
    const open200 = (await h.request('GET', '/v1/accounts/C200/cases?state=open', op)).json().items as Array<{ id: number }>
    expect(open200).toHaveLength(1)
    const r = await h.request('POST', `/v1/accounts/C100/cases/${open200[0]!.id}/resolve`, op, {})
    expect(r.status).toBe(404)
    expect((await h.request('GET', '/v1/accounts/C200/cases/999999', op)).status).toBe(404)
    expect((await h.request('GET', `/v1/accounts/C200/cases/${open200[0]!.id}`, op)).json().state).toBe('open')
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

// ------------------------------------------------------------ events

describe('events', () => {
  let h: Harness
  let admin: string
  let op: string
  let inst: string
  let frames: number[]
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    inst = h.token('installer', 'ev')
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'E100', tenant: 'ev' }), 201)
    frames = []
    frames.push(await h.frame('E100', '1130 01 015'))
    frames.push(await h.frame('E100', '3130 01 015'))
    frames.push(await h.frame('E100', '1602 00 000'))
    // A verification (journaled by the verify endpoint) and a supervision event.
    expectOk(await h.request('POST', '/v1/accounts/E100/verify', op, { code: WRONG }))
    await h.journal.append({ type: 'derived', receivedAt: Date.now(), kind: 'supervision-failure', account: 'E100', stage: 'supervision', causedBy: 0, n: 0, data: { lastSeen: null, intervalSeconds: 60 } })
    await h.settled()
  })
  afterAll(async () => { await h.close() })

  it('returns the account\'s events newest first, with no raw bytes or peer', async () => {
    const r = await h.request('GET', '/v1/accounts/E100/events', op)
    expectOk(r)
    const items = r.json().items as Array<{ id: number, type: string, kind?: string }>
    const ids = items.map((e) => e.id)
    expect(ids).toEqual([...ids].sort((a, b) => b - a))
    for (const f of frames) expect(ids).toContain(f)
    expect(r.json().next).toBeNull()
    expect(r.body).not.toContain('"raw"')
    expect(r.body).not.toContain('"peer"')
    expect(r.body).not.toContain('127.0.0.1:5000')
    // Operators see everything: frames, the case, the verification, supervision.
    const kinds = new Set(items.map((e) => e.kind ?? e.type))
    for (const k of ['frame', 'case-opened', 'verification', 'supervision-failure']) expect(kinds).toContain(k)
  })

  it('pages with before=next', async () => {
    const all = (await h.request('GET', '/v1/accounts/E100/events', op)).json().items.map((e: { id: number }) => e.id) as number[]
    const paged: number[] = []
    let before: number | null = null
    for (let i = 0; i < 20; i++) {
      const body: { items: Array<{ id: number }>, next: number | null } = (await h.request('GET', `/v1/accounts/E100/events?limit=2${before === null ? '' : `&before=${before}`}`, op)).json()
      expect(body.items.length).toBeLessThanOrEqual(2)
      paged.push(...body.items.map((e: { id: number }) => e.id))
      before = body.next
      if (before === null) break
    }
    expect(paged).toEqual(all)
  })

  it('shows installers frames and supervision events only', async () => {
    const items = (await h.request('GET', '/v1/accounts/E100/events', inst)).json().items as Array<{ id: number, type: string, kind?: string }>
    expect(items.filter((e) => e.type === 'frame').map((e) => e.id)).toEqual([...frames].reverse())
    expect(items.some((e) => e.kind === 'supervision-failure')).toBe(true)
    for (const e of items) {
      if (e.type === 'derived') expect(e.kind).toMatch(/^supervision/)
    }
    expect(JSON.stringify(items)).not.toMatch(/verification|duress|case-/)
  })

  it('hides another tenant\'s account\'s events (404)', async () => {
    expect((await h.request('GET', '/v1/accounts/E100/events', h.token('installer', 'other'))).status).toBe(404)
  })
})

// ------------------------------------------------------------ supervision

describe('supervision', () => {
  let h: Harness
  let admin: string
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'S100', supervisionSeconds: 3600 }), 201)
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'S200' }), 201)
  })
  afterAll(async () => { await h.close() })

  it('says supervised, with lastSeen null before any frame and a time after one', async () => {
    let r = await h.request('GET', '/v1/accounts/S100/supervision', admin)
    expectOk(r)
    expect(r.json()).toEqual({ account: 'S100', supervisionSeconds: 3600, supervised: true, lastSeen: null, failed: false })
    await h.frame('S100', '1602 00 000')
    r = await h.request('GET', '/v1/accounts/S100/supervision', h.token('operator'))
    expect(r.json()).toMatchObject({ supervised: true, failed: false })
    expect(r.json().lastSeen).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(Math.abs(Date.parse(r.json().lastSeen) - Date.now())).toBeLessThan(60_000)
  })

  it('says not supervised for an account without an interval', async () => {
    const r = await h.request('GET', '/v1/accounts/S200/supervision', admin)
    expect(r.json()).toEqual({ account: 'S200', supervisionSeconds: null, supervised: false, lastSeen: null, failed: false })
  })
})

// ------------------------------------------------------------ healthz

describe('healthz', () => {
  let h: Harness
  beforeAll(async () => { h = await new Harness({ api: { rateBurst: 10_000 } }).start() })
  afterAll(async () => { await h.close() })

  it('is 200 ok with no token, 503 failing after a failed commit, ok again after one succeeds', async () => {
    const r = await h.request('GET', '/healthz')
    expectOk(r)
    expect(r.json()).toEqual({ status: 'ok', journal: 'ok' })
    const admin = h.token('admin')
    const op = h.token('operator')
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'H100' }), 201)
    h.memory.failWith = new Error('disk')
    try {
      expect((await h.request('POST', '/v1/accounts/H100/verify', op, { code: CODE })).status).toBe(503)
      const bad = await h.request('GET', '/healthz')
      expect(bad.status).toBe(503)
      expect(bad.json()).toEqual({ status: 'degraded', journal: 'failing' })
    } finally {
      h.memory.failWith = undefined
    }
    expectOk(await h.request('POST', '/v1/accounts/H100/verify', op, { code: CODE }))
    expect((await h.request('GET', '/healthz')).json()).toEqual({ status: 'ok', journal: 'ok' })
  })
})

// ------------------------------------------------------------ metrics

describe('metrics', () => {
  let h: Harness
  beforeAll(async () => { h = await new Harness({ api: { rateBurst: 10_000 } }).start() })
  afterAll(async () => { await h.close() })

  it('serves Prometheus text with the interface\'s metrics and nothing personal', async () => {
    const admin = h.token('admin')
    const op = h.token('operator')
    const inst = h.token('installer', 'metricsco')
    const account = 'QZXW7Y'
    const site = 'Villa Rosewood Heights'
    const keyholder = 'Zebulon Quartermaine'
    expectOk(await h.request('POST', '/v1/accounts', inst, { account, siteName: site, siteAddress: 'Kalvariju g. 17', keyholders: [{ name: keyholder, phone: '+370 655 12345', order: 1 }] }), 201)
    expectOk(await h.request('POST', `/v1/accounts/${account}/users`, inst, { user: 1, name: keyholder }), 201)
    expectOk(await h.request('PUT', `/v1/accounts/${account}/users/1/code`, inst, { code: CODE }), 204)
    await h.frame(account, '1130 01 015')
    expectOk(await h.request('POST', `/v1/accounts/${account}/verify`, op, { code: CODE }))
    expectOk(await h.request('POST', `/v1/accounts/${account}/verify`, op, { code: WRONG }))
    expectOk(await h.request('GET', `/v1/accounts/${account}`, inst))
    expect((await h.request('GET', `/v1/accounts/${account}/nothing-here`, inst)).status).toBe(404)
    expect((await h.request('GET', `/v1/accounts/${account}/cases`, inst)).status).toBe(403)
    expectOk(await h.request('GET', `/v1/accounts?q=${account}`, admin))
    const r = await h.request('GET', '/metrics')
    expectOk(r)
    expect(String(r.headers['content-type'])).toMatch(/^text\/plain/)
    const text = r.body
    for (const name of ['dc09_api_requests_total', 'dc09_verifications_total', 'dc09_journal_commit_seconds', 'dc09_pipeline_lag_events']) {
      expect(text).toMatch(new RegExp(`^# TYPE ${name} `, 'm'))
    }
    expect(text).toMatch(/^dc09_verifications_total\{outcome="valid"\} 1$/m)
    expect(text).toMatch(/^dc09_verifications_total\{outcome="invalid"\} 1$/m)
    expect(text).toMatch(/dc09_api_requests_total\{method="GET",route="\/v1\/accounts\/:account",status="200"\} \d+/)
    const lower = text.toLowerCase()
    for (const secret of [account, site, 'Rosewood', keyholder, 'Quartermaine', 'Kalvariju', '655 12345', 'metricsco', idOf(admin), idOf(op), idOf(inst), '127.0.0.1', CODE, WRONG]) {
      expect(lower, secret).not.toContain(secret.toLowerCase())
    }
  })
})

// ------------------------------------------------------------ openapi

describe('OpenAPI', () => {
  let h: Harness
  beforeAll(async () => { h = await new Harness().start() })
  afterAll(async () => { await h.close() })

  it('describes every route, with {param} paths and a requestBody for every body schema', async () => {
    const r = await h.request('GET', '/v1/openapi.json')
    expectOk(r)
    const doc = r.json() as { openapi: string, paths: Record<string, Record<string, { requestBody?: unknown, parameters?: Array<{ name: string, in: string }> }>> }
    expect(doc.openapi).toBe('3.1.0')
    let operations = 0
    for (const route of ROUTES) {
      const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}')
      const op = doc.paths[path]?.[route.method.toLowerCase()]
      expect(op, `${route.method} ${path}`).toBeDefined()
      operations++
      if (route.schema?.body !== undefined) expect(op!.requestBody, `${route.method} ${path}`).toBeDefined()
      else expect(op!.requestBody).toBeUndefined()
      for (const name of [...path.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]!)) {
        expect(op!.parameters?.some((p) => p.in === 'path' && p.name === name), `${path} names ${name}`).toBe(true)
      }
      expect(path).not.toContain(':')
    }
    const described = Object.values(doc.paths).reduce((n, methods) => n + Object.keys(methods).length, 0)
    expect(described).toBe(operations)
  })
})

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

// ------------------------------------------------------------ a client that hangs up

describe('a client that hangs up before the answer', () => {
  it('is audited as aborted, and what it started still happens', async () => {
    const { connect } = await import('node:net')
    const h = await new Harness({ api: { resolveWaitMs: 3000 } }).start()
    try {
      const admin = h.token('admin')
      expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'H100' }), 201)
      const caseId = await h.frame('H100', '1130 01 015')
      // The pipeline stops, so the resolution waits for it, and the client gives up first.
      await h.runner.stop()
      await h.app.listen({ host: '127.0.0.1', port: 0 })
      const port = (h.app.server.address() as { port: number }).port
      const body = JSON.stringify({ note: 'hung up' })
      const socket = connect(port, '127.0.0.1')
      await new Promise<void>((resolve) => socket.on('connect', () => resolve()))
      socket.write(`POST /v1/accounts/H100/cases/${caseId}/resolve HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)
      await new Promise((resolve) => setTimeout(resolve, 300))
      socket.destroy()
      let row: ReturnType<Harness['verifier']['auditTrail']>[number] | undefined
      for (let i = 0; i < 50 && row === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
        row = h.verifier.auditTrail(100).find((r) => r.action === 'api:case-resolve')
      }
      expect(row).toMatchObject({ account: 'H100', outcome: 'aborted', actor: `admin:${idOf(admin)}` })
      expect((await derived(h, 'case-resolve')).map((r) => r.data.caseId)).toEqual([caseId])
    } finally {
      await h.close()
    }
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

// ------------------------------------------------------------ an account number that changes hands

/** Waits (a little) until `fn` holds. */
async function until (fn: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end;) {
    if (await fn()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error('timed out')
}

const caseKey = (id: number): string => `case:${String(id).padStart(16, '0')}`

describe('an account removed with an open case, and its number taken by another tenant', () => {
  const NUMBER = '4321'
  const CODE2 = '286139'
  const DURESS2 = '917352'
  let h: Harness
  let admin: string
  let op: string
  let t1: string
  let t2: string
  let oldCase: number
  let removedAt: number
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 100_000, ratePerSecond: 100_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    t1 = h.token('installer', 't1')
    t2 = h.token('installer', 't2')
    expectOk(await h.request('POST', '/v1/accounts', t1, { account: NUMBER, siteName: 'T1 Former Site', supervisionSeconds: 3600 }), 201)
    expectOk(await h.request('POST', `/v1/accounts/${NUMBER}/users`, t1, { user: 1, name: 'Ann of T1' }), 201)
    expectOk(await h.request('PUT', `/v1/accounts/${NUMBER}/users/1/code`, t1, { code: CODE }), 204)
    expectOk(await h.request('PUT', `/v1/accounts/${NUMBER}/users/1/duress-code`, t1, { code: DURESS }), 204)
    oldCase = await h.frame(NUMBER, '1130 01 015')
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases/${oldCase}`, op)).json()).toMatchObject({ state: 'open' })
  })
  afterAll(async () => { await h.close() })

  it('an installer cannot remove an account with an open case: 409, a body that says nothing of it', async () => {
    const r = await h.request('DELETE', `/v1/accounts/${NUMBER}`, t1)
    expect(r.status).toBe(409)
    expect(r.json()).toEqual({ error: 'conflict', message: 'the request conflicts with the current state' })
    expect(h.accounts.get(NUMBER)).toBeDefined()
    expect(h.verifier.listUsers(NUMBER)).toHaveLength(1)
    expect(await derived(h, 'account-removed')).toEqual([])
  })

  it('an admin can: the removal is journaled, the case closed as account-removed, with an audit row', async () => {
    const created = h.accounts.get(NUMBER)!.createdAt
    expectOk(await h.request('DELETE', `/v1/accounts/${NUMBER}`, admin), 204)
    await h.settled()
    const removed = await derived(h, 'account-removed')
    expect(removed).toMatchObject([{ account: NUMBER, stage: 'accounts', data: { createdAt: created, tenant: 't1', by: `admin:${idOf(admin)}` } }])
    removedAt = removed[0]!.id
    expect(h.store.readOne('cases', caseKey(oldCase))).toMatchObject({ state: 'account-removed', closedBy: `account removed by admin:${idOf(admin)}` })
    expect(await derived(h, 'case-account-removed')).toMatchObject([{ account: NUMBER, data: { caseId: oldCase } }])
    const audit = h.verifier.auditTrail(20)
    expect(audit.find((a) => a.action === 'case-account-removed')).toMatchObject({ account: NUMBER, actor: `admin:${idOf(admin)}`, outcome: 'ok', detail: `case ${oldCase} closed: the account was removed` })
    expect(audit.find((a) => a.action === 'api:account-remove')).toMatchObject({ account: NUMBER, outcome: 'ok' })
    expect(h.verifier.listUsers(NUMBER)).toEqual([])
  })

  it('the next holder\'s alarm opens a case of its own, on its case pages, which its own user\'s code closes', async () => {
    expectOk(await h.request('POST', '/v1/accounts', t2, { account: NUMBER, siteName: 'T2 New Site' }), 201)
    expectOk(await h.request('POST', `/v1/accounts/${NUMBER}/users`, t2, { user: 1, name: 'Bob of T2' }), 201)
    expectOk(await h.request('PUT', `/v1/accounts/${NUMBER}/users/1/code`, t2, { code: CODE2 }), 204)
    const id = await h.frame(NUMBER, '1130 01 015')
    expect((await derived(h, 'case-opened')).map((e) => e.data.caseId)).toEqual([oldCase, id])
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases`, op)).json().items.map((c: { id: number }) => c.id)).toEqual([id])
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases/${id}`, op)).json()).toMatchObject({ id, state: 'open', alarms: 1 })
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases/${oldCase}`, admin)).status).toBe(404)
    expect((await h.request('POST', `/v1/accounts/${NUMBER}/verify`, op, { code: CODE2 })).json()).toMatchObject({ result: 'valid', user: 1 })
    await h.settled()
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases/${id}`, op)).json()).toMatchObject({ state: 'verified', closedBy: 'user 1' })
    expect(h.store.readOne('cases', caseKey(oldCase))).toMatchObject({ state: 'account-removed' })
  })

  it('a duress code on the next holder\'s account raises on a case of its own, which an operator reads and resolves', async () => {
    expectOk(await h.request('PUT', `/v1/accounts/${NUMBER}/users/1/duress-code`, t2, { code: DURESS2 }), 204)
    expect((await h.request('POST', `/v1/accounts/${NUMBER}/verify`, op, { code: DURESS2 })).json()).toMatchObject({ result: 'valid' })
    await h.settled()
    const caseId = (await derived(h, 'case-duress')).at(-1)!.data.caseId as number
    expect(caseId).not.toBe(oldCase)
    for (const token of [op, admin]) {
      expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases/${caseId}`, token)).json()).toMatchObject({ id: caseId, state: 'open', duress: true })
    }
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases?state=open`, op)).json().items.map((c: { id: number }) => c.id)).toEqual([caseId])
    const resolved = await h.request('POST', `/v1/accounts/${NUMBER}/cases/${caseId}/resolve`, op, { note: 'police sent' })
    expectOk(resolved)
    expect(resolved.json()).toMatchObject({ state: 'resolved', duress: true })
  })

  it('nothing of the earlier holder appears in what the next holder\'s pages answer', async () => {
    const pages = [
      await h.request('GET', `/v1/accounts/${NUMBER}`, t2),
      await h.request('GET', `/v1/accounts/${NUMBER}`, op),
      await h.request('GET', `/v1/accounts/${NUMBER}/users`, t2),
      await h.request('GET', `/v1/accounts/${NUMBER}/events`, op),
      await h.request('GET', `/v1/accounts/${NUMBER}/events`, t2),
      await h.request('GET', `/v1/accounts/${NUMBER}/cases?state=all`, op),
      await h.request('GET', `/v1/accounts/${NUMBER}/supervision`, t2),
    ]
    for (const p of pages) expectOk(p)
    const text = pages.map((p) => p.body).join('\n')
    for (const old of ['T1 Former Site', 'Ann of T1', '"t1"']) expect(text).not.toContain(old)
    const events = pages[3]!.json().items as Array<{ id: number }>
    expect(events.length).toBeGreaterThan(0)
    expect(events.filter((e) => e.id <= removedAt)).toEqual([])
    expect(pages[5]!.json().items.map((c: { id: number }) => c.id)).not.toContain(oldCase)
  })
})

describe('supervision of a number taken again', () => {
  const NUMBER = '4322'
  let h: Harness
  let at = Date.now()
  let admin: string
  let t1: string
  let t2: string
  beforeAll(async () => {
    // The pipeline's clock is the test's: timers come due when it moves, not in real seconds.
    h = await new Harness({ runnerClock: () => at, supervision: { scanSeconds: 1 }, api: { rateBurst: 100_000, ratePerSecond: 100_000 } }).start()
    admin = h.token('admin')
    t1 = h.token('installer', 't1')
    t2 = h.token('installer', 't2')
  })
  afterAll(async () => { await h.close() })

  const failures = async (): Promise<Array<Stored<DerivedRecord>>> => (await derived(h, 'supervision-failure')).filter((e) => e.account === NUMBER)

  it('an account that never reported and was declared silent says failed', async () => {
    expectOk(await h.request('POST', '/v1/accounts', t1, { account: NUMBER, supervisionSeconds: 1 }), 201)
    at += 1100
    h.runner.notify()
    await until(() => h.runner.scheduled('supervision', NUMBER))
    at += 1100
    await until(async () => (await failures()).length === 1)
    expect((await failures())[0]!.data).toEqual({ lastSeen: null, intervalSeconds: 1 })
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/supervision`, t1)).json()).toMatchObject({ lastSeen: null, failed: true })
  })

  it('the next holder, silent, is declared silent on time, with nothing of the earlier holder, and its first frame is a real restore', async () => {
    expectOk(await h.request('DELETE', `/v1/accounts/${NUMBER}`, admin), 204)
    await h.settled()
    expect(h.runner.scheduled('supervision', NUMBER)).toBe(false)
    expectOk(await h.request('POST', '/v1/accounts', t2, { account: NUMBER, supervisionSeconds: 1 }), 201)
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/supervision`, t2)).json()).toMatchObject({ lastSeen: null, failed: false })
    at += 1100
    await until(() => h.runner.scheduled('supervision', NUMBER))
    expect((await failures()).length).toBe(1)
    at += 1100
    await until(async () => (await failures()).length === 2)
    expect((await failures())[1]!.data).toEqual({ lastSeen: null, intervalSeconds: 1 })
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/supervision`, t2)).json()).toMatchObject({ lastSeen: null, failed: true })
    await h.frame(NUMBER, '1602 00 000')
    expect((await derived(h, 'supervision-restore')).filter((e) => e.account === NUMBER)).toHaveLength(1)
  })
})

describe('a number removed and taken again while the pipeline lags', () => {
  const NUMBER = '4323'
  let h: Harness
  afterAll(async () => { await h.close() })

  it('the next holder\'s events and cases show nothing of the earlier holder\'s alarm, nor of what the pipeline made of it after the number changed hands', async () => {
    h = await new Harness({ pipelineStopped: true, api: { rateBurst: 100_000, ratePerSecond: 100_000 } }).start()
    const admin = h.token('admin')
    const op = h.token('operator')
    const t1 = h.token('installer', 't1')
    const t2 = h.token('installer', 't2')
    expectOk(await h.request('POST', '/v1/accounts', t1, { account: NUMBER }), 201)
    const holder1 = h.accounts.get(NUMBER)!.createdAt
    // t1's alarm and t1's removal are journaled; the pipeline has not reached them when t2 takes the number.
    const old = await h.journalFrame(NUMBER, '1130 01 015')
    expectOk(await h.request('DELETE', `/v1/accounts/${NUMBER}`, admin), 204)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expectOk(await h.request('POST', '/v1/accounts', t2, { account: NUMBER }), 201)
    await h.runner.start()
    await h.settled()
    // The pipeline made t1's case of t1's alarm, and closed it with t1's removal: t1's history.
    const made = (await derived(h)).filter((e) => e.data.caseId === old)
    expect(made.map((e) => [e.kind, e.holder])).toEqual([['case-opened', holder1], ['case-account-removed', holder1]])
    const next = await h.frame(NUMBER, '1130 01 016')
    for (const token of [op, t2]) {
      const items = (await h.request('GET', `/v1/accounts/${NUMBER}/events`, token)).json().items as Array<{ id: number, data?: { caseId?: number } }>
      expect(items.map((e) => e.id)).toContain(next)
      expect(items.filter((e) => e.id === old || e.data?.caseId === old)).toEqual([])
    }
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases?state=all`, op)).json().items.map((c: { id: number }) => c.id)).toEqual([next])
    expect((await h.request('GET', `/v1/accounts/${NUMBER}/cases/${old}`, op)).status).toBe(404)
    // What the interface journals names the holder too: the removal, a verification, a resolution.
    const holder2 = h.accounts.get(NUMBER)!.createdAt
    expectOk(await h.request('POST', `/v1/accounts/${NUMBER}/verify`, op, { code: WRONG }))
    expectOk(await h.request('POST', `/v1/accounts/${NUMBER}/cases/${next}/resolve`, op, { note: 'test' }))
    const named = (await derived(h)).filter((e) => ['account-removed', 'verification', 'case-resolve', 'case-resolved'].includes(e.kind))
    expect(named.map((e) => [e.kind, e.holder])).toEqual([['account-removed', holder1], ['verification', holder2], ['case-resolve', holder2], ['case-resolved', holder2]])
  })
})

describe('a removal that does not finish as it began', () => {
  let h: Harness
  let admin: string
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 100_000, ratePerSecond: 100_000 } }).start()
    admin = h.token('admin')
  })
  afterAll(async () => { await h.close() })

  it('does not remove a later holder the number was given to while the removal was being journaled', async () => {
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'RR01', tenant: 't1' }), 201)
    const append = h.journal.append.bind(h.journal)
    // While this removal waits for its commit, the number is removed (elsewhere) and taken again.
    const spy = vi.spyOn(h.journal, 'append').mockImplementationOnce(async (record) => {
      await new Promise((resolve) => setTimeout(resolve, 2))
      expect(h.accounts.remove('RR01').ok).toBe(true)
      expect(h.accounts.add({ account: 'RR01', tenant: 't2' }).ok).toBe(true)
      expect(h.verifier.addUser('RR01', 1, 'Bob of T2', 'test').ok).toBe(true)
      return append(record)
    })
    try {
      expect((await h.request('DELETE', '/v1/accounts/RR01', admin)).status).toBe(404)
    } finally {
      spy.mockRestore()
    }
    expect(h.accounts.get('RR01')).toMatchObject({ tenant: 't2' })
    expect(h.verifier.listUsers('RR01')).toHaveLength(1)
  })

  it('answers 503 when the account cannot be deleted after its removal was journaled, and a retry finishes it', async () => {
    expectOk(await h.request('POST', '/v1/accounts', admin, { account: 'RR02', tenant: 't1' }), 201)
    const spy = vi.spyOn(h.accounts, 'remove').mockImplementationOnce(() => { throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }) })
    try {
      const r = await h.request('DELETE', '/v1/accounts/RR02', admin)
      expect(r.status).toBe(503)
      expect(r.json()).toEqual({ error: 'unavailable', message: 'the account could not be removed; remove it again to finish' })
    } finally {
      spy.mockRestore()
    }
    expect(h.accounts.get('RR02')).toBeDefined()
    expectOk(await h.request('DELETE', '/v1/accounts/RR02', admin), 204)
    expect(h.accounts.get('RR02')).toBeUndefined()
    await h.settled()
    expect((await derived(h, 'account-removed')).filter((e) => e.account === 'RR02')).toHaveLength(2)
  })
})

describe('moving an account to another tenant', () => {
  const KEY2 = 'ffeeddccbbaa99887766554433221100'
  let h: Harness
  let admin: string
  let op: string
  let t1: string
  let t2: string
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 100_000, ratePerSecond: 100_000 } }).start()
    admin = h.token('admin')
    op = h.token('operator')
    t1 = h.token('installer', 't1')
    t2 = h.token('installer', 't2')
    for (const [account, key] of [['MV01', KEY], ['MV02', undefined]] as const) {
      expectOk(await h.request('POST', '/v1/accounts', t1, { account, ...(key === undefined ? {} : { key }) }), 201)
      expectOk(await h.request('POST', `/v1/accounts/${account}/users`, t1, { user: 1, name: 'Ann' }), 201)
      expectOk(await h.request('POST', `/v1/accounts/${account}/users`, t1, { user: 2, name: 'Bob' }), 201)
      expectOk(await h.request('PUT', `/v1/accounts/${account}/users/1/code`, t1, { code: CODE }), 204)
      expectOk(await h.request('PUT', `/v1/accounts/${account}/users/1/duress-code`, t1, { code: DURESS }), 204)
    }
  })
  afterAll(async () => { await h.close() })

  it('refuses an encrypted account without a new key (or with the same one), leaving it and its codes as they were', async () => {
    for (const body of [{ tenant: 't2' }, { tenant: 't2', key: KEY.toUpperCase() }]) {
      const r = await h.request('PATCH', '/v1/accounts/MV01', admin, body)
      expect(r.status).toBe(400)
      expect(r.json().message).toMatch(/new AES key/)
      expect(r.body.toLowerCase()).not.toContain(KEY)
    }
    expect(h.accounts.get('MV01')?.tenant).toBe('t1')
    expect((await h.request('GET', '/v1/accounts/MV01/users', t1)).json().items[0]).toMatchObject({ hasCode: true, hasDuressCode: true })
  })

  it('with a new key: moved, every disarm and duress code cleared, the users kept and marked as needing codes, audited with both tenants', async () => {
    expectOk(await h.request('PATCH', '/v1/accounts/MV01', admin, { tenant: 't2', key: KEY2 }))
    expect(h.accounts.get('MV01')).toMatchObject({ tenant: 't2', hasKey: true })
    expect((await h.request('GET', '/v1/accounts/MV01/users', t1)).status).toBe(404)
    expect((await h.request('GET', '/v1/accounts/MV01/users', t2)).json().items).toEqual([
      { user: 1, name: 'Ann', hasCode: false, hasDuressCode: false, needsNewCode: true },
      { user: 2, name: 'Bob', hasCode: false, hasDuressCode: false, needsNewCode: true },
    ])
    expect((await h.request('POST', '/v1/accounts/MV01/verify', op, { code: CODE })).json().result).toBe('invalid')
    expect((await h.request('POST', '/v1/accounts/MV01/verify', op, { code: DURESS })).json().result).toBe('invalid')
    await h.settled()
    expect((await derived(h, 'duress')).filter((e) => e.account === 'MV01')).toEqual([])
    const row = h.verifier.auditTrail(50).find((a) => a.action === 'api:account-update' && a.account === 'MV01' && a.outcome === 'ok')
    expect(row?.detail).toBe('moved from tenant t1 to tenant t2; every disarm and duress code cleared')
    // The new tenant's installer enrols codes again.
    expectOk(await h.request('PUT', '/v1/accounts/MV01/users/1/code', t2, { code: CODE }), 204)
    expect((await h.request('POST', '/v1/accounts/MV01/verify', op, { code: CODE })).json().result).toBe('valid')
  })

  it('a plain account moves without a key, its codes cleared all the same', async () => {
    expectOk(await h.request('PATCH', '/v1/accounts/MV02', admin, { tenant: 't2' }))
    expect((await h.request('GET', '/v1/accounts/MV02/users', t2)).json().items.map((u: { hasCode: boolean, needsNewCode: boolean }) => [u.hasCode, u.needsNewCode])).toEqual([[false, true], [false, true]])
    expect((await h.request('POST', '/v1/accounts/MV02/verify', op, { code: CODE })).json().result).toBe('invalid')
  })
})
