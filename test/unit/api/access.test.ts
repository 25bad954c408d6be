import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { AccessStore } from '../../../src/api/access.js'

const T0 = Date.UTC(2026, 10, 27, 9)

let dir: string
let accounts: SqliteAccountStore
let access: AccessStore
let now: number

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-access-'))
  now = T0
  // listTenants reads the accounts table: the account store makes it.
  accounts = new SqliteAccountStore(dir)
  access = new AccessStore(dir, { clock: () => now })
})

afterEach(() => {
  access.close()
  accounts.close()
  rmSync(dir, { recursive: true, force: true })
})

function make (o: Parameters<AccessStore['createToken']>[0]): { token: string, id: string, secret: string } {
  const r = access.createToken(o)
  if (!r.ok) throw new Error(r.reason)
  const [, id, ...rest] = r.value.token.split('_')
  return { token: r.value.token, id: id!, secret: rest.join('_') }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

describe('createToken', () => {
  it('makes tokens of each role, in the dc09_<id>_<secret> form', () => {
    for (const role of ['admin', 'operator'] as const) {
      const r = access.createToken({ role, name: `${role} one` })
      expect(r.ok).toBe(true)
      if (r.ok) {
        expect(r.value.token).toMatch(/^dc09_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/)
        expect(r.value.info).toMatchObject({ role, tenant: null, name: `${role} one`, createdAt: new Date(T0).toISOString(), expiresAt: null, revokedAt: null, lastUsedAt: null })
      }
    }
    const inst = access.createToken({ role: 'installer', tenant: 'alpha' })
    expect(inst).toMatchObject({ ok: true, value: { info: { role: 'installer', tenant: 'alpha', name: null } } })
  })

  it.each<[string, Parameters<AccessStore['createToken']>[0], RegExp]>([
    ['an unknown role', { role: 'root' }, /role/],
    ['an empty role', { role: '' }, /role/],
    ['an installer without a tenant', { role: 'installer' }, /tenant/],
    ['an operator with a tenant', { role: 'operator', tenant: 'alpha' }, /tenant/],
    ['an admin with a tenant', { role: 'admin', tenant: 'alpha' }, /tenant/],
    ['a bad tenant', { role: 'installer', tenant: 'a b' }, /tenant/],
    ['an empty name', { role: 'operator', name: '' }, /name/],
    ['a name over 100 characters', { role: 'operator', name: 'x'.repeat(101) }, /name/],
    ['a name with a control character', { role: 'operator', name: 'night\nshift' }, /name/],
    ['an expiry in the past', { role: 'operator', expiresAt: new Date(T0 - 1000) }, /expiry/],
    ['an expiry of now', { role: 'operator', expiresAt: new Date(T0) }, /expiry/],
  ])('refuses %s', (_name, o, re) => {
    const r = access.createToken(o)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.code).toBe('DC09_ERR_ACCESS_INVALID')
      expect(r.reason).toMatch(re)
    }
    expect(access.listTokens()).toEqual([])
  })

  it('accepts a name of exactly 100 characters and a future expiry', () => {
    expect(access.createToken({ role: 'operator', name: 'x'.repeat(100) }).ok).toBe(true)
    const r = access.createToken({ role: 'operator', expiresAt: new Date(T0 + 1000) })
    expect(r).toMatchObject({ ok: true, value: { info: { expiresAt: new Date(T0 + 1000).toISOString() } } })
  })
})

describe('authenticate', () => {
  it('accepts the exact token', () => {
    const t = make({ role: 'operator', name: 'ops' })
    expect(access.authenticate(t.token)).toMatchObject({ id: t.id, role: 'operator', name: 'ops' })
  })

  it('rejects the token with any one character of its secret changed', () => {
    const t = make({ role: 'operator' })
    for (let i = 0; i < t.secret.length; i++) {
      const c = t.secret[i]!
      const other = ALPHABET[(ALPHABET.indexOf(c) + 1) % ALPHABET.length]!
      const changed = `dc09_${t.id}_${t.secret.slice(0, i)}${other}${t.secret.slice(i + 1)}`
      expect(access.authenticate(changed), `position ${i}`).toBeUndefined()
    }
    expect(access.authenticate(t.token)).toBeDefined()
  })

  it('rejects a changed id, even another token\'s id', () => {
    const t = make({ role: 'operator' })
    const u = make({ role: 'admin' })
    const flipped = t.id.slice(0, -1) + (t.id.endsWith('0') ? '1' : '0')
    expect(access.authenticate(`dc09_${flipped}_${t.secret}`)).toBeUndefined()
    expect(access.authenticate(`dc09_${u.id}_${t.secret}`)).toBeUndefined()
    expect(access.authenticate(`dc09_${t.id}_${u.secret}`)).toBeUndefined()
    expect(access.authenticate(`dc09_${t.id.toUpperCase()}_${t.secret}`)).toBeUndefined()
  })

  it('rejects extra or missing characters, a too-long string, a wrong prefix and junk', () => {
    const t = make({ role: 'operator' })
    expect(access.authenticate(t.token + 'A')).toBeUndefined()
    expect(access.authenticate(t.token + '_')).toBeUndefined()
    expect(access.authenticate('A' + t.token)).toBeUndefined()
    expect(access.authenticate(t.token.slice(0, -1))).toBeUndefined()
    expect(access.authenticate(t.token + ' ')).toBeUndefined()
    expect(access.authenticate(t.token + 'x'.repeat(200))).toBeUndefined()
    expect(access.authenticate(t.token.padEnd(129, 'A'))).toBeUndefined()
    expect(access.authenticate(`dc10_${t.id}_${t.secret}`)).toBeUndefined()
    expect(access.authenticate(`DC09_${t.id}_${t.secret}`)).toBeUndefined()
    expect(access.authenticate(`${t.id}_${t.secret}`)).toBeUndefined()
    expect(access.authenticate(t.secret)).toBeUndefined()
    expect(access.authenticate('')).toBeUndefined()
    expect(access.authenticate('dc09__')).toBeUndefined()
    expect(access.authenticate(`dc09_${t.id}`)).toBeUndefined()
    expect(access.authenticate(t.token)).toBeDefined()
  })

  it('rejects a revoked token', () => {
    const t = make({ role: 'operator' })
    expect(access.revokeToken(t.id).ok).toBe(true)
    expect(access.authenticate(t.token)).toBeUndefined()
  })

  it('rejects an expired token (at and after its expiry)', () => {
    const t = make({ role: 'installer', tenant: 'alpha', expiresAt: new Date(T0 + 60_000) })
    now = T0 + 59_999
    expect(access.authenticate(t.token)).toBeDefined()
    now = T0 + 60_000
    expect(access.authenticate(t.token)).toBeUndefined()
    now = T0 + 86_400_000
    expect(access.authenticate(t.token)).toBeUndefined()
  })

  it('records the last use, at most once a minute', () => {
    const t = make({ role: 'operator' })
    access.authenticate(t.token)
    expect(access.getToken(t.id)?.lastUsedAt).toBe(new Date(T0).toISOString())
    now = T0 + 30_000
    access.authenticate(t.token)
    expect(access.getToken(t.id)?.lastUsedAt).toBe(new Date(T0).toISOString())
    now = T0 + 60_000
    access.authenticate(t.token)
    expect(access.getToken(t.id)?.lastUsedAt).toBe(new Date(T0 + 60_000).toISOString())
  })
})

describe('storage', () => {
  it('stores the SHA-256 of the secret part, and never the token', () => {
    const t = make({ role: 'admin', name: 'root' })
    const db = new Database(join(dir, 'accounts.db'), { readonly: true })
    try {
      const row = db.prepare('SELECT * FROM api_tokens WHERE id = ?').get(t.id) as Record<string, unknown>
      expect(Buffer.isBuffer(row.hash)).toBe(true)
      expect((row.hash as Buffer).equals(createHash('sha256').update(t.secret).digest())).toBe(true)
      expect((row.hash as Buffer).equals(createHash('sha256').update(t.token).digest())).toBe(false)
      for (const v of Object.values(row)) {
        if (typeof v === 'string') {
          expect(v).not.toContain(t.secret)
        }
      }
    } finally {
      db.close()
    }
    for (const f of ['accounts.db', 'accounts.db-wal']) {
      const file = join(dir, f)
      if (!existsSync(file)) continue
      const bytes = readFileSync(file)
      expect(bytes.includes(Buffer.from(t.token)), f).toBe(false)
      expect(bytes.includes(Buffer.from(t.secret)), f).toBe(false)
    }
  })

  it('lists and gets tokens without any hash or secret', () => {
    const t = make({ role: 'installer', tenant: 'alpha', name: 'fitter' })
    make({ role: 'operator' })
    const keys = ['createdAt', 'expiresAt', 'id', 'lastUsedAt', 'name', 'revokedAt', 'role', 'tenant']
    const list = access.listTokens()
    expect(list).toHaveLength(2)
    for (const info of list) expect(Object.keys(info).sort()).toEqual(keys)
    const one = access.getToken(t.id)
    expect(one).toMatchObject({ id: t.id, role: 'installer', tenant: 'alpha', name: 'fitter' })
    expect(Object.keys(one!).sort()).toEqual(keys)
    expect(JSON.stringify([list, one])).not.toContain(t.secret)
    expect(access.getToken('000000000000')).toBeUndefined()
    expect(access.getToken('not an id')).toBeUndefined()
  })
})

describe('revokeToken', () => {
  it('is idempotent: the first revocation time stays', () => {
    const t = make({ role: 'operator' })
    const first = access.revokeToken(t.id)
    expect(first).toMatchObject({ ok: true, value: { id: t.id, revokedAt: new Date(T0).toISOString() } })
    now = T0 + 5000
    const second = access.revokeToken(t.id)
    expect(second).toMatchObject({ ok: true, value: { id: t.id, revokedAt: new Date(T0).toISOString() } })
    expect(access.listTokens().map((x) => x.id)).toEqual([t.id])
  })

  it('refuses an unknown or malformed id', () => {
    expect(access.revokeToken('000000000000')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_NOT_FOUND' })
    expect(access.revokeToken("x' OR 1=1 --")).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_NOT_FOUND' })
  })
})

describe('tenants', () => {
  it('adds and lists tenants, refusing a duplicate and bad names', () => {
    expect(access.addTenant('acme', 'Acme Alarms')).toMatchObject({ ok: true, value: { tenant: 'acme', name: 'Acme Alarms' } })
    expect(access.addTenant('beta', undefined)).toMatchObject({ ok: true, value: { tenant: 'beta', name: null } })
    expect(access.addTenant('acme', 'again')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_EXISTS' })
    expect(access.addTenant('a b', undefined)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_INVALID' })
    expect(access.addTenant('-lead', undefined)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_INVALID' })
    expect(access.addTenant('gamma', '')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_INVALID' })
    expect(access.addTenant('gamma', 'x\u0007')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_INVALID' })
    expect(access.listTenants()).toEqual([
      { tenant: 'acme', name: 'Acme Alarms', createdAt: new Date(T0).toISOString() },
      { tenant: 'beta', name: null, createdAt: new Date(T0).toISOString() },
    ])
  })

  it('lists a tenant that an installer token was made for', () => {
    make({ role: 'installer', tenant: 'fitters' })
    expect(access.listTenants().map((t) => t.tenant)).toEqual(['fitters'])
    // A token for a registered tenant leaves its name alone.
    access.addTenant('named', 'Named Co')
    make({ role: 'installer', tenant: 'named' })
    expect(access.listTenants().find((t) => t.tenant === 'named')?.name).toBe('Named Co')
  })

  it('lists a tenant used only by an account, once', () => {
    accounts.add({ account: '1001', tenant: 'onlyhere' })
    accounts.add({ account: '1002', tenant: 'onlyhere' })
    accounts.add({ account: '1003', tenant: 'acme' })
    accounts.add({ account: '1004' })
    access.addTenant('acme', 'Acme Alarms')
    const list = access.listTenants()
    expect(list.map((t) => t.tenant)).toEqual(['acme', 'onlyhere'])
    expect(list.find((t) => t.tenant === 'acme')?.name).toBe('Acme Alarms')
    expect(list.find((t) => t.tenant === 'onlyhere')).toMatchObject({ name: null, createdAt: expect.any(String) })
  })

  it('answers addTenant with the row as stored (its createdAt is the listed one)', () => {
    // A clock that moves on every reading, as a real one does between two calls.
    let t = T0
    const ticking = new AccessStore(dir, { clock: () => (t += 1) })
    try {
      const r = ticking.addTenant('ticking', undefined)
      expect(r.ok).toBe(true)
      const listed = ticking.listTenants().find((x) => x.tenant === 'ticking')
      if (r.ok) expect(r.value.createdAt).toBe(listed?.createdAt)
    } finally {
      ticking.close()
    }
  })
})
