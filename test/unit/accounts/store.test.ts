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
  it('sees accounts another connection adds, changes and removes after refresh(), and not before', () => withTwo({}, (receiver, cli) => {
    cli.add({ account: '1234' })
    expect(receiver.receiverAccount('1234')?.account.account).toBe('1234')
    // Looked up while unknown: remembered as unknown until the change is picked up.
    expect(receiver.receiverAccount('5678')).toBeUndefined()
    cli.add({ account: '5678' })
    expect(receiver.receiverAccount('5678')).toBeUndefined()
    expect(receiver.refresh()).toBe(1)
    expect(receiver.receiverAccount('5678')).toBeDefined()
    cli.update('5678', { key: '0123456789ABCDEF0123456789ABCDEF' })
    cli.remove('1234')
    expect(receiver.receiverAccount('5678')?.key).toBeUndefined()
    expect(receiver.receiverAccount('1234')).toBeDefined()
    expect(receiver.refresh()).toBe(2)
    expect(receiver.receiverAccount('5678')?.key?.bits).toBe(128)
    expect(receiver.receiverAccount('1234')).toBeUndefined()
    expect(receiver.refresh()).toBe(0)
  }))

  it('keeps its files to their owner', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
    const s = new SqliteAccountStore(dir)
    s.close()
    expect(statSync(dir).mode & 0o077).toBe(0)
    expect(statSync(join(dir, 'accounts.db')).mode & 0o077).toBe(0)
    rmSync(dir, { recursive: true, force: true })
  })
})

/** Two stores on one directory: the receiver's and another process's (the CLI, the HTTP interface in its thread). */
function withTwo (opts: { cacheEntries?: number }, fn: (receiver: SqliteAccountStore, cli: SqliteAccountStore, dir: string) => void): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
    const receiver = new SqliteAccountStore(dir, opts)
    const cli = new SqliteAccountStore(dir)
    try {
      fn(receiver, cli, dir)
    } finally {
      receiver.close()
      cli.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

const KEY_A = '0123456789ABCDEF0123456789ABCDEF'
const KEY_B = 'FEDCBA9876543210FEDCBA9876543210'

describe('SqliteAccountStore receiver cache', () => {
  it('holds at most cacheEntries accounts, evicting the least recently used, which is read again from the file', withTwo({ cacheEntries: 2 }, (receiver, cli) => {
    cli.import([{ account: 'A100' }, { account: 'B100' }, { account: 'C100' }])
    expect(receiver.cachedAccounts).toBe(0)
    receiver.receiverAccount('A100')
    receiver.receiverAccount('B100')
    receiver.receiverAccount('A100') // A used last: B is now the least recently used
    receiver.receiverAccount('C100')
    expect(receiver.cachedAccounts).toBe(2)
    // Changed by another process and not yet picked up: a cached account shows the old row,
    // an evicted one is read again and shows the new one.
    cli.update('A100', { key: KEY_A })
    cli.update('B100', { key: KEY_A })
    expect(receiver.receiverAccount('A100')?.key).toBeUndefined()
    expect(receiver.receiverAccount('B100')?.key?.bits).toBe(128)
    expect(receiver.cachedAccounts).toBe(2)
    for (let i = 0; i < 50; i++) receiver.receiverAccount(`D${100 + i}`)
    expect(receiver.cachedAccounts).toBe(2)
  }))

  it('remembers unknown numbers within the same bound: a flood of them costs no memory beyond it', withTwo({ cacheEntries: 3 }, (receiver, cli) => {
    cli.add({ account: 'A100' })
    expect(receiver.receiverAccount('A100')).toBeDefined()
    cli.update('A100', { key: KEY_A })
    // Unknown numbers are remembered (no query each time), and push the known one out.
    for (const n of ['X100', 'X101', 'X102']) expect(receiver.receiverAccount(n)).toBeUndefined()
    expect(receiver.cachedAccounts).toBe(3)
    // X101 was remembered as unknown: its addition is not seen before refresh().
    cli.add({ account: 'X101' })
    expect(receiver.receiverAccount('X101')).toBeUndefined()
    // A100 was evicted by unknown numbers, so it is read again: the new key shows.
    expect(receiver.receiverAccount('A100')?.key?.bits).toBe(128)
    expect(receiver.cachedAccounts).toBe(3)
    expect(receiver.refresh()).toBe(2)
    expect(receiver.receiverAccount('X101')).toBeDefined()
  }))

  it('sees a new key, a removal, and a number added after it was looked up as unknown, after refresh() only', withTwo({}, (receiver, cli) => {
    cli.import([{ account: 'K100', key: KEY_A }, { account: 'R100' }])
    const before = receiver.receiverAccount('K100')?.key
    expect(receiver.receiverAccount('R100')).toBeDefined()
    expect(receiver.receiverAccount('N100')).toBeUndefined()
    cli.update('K100', { key: KEY_B })
    cli.remove('R100')
    cli.add({ account: 'N100', supervisionSeconds: 90 })
    expect(receiver.receiverAccount('K100')?.key).toBe(before)
    expect(receiver.receiverAccount('R100')).toBeDefined()
    expect(receiver.receiverAccount('N100')).toBeUndefined()
    expect(receiver.refresh()).toBe(3)
    const after = receiver.receiverAccount('K100')?.key
    expect(after).toBeDefined()
    expect(after).not.toBe(before)
    expect(receiver.receiverAccount('R100')).toBeUndefined()
    expect(receiver.receiverAccount('N100')?.account.supervisionSeconds).toBe(90)
  }))

  it('applies its own changes at once', withTwo({}, (receiver) => {
    expect(receiver.receiverAccount('O100')).toBeUndefined()
    receiver.add({ account: 'O100' })
    expect(receiver.receiverAccount('O100')).toBeDefined()
    receiver.update('O100', { key: KEY_A })
    expect(receiver.receiverAccount('O100')?.key?.bits).toBe(128)
    receiver.remove('O100')
    expect(receiver.receiverAccount('O100')).toBeUndefined()
  }))

  it('loads nothing when opened, refreshed, or asked for one account', withTwo({}, (receiver, cli) => {
    cli.import(Array.from({ length: 20 }, (_, i) => ({ account: `L${100 + i}` })))
    expect(receiver.refresh()).toBe(0)
    expect(receiver.cachedAccounts).toBe(0)
    cli.add({ account: 'L999' })
    receiver.refresh()
    expect(receiver.cachedAccounts).toBe(0)
    expect(receiver.receiverAccount('L105')).toBeDefined()
    expect(receiver.cachedAccounts).toBe(1)
    expect(receiver.count()).toBe(21)
  }))

  it('forgets everything it holds when the changes since its last refresh were pruned', withTwo({}, (receiver, cli, dir) => {
    cli.import([{ account: 'P100' }, { account: 'P200' }])
    expect(receiver.receiverAccount('P100')?.key).toBeUndefined()
    expect(receiver.receiverAccount('P200')).toBeDefined()
    cli.update('P100', { key: KEY_A })
    cli.remove('P200')
    // A day passes without a refresh: those changes age past the pruning, and the next write prunes them.
    const raw = new Database(join(dir, 'accounts.db'))
    raw.exec('UPDATE account_changes SET at = at - 2 * 86400')
    raw.close()
    cli.add({ account: 'P300' })
    receiver.refresh()
    expect(receiver.cachedAccounts).toBe(0)
    expect(receiver.receiverAccount('P100')?.key?.bits).toBe(128)
    expect(receiver.receiverAccount('P200')).toBeUndefined()
  }))

  it('forgets everything it holds when more accounts changed than one refresh reads', withTwo({}, (receiver, cli) => {
    cli.add({ account: 'Q100' })
    expect(receiver.receiverAccount('Q100')?.key).toBeUndefined()
    cli.update('Q100', { key: KEY_A })
    cli.import(Array.from({ length: 10_001 }, (_, i) => ({ account: `M${100_000 + i}` })))
    expect(receiver.refresh()).toBe(10_002)
    expect(receiver.cachedAccounts).toBe(0)
    expect(receiver.receiverAccount('Q100')?.key?.bits).toBe(128)
  }))
})

describe('SqliteAccountStore import', () => {
  it('reads again under the write lock what another process changed after the import read it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-acc-'))
    const other = new SqliteAccountStore(dir)
    let meanwhile = (): void => {}
    // The clock is read after the entries are checked and before the write lock is taken.
    const store = new SqliteAccountStore(dir, { now: () => { meanwhile(); return new Date() } })
    try {
      meanwhile = () => { meanwhile = () => {}; other.add({ account: 'Z100', tenant: 'x' }) }
      const r = store.import([{ account: 'Z100', tenant: 't1' }, { account: 'Z200' }])
      expect(r).toEqual({ ok: true, value: { added: 1, updated: 1, moved: [{ account: 'Z100', from: 'x', to: 't1' }] } })
      expect(other.get('Z100')?.tenant).toBe('t1')
    } finally {
      store.close()
      other.close()
      rmSync(dir, { recursive: true, force: true })
    }
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
