/** Accounts in memory, for tests: the same contract as SqliteAccountStore. */
import type { AesEngine } from '../protocol/index.js'
import {
  AccountError, MAX_WINDOW_SECONDS, movesTenant, publicAccount, receiverAccount, validateAccount, visibleChange, windowSeconds,
  type Account, type AccountLimits, type AccountInput, type AccountPatch, type AccountFailure, type AccountRow, type ReceiverAccount,
} from './account.js'
import type { AccountStore, ImportResult, ListOptions, SupervisedAccount } from './account-store.js'
import type { Result } from '../result.js'

/** The number or the site name (folded) starts with the text, as in SqliteAccountStore. */
function matches (row: AccountRow, search: string | undefined): boolean {
  if (search === undefined) return true
  return row.account.startsWith(search.toUpperCase()) || (row.siteName !== undefined && row.siteName.toLowerCase().startsWith(search.toLowerCase()))
}

const NUMBER_RE = /^[0-9A-Z]{3,16}$/

interface Entry { row: AccountRow, createdAt: string, updatedAt: string, visibleUpdatedAt: string, resolved: ReceiverAccount }

export class MemoryAccountStore implements AccountStore {
  readonly #rows = new Map<string, Entry>()
  readonly #engine: AesEngine | undefined
  readonly #limits: AccountLimits
  readonly #now: () => Date

  /** `now`: the clock for created/updated times (tests). */
  constructor (engine?: AesEngine, opts: { readonly maxWindowSeconds?: number | undefined, readonly now?: (() => Date) | undefined } = {}) {
    this.#engine = engine
    this.#limits = { maxWindowSeconds: opts.maxWindowSeconds ?? MAX_WINDOW_SECONDS }
    this.#now = opts.now ?? (() => new Date())
  }

  /** Stores a row; `before`: the entry it replaces (the time every role sees moves only with what they see). */
  #put (row: AccountRow, before?: Entry): Account {
    const updatedAt = this.#now().toISOString()
    const createdAt = before?.createdAt ?? updatedAt
    const visibleUpdatedAt = before === undefined || visibleChange(before.row, row) ? updatedAt : before.visibleUpdatedAt
    this.#rows.set(row.account, { row, createdAt, updatedAt, visibleUpdatedAt, resolved: receiverAccount(row, createdAt, updatedAt, visibleUpdatedAt, this.#engine) })
    return publicAccount(row, createdAt, updatedAt, visibleUpdatedAt)
  }

  get (account: string): Account | undefined {
    return this.#rows.get(account.toUpperCase())?.resolved.account
  }

  getInTenant (account: string, tenant: string): Account | undefined {
    const e = this.#rows.get(account.toUpperCase())
    return e !== undefined && e.row.tenant === tenant ? e.resolved.account : undefined
  }

  list (opts: ListOptions = {}): Account[] {
    const limit = Math.max(1, Math.min(opts.limit ?? 1000, 10_000))
    const after = opts.after?.toUpperCase()
    return [...this.#rows.keys()].sort()
      .filter((a) => (after === undefined || a > after) && (opts.tenant === undefined || this.#rows.get(a)!.row.tenant === opts.tenant) && matches(this.#rows.get(a)!.row, opts.search))
      .slice(0, limit)
      .map((a) => this.#rows.get(a)!.resolved.account)
  }

  supervised (after: string | undefined, limit: number): SupervisedAccount[] {
    const from = after?.toUpperCase()
    return [...this.#rows.keys()].sort()
      .filter((a) => (from === undefined || a > from) && this.#rows.get(a)!.resolved.account.supervisionSeconds !== undefined)
      .slice(0, Math.max(1, Math.min(limit, 10_000)))
      .map((a) => {
        const acct = this.#rows.get(a)!.resolved.account
        return { account: acct.account, createdAt: acct.createdAt, supervisionSeconds: acct.supervisionSeconds! }
      })
  }

  widestWindow (): { account: string, seconds: number } | undefined {
    let widest: { account: string, seconds: number } | undefined
    for (const [account, e] of [...this.#rows].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const seconds = windowSeconds(e.row)
      if (widest === undefined || seconds > widest.seconds) widest = { account, seconds }
    }
    return widest
  }

  count (tenant?: string): number {
    if (tenant === undefined) return this.#rows.size
    let n = 0
    for (const e of this.#rows.values()) if (e.row.tenant === tenant) n++
    return n
  }

  add (input: AccountInput): Result<Account, AccountFailure> {
    const v = validateAccount(input as unknown as Record<string, unknown>, undefined, this.#limits)
    if (!v.ok) return v
    if (this.#rows.has(v.value.account)) return { ok: false, code: AccountError.EXISTS, reason: `account ${v.value.account} already exists` }
    return { ok: true, value: this.#put(v.value) }
  }

  update (account: string, patch: AccountPatch): Result<Account, AccountFailure> {
    const e = this.#rows.get(account.toUpperCase())
    if (e === undefined) return { ok: false, code: AccountError.NOT_FOUND, reason: `no account ${account.toUpperCase()}` }
    if ('account' in (patch as object)) return { ok: false, code: AccountError.INVALID, reason: 'the account number cannot be changed' }
    const v = validateAccount(patch as Record<string, unknown>, e.row, this.#limits)
    if (!v.ok) return v
    return { ok: true, value: this.#put(v.value, e) }
  }

  remove (account: string, holder?: { readonly createdAt: string }): Result<Account, AccountFailure> {
    const e = this.#rows.get(account.toUpperCase())
    if (e !== undefined && holder !== undefined && e.createdAt !== holder.createdAt) return { ok: false, code: AccountError.NOT_FOUND, reason: `account ${e.row.account} was removed and its number taken again since it was read; nothing removed` }
    if (e === undefined) return { ok: false, code: AccountError.NOT_FOUND, reason: `no account ${account.toUpperCase()}` }
    this.#rows.delete(e.row.account)
    return { ok: true, value: e.resolved.account }
  }

  import (inputs: readonly unknown[]): Result<ImportResult, AccountFailure> {
    const rows: Array<{ row: AccountRow, before: Entry | undefined }> = []
    for (const [i, input] of inputs.entries()) {
      if (typeof input !== 'object' || input === null || Array.isArray(input)) return { ok: false, code: AccountError.INVALID, reason: `entry ${i}: not an object` }
      const { account, ...patch } = input as Record<string, unknown>
      const current = typeof account === 'string' ? this.#rows.get(account.toUpperCase()) : undefined
      const v = current === undefined ? validateAccount(input as Record<string, unknown>, undefined, this.#limits) : validateAccount(patch, current.row, this.#limits)
      if (!v.ok) return { ok: false, code: v.code, reason: `entry ${i}${typeof account === 'string' ? ` (account ${account})` : ''}: ${v.reason}` }
      if (rows.some((r) => r.row.account === v.value.account)) return { ok: false, code: AccountError.INVALID, reason: `account ${v.value.account} appears twice` }
      rows.push({ row: v.value, before: current })
    }
    for (const { row, before } of rows) this.#put(row, before)
    const updated = rows.filter((r) => r.before !== undefined).length
    const moved = rows.flatMap(({ row, before }) => (before !== undefined && movesTenant(before.row, row.tenant) ? [{ account: row.account, from: before.row.tenant!, to: row.tenant ?? null }] : []))
    return { ok: true, value: { added: rows.length - updated, updated, moved } }
  }

  // Nothing is kept under a number here but its account: a removal leaves nothing behind.
  leftovers (_account: string): number {
    return 0
  }

  orphans (_limit?: number): string[] {
    return []
  }

  purge (account: string): Result<number, AccountFailure> {
    const acct = account.toUpperCase()
    if (!NUMBER_RE.test(acct)) return { ok: false, code: AccountError.INVALID, reason: 'an account number is 3 to 16 letters or digits' }
    if (this.#rows.has(acct)) return { ok: false, code: AccountError.EXISTS, reason: `account ${acct} exists: remove it instead` }
    return { ok: true, value: 0 }
  }

  receiverAccount (account: string): ReceiverAccount | undefined {
    return this.#rows.get(account.toUpperCase())?.resolved
  }

  refresh (): number {
    return 0
  }

  close (): void {}
}
