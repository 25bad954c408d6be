/**
 * An account number that changes hands: nothing of an earlier holder reaches a later one (cases,
 * supervision, events, codes), also while the pipeline lags, when a removal fails half-way, and
 * when an account moves to another tenant.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Stored } from '../../src/journal/journal.js'
import type { DerivedRecord } from '../../src/journal/record.js'
import { casesReadModel } from '../../src/pipeline/stages/cases.js'
import { CODE, derived, DURESS, expectOk, Harness, idOf, KEY, until, WRONG } from './harness.js'

// ------------------------------------------------------------ an account number that changes hands

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
    expect(casesReadModel(h.store).get(oldCase)).toMatchObject({ state: 'account-removed', closedBy: `account removed by admin:${idOf(admin)}` })
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
    expect(casesReadModel(h.store).get(oldCase)).toMatchObject({ state: 'account-removed' })
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
