import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { codesSet, usersAdd, usersList, type Io } from '../../../src/cli/commands/codes.js'

let dir: string
let out: string
let err: string
const io: Io = { out: (s) => { out += s }, err: (s) => { err += s }, readStdin: () => '' }

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-users-'))
  out = ''
  err = ''
  const s = new SqliteAccountStore(dir)
  s.add({ account: '4321' })
  s.close()
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

describe('dc09 users add --name', () => {
  it('refuses a name with a format or control character, as for keyholders, and says why without echoing it', () => {
    for (const [i, name] of ['Evil \u202Egnp.exe', 'zero\u200Bwidth', 'esc\u001b[2J'].entries()) {
      expect(usersAdd({ data: dir, account: '4321', user: i + 1, name }, io), JSON.stringify(name)).toBe(1)
    }
    expect(err).toContain('DC09_ERR_USER_INVALID')
    expect(err).not.toContain('\u202E')
    expect(err).not.toContain('\u001b')
    out = ''
    expect(usersList({ data: dir, account: '4321', json: true }, io)).toBe(0)
    expect(out).toBe('')
  })

  it('keeps the joiners and direction marks real names need', () => {
    expect(usersAdd({ data: dir, account: '4321', user: 1, name: 'می\u200Cخواهم' }, io)).toBe(0)
    expect(usersAdd({ data: dir, account: '4321', user: 2, name: 'שרה כהן\u200F' }, io)).toBe(0)
    out = ''
    expect(usersList({ data: dir, account: '4321', json: true }, io)).toBe(0)
    expect(out.trim().split('\n').map((l) => JSON.parse(l).name)).toEqual(['می\u200Cخواهم', 'שרה כהן\u200F'])
  })
})

describe('dc09 codes set', () => {
  it('says plainly that nothing was set when the account moved to another tenant while the code was hashed', async () => {
    const pepperFile = join(dir, 'pepper')
    writeFileSync(pepperFile, randomBytes(32))
    const s = new SqliteAccountStore(dir)
    try {
      expect(s.update('4321', { tenant: 'one' }).ok).toBe(true)
      expect(usersAdd({ data: dir, account: '4321', user: 1 }, io)).toBe(0)
      const stdin: Io = { ...io, readStdin: () => '739154\n' }
      // The command reads the salt and starts the hash before it first waits; the move lands during the hash.
      const set = codesSet({ data: dir, pepperFile, account: '4321', user: 1 }, stdin)
      expect(s.update('4321', { tenant: 'two' }).ok).toBe(true)
      err = ''
      expect(await set).toBe(1)
      expect(err).toContain('the account changed while the code was being set')
      expect(err).toContain('nothing was set')
      expect(err).toContain('DC09_ERR_ACCOUNT_CHANGED')
      expect(err).not.toContain('739154')
      out = ''
      expect(usersList({ data: dir, account: '4321' }, io)).toBe(0)
      expect(out).toContain('user 1: NEEDS A NEW CODE')
    } finally {
      s.close()
    }
  })
})
