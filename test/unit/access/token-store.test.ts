/** Both TokenStore backends against the one conformance suite, and AccessStore over the memory one. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { MemoryTokenStore } from '../../../src/access/memory-token-store.js'
import { SqliteTokenStore } from '../../../src/access/sqlite-token-store.js'
import { AccessStore } from '../../../src/api/access.js'
import { tokenStoreSuite } from '../../conformance/token-store.suite.js'

tokenStoreSuite('MemoryTokenStore', () => ({ store: new MemoryTokenStore() }))
tokenStoreSuite('SqliteTokenStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-tokens-'))
  // The SQLite backend lists the tenants accounts name too: the account store makes their table.
  new SqliteAccountStore(dir).close()
  return {
    store: new SqliteTokenStore(dir),
    reopen: () => new SqliteTokenStore(dir),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  }
})

describe('AccessStore over the memory backend', () => {
  it('makes, authenticates and revokes tokens, and registers tenants, with no data directory', () => {
    let now = Date.UTC(2026, 0, 1)
    const access = new AccessStore(new MemoryTokenStore(), { clock: () => now })
    const made = access.createToken({ role: 'installer', tenant: 'alpha', name: 'van' })
    if (!made.ok) throw new Error(made.reason)
    expect(access.authenticate(made.value.token)).toMatchObject({ id: made.value.info.id, role: 'installer', tenant: 'alpha', lastUsedAt: null })
    now += 120_000
    expect(access.authenticate(made.value.token.slice(0, -1) + (made.value.token.endsWith('A') ? 'B' : 'A'))).toBeUndefined()
    expect(access.authenticate(made.value.token)).toBeDefined()
    expect(access.getToken(made.value.info.id)?.lastUsedAt).toBe(new Date(now).toISOString())
    expect(access.listTenants().map((t) => t.tenant)).toEqual(['alpha'])
    expect(access.addTenant('alpha', undefined)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_EXISTS' })
    expect(access.revokeToken(made.value.info.id)).toMatchObject({ ok: true, value: { revokedAt: new Date(now).toISOString() } })
    expect(access.authenticate(made.value.token)).toBeUndefined()
    expect(access.revokeToken('000000000000')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_NOT_FOUND' })
    access.close()
  })

  it('refuses names with a control character (U+0000 to U+001F, U+007F), and takes any other', () => {
    const access = new AccessStore(new MemoryTokenStore())
    for (const bad of ['a\u0000b', 'tab\there', 'del\u007f', '\u001f']) {
      expect(access.createToken({ role: 'admin', name: bad })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_INVALID' })
      expect(access.addTenant('alpha', bad)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCESS_INVALID' })
    }
    expect(access.createToken({ role: 'admin', name: 'caf\u00e9 \u0080 ~' }).ok).toBe(true)
    expect(access.addTenant('alpha', 'Alpha \u2014 ~').ok).toBe(true)
    access.close()
  })
})
