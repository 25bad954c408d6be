/**
 * The interface itself: health, metrics and the OpenAPI description.
 * Each describe block runs on its own Harness (a temporary data directory, a memory journal and a
 * running pipeline); requests go through fastify's inject.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES } from '../../src/api/routes/index.js'
import { CODE, expectOk, Harness, idOf, WRONG } from './harness.js'

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
