/**
 * What every VerificationStore must do: keep the verifier's rows, and make its atomic operations
 * so. Run against each with `verificationStoreSuite(name, open)`.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { buildSlots, matchSlots } from '../../src/verification/codes.js'
import type { LimitRow, SlotRow, VerificationStore } from '../../src/verification/verification-store.js'
import { err, ok } from '../../src/result.js'

export interface OpenedVerificationStore {
  readonly store: VerificationStore
  /** For a durable backend: the same rows opened again (after `store` was closed). */
  readonly reopen?: () => VerificationStore
  /** For a backend other processes share: a second handle on the same rows, open beside `store`. */
  readonly peer?: () => VerificationStore
  readonly cleanup?: () => void
}

const AT = '2026-01-02T03:04:05.000Z'
const AT2 = '2026-01-03T00:00:00.000Z'
const FALLBACK = '~dummy'
const hash = (n: number): Buffer => Buffer.alloc(32, n)
const fresh = (account: string, n = 16): SlotRow => ({ account, salt: randomBytes(16), n, slots: buildSlots([]) })
const limit = (key: string, failures: number, more: Partial<LimitRow> = {}): LimitRow => ({ key, failures, lockedUntil: 0, since: 1000, recent: null, ...more })
const accept = () => ok(undefined)

export function verificationStoreSuite (name: string, open: () => OpenedVerificationStore): void {
  describe(`${name} (verification store conformance)`, () => {
    const withStore = (fn: (s: VerificationStore, opened: OpenedVerificationStore) => void) => () => {
      const opened = open()
      try { fn(opened.store, opened) } finally { opened.store.close(); opened.cleanup?.() }
    }
    /** An account with a slot row and users 1..n, none with a code yet; its salt. */
    const withUsers = (s: VerificationStore, account: string, n: number): Buffer => {
      const { salt } = s.salt(account, fresh(account))
      for (let u = 1; u <= n; u++) expect(s.addUser(account, u, `user ${u}`, AT, 32)).toEqual(ok(undefined))
      return salt
    }
    const setCode = (s: VerificationStore, account: string, user: number, h: Buffer, salt: Buffer, duress = false) =>
      s.setCode({ account, user, duress, hash: h, salt, at: AT2 }, accept)

    describe('settings', () => {
      it('keeps the first pepper check it is given, and answers it to every later one', withStore((s) => {
        expect(s.pepperCheck(hash(1))).toEqual(hash(1))
        expect(s.pepperCheck(hash(2))).toEqual(hash(1))
      }))

      it('has no policy until one is set, then the last one set', withStore((s) => {
        expect(s.policy()).toBeUndefined()
        s.setPolicy('{"maxFailures":3}')
        s.setPolicy('{"maxFailures":4,"lockMinutes":9}')
        expect(JSON.parse(s.policy()!)).toEqual({ maxFailures: 4, lockMinutes: 9 })
      }))
    })

    describe('users', () => {
      it('adds users without codes, lists them in user order, and tells who is one', withStore((s) => {
        expect(s.listUsers('1234')).toEqual([])
        expect(s.addUser('1234', 12, 'Zoe', AT, 32)).toEqual(ok(undefined))
        expect(s.addUser('1234', 3, null, AT, 32)).toEqual(ok(undefined))
        expect(s.addUser('5678', 1, 'Other', AT, 32)).toEqual(ok(undefined))
        expect(s.listUsers('1234')).toEqual([
          { user: 3, name: null, hasCode: false, hasDuressCode: false },
          { user: 12, name: 'Zoe', hasCode: false, hasDuressCode: false },
        ])
        expect(s.isUser('1234', 12)).toBe(true)
        expect(s.isUser('1234', 1)).toBe(false)
        expect(s.isUser('9999', 12)).toBe(false)
      }))

      it('refuses a user the account has (EXISTS), and more than the most users (USER_INVALID), leaving the users as they were', withStore((s) => {
        expect(s.addUser('1234', 1, 'Ann', AT, 3)).toEqual(ok(undefined))
        expect(s.addUser('1234', 1, 'Bob', AT, 3)).toMatchObject({ ok: false, code: 'DC09_ERR_USER_EXISTS' })
        expect(s.addUser('1234', 2, null, AT, 3).ok).toBe(true)
        expect(s.addUser('1234', 3, null, AT, 3).ok).toBe(true)
        expect(s.addUser('1234', 4, null, AT, 3)).toMatchObject({ ok: false, code: 'DC09_ERR_USER_INVALID' })
        // The bound is per account.
        expect(s.addUser('5678', 4, null, AT, 3).ok).toBe(true)
        expect(s.listUsers('1234').map((u) => [u.user, u.name])).toEqual([[1, 'Ann'], [2, null], [3, null]])
      }))

      it('removes a user and its codes from the slot row in one operation; NOT_FOUND for one it does not have', withStore((s) => {
        const salt = withUsers(s, '1234', 2)
        expect(setCode(s, '1234', 1, hash(1), salt)).toEqual(ok(undefined))
        expect(setCode(s, '1234', 2, hash(2), salt)).toEqual(ok(undefined))
        expect(s.removeUser('1234', 1)).toEqual(ok(undefined))
        expect(s.isUser('1234', 1)).toBe(false)
        const slots = s.slots('1234', FALLBACK)!.slots
        expect(matchSlots(hash(1), slots).found).toBe(0)
        expect(matchSlots(hash(2), slots)).toEqual({ found: 1, duress: 0, user: 2 })
        expect(s.removeUser('1234', 1)).toMatchObject({ ok: false, code: 'DC09_ERR_USER_NOT_FOUND' })
        expect(s.removeUser('9999', 1)).toMatchObject({ ok: false, code: 'DC09_ERR_USER_NOT_FOUND' })
      }))
    })

    describe('slot rows', () => {
      it('reads the account\'s row, the fallback\'s for an account without one, and nothing when neither has one', withStore((s) => {
        expect(s.slots('1234', FALLBACK)).toBeUndefined()
        const dummy = fresh(FALLBACK, 32)
        s.salt(FALLBACK, dummy)
        expect(s.slots('1234', FALLBACK)).toEqual(dummy)
        const own = fresh('1234', 64)
        s.salt('1234', own)
        expect(s.slots('1234', FALLBACK)).toEqual(own)
        // Rows are the same size whoever's they are.
        expect(s.slots('1234', FALLBACK)!.slots.length).toBe(dummy.slots.length)
      }))

      it('makes a salt row once: a second fresh one does not replace it', withStore((s) => {
        const first = fresh('1234', 16)
        expect(s.salt('1234', first)).toEqual({ salt: first.salt, n: 16 })
        expect(s.salt('1234', fresh('1234', 1024))).toEqual({ salt: first.salt, n: 16 })
        s.setCost('1234', 64)
        expect(s.salt('1234', fresh('1234'))).toEqual({ salt: first.salt, n: 64 })
        expect(s.slots('1234', FALLBACK)!.n).toBe(64)
      }))
    })

    describe('setting a code (atomic with its checks)', () => {
      it('writes a code and a duress code into the user and the slot row', withStore((s) => {
        const salt = withUsers(s, '1234', 2)
        expect(setCode(s, '1234', 2, hash(5), salt)).toEqual(ok(undefined))
        expect(setCode(s, '1234', 2, hash(6), salt, true)).toEqual(ok(undefined))
        expect(s.listUsers('1234')).toEqual([
          { user: 1, name: 'user 1', hasCode: false, hasDuressCode: false },
          { user: 2, name: 'user 2', hasCode: true, hasDuressCode: true },
        ])
        const row = s.slots('1234', FALLBACK)!
        expect(row.salt).toEqual(salt)
        expect(matchSlots(hash(5), row.slots)).toEqual({ found: 1, duress: 0, user: 2 })
        expect(matchSlots(hash(6), row.slots)).toEqual({ found: 1, duress: 1, user: 2 })
        // A new code replaces the old one.
        expect(setCode(s, '1234', 2, hash(7), salt)).toEqual(ok(undefined))
        expect(matchSlots(hash(5), s.slots('1234', FALLBACK)!.slots).found).toBe(0)
        expect(matchSlots(hash(7), s.slots('1234', FALLBACK)!.slots).found).toBe(1)
      }))

      it('gives the check every user of the account with their current hashes, inside the operation', withStore((s) => {
        const salt = withUsers(s, '1234', 2)
        withUsers(s, '5678', 1)
        expect(setCode(s, '1234', 1, hash(1), salt)).toEqual(ok(undefined))
        let seen: unknown
        expect(s.setCode({ account: '1234', user: 2, duress: true, hash: hash(2), salt, at: AT2 }, (users) => {
          seen = [...users].sort((a, b) => a.user - b.user).map((u) => ({ ...u }))
          return ok(undefined)
        })).toEqual(ok(undefined))
        expect(seen).toEqual([{ user: 1, code: hash(1), duress: null }, { user: 2, code: null, duress: null }])
      }))

      it('writes nothing when the check refuses, and answers the check\'s error', withStore((s) => {
        const salt = withUsers(s, '1234', 1)
        const before = s.slots('1234', FALLBACK)!.slots
        expect(s.setCode({ account: '1234', user: 1, duress: false, hash: hash(1), salt, at: AT2 }, () => err('DC09_ERR_CODE_TAKEN', 'taken'))).toEqual(err('DC09_ERR_CODE_TAKEN', 'taken'))
        expect(s.listUsers('1234')[0]).toMatchObject({ hasCode: false })
        expect(s.slots('1234', FALLBACK)!.slots).toEqual(before)
      }))

      it('refuses a hash made under another salt (ACCOUNT_CHANGED) or for an account without a slot row, without calling the check', withStore((s) => {
        withUsers(s, '1234', 1)
        let called = false
        const check = () => { called = true; return ok(undefined) }
        expect(s.setCode({ account: '1234', user: 1, duress: false, hash: hash(1), salt: randomBytes(16), at: AT2 }, check)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_CHANGED' })
        expect(s.addUser('5678', 1, null, AT, 32).ok).toBe(true)
        expect(s.setCode({ account: '5678', user: 1, duress: false, hash: hash(1), salt: randomBytes(16), at: AT2 }, check)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_CHANGED' })
        expect(called).toBe(false)
        expect(s.listUsers('1234')[0]).toMatchObject({ hasCode: false })
      }))

      it('refuses a user the account does not have (USER_NOT_FOUND), leaving the slot row as it was', withStore((s) => {
        const salt = withUsers(s, '1234', 1)
        const before = s.slots('1234', FALLBACK)!.slots
        expect(setCode(s, '1234', 9, hash(1), salt)).toMatchObject({ ok: false, code: 'DC09_ERR_USER_NOT_FOUND' })
        expect(s.slots('1234', FALLBACK)!.slots).toEqual(before)
      }))
    })

    describe('resetting every code (atomic)', () => {
      it('deletes every hash, renews every salt but the kept row\'s, marks the accounts, forgets the pepper check', withStore((s) => {
        s.pepperCheck(hash(9))
        const dummy = fresh(FALLBACK)
        s.salt(FALLBACK, dummy)
        const salts = { a: withUsers(s, '1234', 2), b: withUsers(s, '5678', 1) }
        expect(setCode(s, '1234', 1, hash(1), salts.a)).toEqual(ok(undefined))
        expect(setCode(s, '1234', 2, hash(2), salts.a, true)).toEqual(ok(undefined))
        expect(setCode(s, '5678', 1, hash(3), salts.b)).toEqual(ok(undefined))
        expect(s.needsNewCodes('1234')).toBe(false)
        const blank = buildSlots([])
        expect(s.resetAll(64, blank, AT2, FALLBACK)).toBe(2)
        for (const [account, salt] of [['1234', salts.a], ['5678', salts.b]] as const) {
          const row = s.slots(account, FALLBACK)!
          expect(row.account).toBe(account)
          expect(row.salt.equals(salt)).toBe(false)
          expect(row.n).toBe(64)
          expect(row.slots).toEqual(blank)
          expect(s.needsNewCodes(account)).toBe(true)
          expect(s.listUsers(account).every((u) => !u.hasCode && !u.hasDuressCode)).toBe(true)
        }
        expect(s.slots('~nobody', FALLBACK)).toEqual(dummy)
        expect(s.needsNewCodes(FALLBACK)).toBe(false)
        expect(s.pepperCheck(hash(10))).toEqual(hash(10))
        // The mark stays until every user of the account has a new code (under the new salt).
        const salt = s.salt('1234', fresh('1234')).salt
        expect(setCode(s, '1234', 1, hash(1), salts.a)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_CHANGED' })
        expect(setCode(s, '1234', 1, hash(1), salt)).toEqual(ok(undefined))
        expect(s.needsNewCodes('1234')).toBe(true)
        expect(setCode(s, '1234', 2, hash(2), salt)).toEqual(ok(undefined))
        expect(s.needsNewCodes('1234')).toBe(false)
      }))

      it('gives each account its own new salt', withStore((s) => {
        for (const a of ['1001', '1002', '1003']) withUsers(s, a, 1)
        s.resetAll(16, buildSlots([]), AT2, FALLBACK)
        const salts = ['1001', '1002', '1003'].map((a) => s.slots(a, FALLBACK)!.salt.toString('hex'))
        expect(new Set(salts).size).toBe(3)
      }))
    })

    describe('failure counters (atomic read and write)', () => {
      it('reads the rows of the keys asked for (absent ones missing), writes what the update returns, and answers its value', withStore((s) => {
        const seen: Array<Map<string, LimitRow>> = []
        const v1 = s.updateLimits(['a:1234', 'c:op'], (rows) => {
          seen.push(new Map(rows))
          return { writes: [limit('a:1234', 1, { recent: Buffer.alloc(16, 1) }), limit('c:op', 2, { lockedUntil: 5000, since: 900 })], value: 'first' }
        })
        expect(v1).toBe('first')
        expect(seen[0]!.size).toBe(0)
        s.updateLimits(['a:1234', 'c:op', 'c:other'], (rows) => {
          seen.push(new Map(rows))
          return { writes: [], value: undefined }
        })
        expect([...seen[1]!.keys()].sort()).toEqual(['a:1234', 'c:op'])
        expect(seen[1]!.get('a:1234')).toEqual(limit('a:1234', 1, { recent: Buffer.alloc(16, 1) }))
        expect(seen[1]!.get('c:op')).toEqual(limit('c:op', 2, { lockedUntil: 5000, since: 900 }))
      }))

      it('counts every write as an attempt, even one that changes nothing else', withStore((s) => {
        expect(s.attempts('a:1234')).toBe(0)
        for (let i = 0; i < 3; i++) s.updateLimits(['a:1234'], () => ({ writes: [limit('a:1234', 0)], value: undefined }))
        expect(s.attempts('a:1234')).toBe(3)
        expect(s.attempts('c:op')).toBe(0)
      }))

      it('loses no update: each one sees the one before, through any handle on the same rows', withStore((s, opened) => {
        const other = opened.peer?.() ?? s
        try {
          const bump = (h: VerificationStore): void => {
            h.updateLimits(['c:op'], (rows) => ({ writes: [limit('c:op', (rows.get('c:op')?.failures ?? 0) + 1)], value: undefined }))
          }
          for (let i = 0; i < 50; i++) bump(i % 2 === 0 ? s : other)
          expect(s.updateLimits(['c:op'], (rows) => ({ writes: [], value: rows.get('c:op')?.failures }))).toBe(50)
          expect(other.attempts('c:op')).toBe(50)
        } finally { if (other !== s) other.close() }
      }))

      it('writes nothing when the update throws', withStore((s) => {
        s.updateLimits(['a:1234'], () => ({ writes: [limit('a:1234', 1)], value: undefined }))
        expect(() => s.updateLimits(['a:1234'], () => { throw new Error('boom') })).toThrow('boom')
        expect(s.updateLimits(['a:1234'], (rows) => ({ writes: [], value: rows.get('a:1234')?.failures }))).toBe(1)
        expect(s.attempts('a:1234')).toBe(1)
      }))
    })

    describe('a second handle', () => {
      it('sees a code set through the other, and the other\'s check sees its users', withStore((s, opened) => {
        if (opened.peer === undefined) return
        const other = opened.peer()
        try {
          const salt = withUsers(s, '1234', 2)
          expect(other.setCode({ account: '1234', user: 1, duress: false, hash: hash(1), salt, at: AT2 }, accept)).toEqual(ok(undefined))
          expect(s.setCode({ account: '1234', user: 2, duress: false, hash: hash(1), salt, at: AT2 }, (users) => users.some((u) => u.code?.equals(hash(1))) ? err('DC09_ERR_CODE_TAKEN', 'taken') : ok(undefined)))
            .toMatchObject({ ok: false, code: 'DC09_ERR_CODE_TAKEN' })
        } finally { other.close() }
      }))
    })

    it('keeps users, codes, slot rows, counters and settings when opened again', () => {
      const { store: s, reopen, cleanup } = open()
      try {
        s.pepperCheck(hash(9))
        s.setPolicy('{"minLength":8}')
        const salt = withUsers(s, '1234', 1)
        expect(setCode(s, '1234', 1, hash(4), salt)).toEqual(ok(undefined))
        s.updateLimits(['a:1234'], () => ({ writes: [limit('a:1234', 3, { recent: Buffer.alloc(8, 2) })], value: undefined }))
        s.close()
        if (reopen === undefined) return
        const again = reopen()
        try {
          expect(again.pepperCheck(hash(1))).toEqual(hash(9))
          expect(again.policy()).toBe('{"minLength":8}')
          expect(again.listUsers('1234')).toEqual([{ user: 1, name: 'user 1', hasCode: true, hasDuressCode: false }])
          const row = again.slots('1234', FALLBACK)!
          expect(row.salt).toEqual(salt)
          expect(matchSlots(hash(4), row.slots)).toEqual({ found: 1, duress: 0, user: 1 })
          expect(again.updateLimits(['a:1234'], (rows) => ({ writes: [], value: rows.get('a:1234') }))).toEqual(limit('a:1234', 3, { recent: Buffer.alloc(8, 2) }))
          expect(again.attempts('a:1234')).toBe(1)
        } finally { again.close() }
      } finally { cleanup?.() }
    })
  })
}
