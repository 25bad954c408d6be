/**
 * Alarm cases: listing, reading and resolving them, also when the client hangs up before the answer.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { derived, expectOk, Harness, idOf } from './harness.js'

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
