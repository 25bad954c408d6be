/**
 * Limits and records an attacker with a token (or in front of the interface) would try to get
 * around: probing taken account numbers, spreading probes over several tokens of one tenant,
 * bursts of concurrent code sets (and busy answers that must not cost the hour), a code set racing
 * a move of its account, path parameters made of terminal escapes, compressed bodies,
 * timestamps that move with fields the reader cannot see, and forged X-Forwarded-For headers.
 */
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DerivedRecord, JournalRecord } from '../../src/journal/record.js'
import type { Stored } from '../../src/journal/journal.js'
import { defaultApiOptions, validateApiOptions } from '../../src/api/server.js'
import { hashCode } from '../../src/verification/codes.js'
import { Harness, type Response } from './harness.js'

const idOf = (token: string): string => token.split('_')[1]!
const HOUR = 3_600_000

const tick = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
}

async function security (h: Harness, reason: string): Promise<Array<Stored<DerivedRecord>>> {
  const out: Array<Stored<DerivedRecord>> = []
  for await (const r of h.memory.read() as AsyncIterable<Stored<JournalRecord>>) {
    if (r.type === 'derived' && r.kind === 'security' && r.data.reason === reason) out.push(r as Stored<DerivedRecord>)
  }
  return out
}

function expectStatus (r: Response, status: number): void {
  expect(r.status, r.body).toBe(status)
}

const num = (prefix: string, i: number): string => `${prefix}${String(i).padStart(3, '0')}`

// ------------------------------------------------------------ taken numbers

describe('probing taken account numbers', () => {
  let h: Harness
  let now = Date.UTC(2030, 0, 1, 12)
  let admin: string
  beforeAll(async () => {
    h = await new Harness({ clock: () => now, api: { rateBurst: 100_000 } }).start()
    admin = h.token('admin')
    for (let i = 0; i < 40; i++) expectStatus(await h.request('POST', '/v1/accounts', admin, { account: num('T', i), tenant: 'owner' }), 201)
  })
  afterAll(async () => { await h.close() })

  it('is limited per tenant (20 an hour by default): then 429 with retry-after for any number, and one security event', async () => {
    expect(defaultApiOptions.takenNumbersPerHour).toBe(20)
    const inst = h.token('installer', 'prober')
    for (let i = 0; i < 20; i++) expectStatus(await h.request('POST', '/v1/accounts', inst, { account: num('T', i) }), 409)
    const stopped = await h.request('POST', '/v1/accounts', inst, { account: num('T', 20) })
    expectStatus(stopped, 429)
    expect(stopped.json()).toMatchObject({ error: 'rate-limited' })
    expect(Number(stopped.headers['retry-after'])).toBeGreaterThan(0)
    expect(Number(stopped.headers['retry-after'])).toBeLessThanOrEqual(3600)
    // A free number answers the same: a 201 would tell it apart from a taken one.
    expectStatus(await h.request('POST', '/v1/accounts', inst, { account: 'F001' }), 429)
    expect(h.accounts.get('F001')).toBeUndefined()
    await tick()
    const events = await security(h, 'account-probe')
    expect(events).toHaveLength(1)
    expect(events[0]!.data).toMatchObject({ token: idOf(inst), tenant: 'prober', takenInHour: 20, blocked: true })
    expect(h.verifier.auditTrail(1000).filter((r) => r.action === 'api:account-probe')).toHaveLength(1)
    // Another tenant is not stopped, and the hour ends.
    expectStatus(await h.request('POST', '/v1/accounts', h.token('installer', 'bystander'), { account: 'F002' }), 201)
    now += HOUR
    expectStatus(await h.request('POST', '/v1/accounts', inst, { account: 'F003' }), 201)
  })

  it('does not count a tenant\'s own numbers (it can list them anyway)', async () => {
    const inst = h.token('installer', 'owner')
    for (let i = 0; i < 30; i++) expectStatus(await h.request('POST', '/v1/accounts', inst, { account: num('T', i) }), 409)
    expectStatus(await h.request('POST', '/v1/accounts', inst, { account: 'F004' }), 201)
  })

  it('counts every token of the tenant together', async () => {
    now += HOUR
    const a = h.token('installer', 'prober2')
    const b = h.token('installer', 'prober2')
    for (let i = 0; i < 10; i++) expectStatus(await h.request('POST', '/v1/accounts', a, { account: num('T', i) }), 409)
    for (let i = 10; i < 20; i++) expectStatus(await h.request('POST', '/v1/accounts', b, { account: num('T', i) }), 409)
    expectStatus(await h.request('POST', '/v1/accounts', a, { account: num('T', 20) }), 429)
    expectStatus(await h.request('POST', '/v1/accounts', b, { account: num('T', 21) }), 429)
    expectStatus(await h.request('POST', '/v1/accounts', h.token('installer', 'prober2'), { account: 'F005' }), 429)
  })

  it('is set by takenNumbersPerHour in the api options (whole numbers, bounded)', async () => {
    expect(validateApiOptions({ takenNumbersPerHour: 3 })).toEqual({ ok: true, value: { takenNumbersPerHour: 3 } })
    expect(validateApiOptions({ takenNumbersPerHour: 0 }).ok).toBe(false)
    const h2 = await new Harness({ api: { takenNumbersPerHour: 2, rateBurst: 10_000 } }).start()
    try {
      expectStatus(await h2.request('POST', '/v1/accounts', h2.token('admin'), { account: 'T001', tenant: 'owner' }), 201)
      const inst = h2.token('installer', 'prober')
      for (let i = 0; i < 2; i++) expectStatus(await h2.request('POST', '/v1/accounts', inst, { account: 'T001' }), 409)
      expectStatus(await h2.request('POST', '/v1/accounts', inst, { account: 'T001' }), 429)
    } finally {
      await h2.close()
    }
  })
})

// ------------------------------------------------------------ per tenant, not per token

describe('alarms and limits count per tenant', () => {
  let h: Harness
  const now = Date.UTC(2030, 0, 1, 12)
  beforeAll(async () => {
    h = await new Harness({ clock: () => now, api: { rateBurst: 100_000, codeConflictsPerHour: 3 } }).start()
  })
  afterAll(async () => { await h.close() })

  it('the bulk-read alarm: 90 + 90 reads by two tokens of one tenant raise it', async () => {
    const a = h.token('installer', 'reader')
    const b = h.token('installer', 'reader')
    for (let i = 0; i < 90; i++) expectStatus(await h.request('GET', `/v1/accounts/${num('R', i)}`, a), 404)
    for (let i = 90; i < 180; i++) expectStatus(await h.request('GET', `/v1/accounts/${num('R', i)}`, b), 404)
    await tick()
    const events = await security(h, 'bulk-read')
    expect(events).toHaveLength(1)
    expect(events[0]!.data).toMatchObject({ tenant: 'reader', token: idOf(b) })
  })

  it('the code-in-use limit: refusals of two tokens of one tenant add up, and stop both', async () => {
    const admin = h.token('admin')
    expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'P100', tenant: 'probe' }), 201)
    for (const user of [1, 2]) expectStatus(await h.request('POST', '/v1/accounts/P100/users', admin, { user }), 201)
    expectStatus(await h.request('PUT', '/v1/accounts/P100/users/1/code', admin, { code: '739154' }), 204)
    const a = h.token('installer', 'probe')
    const b = h.token('installer', 'probe')
    for (const t of [a, a, b]) expectStatus(await h.request('PUT', '/v1/accounts/P100/users/2/code', t, { code: '739154' }), 409)
    for (const t of [a, b, h.token('installer', 'probe')]) expectStatus(await h.request('PUT', '/v1/accounts/P100/users/2/code', t, { code: '920417' }), 429)
    expect(h.verifier.listUsers('P100').find((u) => u.user === 2)?.hasCode).toBe(false)
  })
})

// ------------------------------------------------------------ concurrent code sets

describe('a burst of concurrent code sets', () => {
  it('cannot learn more codes in use than the limit allows, across the tenant\'s tokens', async () => {
    const h = await new Harness({ api: { rateBurst: 100_000, codeConflictsPerHour: 3 } }).start()
    try {
      const admin = h.token('admin')
      expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'P200', tenant: 'probe' }), 201)
      for (const user of [1, 2]) expectStatus(await h.request('POST', '/v1/accounts/P200/users', admin, { user }), 201)
      expectStatus(await h.request('PUT', '/v1/accounts/P200/users/1/code', admin, { code: '739154' }), 204)
      const tokens = [h.token('installer', 'probe'), h.token('installer', 'probe')]
      const answers = await Promise.all(Array.from({ length: 30 }, (_, i) =>
        h.request('PUT', '/v1/accounts/P200/users/2/code', tokens[i % 2], { code: '739154' })))
      const statuses = answers.map((r) => r.status)
      expect(statuses.filter((s) => s === 409).length).toBeLessThanOrEqual(3)
      expect(statuses.filter((s) => s === 409).length).toBeGreaterThanOrEqual(1)
      // The others: busy while the first three held the places (try again in a moment), or stopped once they were refused.
      expect(statuses.every((s) => s === 409 || s === 429 || s === 503)).toBe(true)
      for (const r of answers.filter((a) => a.status === 503)) expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(2)
      // Once the burst is over, the tenant is stopped for the hour: a second burst learns nothing more.
      const again = await Promise.all(Array.from({ length: 10 }, (_, i) =>
        h.request('PUT', '/v1/accounts/P200/users/2/code', tokens[i % 2], { code: '739154' })))
      expect(again.map((r) => r.status)).toEqual(Array(10).fill(429))
      expectStatus(await h.request('PUT', '/v1/accounts/P200/users/2/code', tokens[0], { code: '920417' }), 429)
    } finally {
      await h.close()
    }
  })

  it('gives back the places of sets that were not refused as in use', async () => {
    const h = await new Harness({ api: { rateBurst: 100_000, codeConflictsPerHour: 2, codeSetsPerAccountPerHour: 1000 } }).start()
    try {
      const admin = h.token('admin')
      expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'P300', tenant: 'probe' }), 201)
      for (const user of [1, 2]) expectStatus(await h.request('POST', '/v1/accounts/P300/users', admin, { user }), 201)
      const inst = h.token('installer', 'probe')
      for (let i = 0; i < 6; i++) expectStatus(await h.request('PUT', '/v1/accounts/P300/users/1/code', inst, { code: `58203${i}9` }), 204)
    } finally {
      await h.close()
    }
  })
})

// ------------------------------------------------------------ busy is not a refusal

describe('code sets refused as busy', () => {
  /** The real hash, held while `closed` until `open()`; `waiting()` says how many are held. */
  function gatedHash (): { hash: typeof hashCode, close: () => void, open: () => void, waiting: () => number } {
    let gate: Promise<void> | undefined
    let release = (): void => {}
    let waiting = 0
    const hash: typeof hashCode = async (...args) => {
      if (gate !== undefined) {
        waiting++
        await gate
        waiting--
      }
      return await hashCode(...args)
    }
    const close = (): void => { gate = new Promise<void>((resolve) => { release = resolve }) }
    const open = (): void => { gate = undefined; release() }
    return { hash, close, open, waiting: () => waiting }
  }

  async function until (check: () => boolean): Promise<void> {
    for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2))
    expect(check()).toBe(true)
  }

  it('when only sets in flight fill the code-conflict limit: 503 busy with a retry-after of a second or two, not the rest of the hour', async () => {
    const gated = gatedHash()
    const h = await new Harness({ api: { rateBurst: 100_000, codeConflictsPerHour: 2 }, verifier: { hash: gated.hash } }).start()
    try {
      const admin = h.token('admin')
      expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'P400', tenant: 'probe' }), 201)
      for (const user of [1, 2, 3]) expectStatus(await h.request('POST', '/v1/accounts/P400/users', admin, { user }), 201)
      const inst = h.token('installer', 'probe')
      gated.close()
      const inFlight = [1, 2].map((user) => h.request('PUT', `/v1/accounts/P400/users/${user}/code`, inst, { code: `73915${user}` }))
      await until(() => gated.waiting() === 2)
      const third = await h.request('PUT', '/v1/accounts/P400/users/3/code', inst, { code: '739153' })
      expectStatus(third, 503)
      expect(third.json()).toMatchObject({ error: 'busy' })
      expect(Number(third.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(Number(third.headers['retry-after'])).toBeLessThanOrEqual(2)
      gated.open()
      for (const r of await Promise.all(inFlight)) expectStatus(r, 204)
      // Nothing was refused as in use: the places are back, and the third goes through.
      expectStatus(await h.request('PUT', '/v1/accounts/P400/users/3/code', inst, { code: '739153' }), 204)
      expect(await security(h, 'code-probe')).toHaveLength(0)
    } finally {
      await h.close()
    }
  })

  it('a full hash queue (503 busy) does not use up one of the account\'s code sets for the hour', async () => {
    const gated = gatedHash()
    const h = await new Harness({
      api: { rateBurst: 100_000, codeConflictsPerHour: 100, codeSetsPerAccountPerHour: 2 },
      verifier: { hash: gated.hash, hashConcurrency: 1, hashQueue: 0 },
    }).start()
    try {
      const admin = h.token('admin')
      expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'P500', tenant: 'probe' }), 201)
      for (const user of [1, 2]) expectStatus(await h.request('POST', '/v1/accounts/P500/users', admin, { user }), 201)
      const inst = h.token('installer', 'probe')
      gated.close()
      const first = h.request('PUT', '/v1/accounts/P500/users/1/code', inst, { code: '739151' })
      await until(() => gated.waiting() === 1)
      for (let i = 0; i < 5; i++) {
        const r = await h.request('PUT', '/v1/accounts/P500/users/2/code', inst, { code: '739152' })
        expectStatus(r, 503)
        expect(r.json()).toMatchObject({ error: 'busy' })
        expect(Number(r.headers['retry-after'])).toBeLessThanOrEqual(2)
      }
      gated.open()
      expectStatus(await first, 204)
      // The second of the two sets the account has this hour...
      expectStatus(await h.request('PUT', '/v1/accounts/P500/users/2/code', inst, { code: '739152' }), 204)
      // ...and then the limit, for the rest of the hour.
      const stopped = await h.request('PUT', '/v1/accounts/P500/users/2/code', inst, { code: '739153' })
      expectStatus(stopped, 429)
      expect(Number(stopped.headers['retry-after'])).toBeGreaterThan(60)
    } finally {
      await h.close()
    }
  })
})

// ------------------------------------------------------------ a code set while the account changes

describe('a code set while the account changes', () => {
  /** The real hash; the first call after `hold()` waits for `release()`. */
  function heldHash (): { hash: typeof hashCode, hold: () => void, started: Promise<void>, release: () => void } {
    let release!: () => void
    let started!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const begun = new Promise<void>((resolve) => { started = resolve })
    let armed = false
    const hash: typeof hashCode = async (...args) => {
      if (armed) {
        armed = false
        started()
        await gate
      }
      return await hashCode(...args)
    }
    return { hash, hold: () => { armed = true }, started: begun, release }
  }

  it('is answered 409 (the generic conflict) when the account moved to another tenant during the hash, and the user still needs a code', async () => {
    const held = heldHash()
    const h = await new Harness({ api: { rateBurst: 100_000 }, verifier: { hash: held.hash } }).start()
    try {
      const admin = h.token('admin')
      expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'M100', tenant: 'one' }), 201)
      expectStatus(await h.request('POST', '/v1/accounts/M100/users', admin, { user: 1 }), 201)
      held.hold()
      const set = h.request('PUT', '/v1/accounts/M100/users/1/code', h.token('installer', 'one'), { code: '739154' })
      await held.started
      expectStatus(await h.request('PATCH', '/v1/accounts/M100', admin, { tenant: 'two' }), 200)
      held.release()
      const r = await set
      expectStatus(r, 409)
      expect(r.json()).toEqual({ error: 'conflict', message: 'the request conflicts with the current state' })
      const users = await h.request('GET', '/v1/accounts/M100/users', h.token('installer', 'two'))
      expect(users.json().items).toEqual([{ user: 1, name: null, hasCode: false, hasDuressCode: false, needsNewCode: true }])
      expect((await h.verifier.verify('M100', '739154', 'op:test', async () => {})).result).toBe('invalid')
    } finally {
      await h.close()
    }
  })
})

// ------------------------------------------------------------ the audit trail's path parameters

describe('path parameters in the audit trail', () => {
  let h: Harness
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
  })
  afterAll(async () => { await h.close() })

  const latest = () => h.verifier.auditTrail(1)[0]!

  it('records an account only when it is an account number, else a placeholder', async () => {
    const inst = h.token('installer', 'esc')
    const r = await h.request('GET', '/v1/accounts/%1B[1A%1B[2K%1B[1A%1B[2Kroot', inst)
    expectStatus(r, 400)
    expect(latest()).toMatchObject({ action: 'api:account-read', account: '(invalid)', outcome: 'invalid' })
    expectStatus(await h.request('DELETE', '/v1/accounts/%07%7F%C2%9Babc', inst), 400)
    expect(latest()).toMatchObject({ action: 'api:account-remove', account: '(invalid)' })
    // A well-formed number is still recorded as asked.
    expectStatus(await h.request('DELETE', '/v1/accounts/ab12/users/0', inst), 400)
    expect(latest()).toMatchObject({ action: 'api:user-remove', account: 'AB12', user: null })
    const all = JSON.stringify(h.verifier.auditTrail(1000))

    expect(all).not.toMatch(/[\u0000-\u001f\u007f-\u009f]|\\u00(?:1|0|7f|9)/i)
  })

  it('records a valid user from the path even when the request is refused before its handler', async () => {
    const op = h.token('operator')
    expectStatus(await h.request('DELETE', '/v1/accounts/AB12/users/7', op), 403)
    expect(latest()).toMatchObject({ action: 'api:user-remove', account: 'AB12', user: 7, outcome: 'forbidden' })
  })
})

// ------------------------------------------------------------ content-encoding

describe('request bodies with a content-encoding', () => {
  let h: Harness
  let admin: string
  beforeAll(async () => {
    h = await new Harness({ api: { rateBurst: 10_000 } }).start()
    admin = h.token('admin')
  })
  afterAll(async () => { await h.close() })

  it.each(['gzip', 'deflate', 'br', 'GZIP', 'identity, gzip', 'x-custom'])('refuses %s with 415, and nothing is made', async (encoding) => {
    const body = encoding.toLowerCase().includes('gzip') ? gzipSync(JSON.stringify({ account: 'E001' })).toString('latin1') : JSON.stringify({ account: 'E001' })
    const r = await h.request('POST', '/v1/accounts', admin, body, { 'content-encoding': encoding })
    expectStatus(r, 415)
    expect(r.json()).toMatchObject({ error: 'unsupported-media-type' })
    expect(h.accounts.get('E001')).toBeUndefined()
  })

  it('refuses a compressed body that would parse as JSON', async () => {
    // A body "compressed" with an encoding the interface does not decode must not be read as plain.
    const r = await h.request('POST', '/v1/accounts', admin, { account: 'E002' }, { 'content-encoding': 'compress' })
    expectStatus(r, 415)
    expect(h.accounts.get('E002')).toBeUndefined()
  })

  it('accepts identity, or no content-encoding', async () => {
    expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'E003' }, { 'content-encoding': 'identity' }), 201)
    expectStatus(await h.request('POST', '/v1/accounts', admin, { account: 'E004' }), 201)
  })
})

// ------------------------------------------------------------ updatedAt

describe('the updatedAt an installer reads', () => {
  it('does not move when an admin toggles the VIP marker, and moves with fields the installer sees', async () => {
    const h = await new Harness({ api: { rateBurst: 10_000 } }).start()
    const pause = async () => await new Promise((resolve) => setTimeout(resolve, 5))
    try {
      const admin = h.token('admin')
      const inst = h.token('installer', 'alpha')
      expectStatus(await h.request('POST', '/v1/accounts', inst, { account: 'U001', siteName: 'Shop' }), 201)
      const seen = async (t: string) => (await h.request('GET', '/v1/accounts/U001', t)).json().updatedAt as string
      const listed = async () => (await h.request('GET', '/v1/accounts', inst)).json().items[0].updatedAt as string
      const first = await seen(inst)
      const adminFirst = await seen(admin)
      await pause()
      const patched = await h.request('PATCH', '/v1/accounts/U001', admin, { vip: true })
      expectStatus(patched, 200)
      // The admin sees the change; the installer sees nothing move, in a read or a list.
      expect(await seen(admin)).not.toBe(adminFirst)
      expect(await seen(inst)).toBe(first)
      expect(await listed()).toBe(first)
      await pause()
      expectStatus(await h.request('PATCH', '/v1/accounts/U001', admin, { vip: false, siteName: 'Shop' }), 200)
      expect(await seen(inst)).toBe(first)
      await pause()
      const mine = await h.request('PATCH', '/v1/accounts/U001', inst, { siteName: 'Shop 2' })
      expect(mine.json().updatedAt).not.toBe(first)
      expect(await seen(inst)).toBe(mine.json().updatedAt)
      expect(await seen(admin)).toBe(mine.json().updatedAt)
    } finally {
      await h.close()
    }
  })
})

// ------------------------------------------------------------ trusted proxies

describe('api.trustProxy', () => {
  it('is off by default: a forged X-Forwarded-For changes neither the audit source nor the per-address limits', async () => {
    const h = await new Harness({ api: { rateBurst: 3, ratePerSecond: 1 }, clock: () => 0 }).start()
    try {
      const op = h.token('operator')
      expectStatus(await h.request('GET', '/v1/accounts', op, undefined, { 'x-forwarded-for': '203.0.113.9' }), 200)
      expect(h.verifier.auditTrail(1)[0]).toMatchObject({ action: 'api:accounts-list', source: '127.0.0.1' })
      for (let i = 0; i < 3; i++) expectStatus(await h.request('GET', '/healthz', undefined, undefined, { 'x-forwarded-for': `203.0.113.${i}` }), 200)
      expectStatus(await h.request('GET', '/healthz', undefined, undefined, { 'x-forwarded-for': '203.0.113.77' }), 429)
    } finally {
      await h.close()
    }
  })

  it('with the proxy\'s address or network listed, the client\'s address is used for limits and the audit trail', async () => {
    const h = await new Harness({ api: { rateBurst: 3, ratePerSecond: 1, trustProxy: ['10.0.0.0/8', '127.0.0.1'] }, clock: () => 0 }).start()
    try {
      const op = h.token('operator')
      expectStatus(await h.request('GET', '/v1/accounts', op, undefined, { 'x-forwarded-for': '203.0.113.9' }), 200)
      expect(h.verifier.auditTrail(1)[0]).toMatchObject({ action: 'api:accounts-list', source: '203.0.113.9' })
      for (let i = 0; i < 3; i++) expectStatus(await h.request('GET', '/healthz', undefined, undefined, { 'x-forwarded-for': '198.51.100.1' }), 200)
      expectStatus(await h.request('GET', '/healthz', undefined, undefined, { 'x-forwarded-for': '198.51.100.1' }), 429)
      // Another client behind the same proxy has its own allowance.
      expectStatus(await h.request('GET', '/healthz', undefined, undefined, { 'x-forwarded-for': '198.51.100.2' }), 200)
      // A client cannot pass itself off as another by putting an address in front: the one the proxy saw counts.
      expectStatus(await h.request('GET', '/healthz', undefined, undefined, { 'x-forwarded-for': '192.0.2.50, 198.51.100.1' }), 429)
      // A peer that is not a listed proxy is taken at its own address, whatever it sends.
      const direct = await h.app.inject({ method: 'GET', url: '/v1/accounts', remoteAddress: '192.0.2.7', headers: { authorization: `Bearer ${op}`, 'x-forwarded-for': '203.0.113.10' } })
      expect(direct.statusCode).toBe(200)
      expect(h.verifier.auditTrail(1)[0]).toMatchObject({ action: 'api:accounts-list', source: '192.0.2.7' })
    } finally {
      await h.close()
    }
  })

  it('takes a list of addresses or CIDRs, nothing else', () => {
    expect(defaultApiOptions.trustProxy).toEqual([])
    expect(validateApiOptions({ trustProxy: ['10.0.0.1', '192.168.0.0/16', '::1', 'fd00::/8'] })).toMatchObject({ ok: true })
    for (const bad of [true, '10.0.0.1', ['10.0.0.0/33'], ['example.com'], ['10.0.0.1/x'], [1], Array.from({ length: 65 }, (_, i) => `10.0.0.${i}`)]) {
      expect(validateApiOptions({ trustProxy: bad }).ok, JSON.stringify(bad)).toBe(false)
    }
  })
})
