/**
 * Tenant isolation, generated from the route table: for every route (and HEAD for every GET), an
 * installer asking for another tenant's resource gets exactly what it gets for a resource that
 * does not exist (status, body, headers; time comparable), lists and searches never show another
 * tenant's accounts, installers never see the VIP marker, and refused mutations change nothing.
 *
 * A route added to ROUTES without an entry in FIXTURES fails this file.
 */
import { performance } from 'node:perf_hooks'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pino from 'pino'
import { Metrics } from '../../src/api/metrics.js'
import { RecentEvents } from '../../src/api/recent.js'
import { NOT_FOUND_BODY, type RouteDef } from '../../src/api/contract.js'
import { ROUTES } from '../../src/api/routes/index.js'
import { buildApi } from '../../src/api/server.js'
import { Harness, type Response } from './harness.js'

type Tenant = 'alpha' | 'beta'
type Target = 'other' | 'missing'
const TENANTS: readonly Tenant[] = ['alpha', 'beta']
const OTHER: Readonly<Record<Tenant, Tenant>> = { alpha: 'beta', beta: 'alpha' }

/** An account number no one has (valid by the schema). */
const NO_ACCOUNT = 'Z9999'
/** A token id no token has (valid by the schema). */
const NO_TOKEN = '000000000000'

// ------------------------------------------------------------ the data of each tenant

interface SiteData {
  readonly account: string
  readonly siteName: string
  readonly siteAddress: string
  readonly keyholder: { readonly name: string, readonly phone: string }
  readonly vip: boolean
  readonly key?: string
  readonly users: ReadonlyArray<{ readonly user: number, readonly name: string, readonly code?: string, readonly duress?: string }>
}

const SITES: Readonly<Record<Tenant, readonly SiteData[]>> = {
  alpha: [
    {
      account: 'A1001', siteName: 'Alpha Manor', siteAddress: 'Alpha Lane 1, Alphaville', keyholder: { name: 'Alice Alphason', phone: '+370 611 11111' }, vip: true,
      key: '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
      users: [{ user: 1, name: 'Alice Alphason', code: '72951836405', duress: '83062947516' }, { user: 2, name: 'Anna Alphadottir', code: '94173058627' }],
    },
    {
      account: 'A1002', siteName: 'Alpha Depot', siteAddress: 'Alpha Road 22, Alphaville', keyholder: { name: 'Arnold Alphaberg', phone: '+370 611 22222' }, vip: false,
      users: [{ user: 1, name: 'Arnold Alphaberg', code: '75284169307' }],
    },
  ],
  beta: [
    {
      account: 'B2001', siteName: 'Beta Villa', siteAddress: 'Beta Street 9, Betatown', keyholder: { name: 'Bob Betason', phone: '+370 622 33333' }, vip: true,
      key: 'f9e8d7c6b5a4938271605f4e3d2c1b0a',
      users: [{ user: 1, name: 'Bob Betason', code: '86395274018', duress: '97406385129' }, { user: 2, name: 'Bruno Betamann', code: '78517402936' }],
    },
    {
      account: 'B2002', siteName: 'Beta Works', siteAddress: 'Beta Avenue 77, Betatown', keyholder: { name: 'Berta Betadottir', phone: '+370 622 44444' }, vip: false,
      users: [{ user: 1, name: 'Berta Betadottir', code: '89628513047' }],
    },
  ],
}

/** Everything that would tell one tenant about the other's accounts. */
function revealing (t: Tenant): string[] {
  return SITES[t].flatMap((s) => [s.account, s.siteName, s.siteAddress, s.keyholder.name, s.keyholder.phone, ...s.users.map((u) => u.name)])
}

// ------------------------------------------------------------ the world the fixtures draw on

interface World {
  readonly h: Harness
  readonly admin: string
  readonly operator: string
  readonly installer: Record<Tenant, string>
  /** The open case of each tenant's first account. */
  readonly caseId: Record<Tenant, number>
  /** The id of a token bound to each tenant. */
  readonly tokenId: Record<Tenant, string>
}

interface Request {
  readonly params?: Readonly<Record<string, string>>
  readonly query?: string
  readonly body?: unknown
}

interface Fixture {
  /**
   * The request an installer of `attacker` makes for the other tenant's resource (`other`) and
   * for one that does not exist (`missing`); the two answers must be the same. Bodies are valid,
   * so that a request the role may make reaches its handler.
   */
  readonly request: (w: World, attacker: Tenant, target: Target) => Request
  /** The answer changes by itself between requests (metrics): only the status and type are compared. */
  readonly volatile?: boolean
}

const victim = (attacker: Tenant): string => SITES[OTHER[attacker]][0]!.account
const acct = (attacker: Tenant, target: Target): string => (target === 'other' ? victim(attacker) : NO_ACCOUNT)
const withAccount = (body?: unknown) => (_w: World, a: Tenant, t: Target): Request => ({ params: { account: acct(a, t) }, ...(body === undefined ? {} : { body }) })
const withUser = (body?: unknown) => (_w: World, a: Tenant, t: Target): Request => ({ params: { account: acct(a, t), user: '1' }, ...(body === undefined ? {} : { body }) })
const withCase = (body?: unknown) => (w: World, a: Tenant, t: Target): Request => ({ params: { account: acct(a, t), id: String(w.caseId[OTHER[a]]) }, ...(body === undefined ? {} : { body }) })
const plain = (query?: string, body?: unknown) => (): Request => ({ ...(query === undefined ? {} : { query }), ...(body === undefined ? {} : { body }) })

const PROBE_KEY = '00112233445566778899aabbccddeeff'
const PROBE_CODE = '58201937465'

const FIXTURES: Readonly<Record<string, Fixture>> = {
  'GET /healthz': { request: plain() },
  'GET /metrics': { request: plain(), volatile: true },
  'GET /v1/openapi.json': { request: plain() },
  'GET /v1/me': { request: plain() },
  // An installer asking for another tenant's list, or for a tenant that does not exist.
  'GET /v1/accounts': { request: (_w, a, t) => ({ query: `tenant=${t === 'other' ? OTHER[a] : 'no-such-tenant'}` }) },
  // A number the other tenant has, against a number the installer's own tenant has: the same conflict.
  'POST /v1/accounts': { request: (_w, a, t) => ({ body: { account: t === 'other' ? victim(a) : SITES[a][0]!.account, siteName: 'Probe Site' } }) },
  'GET /v1/accounts/:account': { request: withAccount() },
  'PATCH /v1/accounts/:account': { request: withAccount({ siteName: 'Probe Hijack', keyholders: [{ name: 'Mallory Probe', phone: '+370 699 99999', order: 1 }] }) },
  'DELETE /v1/accounts/:account': { request: withAccount() },
  'PUT /v1/accounts/:account/key': { request: withAccount({ key: PROBE_KEY }) },
  'DELETE /v1/accounts/:account/key': { request: withAccount() },
  'GET /v1/accounts/:account/users': { request: withAccount() },
  'POST /v1/accounts/:account/users': { request: withAccount({ user: 77, name: 'Mallory Probe' }) },
  'DELETE /v1/accounts/:account/users/:user': { request: withUser() },
  'PUT /v1/accounts/:account/users/:user/code': { request: withUser({ code: PROBE_CODE }) },
  'PUT /v1/accounts/:account/users/:user/duress-code': { request: withUser({ code: PROBE_CODE }) },
  'GET /v1/accounts/:account/events': { request: withAccount() },
  'GET /v1/accounts/:account/supervision': { request: withAccount() },
  'GET /v1/cases': { request: plain('state=all') },
  'GET /v1/accounts/:account/cases': { request: withAccount() },
  'GET /v1/accounts/:account/cases/:id': { request: withCase() },
  'POST /v1/accounts/:account/cases/:id/resolve': { request: withCase({ note: 'probe' }) },
  'POST /v1/accounts/:account/verify': { request: withAccount({ code: PROBE_CODE }) },
  'POST /v1/accounts/:account/unlock': { request: withAccount() },
  'GET /v1/tenants': { request: plain() },
  'POST /v1/tenants': { request: plain(undefined, { tenant: 'probe-tenant' }) },
  'GET /v1/tokens': { request: plain() },
  'POST /v1/tokens': { request: plain(undefined, { role: 'operator', name: 'probe' }) },
  'DELETE /v1/tokens/:id': { request: (w, a, t) => ({ params: { id: t === 'other' ? w.tokenId[OTHER[a]] : NO_TOKEN } }) },
  'GET /v1/audit': { request: plain() },
  'POST /v1/codes/reset-all': { request: plain(undefined, { confirm: 'every code on every account' }) },
}

const keyOf = (r: Pick<RouteDef, 'method' | 'path'>): string => `${r.method} ${r.path}`

function urlOf (path: string, req: Request): string {
  const url = path.replace(/:([a-z]+)/g, (_m, name: string) => {
    const v = req.params?.[name]
    if (v === undefined) throw new Error(`no value for :${name} in ${path}`)
    return encodeURIComponent(v)
  })
  return req.query === undefined ? url : `${url}?${req.query}`
}

function withoutDate (headers: Response['headers']): Record<string, unknown> {
  const { date: _date, ...rest } = headers
  return rest
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** The method/path pairs fastify registered, from its route tree (HEAD, which fastify adds for each GET, left out). */
function registeredRoutes (tree: string): Set<string> {
  const out = new Set<string>()
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line)
    if (m === null) continue
    const depth = m[1]!.length / 4
    stack.length = depth
    stack.push(m[2]!)
    const path = stack.join('')
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'HEAD')) out.add(`${method} ${path}`)
  }
  return out
}

// ------------------------------------------------------------ setup

let w: World
let dbPath: string
/** Route/method pairs the pair test ran, and for which attackers. */
const covered = new Set<string>()

/** What the store holds of an account that the API never shows (the key), and the users' code hashes. */
function rawState (account: string): { account: unknown, users: unknown, slots: unknown } {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    return {
      account: db.prepare('SELECT * FROM accounts WHERE account = ?').get(account),
      users: db.prepare('SELECT user, name, hex(code_hash) AS c, hex(duress_hash) AS d, updated_at FROM users WHERE account = ? ORDER BY user').all(account),
      slots: db.prepare('SELECT hex(salt) AS salt, hex(slots) AS slots, needs_new_codes FROM code_slots WHERE account = ?').get(account),
    }
  } finally {
    db.close()
  }
}

async function must (r: Promise<Response>, status: number): Promise<Response> {
  const res = await r
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${res.body}`)
  return res
}

beforeAll(async () => {
  // The pair test makes thousands of requests with one token: no rate limit, no bulk-read alarm,
  // no limit of taken numbers in the way.
  const h = await new Harness({ api: { rateBurst: 1_000_000, ratePerSecond: 1_000_000, bulkReadPerMinute: 1_000_000, takenNumbersPerHour: 100_000 } }).start()
  dbPath = h.accountsDb
  const admin = h.token('admin')
  const operator = h.token('operator')
  const installer = { alpha: h.token('installer', 'alpha'), beta: h.token('installer', 'beta') }
  // A second token of each tenant: the one whose id another tenant tries to revoke.
  const spare = { alpha: h.token('installer', 'alpha'), beta: h.token('installer', 'beta') }
  const tokenId = { alpha: spare.alpha.split('_')[1]!, beta: spare.beta.split('_')[1]! }
  for (const t of TENANTS) {
    for (const s of SITES[t]) {
      await must(h.request('POST', '/v1/accounts', admin, {
        account: s.account, tenant: t, siteName: s.siteName, siteAddress: s.siteAddress,
        keyholders: [{ name: s.keyholder.name, phone: s.keyholder.phone, order: 1 }], vip: s.vip,
        ...(s.key === undefined ? {} : { key: s.key }),
      }), 201)
      for (const u of s.users) {
        await must(h.request('POST', `/v1/accounts/${s.account}/users`, installer[t], { user: u.user, name: u.name }), 201)
        if (u.code !== undefined) await must(h.request('PUT', `/v1/accounts/${s.account}/users/${u.user}/code`, installer[t], { code: u.code }), 204)
        if (u.duress !== undefined) await must(h.request('PUT', `/v1/accounts/${s.account}/users/${u.user}/duress-code`, installer[t], { code: u.duress }), 204)
      }
    }
  }
  const caseId = { alpha: 0, beta: 0 }
  for (const t of TENANTS) {
    const account = SITES[t][0]!.account
    await h.frame(account, '1130 01 015')
    const r = await must(h.request('GET', `/v1/accounts/${account}/cases?state=open`, operator), 200)
    const items = r.json<{ items: Array<{ id: number, account: string }> }>().items
    expect(items).toHaveLength(1)
    caseId[t] = items[0]!.id
  }
  // Something in each account's recent events, and in supervision.
  for (const t of TENANTS) for (const s of SITES[t]) await h.frame(s.account, '1602 00 000')
  w = { h, admin, operator, installer, caseId, tokenId }
})

afterAll(async () => {
  await w?.h.close()
})

// ------------------------------------------------------------ the table and what fastify serves

describe('the route table', () => {
  it(`covers all ${ROUTES.length} routes: every route has a fixture, and no fixture is stale`, () => {
    const keys = ROUTES.map(keyOf)
    expect(new Set(keys).size, 'a method/path pair is in ROUTES twice').toBe(keys.length)
    const missing = keys.filter((k) => !(k in FIXTURES))
    expect(missing, 'routes without an isolation fixture: add one to FIXTURES').toEqual([])
    const stale = Object.keys(FIXTURES).filter((k) => !keys.includes(k))
    expect(stale, 'fixtures for routes that are no longer in ROUTES').toEqual([])
    const pairs = ROUTES.length + ROUTES.filter((r) => r.method === 'GET').length
    console.log(`isolation: ${ROUTES.length} routes in ROUTES, ${pairs} route/method pairs (GET routes also as HEAD), each attacked from ${TENANTS.length} tenants`)
  })

  it('fastify registered exactly the routes in ROUTES', async () => {
    for (const r of ROUTES) expect(w.h.app.hasRoute({ method: r.method, url: r.path }), keyOf(r)).toBe(true)
    const served = registeredRoutes(w.h.app.printRoutes({ commonPrefix: false }))
    expect([...served].sort()).toEqual(ROUTES.map(keyOf).sort())
    // Any other method on a known path, and an unknown path, is the plain not-found.
    const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
    for (const path of new Set(ROUTES.map((r) => r.path))) {
      for (const method of methods) {
        if (ROUTES.some((r) => r.path === path && r.method === method)) continue
        expect(w.h.app.hasRoute({ method, url: path }), `${method} ${path}`).toBe(false)
      }
    }
    for (const url of ['/v1/nothing', '/v1/accounts/A1001/nothing', '/v2/accounts', '/']) {
      const r = await w.h.request('GET', url, w.admin)
      expect(r.status, url).toBe(404)
      expect(r.json(), url).toEqual(NOT_FOUND_BODY)
    }
  })
})

// ------------------------------------------------------------ lists and searches

describe('lists and searches', () => {
  const listUrls = (own: Tenant): string[] => {
    const other = OTHER[own]
    const urls = [
      '/v1/me',
      '/v1/accounts', '/v1/accounts?limit=1', `/v1/accounts?tenant=${other}`, `/v1/accounts?tenant=${own}`, '/v1/accounts?tenant=no-such-tenant',
      '/v1/accounts?after=A0000', '/v1/accounts?after=B0000', `/v1/accounts?after=${SITES[own][0]!.account}`, '/v1/accounts?after=000',
      `/v1/accounts?tenant=${other}&after=000`, `/v1/accounts?tenant=${other}&q=${encodeURIComponent(SITES[other][0]!.siteName)}`,
    ]
    for (const s of [...SITES.alpha, ...SITES.beta]) {
      urls.push(`/v1/accounts?q=${encodeURIComponent(s.account)}`, `/v1/accounts?q=${encodeURIComponent(s.siteName)}`, `/v1/accounts?q=${encodeURIComponent(s.siteName.split(' ')[0]!)}`)
    }
    for (const q of ['%', '_', '2', '0', 'a', 'Manor', 'Villa', 'Street', '\'', '" OR 1=1 --', '%25']) urls.push(`/v1/accounts?q=${encodeURIComponent(q)}`)
    for (const s of SITES[own]) {
      urls.push(`/v1/accounts/${s.account}`, `/v1/accounts/${s.account}/users`, `/v1/accounts/${s.account}/events`, `/v1/accounts/${s.account}/events?limit=1`, `/v1/accounts/${s.account}/supervision`)
    }
    return urls
  }

  for (const own of TENANTS) {
    it(`installer ${own} never sees anything of ${OTHER[own]}, in any list or search it may use`, async () => {
      const forbidden = revealing(OTHER[own])
      let seenOwn = 0
      for (const url of listUrls(own)) {
        const r = await w.h.request('GET', url, w.installer[own])
        expect(r.status, url).toBe(200)
        for (const f of forbidden) expect(r.body.toLowerCase(), `${url} shows ${f}`).not.toContain(f.toLowerCase())
        if (SITES[own].some((s) => r.body.includes(s.account))) seenOwn++
      }
      // The lists are not empty by accident: the installer does see its own accounts.
      const all = await w.h.request('GET', '/v1/accounts', w.installer[own])
      expect(all.json<{ items: Array<{ account: string }> }>().items.map((a) => a.account)).toEqual(SITES[own].map((s) => s.account))
      const search = await w.h.request('GET', `/v1/accounts?q=${encodeURIComponent(SITES[own][0]!.siteName)}`, w.installer[own])
      expect(search.json<{ items: Array<{ account: string }> }>().items.map((a) => a.account)).toEqual([SITES[own][0]!.account])
      const other = await w.h.request('GET', `/v1/accounts?tenant=${OTHER[own]}`, w.installer[own])
      expect(other.json()).toEqual({ items: [], next: null })
      expect(seenOwn).toBeGreaterThan(10)
    })

    it(`installer ${own}: paging with ?after= and ?limit= walks its own accounts only`, async () => {
      const seen: string[] = []
      let after: string | null = '000'
      for (let i = 0; i < 10 && after !== null; i++) {
        const r = await w.h.request('GET', `/v1/accounts?limit=1&after=${after}`, w.installer[own])
        expect(r.status).toBe(200)
        const page: { items: Array<{ account: string }>, next: string | null } = r.json()
        seen.push(...page.items.map((a) => a.account))
        after = page.next
      }
      expect(seen).toEqual(SITES[own].map((s) => s.account))
    })
  }

  it('an installer never sees vip in any account object; operators and admins do', async () => {
    const hasVip = (body: string): boolean => /"vip"/.test(body)
    for (const own of TENANTS) {
      const tok = w.installer[own]
      const reads = [
        await w.h.request('GET', '/v1/accounts', tok),
        await w.h.request('GET', `/v1/accounts?q=${SITES[own][0]!.account}`, tok),
        ...await Promise.all(SITES[own].map((s) => w.h.request('GET', `/v1/accounts/${s.account}`, tok))),
      ]
      for (const r of reads) {
        expect(r.status).toBe(200)
        expect(hasVip(r.body), r.body).toBe(false)
      }
      // The answers to its own writes, too.
      const number = own === 'alpha' ? 'A1999' : 'B2999'
      const created = await w.h.request('POST', '/v1/accounts', tok, { account: number, siteName: `${own} spare` })
      expect(created.status, created.body).toBe(201)
      expect(hasVip(created.body), created.body).toBe(false)
      const patched = await w.h.request('PATCH', `/v1/accounts/${number}`, tok, { siteAddress: `${own} spare street 1` })
      expect(patched.status, patched.body).toBe(200)
      expect(hasVip(patched.body), patched.body).toBe(false)
      // An installer may not set the marker either.
      const setVip = await w.h.request('PATCH', `/v1/accounts/${number}`, tok, { vip: true })
      expect(setVip.status).toBe(400)
      expect((await w.h.request('GET', `/v1/accounts/${number}`, w.admin)).json()).toMatchObject({ vip: false })
      expect((await w.h.request('DELETE', `/v1/accounts/${number}`, tok)).status).toBe(204)
    }
    for (const tok of [w.operator, w.admin]) {
      const list = await w.h.request('GET', '/v1/accounts', tok)
      const items = list.json<{ items: Array<{ account: string, vip: unknown }> }>().items
      expect(items.length).toBe(4)
      for (const a of items) expect(typeof a.vip, a.account).toBe('boolean')
      for (const t of TENANTS) {
        for (const s of SITES[t]) {
          const r = await w.h.request('GET', `/v1/accounts/${s.account}`, tok)
          expect(r.json<{ vip: unknown }>().vip, s.account).toBe(s.vip)
        }
      }
    }
  })
})

// ------------------------------------------------------------ mutations

describe('mutations of another tenant\'s accounts', () => {
  for (const attacker of TENANTS) {
    it(`installer ${attacker} gets not-found for every change to ${OTHER[attacker]}'s accounts, and nothing changes`, async () => {
      const tok = w.installer[attacker]
      for (const s of SITES[OTHER[attacker]]) {
        const before = {
          api: (await w.h.request('GET', `/v1/accounts/${s.account}`, w.admin)).body,
          users: w.h.verifier.listUsers(s.account),
          raw: rawState(s.account),
        }
        const attempts: Array<[string, string, unknown?]> = [
          ['PATCH', `/v1/accounts/${s.account}`, { siteName: 'Hijacked', siteAddress: 'Mallory Road 1' }],
          ['PATCH', `/v1/accounts/${s.account}`, { tenant: attacker }],
          ['PATCH', `/v1/accounts/${s.account.toLowerCase()}`, { keyholders: null }],
          ['PUT', `/v1/accounts/${s.account}/key`, { key: PROBE_KEY }],
          ['PUT', `/v1/accounts/${s.account}/key`, { key: 'probe-ascii-key!', keyFormat: 'ascii' }],
          ['DELETE', `/v1/accounts/${s.account}/key`],
          ['POST', `/v1/accounts/${s.account}/users`, { user: 9, name: 'Mallory' }],
          ['POST', `/v1/accounts/${s.account}/users`, { user: 1, name: 'Mallory' }],
          ['PUT', `/v1/accounts/${s.account}/users/1/code`, { code: PROBE_CODE }],
          ['PUT', `/v1/accounts/${s.account}/users/1/duress-code`, { code: PROBE_CODE }],
          ['PUT', `/v1/accounts/${s.account}/users/2/code`, { code: PROBE_CODE }],
          ['DELETE', `/v1/accounts/${s.account}/users/1`],
          ['DELETE', `/v1/accounts/${s.account}`],
          ['DELETE', `/v1/accounts/${s.account.toLowerCase()}`],
        ]
        for (const [method, url, body] of attempts) {
          const r = await w.h.request(method, url, tok, body)
          expect(r.status, `${method} ${url}: ${r.body}`).toBe(404)
          expect(r.json(), `${method} ${url}`).toEqual(NOT_FOUND_BODY)
        }
        const after = {
          api: (await w.h.request('GET', `/v1/accounts/${s.account}`, w.admin)).body,
          users: w.h.verifier.listUsers(s.account),
          raw: rawState(s.account),
        }
        expect(after).toEqual(before)
      }
    })
  }

  it('taking a number another tenant has: the same generic 409 as a number of its own tenant', async () => {
    for (const attacker of TENANTS) {
      const tok = w.installer[attacker]
      const own = await w.h.request('POST', '/v1/accounts', tok, { account: SITES[attacker][1]!.account })
      expect(own.status).toBe(409)
      for (const s of SITES[OTHER[attacker]]) {
        for (const number of [s.account, s.account.toLowerCase()]) {
          const before = rawState(s.account)
          const r = await w.h.request('POST', '/v1/accounts', tok, { account: number, siteName: 'Probe' })
          expect(r.status, r.body).toBe(409)
          expect(r.body).toBe(own.body)
          expect(withoutDate(r.headers)).toEqual(withoutDate(own.headers))
          for (const word of [s.account, OTHER[attacker], s.siteName]) expect(r.body.toLowerCase()).not.toContain(word.toLowerCase())
          expect(r.json()).toEqual({ error: 'conflict', message: expect.any(String) })
          expect(rawState(s.account)).toEqual(before)
        }
      }
    }
  })
})

// ------------------------------------------------------------ the other tenant's resource vs none at all

describe('another tenant\'s resource answers exactly as a missing one', () => {
  const ROUNDS = 20
  const variants = ROUTES.flatMap((r) => (r.method === 'GET' ? [{ route: r, method: 'GET' }, { route: r, method: 'HEAD' }] : [{ route: r, method: r.method as string }]))

  for (const { route, method } of variants) {
    it(`${method} ${route.path}`, async () => {
      const fixture = FIXTURES[keyOf(route)]
      expect(fixture, `no fixture for ${keyOf(route)}`).toBeDefined()
      const installerMay = route.roles.includes('installer')
      const accountScoped = route.path.includes(':account')
      for (const attacker of TENANTS) {
        const tok = w.installer[attacker]
        const send = async (target: Target): Promise<{ res: Response, ms: number }> => {
          const req = fixture!.request(w, attacker, target)
          const url = urlOf(route.path, req)
          const t0 = performance.now()
          const res = await w.h.request(method, url, tok, method === 'HEAD' ? undefined : req.body)
          return { res, ms: performance.now() - t0 }
        }
        const answers: Record<Target, Response[]> = { other: [], missing: [] }
        const times: Record<Target, number[]> = { other: [], missing: [] }
        for (let i = 0; i < ROUNDS; i++) {
          // Interleaved, and the order flips each round, so that a warm cache favours neither.
          const order: Target[] = i % 2 === 0 ? ['other', 'missing'] : ['missing', 'other']
          for (const target of order) {
            const { res, ms } = await send(target)
            answers[target].push(res)
            times[target].push(ms)
          }
        }
        const first = answers.missing[0]!
        for (const target of ['other', 'missing'] as const) {
          for (const [i, res] of answers[target].entries()) {
            const what = `${method} ${route.path} as installer ${attacker}, ${target} #${i}`
            expect(res.status, `${what}: ${res.body}`).toBe(first.status)
            if (fixture!.volatile === true) {
              expect(res.headers['content-type'], what).toBe(first.headers['content-type'])
              continue
            }
            expect(res.body, what).toBe(first.body)
            expect(withoutDate(res.headers), what).toEqual(withoutDate(first.headers))
          }
        }
        if (installerMay && accountScoped) {
          expect(first.status).toBe(404)
          if (method !== 'HEAD') expect(first.json()).toEqual(NOT_FOUND_BODY)
        }
        if (!installerMay && route.roles.length > 0 && method !== 'HEAD') expect(first.status).toBe(403)
        // Loose: shared, noisy machines. The strict part is the answer itself.
        const mo = median(times.other)
        const mm = median(times.missing)
        const comparable = Math.abs(mo - mm) < 5 || Math.max(mo, mm) / Math.max(Math.min(mo, mm), 0.001) < 5
        expect(comparable, `${method} ${route.path} as installer ${attacker}: median ${mo.toFixed(3)} ms (other tenant's) vs ${mm.toFixed(3)} ms (missing)`).toBe(true)
        covered.add(`${method} ${route.path} ${attacker}`)
      }
    })
  }

  it('ran the pair test for every route/method pair from both tenants', () => {
    expect(covered.size).toBe(variants.length * TENANTS.length)
    console.log(`isolation: pair test covered ${variants.length} route/method pairs of ${ROUTES.length} routes, ${covered.size} attacker/route/method combinations`)
  })

  it('afterwards, every account of both tenants is as it was made', async () => {
    for (const t of TENANTS) {
      for (const s of SITES[t]) {
        const r = await w.h.request('GET', `/v1/accounts/${s.account}`, w.admin)
        expect(r.status).toBe(200)
        expect(r.json()).toMatchObject({
          account: s.account, tenant: t, siteName: s.siteName, siteAddress: s.siteAddress, vip: s.vip, hasKey: s.key !== undefined,
          keyholders: [{ name: s.keyholder.name, phone: s.keyholder.phone, order: 1 }],
        })
        expect(w.h.verifier.listUsers(s.account)).toEqual(s.users.map((u) => ({ user: u.user, name: u.name, hasCode: u.code !== undefined, hasDuressCode: u.duress !== undefined })))
        const raw = rawState(s.account).account as { key_text: string | null }
        expect(raw.key_text).toBe(s.key ?? null)
      }
    }
    const tokens = w.h.access.listTokens()
    for (const t of TENANTS) expect(tokens.find((k) => k.id === w.tokenId[t])?.revokedAt).toBeNull()
  })
})

// ------------------------------------------------------------ an account number that changes hands

describe('an account number removed by one tenant and taken by the other', () => {
  const NUMBER = 'C7007'
  let eventsBefore: Array<{ id: number }>

  beforeAll(async () => {
    const { h } = w
    // alpha's panel, supervised, reports; then alpha removes the account, and beta takes the number.
    await must(h.request('POST', '/v1/accounts', w.installer.alpha, { account: NUMBER, siteName: 'Alpha Former Site', supervisionSeconds: 3600 }), 201)
    await h.frame(NUMBER, '1602 00 000')
    await h.frame(NUMBER, '3401 02 005')
    eventsBefore = (await must(h.request('GET', `/v1/accounts/${NUMBER}/events`, w.installer.alpha), 200)).json<{ items: Array<{ id: number }> }>().items
    expect(eventsBefore.length).toBeGreaterThan(0)
    const sup = (await must(h.request('GET', `/v1/accounts/${NUMBER}/supervision`, w.installer.alpha), 200)).json<{ lastSeen: string | null }>()
    expect(sup.lastSeen).not.toBeNull()
    await must(h.request('DELETE', `/v1/accounts/${NUMBER}`, w.installer.alpha), 204)
    await must(h.request('POST', '/v1/accounts', w.installer.beta, { account: NUMBER, siteName: 'Beta New Site', supervisionSeconds: 3600 }), 201)
  })

  it('the new owner sees none of the previous owner\'s events', async () => {
    const r = await w.h.request('GET', `/v1/accounts/${NUMBER}/events`, w.installer.beta)
    expect(r.status).toBe(200)
    expect(r.json()).toEqual({ items: [], next: null })
  })

  it('the new owner does not see when the previous owner\'s panel last reported', async () => {
    const r = await w.h.request('GET', `/v1/accounts/${NUMBER}/supervision`, w.installer.beta)
    expect(r.status).toBe(200)
    expect(r.json()).toMatchObject({ account: NUMBER, lastSeen: null, failed: false })
  })

  it('nor, after a restart (recent events filled from the journal, as dc09 serve does), the previous owner\'s events', async () => {
    const { h } = w
    const recent = new RecentEvents({ perAccount: 50, total: 10_000 })
    await recent.fill(h.memory.readBackwards())
    const app = buildApi({
      accounts: h.accounts, verifier: h.verifier, access: h.access, journal: h.journal, recent,
      pipeline: { store: h.store, waitFor: (id, ms) => h.runner.waitFor(id, ms) }, metrics: new Metrics(), log: pino({ level: 'silent' }),
    }, { rateBurst: 1_000_000, ratePerSecond: 1_000_000 })
    try {
      await app.ready()
      const res = await app.inject({ method: 'GET', url: `/v1/accounts/${NUMBER}/events`, headers: { authorization: `Bearer ${w.installer.beta}` } })
      h.bodies.push(res.body)
      expect(res.statusCode).toBe(200)
      const ids = JSON.parse(res.body).items.map((e: { id: number }) => e.id) as number[]
      expect(ids.filter((id) => eventsBefore.some((e) => e.id === id)), 'events journaled while alpha owned the number').toEqual([])
    } finally {
      await app.close()
    }
  })
})
