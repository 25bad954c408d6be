/**
 * No secret ever leaves the HTTP interface: a broad session calls every route at least once (as a
 * role it allows), with secrets in the requests, then every response body of the run is searched
 * for every disarm and duress code, every AES key, every token (and its stored hash), every code
 * hash and salt, and the pepper. And a duress code's answer is byte for byte a valid code's.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROUTES } from '../../src/api/routes/index.js'
import { Harness, type Response } from './harness.js'

// Codes of 11-12 digits, none starting with 1 (so none is an epoch second or a byte count by chance).
const CODES = {
  a1: '72951836405', a1duress: '83062947516', a2: '94173058627',
  b1: '86395274018', b1duress: '97406385129',
  a1rotated: '76543098218', a2duressTaken: '72951836405',
  afterReset: '88204719635', afterResetDuress: '69317520846',
  spare: '95827306418',
  rejected: '58201937465',
} as const
const KEYS = {
  a1001: '0a1b2c3d4e5f60718293a4b5c6d7e8f9',
  a1001rotated: '9c8b7a6d5e4f30211203f4e5d6c7b8a9fedcba9876543210',
  a1002: 'AbCdEf0123456789aBcDeF9876543210FfEeDdCcBbAa99887766554433221100',
  b2001: 'Beta-Ascii-Key!!',
  spare: '31415926535897932384626433832795',
  rejected: '27182818284590452353602874713526',
} as const

let h: Harness
let dbPath: string
const tokens: string[] = []
let admin: string
let operator: string
let installerA: string
let installerB: string
/** The token POST /v1/tokens answered with: the one token a body may hold. */
let created: string | undefined
/** Route keys answered with a 2xx, as an allowed role. */
const reached = new Set<string>()
/** Hashes, salts and other stored secrets, read from the database along the way (before reset-all, after it). */
const stored = new Map<string, Buffer>()

function token (role: 'admin' | 'operator' | 'installer', tenant?: string): string {
  const t = h.token(role, tenant)
  tokens.push(t)
  return t
}

function fill (path: string, params: Readonly<Record<string, string | number>>): string {
  return path.replace(/:([a-z]+)/g, (_m, name: string) => {
    const v = params[name]
    if (v === undefined) throw new Error(`no :${name} for ${path}`)
    return encodeURIComponent(String(v))
  })
}

/** A request to a route of the table, by its method and path template. */
async function call (method: string, path: string, params: Readonly<Record<string, string | number>>, tok: string | undefined, body?: unknown, query = ''): Promise<Response> {
  if (!ROUTES.some((r) => r.method === method && r.path === path)) throw new Error(`${method} ${path} is not a route`)
  const r = await h.request(method, fill(path, params) + query, tok, body)
  if (r.status >= 200 && r.status < 300) reached.add(`${method} ${path}`)
  return r
}

async function ok (p: Promise<Response>, status = 200): Promise<Response> {
  const r = await p
  expect(r.status, r.body).toBe(status)
  return r
}

function snapshotStored (label: string): void {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true })
  try {
    for (const r of db.prepare('SELECT id, hash FROM api_tokens').all() as Array<{ id: string, hash: Buffer }>) stored.set(`token hash ${r.id}`, r.hash)
    for (const r of db.prepare('SELECT account, user, code_hash, duress_hash FROM users').all() as Array<{ account: string, user: number, code_hash: Buffer | null, duress_hash: Buffer | null }>) {
      if (r.code_hash !== null) stored.set(`code hash ${r.account}/${r.user} ${label}`, r.code_hash)
      if (r.duress_hash !== null) stored.set(`duress hash ${r.account}/${r.user} ${label}`, r.duress_hash)
    }
    for (const r of db.prepare('SELECT account, salt FROM code_slots').all() as Array<{ account: string, salt: Buffer }>) stored.set(`salt ${r.account} ${label}`, r.salt)
    for (const r of db.prepare('SELECT key, value FROM verify_meta WHERE key <> ?').all('policy') as Array<{ key: string, value: Buffer }>) stored.set(`verify_meta ${r.key} ${label}`, r.value)
  } finally {
    db.close()
  }
}

/** The forms a binary secret could take in a body. */
function forms (b: Buffer): string[] {
  const hex = b.toString('hex')
  return [hex, hex.toUpperCase(), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')]
}

let validAnswer: Response
let duressAnswer: Response
const verifyPairs: Array<[Response, Response]> = []

beforeAll(async () => {
  h = await new Harness({ api: { rateBurst: 100_000, ratePerSecond: 100_000 } }).start()
  dbPath = join(h.dir, 'accounts.db')
  admin = token('admin')
  operator = token('operator')
  installerA = token('installer', 'alpha')
  installerB = token('installer', 'beta')

  // Public routes.
  await ok(call('GET', '/healthz', {}, undefined))
  await ok(call('GET', '/metrics', {}, undefined))
  await ok(call('GET', '/v1/openapi.json', {}, undefined))
  for (const t of [admin, operator, installerA]) await ok(call('GET', '/v1/me', {}, t))

  // Tenants, accounts, keys.
  await ok(call('POST', '/v1/tenants', {}, admin, { tenant: 'gamma', name: 'Gamma Alarms Ltd' }), 201)
  await ok(call('GET', '/v1/tenants', {}, admin))
  await ok(call('POST', '/v1/accounts', {}, admin, {
    account: 'A1001', tenant: 'alpha', key: KEYS.a1001, siteName: 'Alpha Manor', siteAddress: 'Alpha Lane 1', vip: true,
    keyholders: [{ name: 'Alice Alphason', phone: '+370 611 11111', order: 1 }],
  }), 201)
  await ok(call('POST', '/v1/accounts', {}, installerA, { account: 'A1002', siteName: 'Alpha Depot', key: KEYS.a1002 }), 201)
  await ok(call('POST', '/v1/accounts', {}, installerB, { account: 'B2001', siteName: 'Beta Villa', key: KEYS.b2001, keyFormat: 'ascii' }), 201)
  await ok(call('POST', '/v1/accounts', {}, installerA, { account: 'A1099', siteName: 'Alpha Spare' }), 201)
  // Refused writes that carry a key: the refusal must not repeat it.
  expect((await call('POST', '/v1/accounts', {}, installerA, { account: 'A1003', key: KEYS.rejected.slice(0, 31) })).status).toBe(400)
  expect((await call('POST', '/v1/accounts', {}, installerA, { account: 'A1003', key: KEYS.rejected + 'zz' })).status).toBe(400)
  expect((await call('POST', '/v1/accounts', {}, installerA, { account: 'A1003', key: `${KEYS.rejected}x`, keyFormat: 'ascii' })).status).toBe(400)
  expect((await call('POST', '/v1/accounts', {}, installerA, { account: 'A1001', key: KEYS.rejected })).status).toBe(409)
  expect((await h.request('POST', '/v1/accounts', installerA, `{"account":"A1003","key":"${KEYS.rejected}"`)).status).toBe(400)
  expect((await call('PUT', '/v1/accounts/:account/key', { account: 'A1001' }, installerA, { key: KEYS.rejected, extra: KEYS.rejected })).status).toBe(400)
  expect((await call('PUT', '/v1/accounts/:account/key', { account: 'B2001' }, installerA, { key: KEYS.rejected })).status).toBe(404)
  await ok(call('GET', '/v1/accounts', {}, admin))
  await ok(call('GET', '/v1/accounts', {}, installerA, undefined, '?q=Alpha'))
  for (const t of [admin, operator, installerA]) await ok(call('GET', '/v1/accounts/:account', { account: 'A1001' }, t))
  await ok(call('PATCH', '/v1/accounts/:account', { account: 'A1002' }, installerA, { key: KEYS.a1002.toLowerCase(), siteAddress: 'Alpha Road 22' }))
  await ok(call('PUT', '/v1/accounts/:account/key', { account: 'A1001' }, installerA, { key: KEYS.a1001rotated }), 204)
  await ok(call('PUT', '/v1/accounts/:account/key', { account: 'A1099' }, admin, { key: KEYS.spare }), 204)
  await ok(call('DELETE', '/v1/accounts/:account/key', { account: 'A1099' }, installerA), 204)

  // Users and codes.
  for (const [account, tok, users] of [['A1001', installerA, [1, 2]], ['B2001', installerB, [1]], ['A1099', installerA, [1]]] as const) {
    for (const user of users) await ok(call('POST', '/v1/accounts/:account/users', { account }, tok, { user, name: `Keyholder ${user} of ${account}` }), 201)
  }
  await ok(call('GET', '/v1/accounts/:account/users', { account: 'A1001' }, operator))
  const put = (account: string, user: number, which: 'code' | 'duress-code', code: string, tok = installerA) =>
    call('PUT', `/v1/accounts/:account/users/:user/${which}`, { account, user }, tok, { code })
  await ok(put('A1001', 1, 'code', CODES.a1), 204)
  await ok(put('A1001', 1, 'duress-code', CODES.a1duress), 204)
  await ok(put('A1001', 2, 'code', CODES.a2), 204)
  await ok(put('B2001', 1, 'code', CODES.b1, installerB), 204)
  await ok(put('B2001', 1, 'duress-code', CODES.b1duress, installerB), 204)
  await ok(put('A1099', 1, 'code', CODES.spare, admin), 204)
  // Refused codes: taken, weak, malformed, another tenant's, and a body that is not JSON.
  expect((await put('A1001', 2, 'duress-code', CODES.a2duressTaken)).status).toBe(409)
  expect((await put('A1001', 2, 'code', CODES.a1duress)).status).toBe(409)
  expect((await put('A1001', 2, 'code', '7777777777777')).status).toBe(400)
  expect((await put('A1001', 2, 'code', `${CODES.rejected}x`)).status).toBe(400)
  expect((await put('A1001', 2, 'code', `${CODES.rejected}999999`)).status).toBe(400)
  expect((await put('B2001', 1, 'code', CODES.rejected)).status).toBe(404)
  expect((await put('A1001', 9, 'code', CODES.rejected)).status).toBe(404)
  expect((await h.request('PUT', '/v1/accounts/A1001/users/2/code', installerA, `{"code":"${CODES.rejected}"`)).status).toBe(400)
  expect((await h.request('PUT', '/v1/accounts/A1001/users/2/code', installerA, { code: Number(CODES.rejected) })).status).toBe(400)
  snapshotStored('enrolled')
  await ok(put('A1001', 1, 'code', CODES.a1rotated), 204)
  await ok(put('A1001', 1, 'code', CODES.a1), 204)
  snapshotStored('rotated')

  // Alarms, cases, verification.
  await h.frame('A1001', '1130 01 015')
  await h.frame('B2001', '1130 01 015')
  await h.frame('A1002', '1602 00 000')
  await ok(call('GET', '/v1/cases', {}, operator, undefined, '?state=all'))
  const bCases = (await ok(call('GET', '/v1/accounts/:account/cases', { account: 'B2001' }, operator))).json<{ items: Array<{ id: number }> }>().items
  expect(bCases).toHaveLength(1)
  await ok(call('GET', '/v1/accounts/:account/cases/:id', { account: 'B2001', id: bCases[0]!.id }, admin))
  await ok(call('POST', '/v1/accounts/:account/cases/:id/resolve', { account: 'B2001', id: bCases[0]!.id }, operator, { note: 'called the keyholder: a false alarm' }))
  const verify = (account: string, code: string) => call('POST', '/v1/accounts/:account/verify', { account }, operator, { code })
  // The same user, its code and its duress code, in both orders.
  for (let i = 0; i < 3; i++) {
    const duressFirst = i % 2 === 1
    const first = await verify('A1001', duressFirst ? CODES.a1duress : CODES.a1)
    const second = await verify('A1001', duressFirst ? CODES.a1 : CODES.a1duress)
    verifyPairs.push(duressFirst ? [second, first] : [first, second])
  }
  validAnswer = verifyPairs[0]![0]
  duressAnswer = verifyPairs[0]![1]
  await ok(verify('B2001', CODES.b1duress))
  await ok(verify('A1001', CODES.rejected))
  await ok(verify('Z9999', CODES.rejected))
  await ok(call('POST', '/v1/accounts/:account/unlock', { account: 'A1001' }, operator), 204)
  for (const t of [operator, installerA]) {
    await ok(call('GET', '/v1/accounts/:account/events', { account: 'A1001' }, t))
    await ok(call('GET', '/v1/accounts/:account/supervision', { account: 'A1002' }, t))
  }
  await ok(call('GET', '/v1/accounts/:account/events', { account: 'B2001' }, admin))
  await ok(call('GET', '/v1/accounts/:account/cases', { account: 'A1001' }, admin))

  // Tokens: one made through the API (its answer holds it, once), then revoked.
  const made = await ok(call('POST', '/v1/tokens', {}, admin, { role: 'installer', tenant: 'gamma', name: 'made by the session', expiresInDays: 30 }), 201)
  created = made.json<{ token: string }>().token
  expect(created).toMatch(/^dc09_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
  await ok(call('GET', '/v1/me', {}, created))
  await ok(call('GET', '/v1/tokens', {}, admin))
  await ok(call('DELETE', '/v1/tokens/:id', { id: created.split('_')[1]! }, admin))
  expect((await h.request('GET', '/v1/me', created)).status).toBe(401)
  snapshotStored('session')

  // A leak is suspected: every code goes, salts are renewed; then codes again.
  await ok(call('POST', '/v1/codes/reset-all', {}, admin, { confirm: 'every code on every account' }))
  await ok(call('GET', '/v1/accounts/:account/users', { account: 'A1001' }, installerA))
  await ok(put('A1001', 1, 'code', CODES.afterReset), 204)
  await ok(put('A1001', 1, 'duress-code', CODES.afterResetDuress), 204)
  await ok(verify('A1001', CODES.afterReset))
  await ok(verify('A1001', CODES.afterResetDuress))
  snapshotStored('after reset')

  // Removals.
  await ok(call('DELETE', '/v1/accounts/:account/users/:user', { account: 'A1001', user: 2 }, installerA), 204)
  await ok(call('DELETE', '/v1/accounts/:account', { account: 'A1099' }, installerA), 204)
  await ok(call('GET', '/v1/audit', {}, admin, undefined, '?limit=500'))
  await ok(call('GET', '/metrics', {}, undefined))
})

afterAll(async () => {
  await h?.close()
})

describe('a session over the whole interface', () => {
  it(`reached all ${ROUTES.length} routes with a 2xx, as a role each allows`, () => {
    const missed = ROUTES.map((r) => `${r.method} ${r.path}`).filter((k) => !reached.has(k))
    expect(missed).toEqual([])
    console.log(`secrets: the session reached ${reached.size} of ${ROUTES.length} routes; ${h.bodies.length} response bodies searched`)
  })

  it('a duress code answers byte for byte as the same user\'s valid code', () => {
    const strip = (r: Response): Record<string, unknown> => {
      const { date: _date, ...rest } = r.headers
      return rest
    }
    expect(validAnswer.status).toBe(200)
    expect(validAnswer.json()).toEqual({ result: 'valid', account: 'A1001', user: 1 })
    for (const [valid, duress] of verifyPairs) {
      expect(duress.status).toBe(valid.status)
      expect(duress.body).toBe(valid.body)
      expect(strip(duress)).toEqual(strip(valid))
    }
    expect(duressAnswer.body).toBe(validAnswer.body)
  })

  it('no response body holds a disarm or duress code', () => {
    const codes = Object.entries(CODES)
    for (const body of h.bodies) for (const [name, code] of codes) expect(body.includes(code), `code ${name} in ${body.slice(0, 200)}`).toBe(false)
  })

  it('no response body holds an AES key (as given, lower- or upper-case)', () => {
    for (const [name, key] of Object.entries(KEYS)) {
      for (const form of new Set([key, key.toLowerCase(), key.toUpperCase()])) {
        for (const body of h.bodies) expect(body.includes(form), `key ${name} in ${body.slice(0, 200)}`).toBe(false)
      }
    }
  })

  it('no response body holds a token (but the one POST /v1/tokens made, once) or any token\'s stored hash', () => {
    expect(created).toBeDefined()
    for (const t of tokens) {
      const secret = t.split('_').slice(2).join('_')
      for (const body of h.bodies) {
        expect(body.includes(t), 'a token').toBe(false)
        expect(body.includes(secret), 'a token\'s secret').toBe(false)
      }
    }
    const createdSecret = created!.split('_').slice(2).join('_')
    expect(h.bodies.filter((b) => b.includes(createdSecret))).toHaveLength(1)
    const hashes = [...stored].filter(([name]) => name.startsWith('token hash'))
    expect(hashes.length).toBe(tokens.length + 1)
    for (const [name, hash] of hashes) {
      expect(hash.length).toBe(32)
      for (const form of forms(hash)) for (const body of h.bodies) expect(body.includes(form), `${name} in a body`).toBe(false)
    }
  })

  it('no response body holds a code hash, a salt, or anything else the verifier stores', () => {
    const secrets = [...stored].filter(([name]) => !name.startsWith('token hash'))
    expect(secrets.filter(([n]) => n.startsWith('code hash')).length).toBeGreaterThan(5)
    expect(secrets.filter(([n]) => n.startsWith('duress hash')).length).toBeGreaterThan(3)
    expect(secrets.filter(([n]) => n.startsWith('salt')).length).toBeGreaterThan(5)
    for (const [name, value] of secrets) {
      expect(value.length).toBeGreaterThanOrEqual(16)
      for (const form of forms(value)) for (const body of h.bodies) expect(body.includes(form), `${name} in a body`).toBe(false)
    }
  })

  it('no response body holds the pepper', () => {
    expect(h.pepper.length).toBeGreaterThanOrEqual(32)
    for (const form of forms(h.pepper)) for (const body of h.bodies) expect(body.includes(form), 'the pepper').toBe(false)
  })

  it('the metrics name no account, site or person', async () => {
    const r = await h.request('GET', '/metrics')
    for (const word of ['A1001', 'A1002', 'B2001', 'Alpha', 'Beta', 'Alice', 'Keyholder', 'gamma']) expect(r.body, word).not.toContain(word)
  })
})
