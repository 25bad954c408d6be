/**
 * Verifying a disarm code (valid, wrong, duress, lockout) and a full hashing queue.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CODE, derived, DURESS, expectOk, Harness, records, tick, WRONG, type Response } from './harness.js'

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
  const release: Array<() => void> = []
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
