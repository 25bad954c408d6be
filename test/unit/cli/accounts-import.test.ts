/**
 * `dc09 accounts import` may move accounts to another tenant (which clears their codes): each
 * move is audited with both tenants and said in the output, as `dc09 accounts update` does.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { importFile } from '../../../src/cli/commands/accounts.js'
import type { Io } from '../../../src/cli/commands/codes.js'
import { Verifier } from '../../../src/verification/verifier.js'

let dir: string
let out: string
const io: Io = { out: (s) => { out += s }, err: () => {}, readStdin: () => '' }

function withVerifier<T> (fn: (s: SqliteAccountStore, v: Verifier) => T): T {
  const s = new SqliteAccountStore(dir)
  const v = new Verifier(dir, s, {})
  try { return fn(s, v) } finally { v.close(); s.close() }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-import-'))
  out = ''
  withVerifier((s, v) => {
    for (const account of ['4321', '4322']) expect(s.add({ account, tenant: 't1' }).ok).toBe(true)
    expect(v.addUser('4321', 1, 'Ann', 'test').ok).toBe(true)
  })
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('dc09 accounts import', () => {
  it('audits every account it moved to another tenant, naming both, and says so', async () => {
    const file = join(dir, 'fleet.json')
    writeFileSync(file, JSON.stringify([{ account: '4321', tenant: 't2' }, { account: '4322', siteName: 'Shop' }, { account: '4323', tenant: 't2' }]))
    expect(await importFile(dir, file, io, 'cli:ops')).toBe(0)
    expect(out).toBe('imported 3 account(s): 1 added, 2 updated\n' +
      'account 4321 moved from tenant t1 to tenant t2: every disarm and duress code is cleared; its 1 user(s) need new codes (dc09 codes set)\n')
    const moves = withVerifier((_s, v) => v.auditTrail(100).filter((a) => a.action === 'account-move'))
    expect(moves).toMatchObject([{ actor: 'cli:ops', account: '4321', outcome: 'ok', detail: 'moved from tenant t1 to tenant t2; every disarm and duress code cleared' }])
  })
})

describe('dc09 accounts import of a large fleet', () => {
  const fleet = (n: number) => Array.from({ length: n }, (_, i) => ({ account: String(100000 + i) }))

  it('on a terminal says it is under way and how long it took, then the count', async () => {
    const file = join(dir, 'large.json')
    writeFileSync(file, JSON.stringify(fleet(1500)))
    const err: string[] = []
    expect(await importFile(dir, file, { ...io, err: (s) => err.push(s), stderrIsTTY: true })).toBe(0)
    expect(err.join('')).toMatch(new RegExp(`^importing 1500 account\\(s\\) from ${file}: checked, then written all or nothing\\.\\.\\. done in \\d+\\.\\d s\\n$`))
    expect(out).toBe('imported 1500 account(s): 1500 added, 0 updated\n')
  })

  it('says nothing more when not on a terminal, or for a few accounts', async () => {
    const file = join(dir, 'large.json')
    writeFileSync(file, JSON.stringify(fleet(1500)))
    const err: string[] = []
    expect(await importFile(dir, file, { ...io, err: (s) => err.push(s), stderrIsTTY: false })).toBe(0)
    writeFileSync(file, JSON.stringify(fleet(3)))
    expect(await importFile(dir, file, { ...io, err: (s) => err.push(s), stderrIsTTY: true })).toBe(0)
    expect(err).toEqual([])
  })
})
