import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteAccountStore } from '../../../src/accounts/sqlite-store.js'
import { hashCode, MAX_USERS } from '../../../src/verification/codes.js'
import {
  DEFAULT_POLICY, defaultHashLimits, validateHashLimits, Verifier, VerifierError,
  type Policy, type VerificationEvent, type VerifierOptions,
} from '../../../src/verification/verifier.js'

// Codes chosen to be ordinary (not weak) and distinct; none is a substring of another or of a timestamp.
const CODE_1 = '739164'
const DURESS_1 = '582047'
const CODE_2 = '640318'
const DURESS_2 = '915273'
const WRONG = '204851'

const T0 = Date.UTC(2025, 0, 6, 9, 0, 0)
const SEC = 1000
const MIN = 60 * SEC

let dir: string
let pepper: Buffer
let now: number
let accounts: SqliteAccountStore
let events: VerificationEvent[]
let opened: Verifier[]

const record = async (e: VerificationEvent): Promise<void> => { events.push(e) }

/** A verifier on the test's data directory: tiny scrypt cost, the test's clock, the test's pepper. */
function openVerifier (options: VerifierOptions = {}): Verifier {
  const v = new Verifier(dir, accounts, { pepper, scryptN: 16, clock: () => now, ...options })
  opened.push(v)
  return v
}

async function addUserWithCodes (v: Verifier, account: string, user: number, code: string, duress?: string): Promise<void> {
  expect(v.addUser(account, user, undefined, 'admin')).toEqual({ ok: true, value: undefined })
  expect(await v.setCode(account, user, code, false, 'admin')).toEqual({ ok: true, value: undefined })
  if (duress !== undefined) expect(await v.setCode(account, user, duress, true, 'admin')).toEqual({ ok: true, value: undefined })
}

/** Verification rows of the audit trail, oldest first. */
function verifyAudit (v: Verifier): Array<{ actor: string, account: string | null, outcome: string | null, user: number | null }> {
  return v.auditTrail(1000).filter((r) => r.action === 'verify').reverse()
    .map((r) => ({ actor: r.actor, account: r.account, outcome: r.outcome, user: r.user }))
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-verify-'))
  pepper = randomBytes(32)
  now = T0
  events = []
  opened = []
  accounts = new SqliteAccountStore(dir)
  for (const account of ['1234', '5678', 'ABCD']) expect(accounts.add({ account }).ok).toBe(true)
})

afterEach(() => {
  for (const v of opened) v.close()
  accounts.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('Verifier: opening and the pepper', () => {
  it('rejects a pepper shorter than 32 bytes', () => {
    expect(() => openVerifier({ pepper: randomBytes(31) })).toThrow(expect.objectContaining({ code: 'DC09_ERR_PEPPER' }))
    expect(() => openVerifier({ pepper: randomBytes(32) })).not.toThrow()
  })

  it('refuses a different pepper later with DC09_ERR_PEPPER_MISMATCH, and reopens with the right one', async () => {
    const first = openVerifier()
    await addUserWithCodes(first, '1234', 1, CODE_1)
    first.close()
    opened = []

    let error: unknown
    try {
      openVerifier({ pepper: randomBytes(32) })
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(VerifierError)
    expect((error as VerifierError).code).toBe('DC09_ERR_PEPPER_MISMATCH')

    const again = openVerifier()
    expect(await again.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
  })

  it('manages users without a pepper, but needs one to enrol or verify a code', async () => {
    const v = openVerifier({ pepper: undefined })
    expect(v.addUser('1234', 1, 'Ona', 'admin').ok).toBe(true)
    expect(v.listUsers('1234')).toEqual([{ user: 1, name: 'Ona', hasCode: false, hasDuressCode: false }])
    await expect(v.setCode('1234', 1, CODE_1, false, 'admin')).rejects.toMatchObject({ code: 'DC09_ERR_PEPPER' })
    await expect(v.verify('1234', CODE_1, 'op:ona', record)).rejects.toMatchObject({ code: 'DC09_ERR_PEPPER' })
    expect(v.listUsers('1234')[0]?.hasCode).toBe(false)
    expect(events).toEqual([])
  })
})

describe('Verifier: users', () => {
  it('adds, lists and removes users, and audits both', () => {
    const v = openVerifier()
    expect(v.addUser('1234', 2, 'Jonas', 'admin')).toEqual({ ok: true, value: undefined })
    expect(v.addUser('1234', 1, undefined, 'admin')).toEqual({ ok: true, value: undefined })
    expect(v.listUsers('1234')).toEqual([
      { user: 1, name: null, hasCode: false, hasDuressCode: false },
      { user: 2, name: 'Jonas', hasCode: false, hasDuressCode: false },
    ])
    expect(v.isUser('1234', 2)).toBe(true)
    expect(v.listUsers('5678')).toEqual([])

    expect(v.removeUser('1234', 2, 'admin')).toEqual({ ok: true, value: undefined })
    expect(v.listUsers('1234').map((u) => u.user)).toEqual([1])
    expect(v.isUser('1234', 2)).toBe(false)
    expect(v.removeUser('1234', 2, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_USER_NOT_FOUND' })

    const trail = v.auditTrail().map((r) => ({ actor: r.actor, action: r.action, account: r.account, user: r.user }))
    expect(trail).toEqual([
      { actor: 'admin', action: 'user-remove', account: '1234', user: 2 },
      { actor: 'admin', action: 'user-add', account: '1234', user: 1 },
      { actor: 'admin', action: 'user-add', account: '1234', user: 2 },
    ])
  })

  it('refuses a user on an unknown account, a user number out of range, and a user twice', () => {
    const v = openVerifier()
    expect(v.addUser('9999', 1, undefined, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_NOT_FOUND' })
    expect(v.addUser('1234', 0, undefined, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_USER_INVALID' })
    expect(v.addUser('1234', 10_000, undefined, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_USER_INVALID' })
    expect(v.addUser('1234', 1, undefined, 'admin').ok).toBe(true)
    expect(v.addUser('1234', 1, undefined, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_USER_EXISTS' })
  })

  it('refuses names with control or format characters, and keeps the marks right-to-left and Indic names need', () => {
    const v = openVerifier()
    const bad = ['Evil \u202Egnp.exe', 'zero\u200Bwidth', 'lone \ud800 surrogate', 'tab\there', 'line\nbreak', 'bell\u0007', 'del\u007f', 'bom\uFEFF', ' padded ', '', 'x'.repeat(101)]
    for (const [i, name] of bad.entries()) {
      expect(v.addUser('1234', i + 1, name, 'admin'), JSON.stringify(name)).toMatchObject({ ok: false, code: 'DC09_ERR_USER_INVALID' })
    }
    expect(v.listUsers('1234')).toEqual([])
    const good = ['می\u200Cخواهم', 'שרה כהן\u200F', 'क्\u200Dष', 'Šarūnas', 'Anne-Marie O\u2019Neil', 'x'.repeat(100)]
    for (const [i, name] of good.entries()) expect(v.addUser('1234', i + 1, name, 'admin'), JSON.stringify(name)).toEqual({ ok: true, value: undefined })
    expect(v.listUsers('1234').map((u) => u.name)).toEqual(good)
  })

  it(`allows at most MAX_USERS (${MAX_USERS}) users per account`, () => {
    const v = openVerifier()
    for (let user = 1; user <= MAX_USERS; user++) expect(v.addUser('1234', user, undefined, 'admin').ok).toBe(true)
    expect(v.addUser('1234', MAX_USERS + 1, undefined, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_USER_INVALID' })
    expect(v.listUsers('1234')).toHaveLength(MAX_USERS)
    // The limit is per account.
    expect(v.addUser('5678', MAX_USERS + 1, undefined, 'admin').ok).toBe(true)
    // Removing one makes room again.
    expect(v.removeUser('1234', 1, 'admin').ok).toBe(true)
    expect(v.addUser('1234', MAX_USERS + 1, undefined, 'admin').ok).toBe(true)
  })

  it('a removed user\'s codes no longer verify; the others\' still do', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    await addUserWithCodes(v, '1234', 2, CODE_2)
    expect(v.removeUser('1234', 1, 'admin').ok).toBe(true)
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'invalid', account: '1234' })
    expect(await v.verify('1234', DURESS_1, 'op:ona', record)).toEqual({ result: 'invalid', account: '1234' })
    expect(await v.verify('1234', CODE_2, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 2 })
  })
})

describe('Verifier: enrolment', () => {
  it('gives no code to a user that does not exist', async () => {
    const v = openVerifier()
    expect(await v.setCode('1234', 1, CODE_1, false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_USER_NOT_FOUND' })
    expect(await v.setCode('9999', 1, CODE_1, true, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_USER_NOT_FOUND' })
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'invalid', account: '1234' })
  })

  it('enrols a code and a duress code, shown in the user list and audited', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    expect(v.listUsers('1234')).toEqual([{ user: 1, name: null, hasCode: true, hasDuressCode: true }])
    expect(v.auditTrail(2).map((r) => [r.action, r.account, r.user])).toEqual([['duress-code-set', '1234', 1], ['code-set', '1234', 1]])
  })

  it('rejects codes shorter than minLength (6 by default, or the rules option)', async () => {
    const v = openVerifier()
    expect(v.addUser('1234', 1, undefined, 'admin').ok).toBe(true)
    expect(await v.setCode('1234', 1, '73916', false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_WEAK' })
    expect(await v.setCode('1234', 1, '73916', true, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_WEAK' })
    v.close()
    opened = []

    const strict = openVerifier({ rules: { minLength: 8 } })
    expect(await strict.setCode('1234', 1, '7391640', false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_WEAK' })
    expect(await strict.setCode('1234', 1, '73916402', false, 'admin')).toEqual({ ok: true, value: undefined })
  })

  it('rejects codes shorter than the policy minLength', async () => {
    const v = openVerifier()
    expect(v.addUser('1234', 1, undefined, 'admin').ok).toBe(true)
    expect(v.setPolicy({ minLength: 8 }, 'admin').ok).toBe(true)
    expect(await v.setCode('1234', 1, '7391640', false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_WEAK' })
    expect(await v.setCode('1234', 1, '73916402', false, 'admin')).toEqual({ ok: true, value: undefined })
  })

  it('rejects weak codes, without repeating them', async () => {
    const v = openVerifier()
    expect(v.addUser('1234', 1, undefined, 'admin').ok).toBe(true)
    for (const code of ['111111', '123456', '987654', '73916a', '123123', '112233', '159753', '696969']) {
      for (const duress of [false, true]) {
        const r = await v.setCode('1234', 1, code, duress, 'admin')
        expect(r, code).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_WEAK' })
        expect(JSON.stringify(r)).not.toContain(code)
      }
    }
    expect(v.listUsers('1234')[0]).toMatchObject({ hasCode: false, hasDuressCode: false })
  })

  it('rejects the most common four-digit codes when the policy allows four digits', async () => {
    const v = openVerifier()
    expect(v.addUser('1234', 1, undefined, 'admin').ok).toBe(true)
    expect(v.setPolicy({ minLength: 4 }, 'admin').ok).toBe(true)
    for (const code of ['1212', '1004', '2000', '6969', '2580']) {
      expect(await v.setCode('1234', 1, code, false, 'admin'), code).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_WEAK' })
    }
    expect(await v.setCode('1234', 1, '7391', false, 'admin')).toEqual({ ok: true, value: undefined })
  })

  it('rejects a code already used on the account as another user\'s code or as any duress code', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    expect(v.addUser('1234', 2, undefined, 'admin').ok).toBe(true)
    expect(await v.setCode('1234', 2, CODE_1, false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
    expect(await v.setCode('1234', 2, DURESS_1, false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
    // The user's own duress code counts too.
    expect(await v.setCode('1234', 1, DURESS_1, false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
    expect(v.listUsers('1234')[1]).toMatchObject({ user: 2, hasCode: false })
    // user 1's codes are unchanged.
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
  })

  it('rejects a duress code equal to any code on the account', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    await addUserWithCodes(v, '1234', 2, CODE_2)
    // Its own code, another user's code, another user's duress code.
    expect(await v.setCode('1234', 2, CODE_2, true, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
    expect(await v.setCode('1234', 2, CODE_1, true, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
    expect(await v.setCode('1234', 2, DURESS_1, true, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
    expect(v.listUsers('1234')[1]).toMatchObject({ user: 2, hasDuressCode: false })
  })

  it('replaces a user\'s code: the old one stops verifying', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    expect(await v.setCode('1234', 1, CODE_2, false, 'admin')).toEqual({ ok: true, value: undefined })
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'invalid', account: '1234' })
    expect(await v.verify('1234', CODE_2, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
  })

  it('keeps accounts apart: the same code may be used on two accounts, and is valid only where enrolled', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await addUserWithCodes(v, '5678', 3, CODE_1)
    await addUserWithCodes(v, 'ABCD', 1, CODE_2)
    expect(await v.verify('5678', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '5678', user: 3 })
    expect(await v.verify('ABCD', CODE_1, 'op:ona', record)).toEqual({ result: 'invalid', account: 'ABCD' })
    expect(await v.verify('1234', CODE_2, 'op:ona', record)).toEqual({ result: 'invalid', account: '1234' })
  })
})

describe('Verifier: enrolment while the account changes', () => {
  /**
   * The real hash, except that the first call after `hold()` waits until the test lets it go
   * (after changing the account under it); other calls run at once.
   */
  function heldHash (): { hash: typeof hashCode, hold: () => void, started: Promise<void>, release: () => void } {
    let release!: () => void
    let started!: () => void
    const gate = new Promise<void>((resolve) => { release = resolve })
    const begun = new Promise<void>((resolve) => { started = resolve })
    let armed = false
    const hash: typeof hashCode = async (...args) => {
      if (armed) {
        armed = false
        started()
        await gate
      }
      return await hashCode(...args)
    }
    return { hash, hold: () => { armed = true }, started: begun, release }
  }

  beforeEach(() => {
    expect(accounts.add({ account: '4321', tenant: 't1' }).ok).toBe(true)
  })

  it('refuses a code hashed under the salt a move to another tenant replaced: nothing written, the user still needs a code', async () => {
    const held = heldHash()
    const v = openVerifier({ hash: held.hash })
    await addUserWithCodes(v, '4321', 1, CODE_1)
    held.hold()
    const enrolment = v.setCode('4321', 1, CODE_2, false, 'installer:t1')
    await held.started
    expect(accounts.update('4321', { tenant: 't2' }).ok).toBe(true)
    held.release()
    const r = await enrolment
    expect(r).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_CHANGED' })
    expect(JSON.stringify(r)).not.toContain(CODE_2)
    expect(v.listUsers('4321')).toEqual([{ user: 1, name: null, hasCode: false, hasDuressCode: false }])
    expect(v.needsNewCodes('4321')).toBe(true)
    expect(v.auditTrail(1)[0]).toMatchObject({ action: 'code-set', user: 1 })
    // ...the one audit row is the first enrolment's: the refused one wrote none.
    expect(v.auditTrail(10).filter((a) => a.action === 'code-set')).toHaveLength(1)
    for (const code of [CODE_1, CODE_2]) expect(await v.verify('4321', code, 'op:ona', record), code).toEqual({ result: 'invalid', account: '4321' })
    // Set again, under the new salt, it verifies.
    expect(await v.setCode('4321', 1, CODE_2, false, 'installer:t2')).toEqual({ ok: true, value: undefined })
    expect(v.needsNewCodes('4321')).toBe(false)
    expect(await v.verify('4321', CODE_2, 'op:ona', record)).toEqual({ result: 'valid', account: '4321', user: 1 })
  })

  it('refuses a code hashed before a reset of every code', async () => {
    const held = heldHash()
    const v = openVerifier({ hash: held.hash })
    await addUserWithCodes(v, '4321', 1, CODE_1)
    held.hold()
    const enrolment = v.setCode('4321', 1, CODE_2, true, 'admin')
    await held.started
    expect(v.resetAll('admin')).toBeGreaterThan(0)
    held.release()
    expect(await enrolment).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_CHANGED' })
    expect(v.listUsers('4321')).toEqual([{ user: 1, name: null, hasCode: false, hasDuressCode: false }])
    expect(v.needsNewCodes('4321')).toBe(true)
    expect(await v.verify('4321', CODE_2, 'op:ona', record)).toEqual({ result: 'invalid', account: '4321' })
  })

  it('reads the salt when its turn to hash comes: an enrolment still waiting in the queue during a reset is kept', async () => {
    const held = heldHash()
    const v = openVerifier({ hash: held.hash, hashConcurrency: 1 })
    await addUserWithCodes(v, '4321', 1, CODE_1)
    await addUserWithCodes(v, '5678', 1, CODE_1)
    // The held hash is a verification's: the enrolment waits behind it.
    held.hold()
    const attempt = v.verify('1234', WRONG, 'op:ona', record)
    await held.started
    const enrolment = v.setCode('5678', 1, CODE_2, false, 'admin')
    v.resetAll('admin')
    held.release()
    await attempt
    expect(await enrolment).toEqual({ ok: true, value: undefined })
    expect(await v.verify('5678', CODE_2, 'op:ona', record)).toEqual({ result: 'valid', account: '5678', user: 1 })
  })

  /**
   * Tenant t1 sets a code for user 1 of 4321; while it is being hashed, the account is removed and
   * the number added again, by another tenant, with a user 1 of its own.
   */
  async function changeHandsDuringHash (): Promise<{ v: Verifier, held: ReturnType<typeof heldHash>, enrolment: ReturnType<Verifier['setCode']> }> {
    const held = heldHash()
    const v = openVerifier({ hash: held.hash })
    await addUserWithCodes(v, '4321', 1, CODE_1)
    held.hold()
    const enrolment = v.setCode('4321', 1, CODE_2, false, 'installer:t1')
    await held.started
    expect(accounts.remove('4321').ok).toBe(true)
    expect(accounts.add({ account: '4321', tenant: 't2' }).ok).toBe(true)
    expect(v.addUser('4321', 1, undefined, 'installer:t2').ok).toBe(true)
    return { v, held, enrolment }
  }

  it('never writes an earlier holder\'s code over the user of the same number under the next holder', async () => {
    const { v, held, enrolment } = await changeHandsDuringHash()
    expect(await v.setCode('4321', 1, DURESS_2, false, 'installer:t2')).toEqual({ ok: true, value: undefined })
    held.release()
    expect(await enrolment).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_CHANGED' })
    expect(await v.verify('4321', DURESS_2, 'op:ona', record)).toEqual({ result: 'valid', account: '4321', user: 1 })
    expect(await v.verify('4321', CODE_2, 'op:ona', record)).toEqual({ result: 'invalid', account: '4321' })
  })

  it('refuses when the account was removed and added again during the hash, before the new holder set anything', async () => {
    const { v, held, enrolment } = await changeHandsDuringHash()
    held.release()
    expect(await enrolment).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_CHANGED' })
    expect(v.listUsers('4321')).toEqual([{ user: 1, name: null, hasCode: false, hasDuressCode: false }])
    expect(await v.verify('4321', CODE_2, 'op:ona', record)).toEqual({ result: 'invalid', account: '4321' })
  })

  it('says the user is gone when it was removed during the hash, and writes nothing', async () => {
    const held = heldHash()
    const v = openVerifier({ hash: held.hash })
    await addUserWithCodes(v, '4321', 1, CODE_1)
    await addUserWithCodes(v, '4321', 2, CODE_2)
    held.hold()
    const enrolment = v.setCode('4321', 1, DURESS_1, false, 'admin')
    await held.started
    expect(v.removeUser('4321', 1, 'admin').ok).toBe(true)
    held.release()
    expect(await enrolment).toMatchObject({ ok: false, code: 'DC09_ERR_USER_NOT_FOUND' })
    expect(v.auditTrail(1)[0]).toMatchObject({ action: 'user-remove', user: 1 })
    expect(await v.verify('4321', DURESS_1, 'op:ona', record)).toEqual({ result: 'invalid', account: '4321' })
  })
})

describe('Verifier: verify', () => {
  it('answers valid with the user for the right code, and journals a verification', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    await addUserWithCodes(v, '1234', 2, CODE_2)
    expect(await v.verify('1234', CODE_2, 'op:ona', record)).toStrictEqual({ result: 'valid', account: '1234', user: 2 })
    expect(events).toEqual([{ kind: 'verification', account: '1234', holder: accounts.get('1234')!.createdAt, data: { outcome: 'valid', user: 2, caller: 'op:ona' } }])
  })

  it('answers invalid for a wrong code', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    expect(await v.verify('1234', WRONG, 'op:ona', record)).toStrictEqual({ result: 'invalid', account: '1234' })
    expect(await v.verify('1234', `${CODE_1}0`, 'op:ona', record)).toStrictEqual({ result: 'invalid', account: '1234' })
    expect(await v.verify('1234', '', 'op:ona', record)).toStrictEqual({ result: 'invalid', account: '1234' })
    expect(events[0]).toEqual({ kind: 'verification', account: '1234', holder: accounts.get('1234')!.createdAt, data: { outcome: 'invalid', user: null, caller: 'op:ona' } })
  })

  it('answers a duress code exactly like the valid code, and journals it as duress instead', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    const valid = await v.verify('1234', CODE_1, 'op:ona', record)
    const duress = await v.verify('1234', DURESS_1, 'op:ona', record)
    expect(duress).toStrictEqual(valid)
    expect(duress).toStrictEqual({ result: 'valid', account: '1234', user: 1 })
    expect(events.map((e) => e.kind)).toEqual(['verification', 'duress'])
    expect(events[1]).toEqual({ kind: 'duress', account: '1234', holder: accounts.get('1234')!.createdAt, data: { outcome: 'valid', user: 1, caller: 'op:ona' } })
  })

  it('answers an unknown account like a wrong code', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    const wrong = await v.verify('1234', WRONG, 'op:ona', record)
    const unknown = await v.verify('9999', CODE_1, 'op:ona', record)
    // A known account without any code enrolled answers the same.
    const noCodes = await v.verify('5678', CODE_1, 'op:ona', record)
    expect(wrong).toStrictEqual({ result: 'invalid', account: '1234' })
    expect(unknown).toStrictEqual({ result: 'invalid', account: '9999' })
    expect(noCodes).toStrictEqual({ result: 'invalid', account: '5678' })
    // The events differ only in their account (and its holder, which an unknown number has not).
    expect(events.map(({ holder: _holder, ...e }) => ({ ...e, account: '*' }))).toEqual([0, 1, 2].map(() => (
      { kind: 'verification', account: '*', data: { outcome: 'invalid', user: null, caller: 'op:ona' } }
    )))
  })

  it('names on its event the holder of the account whose codes it checked (its createdAt); none for an unknown account', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    await v.verify('1234', CODE_1, 'op:ona', record)
    await v.verify('1234', DURESS_1, 'op:ona', record)
    await v.verify('9999', CODE_1, 'op:ona', record)
    const holder = accounts.get('1234')!.createdAt
    expect(events.map((e) => [e.kind, e.account, e.holder])).toEqual([['verification', '1234', holder], ['duress', '1234', holder], ['verification', '9999', undefined]])
    expect(Object.keys(events[2]!)).not.toContain('holder')
  })

  it('upper-cases the account number', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, 'abcd', 1, CODE_1)
    expect(await v.verify('abcd', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: 'ABCD', user: 1 })
  })

  it('throws DC09_ERR_ACCOUNT_INVALID for a malformed account number, journaling and auditing nothing', async () => {
    const v = openVerifier()
    for (const account of ['12', '12345678901234567', '12-34', '', '1234 ']) {
      let error: unknown
      try {
        await v.verify(account, CODE_1, 'op:ona', record)
      } catch (e) {
        error = e
      }
      expect(error, JSON.stringify(account)).toBeInstanceOf(VerifierError)
      expect((error as VerifierError).code).toBe('DC09_ERR_ACCOUNT_INVALID')
    }
    expect(events).toEqual([])
    expect(verifyAudit(v)).toEqual([])
  })

  it('does not answer when the journal fails: the error propagates', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    const failing = async (): Promise<void> => { throw new Error('disk full') }
    await expect(v.verify('1234', CODE_1, 'op:ona', failing)).rejects.toThrow('disk full')
  })
})

describe('Verifier: lockout', () => {
  async function failTimes (v: Verifier, account: string, times: number, caller = 'op:ona'): Promise<string[]> {
    const results: string[] = []
    for (let i = 0; i < times; i++) results.push((await v.verify(account, WRONG, caller, record)).result)
    return results
  }

  it('locks an account for 15 minutes after 5 failures within 15 minutes, even against the right code', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    // The fifth failure itself still answers invalid; it starts the lock.
    expect(await failTimes(v, '1234', 5)).toEqual(['invalid', 'invalid', 'invalid', 'invalid', 'invalid'])
    const lockedUntil = new Date(T0 + 15 * MIN).toISOString()

    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toStrictEqual({ result: 'locked', account: '1234', lockedUntil })
    expect(events.at(-1)).toEqual({ kind: 'verification', account: '1234', holder: accounts.get('1234')!.createdAt, data: { outcome: 'locked', user: null, caller: 'op:ona' } })

    now = T0 + 14 * MIN + 59 * SEC
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toStrictEqual({ result: 'locked', account: '1234', lockedUntil })

    now = T0 + 15 * MIN + 1 * SEC
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toStrictEqual({ result: 'valid', account: '1234', user: 1 })
  })

  it('locks one account only', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await addUserWithCodes(v, '5678', 1, CODE_2)
    await failTimes(v, '1234', 5)
    expect((await v.verify('1234', CODE_1, 'op:ona', record)).result).toBe('locked')
    expect(await v.verify('5678', CODE_2, 'op:ona', record)).toEqual({ result: 'valid', account: '5678', user: 1 })
  })

  // A valid or duress code proves only that someone knows a code: a coerced keyholder, or an
  // insider, must not be able to wipe a probing attacker's count by entering one between guesses.
  for (const which of ['valid', 'duress'] as const) {
    it(`does not reset the failure count on a ${which} code: fail 4, ${which}, fail once more locks`, async () => {
      const v = openVerifier()
      await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
      expect(await failTimes(v, '1234', 4)).toEqual(['invalid', 'invalid', 'invalid', 'invalid'])
      expect(await v.verify('1234', which === 'valid' ? CODE_1 : DURESS_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
      now = T0 + 3 * MIN
      expect(await failTimes(v, '1234', 1)).toEqual(['invalid'])
      expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'locked', account: '1234', lockedUntil: new Date(T0 + 3 * MIN + 15 * MIN).toISOString() })
    })
  }

  it('forgets failures older than the lock window (15 minutes), each at its own age', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    now = T0
    await failTimes(v, '1234', 1)
    now = T0 + 14 * MIN
    await failTimes(v, '1234', 3)
    // The first failure is now older than the window; the three recent ones still count.
    now = T0 + 15 * MIN + SEC
    expect(await failTimes(v, '1234', 1)).toEqual(['invalid'])
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
    // Fifth failure within the window (14:00 x3, 15:01 x2): locked.
    expect(await failTimes(v, '1234', 1)).toEqual(['invalid'])
    expect((await v.verify('1234', CODE_1, 'op:ona', record)).result).toBe('locked')
  })

  it('lets failures that all aged out count for nothing', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await failTimes(v, '1234', 4)
    now = T0 + 15 * MIN + SEC
    expect(await failTimes(v, '1234', 4)).toEqual(['invalid', 'invalid', 'invalid', 'invalid'])
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
  })

  it('counts the failures of a row written before failure times were kept, as of its last attempt', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await failTimes(v, '1234', 4)
    // As an older version left it: a count, the time of the last attempt, no times.
    const db = new Database(join(dir, 'accounts.db'))
    db.prepare("UPDATE verify_limits SET recent = NULL WHERE key = 'a:1234'").run()
    db.close()
    expect(await failTimes(v, '1234', 1)).toEqual(['invalid'])
    expect((await v.verify('1234', CODE_1, 'op:ona', record)).result).toBe('locked')
  })

  it('keeps the window when the policy changes the number of failures', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await failTimes(v, '1234', 2)
    expect(v.setPolicy({ maxFailures: 3 }, 'admin').ok).toBe(true)
    await failTimes(v, '1234', 1)
    expect((await v.verify('1234', CODE_1, 'op:ona', record)).result).toBe('locked')
  })

  // Suspected bug: verify() reads the failure counters before awaiting the (asynchronous) scrypt
  // hash and writes `stale + 1` afterwards, so attempts in flight together all start from the same
  // count and the writes overwrite each other: ten concurrent wrong codes count as one failure,
  // and the lock (per account and per caller) can be bypassed by guessing in parallel.
  it('counts concurrent failures: parallel wrong codes still lock the account', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await Promise.all(Array.from({ length: 10 }, () => v.verify('1234', WRONG, 'op:ona', record)))
    expect((await v.verify('1234', CODE_1, 'op:ona', record)).result).toBe('locked')
  })

  it('lifts a lock when an operator unlocks the account, and audits it', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await failTimes(v, '1234', 5)
    now = T0 + MIN
    expect((await v.verify('1234', CODE_1, 'op:ona', record)).result).toBe('locked')
    v.unlock('1234', 'op:supervisor')
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
    // The failures before the unlock are forgotten with it.
    expect(await failTimes(v, '1234', 4)).toEqual(['invalid', 'invalid', 'invalid', 'invalid'])
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
    const unlock = v.auditTrail().find((r) => r.action === 'verify-unlock')
    expect(unlock).toMatchObject({ actor: 'op:supervisor', account: '1234', outcome: 'ok', at: new Date(T0 + MIN).toISOString() })
  })

  it('locks a caller with too many failures within its window, across accounts', async () => {
    const v = openVerifier()
    expect(v.setPolicy({ callerMaxFailures: 3, callerWindowMinutes: 10, callerLockMinutes: 30 }, 'admin').ok).toBe(true)
    await addUserWithCodes(v, '1234', 1, CODE_1)
    await addUserWithCodes(v, '5678', 1, CODE_2)
    // One failure per account (no account reaches its own limit), one of them unknown.
    for (const [i, account] of ['1234', '5678', '9999'].entries()) {
      now = T0 + i * MIN
      expect((await v.verify(account, WRONG, 'ivr:7', record)).result).toBe('invalid')
    }
    const lockedUntil = new Date(T0 + 2 * MIN + 30 * MIN).toISOString()
    now = T0 + 3 * MIN
    expect(await v.verify('1234', CODE_1, 'ivr:7', record)).toStrictEqual({ result: 'locked', account: '1234', lockedUntil })
    expect(await v.verify('5678', CODE_2, 'ivr:7', record)).toStrictEqual({ result: 'locked', account: '5678', lockedUntil })
    // Another caller is not locked, and neither is the account.
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })

    now = T0 + 2 * MIN + 31 * MIN
    expect(await v.verify('1234', CODE_1, 'ivr:7', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
  })

  it('does not add up a caller\'s failures that fall in different windows', async () => {
    const v = openVerifier()
    expect(v.setPolicy({ callerMaxFailures: 3, callerWindowMinutes: 10 }, 'admin').ok).toBe(true)
    await addUserWithCodes(v, '1234', 1, CODE_1)
    now = T0
    await v.verify('5678', WRONG, 'ivr:7', record)
    now = T0 + MIN
    await v.verify('ABCD', WRONG, 'ivr:7', record)
    now = T0 + 12 * MIN
    expect((await v.verify('9999', WRONG, 'ivr:7', record)).result).toBe('invalid')
    expect(await v.verify('1234', CODE_1, 'ivr:7', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
  })
})

describe('Verifier: hashing limits', () => {
  /** The real hash, counted: how many run at once, the most ever, how many in all. Each takes a few ms. */
  function countingHash (): { hash: typeof hashCode, most: () => number, calls: () => number } {
    let inFlight = 0
    let most = 0
    let calls = 0
    const hash: typeof hashCode = async (...args) => {
      calls++
      most = Math.max(most, ++inFlight)
      try {
        await new Promise((resolve) => setTimeout(resolve, 3))
        return await hashCode(...args)
      } finally {
        inFlight--
      }
    }
    return { hash, most: () => most, calls: () => calls }
  }

  it('runs at most 2 hashes at once by default, however many verifications and enrolments wait', async () => {
    const counted = countingHash()
    const v = openVerifier({ hash: counted.hash })
    await addUserWithCodes(v, '1234', 1, CODE_1)
    expect(v.addUser('1234', 2, undefined, 'admin').ok).toBe(true)
    const before = counted.calls()
    const attempts = Array.from({ length: 20 }, (_, i) => v.verify(['1234', '5678', '9999'][i % 3]!, i % 2 === 0 ? CODE_1 : WRONG, `op:${i}`, record))
    const enrolment = v.setCode('1234', 2, CODE_2, false, 'admin')
    const results = await Promise.all(attempts)
    expect(await enrolment).toEqual({ ok: true, value: undefined })
    expect(results.filter((r) => r.result === 'valid')).toHaveLength(4)
    expect(counted.calls() - before).toBe(21)
    expect(counted.most()).toBe(2)
  })

  it('runs as many at once as configured', async () => {
    for (const hashConcurrency of [1, 3]) {
      const counted = countingHash()
      const v = openVerifier({ hash: counted.hash, hashConcurrency })
      await Promise.all(Array.from({ length: 10 }, () => v.verify('1234', WRONG, 'op:ona', record)))
      expect(counted.most(), `hashConcurrency ${hashConcurrency}`).toBe(hashConcurrency)
    }
  })

  it('refuses beyond the queue bound with DC09_ERR_BUSY, before any work: no event, no audit row, no failure counted', async () => {
    const counted = countingHash()
    const v = openVerifier({ hash: counted.hash, hashQueue: 3, maxFailures: 7 })
    await addUserWithCodes(v, '1234', 1, CODE_1)
    expect(v.addUser('1234', 2, undefined, 'admin').ok).toBe(true)
    const before = counted.calls()
    // 2 hashing, 3 waiting; the rest refused at once.
    const settled = await Promise.allSettled(Array.from({ length: 10 }, () => v.verify('1234', WRONG, 'op:ona', record)))
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(5)
    const refused = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
    expect(refused).toHaveLength(5)
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(VerifierError)
      expect(r.reason).toMatchObject({ code: 'DC09_ERR_BUSY' })
    }
    expect(counted.calls() - before).toBe(5)
    expect(events).toHaveLength(5)
    expect(verifyAudit(v)).toHaveLength(5)
    // Five failures were counted, not ten (which would have locked the account at seven).
    expect((await v.verify('1234', CODE_1, 'op:ona', record)).result).toBe('valid')

    // Enrolment waits in the same queue, and is refused the same way when it is full.
    const busy = [v.verify('1234', WRONG, 'op:ona', record), v.verify('1234', WRONG, 'op:ona', record), v.verify('1234', WRONG, 'op:ona', record), v.verify('1234', WRONG, 'op:ona', record), v.verify('1234', WRONG, 'op:ona', record)]
    expect(await v.setCode('1234', 2, CODE_2, false, 'admin')).toMatchObject({ ok: false, code: 'DC09_ERR_BUSY' })
    await Promise.all(busy)
    expect(v.listUsers('1234')[1]).toMatchObject({ user: 2, hasCode: false })
    expect(await v.setCode('1234', 2, CODE_2, false, 'admin')).toEqual({ ok: true, value: undefined })
  })

  it('checks the limits file\'s verification settings: known names, whole numbers in range', () => {
    expect(defaultHashLimits).toEqual({ hashConcurrency: 2, hashQueue: 64 })
    expect(validateHashLimits({ hashConcurrency: 1, hashQueue: 0 })).toEqual({ ok: true, value: { hashConcurrency: 1, hashQueue: 0 } })
    for (const bad of [{ hashConcurrency: 0 }, { hashQueue: '5' }, { hashes: 2 }, [], null]) {
      expect(validateHashLimits(bad), JSON.stringify(bad)).toMatchObject({ ok: false })
    }
  })

  it('refuses limits that are not whole numbers in range', () => {
    for (const bad of [{ hashConcurrency: 0 }, { hashConcurrency: 1.5 }, { hashConcurrency: 65 }, { hashQueue: -1 }, { hashQueue: 100_001 }]) {
      expect(() => openVerifier(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'DC09_ERR_LIMIT' }))
    }
  })
})

describe('Verifier: policy', () => {
  it('starts from the defaults', () => {
    const v = openVerifier()
    const expected: Policy = { maxFailures: 5, lockMinutes: 15, callerMaxFailures: 20, callerWindowMinutes: 60, callerLockMinutes: 60, minLength: 6 }
    expect(DEFAULT_POLICY).toEqual(expected)
    expect(v.policy()).toEqual(expected)
  })

  it('sets values within bounds, keeps them for a new Verifier, applies them, and audits the change', async () => {
    const v = openVerifier()
    const r = v.setPolicy({ maxFailures: 2, lockMinutes: 5 }, 'admin')
    expect(r).toEqual({ ok: true, value: { ...DEFAULT_POLICY, maxFailures: 2, lockMinutes: 5 } })
    expect(v.auditTrail(1)[0]).toMatchObject({ actor: 'admin', action: 'policy-set', outcome: 'ok', detail: JSON.stringify({ maxFailures: 2, lockMinutes: 5 }) })
    v.close()
    opened = []

    const next = openVerifier()
    expect(next.policy()).toEqual({ ...DEFAULT_POLICY, maxFailures: 2, lockMinutes: 5 })
    // Later changes merge with what is stored.
    expect(next.setPolicy({ minLength: 7 }, 'admin')).toEqual({ ok: true, value: { ...DEFAULT_POLICY, maxFailures: 2, lockMinutes: 5, minLength: 7 } })

    await addUserWithCodes(next, '1234', 1, CODE_1 + '2')
    expect((await next.verify('1234', WRONG, 'op:ona', record)).result).toBe('invalid')
    expect((await next.verify('1234', WRONG, 'op:ona', record)).result).toBe('invalid')
    expect(await next.verify('1234', CODE_1 + '2', 'op:ona', record)).toEqual({ result: 'locked', account: '1234', lockedUntil: new Date(T0 + 5 * MIN).toISOString() })
  })

  it('accepts every bound itself', () => {
    const v = openVerifier()
    const low: Policy = { maxFailures: 1, lockMinutes: 1, callerMaxFailures: 1, callerWindowMinutes: 1, callerLockMinutes: 1, minLength: 4 }
    const high: Policy = { maxFailures: 100, lockMinutes: 1440, callerMaxFailures: 10_000, callerWindowMinutes: 1440, callerLockMinutes: 1440, minLength: 16 }
    expect(v.setPolicy(low, 'admin')).toEqual({ ok: true, value: low })
    expect(v.setPolicy(high, 'admin')).toEqual({ ok: true, value: high })
  })

  it('rejects values out of bounds or not whole, and unknown settings, changing nothing', () => {
    const v = openVerifier()
    expect(v.setPolicy({ maxFailures: 3 }, 'admin').ok).toBe(true)
    const before = v.policy()
    const bad: Array<Partial<Record<keyof Policy | 'foo', unknown>>> = [
      { maxFailures: 0 }, { maxFailures: 101 }, { maxFailures: 2.5 }, { maxFailures: '5' },
      { lockMinutes: 0 }, { lockMinutes: 1441 },
      { callerMaxFailures: 0 }, { callerMaxFailures: 10_001 },
      { callerWindowMinutes: 0 }, { callerWindowMinutes: 1441 },
      { callerLockMinutes: 0 }, { callerLockMinutes: 1441 },
      { minLength: 3 }, { minLength: 17 },
      { foo: 5 },
      // One bad value spoils the whole patch.
      { lockMinutes: 30, maxFailures: 0 },
    ]
    for (const patch of bad) {
      expect(v.setPolicy(patch as Partial<Policy>, 'admin'), JSON.stringify(patch)).toMatchObject({ ok: false, code: 'DC09_ERR_POLICY_INVALID' })
    }
    expect(v.policy()).toEqual(before)
    expect(v.auditTrail().filter((r) => r.action === 'policy-set')).toHaveLength(1)
  })
})

describe('Verifier: reset-all', () => {
  it('invalidates every code at once, marks the accounts, audits it, and takes new codes', async () => {
    const v = openVerifier()
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    await addUserWithCodes(v, '1234', 2, CODE_2)
    // Before a reset, a user still without a code does not mark the account.
    expect(v.addUser('5678', 2, undefined, 'admin').ok).toBe(true)
    await addUserWithCodes(v, '5678', 1, CODE_2, DURESS_2)
    expect(v.needsNewCodes('1234')).toBe(false)
    expect(v.needsNewCodes('5678')).toBe(false)

    now = T0 + MIN
    expect(v.resetAll('admin')).toBe(2)
    expect(v.auditTrail(1)[0]).toMatchObject({ actor: 'admin', action: 'codes-reset-all', outcome: 'ok', detail: '2 account(s)', at: new Date(T0 + MIN).toISOString() })
    expect(v.needsNewCodes('1234')).toBe(true)
    expect(v.needsNewCodes('5678')).toBe(true)
    expect(v.listUsers('1234')).toEqual([
      { user: 1, name: null, hasCode: false, hasDuressCode: false },
      { user: 2, name: null, hasCode: false, hasDuressCode: false },
    ])
    expect(v.listUsers('5678')[0]).toMatchObject({ hasCode: false, hasDuressCode: false })
    for (const [account, code] of [['1234', CODE_1], ['1234', DURESS_1], ['1234', CODE_2], ['5678', CODE_2], ['5678', DURESS_2]] as const) {
      expect(await v.verify(account, code, 'op:ona', record), `${account} ${code}`).toEqual({ result: 'invalid', account })
    }
    expect(events.every((e) => e.kind === 'verification')).toBe(true)

    // New codes (the same digits are allowed again) can be enrolled; the mark stays until every user has one.
    expect(await v.setCode('1234', 1, CODE_1, false, 'admin')).toEqual({ ok: true, value: undefined })
    expect(v.needsNewCodes('1234')).toBe(true)
    expect(await v.setCode('1234', 2, DURESS_2, false, 'admin')).toEqual({ ok: true, value: undefined })
    expect(v.needsNewCodes('1234')).toBe(false)
    expect(await v.verify('1234', CODE_1, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
    expect(await v.verify('1234', DURESS_2, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 2 })
    expect(await v.verify('1234', CODE_2, 'op:ona', record)).toEqual({ result: 'invalid', account: '1234' })
  })

  // Suspected bug: the pepper-mismatch error tells the admin "if it is lost: dc09 codes reset-all
  // and enrol every code again", but resetAll() leaves the stored pepper check (verify_meta
  // 'pepper_check') in place, so a Verifier with the new pepper still throws
  // DC09_ERR_PEPPER_MISMATCH and no code can be enrolled again.
  it('after reset-all, codes can be enrolled under a new pepper (the lost-pepper recovery)', async () => {
    const first = openVerifier()
    await addUserWithCodes(first, '1234', 1, CODE_1)
    first.close()
    opened = []
    // `dc09 codes reset-all` opens without a pepper.
    const admin = openVerifier({ pepper: undefined })
    admin.resetAll('admin')
    admin.close()
    opened = []

    const renewed = openVerifier({ pepper: randomBytes(32) })
    expect(await renewed.setCode('1234', 1, CODE_2, false, 'admin')).toEqual({ ok: true, value: undefined })
    expect(await renewed.verify('1234', CODE_2, 'op:ona', record)).toEqual({ result: 'valid', account: '1234', user: 1 })
  })
})

describe('Verifier: audit and secrecy', () => {
  it('audits every attempt: caller, account, outcome and user', async () => {
    const v = openVerifier()
    expect(v.setPolicy({ maxFailures: 1 }, 'admin').ok).toBe(true)
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    now = T0 + MIN
    await v.verify('1234', CODE_1, 'op:ona', record)
    await v.verify('1234', DURESS_1, 'ivr:2', record)
    await v.verify('9999', CODE_1, 'op:ona', record)
    await v.verify('1234', WRONG, 'op:jonas', record) // locks the account (maxFailures 1)
    await v.verify('1234', CODE_1, 'op:ona', record)
    expect(verifyAudit(v)).toEqual([
      { actor: 'op:ona', account: '1234', outcome: 'valid', user: 1 },
      { actor: 'ivr:2', account: '1234', outcome: 'duress', user: 1 },
      { actor: 'op:ona', account: '9999', outcome: 'invalid', user: null },
      { actor: 'op:jonas', account: '1234', outcome: 'invalid', user: null },
      { actor: 'op:ona', account: '1234', outcome: 'locked', user: null },
    ])
    expect(v.auditTrail(1)[0]).toMatchObject({ action: 'verify', at: new Date(T0 + MIN).toISOString(), detail: null })
  })

  it('keeps code digits out of the audit trail, the journaled events and every file in the data directory', async () => {
    const v = openVerifier()
    const enrolled = [CODE_1, DURESS_1, CODE_2, DURESS_2]
    await addUserWithCodes(v, '1234', 1, CODE_1, DURESS_1)
    await addUserWithCodes(v, '1234', 2, CODE_2, DURESS_2)
    await addUserWithCodes(v, '5678', 1, CODE_1)
    // Attempts: right, duress, wrong, a rejected (taken) enrolment.
    await v.verify('1234', CODE_1, 'op:ona', record)
    await v.verify('1234', DURESS_2, 'op:ona', record)
    await v.verify('1234', WRONG, 'op:ona', record)
    await v.verify('9999', CODE_2, 'op:ona', record)
    expect((await v.setCode('1234', 2, CODE_1, false, 'admin')).ok).toBe(false)
    const secrets = [...enrolled, WRONG]

    const trail = JSON.stringify(v.auditTrail(1000))
    const journaled = JSON.stringify(events)
    expect(events).toHaveLength(4)
    for (const code of secrets) {
      expect(trail, code).not.toContain(code)
      expect(journaled, code).not.toContain(code)
    }

    const searchFiles = (): string[] => {
      const names = readdirSync(dir)
      const all = Buffer.concat(names.map((name) => readFileSync(join(dir, name))))
      // The search sees what was written: the audit trail's actor names are there.
      expect(all.includes('op:ona')).toBe(true)
      for (const name of names) {
        const bytes = readFileSync(join(dir, name))
        for (const code of secrets) expect(bytes.includes(code), `${name} holds ${code}`).toBe(false)
      }
      return names
    }
    // While open (the WAL holds the recent writes), and after closing (checkpointed into accounts.db).
    expect(searchFiles()).toEqual(expect.arrayContaining(['accounts.db', 'accounts.db-wal']))
    for (const o of opened) o.close()
    opened = []
    accounts.close()
    accounts = new SqliteAccountStore(dir)
    expect(searchFiles()).toContain('accounts.db')
  })
})
