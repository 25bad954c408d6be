/** What every AccountStore must do. */
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import type { AccountStore } from '../../src/accounts/account-store.js'

const KEY = '0123456789ABCDEF0123456789ABCDEF'
const KEY2 = 'FEDCBA9876543210FEDCBA9876543210'

/**
 * For a backend that keeps records under an account number beside the account (users and their
 * codes, failure counters), how the suite makes and reads them as the rest of the product does.
 */
export interface HeldRecords {
  /** Gives the account a user with a disarm and a duress code, and a failure counter. */
  keep (account: string): Promise<void>
  /** A failed verification attempt on the number (counted whether or not it has an account). */
  attempt (account: string): Promise<void>
  /** Deletes the account's row alone, as a removal an older version did not finish left it. */
  orphan (account: string): void
  /** What is kept under the number now. */
  read (account: string): { users: number, withCodes: number, needsNewCodes: boolean, counters: number }
}

export interface OpenedStore {
  readonly store: AccountStore
  readonly cleanup?: () => void
  readonly held?: HeldRecords
}

/** `maxWindowSeconds`: the receiver's duplicate window the store must hold account windows to. */
export function accountStoreSuite (name: string, open: (opts?: { maxWindowSeconds?: number }) => OpenedStore): void {
  describe(`${name} (account store conformance)`, () => {
    const withStore = (fn: (s: AccountStore, held: HeldRecords | undefined) => void | Promise<void>, opts?: { maxWindowSeconds?: number }) => async () => {
      const { store, cleanup, held } = open(opts)
      try { await fn(store, held) } finally { store.close(); cleanup?.() }
    }
    const probe = open()
    const hasHeld = probe.held !== undefined
    probe.store.close()
    probe.cleanup?.()

    it('refuses a timestamp window wider than the duplicate window (600 s by default), however it comes', withStore((s) => {
      expect(s.add({ account: '1000', windowAhead: 0, windowBehind: 600 })).toMatchObject({ ok: true })
      expect(s.add({ account: '1001', windowAhead: 20, windowBehind: 580 })).toMatchObject({ ok: true })
      // The defaults (+20/-40) count for the side that is not given.
      expect(s.add({ account: '1002', windowBehind: 581 })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID', reason: expect.stringMatching(/duplicate window/) })
      expect(s.add({ account: '1003', windowAhead: 561 })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID' })
      expect(s.add({ account: '1004', windowAhead: 300, windowBehind: 86_400 })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID' })
      expect(s.update('1001', { windowAhead: 21 })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID', reason: expect.stringMatching(/duplicate window/) })
      expect(s.update('1000', { windowAhead: 1 })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID' })
      expect(s.import([{ account: '2000' }, { account: '2001', windowBehind: 900 }])).toMatchObject({ ok: false, reason: expect.stringMatching(/entry 1 .*duplicate window/) })
      expect(s.import([{ account: '1001', windowAhead: 100 }])).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID' })
      expect(s.count()).toBe(2)
      expect(s.get('1001')).toMatchObject({ windowAhead: 20, windowBehind: 580 })
    }))

    it('holds account windows to a shorter duplicate window when the receiver has one', withStore((s) => {
      expect(s.add({ account: '1000' })).toMatchObject({ ok: true })
      expect(s.add({ account: '1001', windowAhead: 10, windowBehind: 51 })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID', reason: expect.stringMatching(/\(60 s\)/) })
      expect(s.update('1000', { windowBehind: 41 })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID' })
    }, { maxWindowSeconds: 60 }))

    it('tells which account has the widest window', withStore((s) => {
      expect(s.widestWindow()).toBeUndefined()
      s.add({ account: '1000' })
      expect(s.widestWindow()).toEqual({ account: '1000', seconds: 60 })
      s.add({ account: '1001', windowAhead: 5, windowBehind: 30 })
      s.add({ account: '1002', windowAhead: 100 })
      expect(s.widestWindow()).toEqual({ account: '1002', seconds: 140 })
    }))

    it('adds a plain account with defaults, matching account numbers without regard to case', withStore((s) => {
      const r = s.add({ account: '12ab' })
      expect(r).toMatchObject({ ok: true, value: { account: '12AB', hasKey: false, encryptionRequired: false, tenant: undefined } })
      expect(s.get('12AB')?.account).toBe('12AB')
      expect(s.get('12ab')?.account).toBe('12AB')
      expect(s.count()).toBe(1)
    }))

    it('stores a key without ever showing it, and requires encryption by default when keyed', withStore((s) => {
      const r = s.add({ account: '5678', key: 'ABCDEFGHIJKLMNOP', keyFormat: 'ascii', tenant: 'acme', supervisionSeconds: 90 })
      expect(r).toMatchObject({ ok: true, value: { hasKey: true, keyFormat: 'ascii', encryptionRequired: true, tenant: 'acme', supervisionSeconds: 90 } })
      const shown = JSON.stringify([r, s.get('5678'), s.list()]) + inspect(s.get('5678'), { depth: 5 })
      expect(shown).not.toContain('ABCDEFGHIJKLMNOP')
      const ra = s.receiverAccount('5678')
      expect(ra?.key?.bits).toBe(128)
      expect(JSON.stringify(ra) + inspect(ra, { depth: 5, showHidden: true })).not.toContain('ABCDEFGHIJKLMNOP')
    }))

    it('refuses bad input with a reason that names the field and never the key', withStore((s) => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ account: '12' }, /account/],
        [{ account: '1234', key: 'nothex-but-32-characters-long!!' }, /key/],
        [{ account: '1234', key: KEY.slice(2) }, /key/],
        [{ account: '1234', keyFormat: 'base64', key: KEY }, /keyFormat/],
        [{ account: '1234', receiver: 'XYZ' }, /receiver/],
        [{ account: '1234', prefix: '1234567' }, /prefix/],
        [{ account: '1234', encryptionRequired: true }, /encryptionRequired/],
        [{ account: '1234', timeZone: 'Mars/Base' }, /timeZone/],
        [{ account: '1234', charset: 'klingon' }, /charset/],
        [{ account: '1234', supervisionSeconds: 0 }, /supervisionSeconds/],
        [{ account: '1234', tenant: 'a b' }, /tenant/],
        [{ account: '1234', colour: 'red' }, /unknown field/],
        [{ account: '1234', timeZone: 'UTC', clockOffsetSeconds: 3600 }, /not both/],
      ]
      for (const [input, re] of cases) {
        const r = s.add(input as never)
        expect(r.ok, JSON.stringify(input)).toBe(false)
        if (!r.ok) {
          expect(r.code).toBe('DC09_ERR_ACCOUNT_INVALID')
          expect(r.reason).toMatch(re)
          expect(r.reason).not.toContain(KEY.slice(2))
        }
      }
      expect(s.count()).toBe(0)
    }))

    it('refuses a duplicate account, and updates or removes only existing ones', withStore((s) => {
      s.add({ account: '1234' })
      expect(s.add({ account: '1234' })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_EXISTS' })
      expect(s.update('9999', { tenant: 'x' })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_NOT_FOUND' })
      expect(s.remove('9999')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_NOT_FOUND' })
    }))

    it('updates fields, keeps the rest, and lets a key be set, rotated and removed', withStore((s) => {
      s.add({ account: '1234', tenant: 'acme', prefix: '0' })
      expect(s.update('1234', { key: KEY })).toMatchObject({ ok: true, value: { hasKey: true, keyFormat: 'hex', encryptionRequired: true, tenant: 'acme', prefix: '0' } })
      expect(s.update('1234', { encryptionRequired: false })).toMatchObject({ ok: true, value: { hasKey: true, encryptionRequired: false } })
      expect(s.update('1234', { key: null })).toMatchObject({ ok: true, value: { hasKey: false, encryptionRequired: false } })
      expect(s.update('1234', { prefix: null, windowAhead: 60 })).toMatchObject({ ok: true, value: { prefix: undefined, windowAhead: 60, tenant: 'acme' } })
      expect(s.update('1234', { account: '9999' } as never)).toMatchObject({ ok: false })
      expect(s.remove('1234')).toMatchObject({ ok: true })
      expect(s.get('1234')).toBeUndefined()
      expect(s.receiverAccount('1234')).toBeUndefined()
    }))

    it('imports all or nothing, adding and updating', withStore((s) => {
      s.add({ account: '1111', tenant: 'old' })
      expect(s.import([{ account: '1111', tenant: 'new' }, { account: '2222' }, { account: 'bad!' }])).toMatchObject({ ok: false, reason: /entry 2/ })
      expect(s.count()).toBe(1)
      expect(s.import([{ account: '1111', tenant: 'new' }, { account: '2222', key: KEY, keyFormat: 'hex' }])).toEqual({ ok: true, value: { added: 1, updated: 1, moved: [{ account: '1111', from: 'old', to: 'new' }] } })
      expect(s.get('1111')?.tenant).toBe('new')
      expect(s.get('2222')?.encryptionRequired).toBe(true)
      expect(s.import([{ account: '3333' }, { account: '3333' }])).toMatchObject({ ok: false, reason: /twice/ })
      expect(s.import([42])).toMatchObject({ ok: false })
    }))

    it('lists in pages and by tenant', withStore((s) => {
      for (let i = 100; i < 130; i++) s.add({ account: String(i), tenant: i % 2 === 0 ? 'even' : 'odd' })
      const first = s.list({ limit: 10 })
      expect(first.map((a) => a.account)).toEqual(Array.from({ length: 10 }, (_, i) => String(100 + i)))
      expect(s.list({ limit: 10, after: first.at(-1)!.account })[0]!.account).toBe('110')
      expect(s.list({ tenant: 'odd' }).length).toBe(15)
    }))

    it('walks the supervised accounts in pages: number, holder and interval only', withStore((s) => {
      for (let i = 100; i < 130; i++) s.add({ account: String(i), ...(i % 3 === 0 ? {} : { supervisionSeconds: i }) })
      const first = s.supervised(undefined, 5)
      expect(first.map((a) => a.account)).toEqual(['100', '101', '103', '104', '106'])
      expect(first[0]).toEqual({ account: '100', createdAt: s.get('100')!.createdAt, supervisionSeconds: 100 })
      expect(s.supervised(first.at(-1)!.account, 3).map((a) => a.account)).toEqual(['107', '109', '110'])
      const all: string[] = []
      for (let after: string | undefined, page = s.supervised(after, 7); page.length > 0; after = page.at(-1)!.account, page = s.supervised(after, 7)) all.push(...page.map((a) => a.account))
      expect(all).toHaveLength(20)
      expect(s.supervised('129', 10)).toEqual([])
    }))

    it('stores and returns site, keyholders (sorted by order) and the VIP marker', withStore((s) => {
      const r = s.add({
        account: 'S100',
        siteName: 'Green Bakery',
        siteAddress: 'Gedimino pr. 1, Vilnius',
        keyholders: [
          { name: 'Cid', phone: '+370 600 00003', order: 3 },
          { name: 'Ann', phone: '+370 600 00001', order: 1 },
          { name: 'Bob', phone: '8 (600) 00002', order: 2 },
        ],
        vip: true,
      })
      expect(r.ok).toBe(true)
      const want = {
        siteName: 'Green Bakery',
        siteAddress: 'Gedimino pr. 1, Vilnius',
        keyholders: [
          { name: 'Ann', phone: '+370 600 00001', order: 1 },
          { name: 'Bob', phone: '8 (600) 00002', order: 2 },
          { name: 'Cid', phone: '+370 600 00003', order: 3 },
        ],
        vip: true,
      }
      expect(r).toMatchObject({ ok: true, value: want })
      expect(s.get('S100')).toMatchObject(want)
      expect(s.list()[0]).toMatchObject(want)
      expect(s.receiverAccount('S100')?.account).toMatchObject(want)
      // Defaults: no site, no keyholders, not a VIP.
      expect(s.add({ account: 'S200' })).toMatchObject({ ok: true, value: { siteName: undefined, siteAddress: undefined, keyholders: [], vip: false } })
    }))

    it('changes the new fields by patch, keeps them when not named, and clears them with null', withStore((s) => {
      s.add({ account: 'S100', siteName: 'Old', siteAddress: 'Addr', keyholders: [{ name: 'Ann', phone: '+370 600 00001', order: 1 }], vip: true })
      expect(s.update('S100', { windowAhead: 30 })).toMatchObject({ ok: true, value: { siteName: 'Old', siteAddress: 'Addr', vip: true, keyholders: [{ name: 'Ann' }] } })
      expect(s.update('S100', { siteName: 'New', keyholders: [{ name: 'Bob', phone: '+370 600 00002', order: 5 }, { name: 'Ann', phone: '+370 600 00001', order: 4 }] }))
        .toMatchObject({ ok: true, value: { siteName: 'New', keyholders: [{ name: 'Ann', order: 4 }, { name: 'Bob', order: 5 }] } })
      expect(s.update('S100', { siteName: null, siteAddress: null, keyholders: null, vip: false }))
        .toMatchObject({ ok: true, value: { siteName: undefined, siteAddress: undefined, keyholders: [], vip: false } })
      expect(s.get('S100')).toMatchObject({ siteName: undefined, siteAddress: undefined, keyholders: [], vip: false })
      expect(s.update('S100', { keyholders: [] })).toMatchObject({ ok: true, value: { keyholders: [] } })
    }))

    it('refuses bad site and keyholder input, naming the field', withStore((s) => {
      const kh = (i: number, extra: Record<string, unknown> = {}) => ({ name: `Person ${i}`, phone: `+370 600 ${String(i).padStart(5, '0')}`, order: i, ...extra })
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ keyholders: Array.from({ length: 21 }, (_, i) => kh(i + 1)) }, /at most 20 keyholders/],
        [{ keyholders: [kh(1, { phone: 'call me' })] }, /keyholders\[0\]\.phone/],
        [{ keyholders: [kh(1, { phone: '12' })] }, /keyholders\[0\]\.phone/],
        [{ keyholders: [kh(1), kh(2, { order: 1 })] }, /keyholders\[1\]\.order/],
        [{ keyholders: [kh(1, { order: 0 })] }, /keyholders\[0\]\.order/],
        [{ keyholders: [kh(1, { order: 1.5 })] }, /keyholders\[0\]\.order/],
        [{ keyholders: [kh(1, { email: 'a@b.c' })] }, /keyholders\[0\]: unknown field "email"/],
        [{ keyholders: [kh(1, { name: 'Ann\u0007' })] }, /keyholders\[0\]\.name/],
        [{ keyholders: [kh(1, { name: '' })] }, /keyholders\[0\]\.name/],
        [{ keyholders: ['Ann'] }, /keyholders\[0\]/],
        [{ keyholders: 'Ann' }, /keyholders/],
        [{ siteName: 'Home\u0000' }, /siteName/],
        [{ siteName: 'Home\nOffice' }, /siteName/],
        [{ siteName: 'Home\u007f' }, /siteName/],
        [{ siteName: ' padded' }, /siteName/],
        [{ siteName: '' }, /siteName/],
        [{ siteName: 'x'.repeat(201) }, /siteName/],
        [{ siteAddress: 'Main St\t1' }, /siteAddress/],
        [{ siteAddress: 'x'.repeat(501) }, /siteAddress/],
        [{ vip: 'yes' }, /vip/],
      ]
      for (const [fields, re] of cases) {
        const r = s.add({ account: 'S300', ...fields } as never)
        expect(r.ok, JSON.stringify(fields)).toBe(false)
        if (!r.ok) {
          expect(r.code).toBe('DC09_ERR_ACCOUNT_INVALID')
          expect(r.reason, JSON.stringify(fields)).toMatch(re)
        }
      }
      expect(s.count()).toBe(0)
      // The same rules for a patch; the account is left as it was.
      s.add({ account: 'S300', siteName: 'Kept' })
      for (const [fields, re] of cases) {
        const r = s.update('S300', fields as never)
        expect(r.ok, JSON.stringify(fields)).toBe(false)
        if (!r.ok) expect(r.reason).toMatch(re)
      }
      expect(s.get('S300')).toMatchObject({ siteName: 'Kept', keyholders: [], vip: false })
      // Exactly 20 keyholders, and the longest texts, are fine.
      expect(s.update('S300', { keyholders: Array.from({ length: 20 }, (_, i) => kh(i + 1)), siteName: 'x'.repeat(200), siteAddress: 'y'.repeat(500) }).ok).toBe(true)
    }))

    it('searches the start of account numbers and site names, case-insensitively, with % and _ taken literally', withStore((s) => {
      s.add({ account: 'AB100', siteName: 'Green Bakery' })
      s.add({ account: 'CD200', siteName: '100% Cotton' })
      s.add({ account: 'EF300', siteName: 'snake_case Ltd' })
      s.add({ account: 'GH400', siteName: 'snakeXcase Ltd' })
      s.add({ account: 'IJ500' })
      s.add({ account: '100AB', siteName: 'Blue Bakery' })
      const find = (search: string) => s.list({ search }).map((a) => a.account)
      expect(find('green')).toEqual(['AB100'])
      expect(find('GREEN BAK')).toEqual(['AB100'])
      expect(find('ab1')).toEqual(['AB100'])
      expect(find('ab')).toEqual(['AB100'])
      expect(find('100')).toEqual(['100AB', 'CD200'])
      expect(find('100%')).toEqual(['CD200'])
      expect(find('%')).toEqual([])
      expect(find('snake_')).toEqual(['EF300'])
      expect(find('snake')).toEqual(['EF300', 'GH400'])
      expect(find('_')).toEqual([])
      expect(find('\\')).toEqual([])
      // A prefix, not a substring: the middle of a name or number is not searched.
      expect(find('bakery')).toEqual([])
      expect(find('100ab')).toEqual(['100AB'])
      expect(find('b100')).toEqual([])
      expect(find('nothing')).toEqual([])
      // With paging and tenant filters together.
      expect(s.list({ search: 'snake', limit: 1 }).map((a) => a.account)).toEqual(['EF300'])
      expect(s.list({ search: 'snake', after: 'EF300' }).map((a) => a.account)).toEqual(['GH400'])
    }))

    it('searches within a tenant only when given one', withStore((s) => {
      s.add({ account: 'AB100', siteName: 'Green Bakery', tenant: 'alpha' })
      s.add({ account: 'AB200', siteName: 'Green Grocer', tenant: 'beta' })
      s.add({ account: 'AB300', siteName: 'Greenhouse' })
      expect(s.list({ search: 'green', tenant: 'alpha' }).map((a) => a.account)).toEqual(['AB100'])
      expect(s.list({ search: 'ab', tenant: 'beta' }).map((a) => a.account)).toEqual(['AB200'])
      expect(s.list({ search: 'green', tenant: 'gamma' })).toEqual([])
      expect(s.list({ search: 'green' }).map((a) => a.account)).toEqual(['AB100', 'AB200', 'AB300'])
    }))

    it('searches site names case-insensitively beyond ASCII', withStore((s) => {
      s.add({ account: 'LT100', siteName: 'Šiaulių Ūkis' })
      expect(s.list({ search: 'šiaulių' }).map((a) => a.account)).toEqual(['LT100'])
      expect(s.list({ search: 'ŠIAULIŲ ŪK' }).map((a) => a.account)).toEqual(['LT100'])
    }))

    it('finds an account in its own tenant only, and none of another tenant', withStore((s) => {
      expect(s.add({ account: 'T100', tenant: 'alpha' }).ok).toBe(true)
      expect(s.add({ account: 'T200' }).ok).toBe(true)
      expect(s.getInTenant('t100', 'alpha')?.account).toBe('T100')
      expect(s.getInTenant('T100', 'beta')).toBeUndefined()
      expect(s.getInTenant('T200', 'alpha')).toBeUndefined()
      expect(s.getInTenant('T999', 'alpha')).toBeUndefined()
      expect([s.count(), s.count('alpha'), s.count('beta')]).toEqual([2, 1, 0])
    }))

    it('refuses format characters and lone surrogates in texts, and keeps the joiners names need', withStore((s) => {
      for (const bad of ['Evil \u202Egnp.exe', 'zero\u200Bwidth', 'lone \ud800 surrogate', 'tab\there']) {
        expect(s.add({ account: 'U100', siteName: bad }), JSON.stringify(bad)).toMatchObject({ ok: false })
        expect(s.add({ account: 'U100', keyholders: [{ name: bad, phone: '+370 600 00000', order: 1 }] }).ok).toBe(false)
      }
      expect(s.add({ account: 'U100', siteName: 'می\u200Cخواهم', siteAddress: 'Šiaulių g. 1 🏠' }).ok).toBe(true)
    }))

    it('moves visibleUpdatedAt with every field but the VIP marker (updatedAt with every field), in updates and imports', withStore((s) => {
      const later = (): void => { const t = Date.now(); while (Date.now() - t < 3) { /* the clock has millisecond steps */ } }
      const made = s.add({ account: 'V100', siteName: 'Shop' })
      expect(made.ok && made.value.visibleUpdatedAt).toBe(made.ok && made.value.updatedAt)
      const first = s.get('V100')!
      later()
      const vip = s.update('V100', { vip: true })
      expect(vip.ok && vip.value.updatedAt).not.toBe(first.updatedAt)
      expect(s.get('V100')!.visibleUpdatedAt).toBe(first.visibleUpdatedAt)
      later()
      expect(s.update('V100', { vip: false, siteName: 'Shop' }).ok).toBe(true)
      later()
      expect(s.import([{ account: 'V100', vip: true }]).ok).toBe(true)
      expect(s.get('V100')!.visibleUpdatedAt).toBe(first.visibleUpdatedAt)
      expect(s.receiverAccount('V100')?.account.visibleUpdatedAt).toBe(first.visibleUpdatedAt)
      later()
      expect(s.update('V100', { siteName: 'Shop 2' }).ok).toBe(true)
      const site = s.get('V100')!
      expect(site.visibleUpdatedAt).not.toBe(first.visibleUpdatedAt)
      expect(site.visibleUpdatedAt).toBe(site.updatedAt)
      later()
      expect(s.import([{ account: 'V100', supervisionSeconds: 90 }]).ok).toBe(true)
      expect(s.get('V100')!.visibleUpdatedAt).not.toBe(site.visibleUpdatedAt)
    }))

    it('purges only numbers without an account, and finds nothing under a free number', withStore((s) => {
      s.add({ account: 'P100' })
      expect(s.purge('p100')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_EXISTS' })
      expect(s.get('P100')).toBeDefined()
      expect(s.purge('P999')).toEqual({ ok: true, value: 0 })
      expect(s.purge('bad!')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID' })
      expect(s.purge('~dummy')).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID' })
      expect(s.leftovers('P100')).toBe(0)
      expect(s.leftovers('P999')).toBe(0)
      expect(s.remove('P100').ok).toBe(true)
      expect(s.leftovers('P100')).toBe(0)
      expect(s.orphans()).toEqual([])
      expect(s.add({ account: 'P100' }).ok).toBe(true)
    }))

    it('moves an encrypted account to another tenant only with a new key, never naming either key', withStore((s) => {
      s.add({ account: 'M100', tenant: 'alpha', key: KEY })
      for (const patch of [{ tenant: 'beta' }, { tenant: null }, { tenant: 'beta', key: KEY.toLowerCase() }, { tenant: 'beta', key: null }]) {
        const r = s.update('M100', patch)
        expect(r, JSON.stringify(patch)).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_INVALID', reason: /new AES key/ })
        if (!r.ok) expect(r.reason).not.toMatch(new RegExp(KEY, 'i'))
      }
      expect(s.get('M100')?.tenant).toBe('alpha')
      expect(s.import([{ account: 'M100', tenant: 'beta' }])).toMatchObject({ ok: false, reason: /new AES key/ })
      expect(s.get('M100')?.tenant).toBe('alpha')
      expect(s.update('M100', { tenant: 'beta', key: KEY2 })).toMatchObject({ ok: true, value: { tenant: 'beta', hasKey: true } })
      expect(s.receiverAccount('M100')?.key).toBeDefined()
      // A plain account moves as it is; an account without a tenant is given one without a new key.
      s.add({ account: 'M200', tenant: 'alpha' })
      expect(s.update('M200', { tenant: 'beta' })).toMatchObject({ ok: true, value: { tenant: 'beta' } })
      s.add({ account: 'M300', key: KEY })
      expect(s.update('M300', { tenant: 'alpha' })).toMatchObject({ ok: true, value: { tenant: 'alpha' } })
      // Other changes to an encrypted account need no key.
      expect(s.update('M100', { siteName: 'Shop' }).ok).toBe(true)
    }))

    it('reports the accounts an import moved to another tenant, with both tenants (its codes went with the move)', withStore(async (s, held) => {
      for (const [account, tenant] of [['I100', 'alpha'], ['I200', undefined], ['I300', 'alpha'], ['I400', 'alpha']] as const) s.add({ account, tenant })
      await held?.keep('I100')
      const r = s.import([
        { account: 'I100', tenant: 'beta' },
        // Given a first tenant, kept in its own, changed otherwise, taken out of any: only the last is a move too.
        { account: 'I200', tenant: 'beta' }, { account: 'I300', siteName: 'Shop' }, { account: 'I400', tenant: null },
        { account: 'I500', tenant: 'beta' },
      ])
      expect(r).toEqual({ ok: true, value: { added: 1, updated: 4, moved: [{ account: 'I100', from: 'alpha', to: 'beta' }, { account: 'I400', from: 'alpha', to: null }] } })
      if (held !== undefined) expect(held.read('I100')).toMatchObject({ users: 1, withCodes: 0, needsNewCodes: true })
    }))

    it.runIf(hasHeld)('removes users, codes and counters with the account, and the number starts clean', withStore(async (s, held) => {
      s.add({ account: 'R100', tenant: 'alpha' })
      await held!.keep('R100')
      expect(held!.read('R100')).toMatchObject({ users: 1, withCodes: 1, counters: 1 })
      expect(s.leftovers('R100')).toBe(0)
      expect(s.remove('R100').ok).toBe(true)
      expect(held!.read('R100')).toEqual({ users: 0, withCodes: 0, needsNewCodes: false, counters: 0 })
      expect(s.leftovers('R100')).toBe(0)
      expect(s.add({ account: 'R100', tenant: 'beta' }).ok).toBe(true)
      expect(held!.read('R100')).toMatchObject({ users: 0, withCodes: 0 })
    }))

    it('removes only the holder of the number it is told (by createdAt): a later holder of the number is left as it is', withStore(async (s, held) => {
      const made = s.add({ account: 'R200', tenant: 'alpha' })
      if (!made.ok) throw new Error(made.reason)
      await held?.keep('R200')
      // A removal for another holder of the number (one removed since, the number taken again).
      expect(s.remove('R200', { createdAt: '2000-01-01T00:00:00.000Z' })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_NOT_FOUND' })
      expect(s.get('R200')).toMatchObject({ tenant: 'alpha', createdAt: made.value.createdAt })
      expect(s.receiverAccount('R200')).toBeDefined()
      if (held !== undefined) expect(held.read('R200')).toMatchObject({ users: 1, withCodes: 1, counters: 1 })
      expect(s.remove('R200', { createdAt: made.value.createdAt })).toMatchObject({ ok: true, value: { account: 'R200', createdAt: made.value.createdAt } })
      expect(s.get('R200')).toBeUndefined()
      if (held !== undefined) expect(held.read('R200')).toEqual({ users: 0, withCodes: 0, needsNewCodes: false, counters: 0 })
    }))

    it.runIf(hasHeld)('refuses a number whose earlier holder\'s users or codes remain, until they are purged', withStore(async (s, held) => {
      s.add({ account: 'L100', tenant: 'alpha' })
      await held!.keep('L100')
      held!.orphan('L100')
      expect(s.get('L100')).toBeUndefined()
      expect(s.leftovers('L100')).toBeGreaterThan(0)
      expect(s.orphans()).toEqual(['L100'])
      expect(s.add({ account: 'L100', tenant: 'beta' })).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_LEFTOVERS' })
      expect(s.import([{ account: 'L200' }, { account: 'L100', tenant: 'beta' }])).toMatchObject({ ok: false, code: 'DC09_ERR_ACCOUNT_LEFTOVERS', reason: /entry 1/ })
      expect(s.get('L200')).toBeUndefined()
      expect(s.get('L100')).toBeUndefined()
      expect(s.purge('L100')).toMatchObject({ ok: true, value: 2 })
      expect(held!.read('L100')).toEqual({ users: 0, withCodes: 0, needsNewCodes: false, counters: 0 })
      expect(s.orphans()).toEqual([])
      expect(s.add({ account: 'L100', tenant: 'beta' }).ok).toBe(true)
      expect(held!.read('L100').users).toBe(0)
    }))

    it.runIf(hasHeld)('drops failure counters a free number gathered when it is taken', withStore(async (s, held) => {
      // Attempts on a free number count as on any other (an unknown number costs what a known one costs).
      await held!.attempt('F100')
      expect(held!.read('F100').counters).toBe(1)
      expect(s.leftovers('F100')).toBe(0)
      expect(s.add({ account: 'F100' }).ok).toBe(true)
      expect(held!.read('F100').counters).toBe(0)
    }))

    it.runIf(hasHeld)('moving an account to another tenant clears every code and keeps the users, marked as needing codes', withStore(async (s, held) => {
      s.add({ account: 'V100', tenant: 'alpha', key: KEY })
      await held!.keep('V100')
      expect(s.update('V100', { tenant: 'beta' }).ok).toBe(false)
      expect(held!.read('V100')).toMatchObject({ users: 1, withCodes: 1 })
      expect(s.update('V100', { tenant: 'beta', key: KEY2 }).ok).toBe(true)
      expect(held!.read('V100')).toEqual({ users: 1, withCodes: 0, needsNewCodes: true, counters: 0 })
      // By import as well.
      s.add({ account: 'V200', tenant: 'alpha' })
      await held!.keep('V200')
      expect(s.import([{ account: 'V200', tenant: 'gamma' }]).ok).toBe(true)
      expect(held!.read('V200')).toMatchObject({ users: 1, withCodes: 0, needsNewCodes: true })
      // A change that is not a move leaves the codes alone.
      s.add({ account: 'V300', tenant: 'alpha' })
      await held!.keep('V300')
      expect(s.update('V300', { siteName: 'Shop', tenant: 'alpha' }).ok).toBe(true)
      expect(held!.read('V300')).toMatchObject({ users: 1, withCodes: 1, needsNewCodes: false })
    }))
  })
}
