/** What every TokenStore must do. Run against each with `tokenStoreSuite(name, open)`. */
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import type { TokenRow, TokenStore } from '../../src/access/token-store.js'

export interface OpenedTokenStore {
  readonly store: TokenStore
  /** For a durable backend: the same rows opened again (after `store` was closed). */
  readonly reopen?: () => TokenStore
  readonly cleanup?: () => void
}

const token = (id: string, more: Partial<TokenRow> = {}): TokenRow => ({
  id, hash: createHash('sha256').update(`secret of ${id}`).digest(), role: 'operator', tenant: null, name: null,
  createdAt: '2026-01-01T00:00:00.000Z', expiresAt: null, revokedAt: null, lastUsedAt: null, ...more,
})

export function tokenStoreSuite (name: string, open: () => OpenedTokenStore): void {
  describe(`${name} (token store conformance)`, () => {
    const withStore = (fn: (s: TokenStore) => void) => () => {
      const { store, cleanup } = open()
      try { fn(store) } finally { store.close(); cleanup?.() }
    }

    it('reads back a token as added, every field, and nothing for an unknown id', withStore((s) => {
      const full = token('0123456789ab', { role: 'installer', tenant: 'alpha', name: 'van 3 \u2014 caf\u00e9', expiresAt: '2027-01-01T00:00:00.000Z' })
      expect(s.addToken(full)).toEqual({ ok: true, value: undefined })
      expect(s.token('0123456789ab')).toEqual(full)
      expect(s.token('ffffffffffff')).toBeUndefined()
      expect(s.token('')).toBeUndefined()
    }))

    it('refuses an id that is taken (EXISTS), keeping the first token', withStore((s) => {
      expect(s.addToken(token('aaaaaaaaaaaa', { name: 'first' })).ok).toBe(true)
      expect(s.addToken(token('aaaaaaaaaaaa', { name: 'second', role: 'admin' }))).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_EXISTS' })
      expect(s.token('aaaaaaaaaaaa')).toMatchObject({ name: 'first', role: 'operator' })
      expect(s.tokens()).toHaveLength(1)
    }))

    it('lists every token by creation time, then id', withStore((s) => {
      s.addToken(token('cccccccccccc', { createdAt: '2026-01-02T00:00:00.000Z' }))
      s.addToken(token('bbbbbbbbbbbb', { createdAt: '2026-01-01T00:00:00.000Z' }))
      s.addToken(token('aaaaaaaaaaaa', { createdAt: '2026-01-02T00:00:00.000Z' }))
      expect(s.tokens().map((t) => t.id)).toEqual(['bbbbbbbbbbbb', 'aaaaaaaaaaaa', 'cccccccccccc'])
    }))

    it('revokes a token once: a second revocation keeps the first time; NOT_FOUND for an unknown id', withStore((s) => {
      s.addToken(token('aaaaaaaaaaaa'))
      expect(s.revoke('aaaaaaaaaaaa', '2026-02-01T00:00:00.000Z')).toEqual({ ok: true, value: token('aaaaaaaaaaaa', { revokedAt: '2026-02-01T00:00:00.000Z' }) })
      expect(s.revoke('aaaaaaaaaaaa', '2026-03-01T00:00:00.000Z')).toMatchObject({ ok: true, value: { revokedAt: '2026-02-01T00:00:00.000Z' } })
      expect(s.token('aaaaaaaaaaaa')?.revokedAt).toBe('2026-02-01T00:00:00.000Z')
      expect(s.revoke('bbbbbbbbbbbb', '2026-02-01T00:00:00.000Z')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_NOT_FOUND' })
      expect(s.tokens()).toHaveLength(1)
    }))

    it('records a token\'s last use, and nothing for an unknown id', withStore((s) => {
      s.addToken(token('aaaaaaaaaaaa'))
      s.touch('aaaaaaaaaaaa', '2026-01-05T00:00:00.000Z')
      s.touch('aaaaaaaaaaaa', '2026-01-06T00:00:00.000Z')
      s.touch('bbbbbbbbbbbb', '2026-01-06T00:00:00.000Z')
      expect(s.token('aaaaaaaaaaaa')).toEqual(token('aaaaaaaaaaaa', { lastUsedAt: '2026-01-06T00:00:00.000Z' }))
      expect(s.tokens()).toHaveLength(1)
    }))

    it('registers tenants once (EXISTS for a second time), listed by name', withStore((s) => {
      expect(s.tenants()).toEqual([])
      expect(s.addTenant({ tenant: 'zeta', name: 'Zeta Alarms', createdAt: '2026-01-01T00:00:00.000Z' })).toEqual({ ok: true, value: { tenant: 'zeta', name: 'Zeta Alarms', createdAt: '2026-01-01T00:00:00.000Z' } })
      expect(s.addTenant({ tenant: 'alpha', name: null, createdAt: '2026-01-02T00:00:00.000Z' }).ok).toBe(true)
      expect(s.addTenant({ tenant: 'zeta', name: 'Other', createdAt: '2026-01-03T00:00:00.000Z' })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_EXISTS' })
      expect(s.tenants()).toEqual([
        { tenant: 'alpha', name: null, createdAt: '2026-01-02T00:00:00.000Z' },
        { tenant: 'zeta', name: 'Zeta Alarms', createdAt: '2026-01-01T00:00:00.000Z' },
      ])
    }))

    it('registers a token\'s tenant with the token when it is new, and leaves a registered one as it is', withStore((s) => {
      s.addTenant({ tenant: 'alpha', name: 'Alpha', createdAt: '2026-01-01T00:00:00.000Z' })
      s.addToken(token('aaaaaaaaaaaa', { role: 'installer', tenant: 'alpha', createdAt: '2026-01-09T00:00:00.000Z' }))
      s.addToken(token('bbbbbbbbbbbb', { role: 'installer', tenant: 'beta', createdAt: '2026-01-09T00:00:00.000Z' }))
      expect(s.tenants()).toEqual([
        { tenant: 'alpha', name: 'Alpha', createdAt: '2026-01-01T00:00:00.000Z' },
        { tenant: 'beta', name: null, createdAt: '2026-01-09T00:00:00.000Z' },
      ])
      // A refused token registers nothing.
      expect(s.addToken(token('bbbbbbbbbbbb', { role: 'installer', tenant: 'gamma' })).ok).toBe(false)
      expect(s.tenants().map((t) => t.tenant)).toEqual(['alpha', 'beta'])
    }))

    it('keeps tokens and tenants when opened again', () => {
      const { store, reopen, cleanup } = open()
      try {
        store.addToken(token('aaaaaaaaaaaa', { role: 'installer', tenant: 'alpha' }))
        store.revoke('aaaaaaaaaaaa', '2026-02-01T00:00:00.000Z')
        store.addTenant({ tenant: 'beta', name: 'Beta', createdAt: '2026-01-01T00:00:00.000Z' })
        store.close()
        if (reopen === undefined) return
        const again = reopen()
        try {
          expect(again.token('aaaaaaaaaaaa')).toEqual(token('aaaaaaaaaaaa', { role: 'installer', tenant: 'alpha', revokedAt: '2026-02-01T00:00:00.000Z' }))
          expect(again.tenants().map((t) => t.tenant)).toEqual(['alpha', 'beta'])
        } finally { again.close() }
      } finally { cleanup?.() }
    })
  })
}
