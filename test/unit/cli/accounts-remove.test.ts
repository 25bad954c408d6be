/**
 * `dc09 accounts remove` journals the removal, then deletes the account: what happens when the
 * number changes hands in between, or when the delete fails after the removal was journaled.
 * The journaling itself is replaced here (no receiver, no journal) by a hook the test drives.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { remove } from '../../../src/cli/commands/accounts.js'
import type { Io } from '../../../src/cli/commands/codes.js'
import type { DerivedRecord } from '../../../src/journal/record.js'
import { Verifier } from '../../../src/verification/verifier.js'

const journaled: DerivedRecord[] = []
let whileJournaling: (() => Promise<void>) | undefined

vi.mock('../../../src/pipeline/control.js', async (original) => ({
  ...(await original<typeof import('../../../src/pipeline/control.js')>()),
  appendForCommand: async (_dir: string, record: DerivedRecord): Promise<number> => {
    await whileJournaling?.()
    journaled.push(record)
    return journaled.length
  },
}))

let dir: string
let out: string
let err: string
const io: Io = { out: (s) => { out += s }, err: (s) => { err += s }, readStdin: () => '' }

function withStore<T> (fn: (s: SqliteAccountStore, v: Verifier) => T): T {
  const s = new SqliteAccountStore(dir)
  const v = new Verifier(dir, s, {})
  try { return fn(s, v) } finally { v.close(); s.close() }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-remove-'))
  out = ''
  err = ''
  journaled.length = 0
  whileJournaling = undefined
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => { err += String(s); return true })
  withStore((s) => { expect(s.add({ account: '4321', tenant: 't1' }).ok).toBe(true) })
})

afterEach(() => {
  vi.restoreAllMocks()
  rmSync(dir, { recursive: true, force: true })
})

describe('dc09 accounts remove', () => {
  it('does not remove a later holder the number was given to while the removal was being journaled', async () => {
    whileJournaling = async () => {
      await new Promise((resolve) => setTimeout(resolve, 2))
      withStore((s, v) => {
        expect(s.remove('4321').ok).toBe(true)
        expect(s.add({ account: '4321', tenant: 't2' }).ok).toBe(true)
        expect(v.addUser('4321', 1, 'Bob of T2', 'test').ok).toBe(true)
      })
    }
    expect(await remove(dir, '4321', io)).toBe(1)
    expect(err).toContain('DC09_ERR_ACCOUNT_NOT_FOUND')
    expect(out).toBe('')
    withStore((s, v) => {
      expect(s.get('4321')).toMatchObject({ tenant: 't2' })
      expect(v.listUsers('4321')).toHaveLength(1)
    })
  })

  it('exits 1 with a clear message when the account cannot be deleted after its removal was journaled; running it again finishes it', async () => {
    vi.spyOn(SqliteAccountStore.prototype, 'remove').mockImplementationOnce(() => { throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }) })
    expect(await remove(dir, '4321', io)).toBe(1)
    expect(err).toBe('error: the removal of account 4321 was journaled, but the account could not be deleted (database is locked); run the command again to finish it\n')
    withStore((s) => { expect(s.get('4321')).toBeDefined() })
    expect(await remove(dir, '4321', io)).toBe(0)
    expect(out).toBe('removed account 4321\n')
    withStore((s) => { expect(s.get('4321')).toBeUndefined() })
    expect(journaled.map((r) => [r.kind, r.account])).toEqual([['account-removed', '4321'], ['account-removed', '4321']])
  })
})
