import { createRequire } from 'node:module'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { accountStoreSuite } from '../../conformance/account-store.suite.js'
const require = createRequire(import.meta.url)

accountStoreSuite('MemoryAccountStore', (opts) => ({ store: new MemoryAccountStore(undefined, opts) }))
accountStoreSuite('SqliteAccountStore', (opts) => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
  return { store: new SqliteAccountStore(dir, opts), cleanup: () => rmSync(dir, { recursive: true, force: true }) }
})

describe('SqliteAccountStore across processes', () => {
  it('sees accounts another connection adds, changes and removes after refresh()', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
    const receiver = new SqliteAccountStore(dir)
    const cli = new SqliteAccountStore(dir)
    try {
      cli.add({ account: '1234' })
      expect(receiver.receiverAccount('1234')?.account.account).toBe('1234')
      cli.add({ account: '5678' })
      expect(receiver.receiverAccount('5678')).toBeUndefined()
      expect(receiver.refresh()).toBe(1)
      expect(receiver.receiverAccount('5678')).toBeDefined()
      cli.update('5678', { key: '0123456789ABCDEF0123456789ABCDEF' })
      cli.remove('1234')
      expect(receiver.refresh()).toBe(2)
      expect(receiver.receiverAccount('5678')?.key?.bits).toBe(128)
      expect(receiver.receiverAccount('1234')).toBeUndefined()
      expect(receiver.refresh()).toBe(0)
    } finally {
      receiver.close()
      cli.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('keeps its files to their owner', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
    const s = new SqliteAccountStore(dir)
    s.close()
    expect(statSync(dir).mode & 0o077).toBe(0)
    expect(statSync(join(dir, 'accounts.db')).mode & 0o077).toBe(0)
    rmSync(dir, { recursive: true, force: true })
  })
})

describe('SqliteAccountStore refresh never waits on a writer', () => {
  it('reads changes while another connection holds the write lock', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
    const receiver = new SqliteAccountStore(dir)
    const writer = new SqliteAccountStore(dir)
    try {
      receiver.receiverAccount('0000')
      writer.add({ account: '1234' })
      // A long import in another process: the write lock is held throughout.
      const Database = require('better-sqlite3') as typeof import('better-sqlite3')
      const blocker = new Database(join(dir, 'accounts.db'))
      blocker.exec('BEGIN IMMEDIATE')
      const t0 = performance.now()
      expect(receiver.refresh()).toBe(1)
      expect(performance.now() - t0).toBeLessThan(1000)
      blocker.exec('ROLLBACK')
      blocker.close()
    } finally {
      receiver.close()
      writer.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
