/** A data directory made before accounts had a site, keyholders and a VIP marker is upgraded on open. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'

/** The accounts table as the first release made it. */
const OLD_SCHEMA = `
CREATE TABLE accounts (
  account TEXT PRIMARY KEY,
  receiver TEXT,
  prefix TEXT,
  key_text TEXT,
  key_format TEXT,
  encryption_required INTEGER NOT NULL,
  window_ahead INTEGER,
  window_behind INTEGER,
  check_plain_timestamp INTEGER NOT NULL DEFAULT 0,
  clock_offset INTEGER,
  time_zone TEXT,
  charset TEXT,
  supervision_seconds INTEGER,
  tenant TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
`

const KEY = '0123456789ABCDEF0123456789ABCDEF'

let dir: string
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-migrate-'))
  const db = new Database(join(dir, 'accounts.db'))
  db.exec(OLD_SCHEMA)
  db.prepare(`INSERT INTO accounts (account, receiver, prefix, key_text, key_format, encryption_required, window_ahead, check_plain_timestamp, supervision_seconds, tenant, created_at, updated_at)
    VALUES ('1234', 'AB', '0', ?, 'hex', 1, 60, 1, 3600, 'acme', '2025-01-02T03:04:05.000Z', '2025-01-02T03:04:05.000Z')`).run(KEY)
  db.prepare('INSERT INTO accounts (account, encryption_required, created_at, updated_at) VALUES (\'5678\', 0, \'2025-01-02T03:04:05.000Z\', \'2025-01-02T03:04:05.000Z\')').run()
  db.close()
})
afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

describe('SqliteAccountStore on an old accounts.db', () => {
  it('adds the new columns on open and reads the old accounts with defaults', () => {
    const s = new SqliteAccountStore(dir)
    try {
      expect(s.get('1234')).toMatchObject({
        account: '1234', receiver: 'AB', prefix: '0', hasKey: true, keyFormat: 'hex', encryptionRequired: true, windowAhead: 60,
        checkPlainTimestamp: true, supervisionSeconds: 3600, tenant: 'acme', createdAt: '2025-01-02T03:04:05.000Z',
        siteName: undefined, siteAddress: undefined, keyholders: [], vip: false, visibleUpdatedAt: '2025-01-02T03:04:05.000Z',
      })
      // An old row's visible time is its updatedAt, until a change every role sees.
      expect(s.update('1234', { vip: true }).ok).toBe(true)
      expect(s.get('1234')?.visibleUpdatedAt).toBe('2025-01-02T03:04:05.000Z')
      expect(s.get('5678')).toMatchObject({ account: '5678', hasKey: false, keyholders: [], vip: false })
      expect(s.receiverAccount('1234')?.key?.bits).toBe(128)
      expect(s.list().map((a) => a.account)).toEqual(['1234', '5678'])
      expect(s.count()).toBe(2)
    } finally {
      s.close()
    }
    const db = new Database(join(dir, 'accounts.db'), { readonly: true })
    const cols = (db.prepare('PRAGMA table_info(accounts)').all() as Array<{ name: string }>).map((c) => c.name)
    db.close()
    expect(cols).toEqual(expect.arrayContaining(['site_name', 'site_address', 'keyholders', 'vip']))
  })

  it('lets the upgraded accounts take the new fields, be searched, and survive a reopen', () => {
    let s = new SqliteAccountStore(dir)
    expect(s.update('1234', { siteName: 'Green Bakery', keyholders: [{ name: 'Ann', phone: '+370 600 00001', order: 1 }], vip: true }))
      .toMatchObject({ ok: true, value: { siteName: 'Green Bakery', vip: true, tenant: 'acme', hasKey: true } })
    expect(s.list({ search: 'green' }).map((a) => a.account)).toEqual(['1234'])
    expect(s.add({ account: '9999', siteAddress: 'Main St 1' }).ok).toBe(true)
    s.close()
    // A second open (the columns exist now) changes nothing.
    s = new SqliteAccountStore(dir)
    try {
      expect(s.get('1234')).toMatchObject({ siteName: 'Green Bakery', vip: true, keyholders: [{ name: 'Ann', phone: '+370 600 00001', order: 1 }] })
      expect(s.get('9999')).toMatchObject({ siteAddress: 'Main St 1' })
      expect(s.count()).toBe(3)
    } finally {
      s.close()
    }
  })

  it('upgrades while another store has the directory open', () => {
    const a = new SqliteAccountStore(dir)
    const b = new SqliteAccountStore(dir)
    try {
      expect(b.get('1234')?.vip).toBe(false)
      a.update('1234', { vip: true })
      expect(b.get('1234')?.vip).toBe(true)
    } finally {
      a.close()
      b.close()
    }
  })
})

describe('a row stored under older rules', () => {
  it('stays changeable in its other fields (a site name with a character now refused, and a site_fold to fill in)', () => {
    const s = new SqliteAccountStore(dir)
    s.close()
    // As an older version stored it: a right-to-left override in the site name, no folded column.
    const db = new Database(join(dir, 'accounts.db'))
    db.prepare("UPDATE accounts SET site_name = ?, site_fold = NULL WHERE account = '5678'").run('Evil \u202Egnp')
    db.close()
    const store = new SqliteAccountStore(dir)
    try {
      expect(store.list({ search: 'evil' }).map((a) => a.account)).toEqual(['5678'])
      expect(store.update('5678', { key: KEY })).toMatchObject({ ok: true, value: { hasKey: true, siteName: 'Evil \u202Egnp' } })
      // Given again, the text is checked under today's rules.
      expect(store.update('5678', { siteName: 'Evil \u202Egnp' })).toMatchObject({ ok: false })
      expect(store.update('5678', { siteName: 'רחוב הרצל 5\u200F' })).toMatchObject({ ok: true })
    } finally {
      store.close()
    }
  })
})
