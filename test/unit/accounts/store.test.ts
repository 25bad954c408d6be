import { createRequire } from 'node:module'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { Verifier } from '../../../src/verification/verifier.js'
import { accountStoreSuite, type HeldRecords } from '../../conformance/account-store.suite.js'
const require = createRequire(import.meta.url)
const Database = require('better-sqlite3') as typeof import('better-sqlite3')

/** Users, codes and counters as the verifier keeps them, in the store's database. */
function verifierRecords (dir: string, store: SqliteAccountStore): { held: HeldRecords, close: () => void } {
  const verifier = new Verifier(dir, store, { pepper: Buffer.alloc(32, 7), scryptN: 16 })
  const raw = new Database(join(dir, 'accounts.db'))
  const attempt = async (account: string): Promise<void> => { await verifier.verify(account, '000000', 'test', async () => {}) }
  return {
    held: {
      keep: async (account) => {
        expect(verifier.addUser(account, 1, 'Ann', 'test').ok).toBe(true)
        expect((await verifier.setCode(account, 1, '739154', false, 'test')).ok).toBe(true)
        expect((await verifier.setCode(account, 1, '482916', true, 'test')).ok).toBe(true)
        await attempt(account)
      },
      attempt,
      orphan: (account) => { raw.prepare('DELETE FROM accounts WHERE account = ?').run(account) },
      read: (account) => {
        const users = verifier.listUsers(account)
        return {
          users: users.length,
          withCodes: users.filter((u) => u.hasCode || u.hasDuressCode).length,
          needsNewCodes: verifier.needsNewCodes(account),
          counters: (raw.prepare('SELECT count(*) AS n FROM verify_limits WHERE key = ?').get(`a:${account}`) as { n: number }).n,
        }
      },
    },
    close: () => { raw.close(); verifier.close() },
  }
}

accountStoreSuite('MemoryAccountStore', (opts) => ({ store: new MemoryAccountStore(undefined, opts) }))
accountStoreSuite('SqliteAccountStore', (opts) => {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
  const store = new SqliteAccountStore(dir, opts)
  const { held, close } = verifierRecords(dir, store)
  return { store, held, cleanup: () => { close(); rmSync(dir, { recursive: true, force: true }) } }
})

/** A store with the verifier's records beside it and a raw handle on its file, to make a part of a change fail. */
async function withHeldStore (fn: (store: SqliteAccountStore, held: HeldRecords, raw: InstanceType<typeof Database>) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
  const store = new SqliteAccountStore(dir)
  const { held, close } = verifierRecords(dir, store)
  const raw = new Database(join(dir, 'accounts.db'))
  try {
    store.add({ account: '4321', tenant: 't1' })
    await held.keep('4321')
    await fn(store, held, raw)
  } finally {
    raw.close()
    close()
    store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('SqliteAccountStore removal is one transaction', () => {
  it('leaves the account, its users and codes as they were when any part of the removal fails', () => withHeldStore(async (store, held, raw) => {
    // The last part of a removal fails (a full disk, a lock): nothing of it may stay done.
    raw.exec("CREATE TRIGGER fail_counters BEFORE DELETE ON verify_limits BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    expect(() => store.remove('4321')).toThrow(/disk full/)
    expect(store.get('4321')).toBeDefined()
    expect(held.read('4321')).toMatchObject({ users: 1, withCodes: 1, counters: 1 })
    raw.exec('DROP TRIGGER fail_counters')
    expect(store.remove('4321').ok).toBe(true)
    expect(held.read('4321')).toEqual({ users: 0, withCodes: 0, needsNewCodes: false, counters: 0 })
  }))

  it('moves a tenant and clears the codes together, or neither', () => withHeldStore(async (store, held, raw) => {
    raw.exec("CREATE TRIGGER fail_slots BEFORE UPDATE ON code_slots BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    expect(() => store.update('4321', { tenant: 't2' })).toThrow(/disk full/)
    expect(store.get('4321')?.tenant).toBe('t1')
    expect(held.read('4321')).toMatchObject({ users: 1, withCodes: 1 })
  }))
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
