/**
 * An account search must be answered from indexes: the HTTP interface runs it on the receiver's
 * event loop, and a scan of every account (hundreds of thousands at a large centre) would hold
 * the ACKs of every panel while it runs. The test catches the statement the store really runs,
 * with its arguments, and asks SQLite how it would run it.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { ListOptions } from '../../../src/accounts/account-store.js'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'

let dir: string
let store: SqliteAccountStore

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-search-'))
  store = new SqliteAccountStore(dir)
  const rows = Array.from({ length: 600 }, (_, i) => ({
    account: `${(i % 3 === 0 ? 'A' : 'B')}${String(i).padStart(4, '0')}`,
    tenant: ['alpha', 'beta', 'gamma'][i % 3]!,
    siteName: `${['Green', 'Blue', 'Šiaulių'][i % 3]} Site ${i}`,
  }))
  expect(store.import(rows).ok).toBe(true)
})

afterAll(() => {
  store.close()
  rmSync(dir, { recursive: true, force: true })
})

afterEach(() => { vi.restoreAllMocks() })

/** The statement `list` runs for these options, and SQLite's plan for it. */
function planOf (opts: ListOptions): { plan: string[], found: string[] } {
  const probe = new Database(':memory:')
  const proto = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { all: (...args: unknown[]) => unknown[] }
  probe.close()
  const calls: Array<{ sql: string, args: unknown[] }> = []
  const all = proto.all
  vi.spyOn(proto, 'all').mockImplementation(function (this: { source: string }, ...args: unknown[]) {
    calls.push({ sql: this.source, args })
    return all.apply(this, args)
  })
  const found = store.list(opts).map((a) => a.account)
  vi.restoreAllMocks()
  const listed = calls.filter((c) => /FROM accounts/i.test(c.sql))
  expect(listed).toHaveLength(1)
  const db = new Database(join(dir, 'accounts.db'), { readonly: true })
  try {
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${listed[0]!.sql}`).all(...listed[0]!.args) as Array<{ detail: string }>).map((r) => r.detail)
    return { plan, found }
  } finally {
    db.close()
  }
}

const SEARCHES: ListOptions[] = [
  { search: 'gr' }, { search: 'GREEN SITE 1' }, { search: 'a00' }, { search: 'šiaul' }, { search: '%' },
  { search: 'gr', tenant: 'alpha' }, { search: 'b0', tenant: 'beta' }, { search: 'blue', tenant: 'beta', after: 'B0100' },
  { search: 'site', after: 'A0300', limit: 5 }, { search: 'nothing', tenant: 'no-such' },
]

describe('account search', () => {
  for (const analyzed of [false, true]) {
    it(`never scans the accounts table, only searches its indexes${analyzed ? ' (with statistics gathered by ANALYZE)' : ''}`, () => {
      if (analyzed) {
        const db = new Database(join(dir, 'accounts.db'))
        db.exec('ANALYZE')
        db.close()
      }
      for (const opts of SEARCHES) {
        const { plan } = planOf(opts)
        const shown = `${JSON.stringify(opts)}:\n${plan.join('\n')}`
        expect(plan.some((d) => /^SCAN accounts\b/.test(d)), shown).toBe(false)
        // Both what it searches are index ranges: the number, and the folded site name.
        expect(plan.some((d) => /^SEARCH accounts USING (COVERING )?INDEX \S+ \((tenant=\? AND )?account>\? AND account<\?\)/.test(d)), shown).toBe(true)
        expect(plan.some((d) => /^SEARCH accounts USING INDEX \S+ \((tenant=\? AND )?site_fold>\? AND site_fold<\?\)/.test(d)), shown).toBe(true)
      }
    })
  }

  it('finds what the plans promise: numbers and site names that start with the text, within the tenant, after the page mark', () => {
    expect(planOf({ search: 'GREEN SITE 30' }).found).toEqual(['A0030', 'A0300', 'A0303', 'A0306', 'A0309'])
    expect(planOf({ search: 'b000' }).found).toEqual(['B0001', 'B0002', 'B0004', 'B0005', 'B0007', 'B0008'])
    expect(planOf({ search: 'b000', tenant: 'beta' }).found).toEqual(['B0001', 'B0004', 'B0007'])
    expect(planOf({ search: 'ŠIAULIŲ SITE 5', tenant: 'gamma', after: 'B0200', limit: 2 }).found).toEqual(['B0500', 'B0503'])
    expect(planOf({ search: 'site' }).found).toEqual([])
  })
})
