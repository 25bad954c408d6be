/**
 * An account's recent events and its supervision state.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { expectOk, Harness, WRONG } from './harness.js'

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
