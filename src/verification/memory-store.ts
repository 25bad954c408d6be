/**
 * The verifier's rows in memory, for tests: the same contract as SqliteVerificationStore. Every
 * operation runs to its end without awaiting, which makes each one atomic in one process.
 */
import { randomBytes } from 'node:crypto'
import { ok, type Result } from '../result.js'
import {
  accountChanged, slotsOf, tooManyUsers, userExists, userNotFound,
  type CodeWrite, type LimitRow, type SlotRow, type UserHashes, type UserInfo, type VerificationStore,
} from './verification-store.js'

interface User { name: string | null, code: Buffer | null, duress: Buffer | null, createdAt: string, updatedAt: string }
interface Slots { salt: Buffer, n: number, slots: Buffer, needsNewCodes: boolean }

export class MemoryVerificationStore implements VerificationStore {
  /** Per account, its users by number. */
  readonly #users = new Map<string, Map<number, User>>()
  readonly #slots = new Map<string, Slots>()
  readonly #limits = new Map<string, LimitRow & { attempts: number }>()
  readonly #meta = new Map<string, Buffer>()

  pepperCheck (check: Buffer): Buffer {
    if (!this.#meta.has('pepper_check')) this.#meta.set('pepper_check', Buffer.from(check))
    return this.#meta.get('pepper_check')!
  }

  policy (): string | undefined {
    return this.#meta.get('policy')?.toString('utf8')
  }

  setPolicy (json: string): void {
    this.#meta.set('policy', Buffer.from(json))
  }

  addUser (account: string, user: number, name: string | null, at: string, maxUsers: number): Result<undefined> {
    const users = this.#users.get(account) ?? new Map<number, User>()
    if (users.size >= maxUsers) return tooManyUsers(maxUsers)
    if (users.has(user)) return userExists(account, user)
    users.set(user, { name, code: null, duress: null, createdAt: at, updatedAt: at })
    this.#users.set(account, users)
    return ok(undefined)
  }

  listUsers (account: string): UserInfo[] {
    return [...(this.#users.get(account) ?? new Map<number, User>())]
      .sort(([a], [b]) => a - b)
      .map(([user, u]) => ({ user, name: u.name, hasCode: u.code !== null, hasDuressCode: u.duress !== null }))
  }

  isUser (account: string, user: number): boolean {
    return this.#users.get(account)?.has(user) === true
  }

  removeUser (account: string, user: number): Result<undefined> {
    const users = this.#users.get(account)
    if (users?.delete(user) !== true) return userNotFound(account, user)
    if (users.size === 0) this.#users.delete(account)
    this.#rebuild(account)
    return ok(undefined)
  }

  needsNewCodes (account: string): boolean {
    return this.#slots.get(account)?.needsNewCodes === true
  }

  slots (account: string, fallback: string): SlotRow | undefined {
    // Both looked up every time: the same work for a known account and an unknown one.
    const own = this.#slots.get(account)
    const other = this.#slots.get(fallback)
    const [name, row] = own === undefined ? [fallback, other] : [account, own]
    return row === undefined ? undefined : { account: name, salt: row.salt, n: row.n, slots: row.slots }
  }

  salt (account: string, fresh: SlotRow): { salt: Buffer, n: number } {
    let row = this.#slots.get(account)
    if (row === undefined) {
      row = { salt: Buffer.from(fresh.salt), n: fresh.n, slots: Buffer.from(fresh.slots), needsNewCodes: false }
      this.#slots.set(account, row)
    }
    return { salt: row.salt, n: row.n }
  }

  setCost (account: string, n: number): void {
    const row = this.#slots.get(account)
    if (row !== undefined) row.n = n
  }

  #hashes (account: string): UserHashes[] {
    return [...(this.#users.get(account) ?? new Map<number, User>())].map(([user, u]) => ({ user, code: u.code, duress: u.duress }))
  }

  #rebuild (account: string): void {
    const row = this.#slots.get(account)
    if (row === undefined) return
    const users = this.#hashes(account)
    row.slots = slotsOf(users)
    row.needsNewCodes = row.needsNewCodes && users.some((u) => u.code === null)
  }

  setCode (w: CodeWrite, check: (users: readonly UserHashes[]) => Result<undefined>): Result<undefined> {
    const row = this.#slots.get(w.account)
    if (row === undefined || !row.salt.equals(w.salt)) return accountChanged()
    const checked = check(this.#hashes(w.account))
    if (!checked.ok) return checked
    const u = this.#users.get(w.account)?.get(w.user)
    if (u === undefined) return userNotFound(w.account, w.user)
    if (w.duress) u.duress = Buffer.from(w.hash)
    else u.code = Buffer.from(w.hash)
    u.updatedAt = w.at
    this.#rebuild(w.account)
    return ok(undefined)
  }

  resetAll (n: number, slots: Buffer, at: string, keep: string): number {
    for (const users of this.#users.values()) {
      for (const u of users.values()) {
        u.code = null
        u.duress = null
        u.updatedAt = at
      }
    }
    let changed = 0
    for (const [account, row] of this.#slots) {
      if (account === keep) continue
      Object.assign(row, { salt: randomBytes(16), n, slots: Buffer.from(slots), needsNewCodes: true })
      changed++
    }
    this.#meta.delete('pepper_check')
    return changed
  }

  updateLimits<T> (keys: readonly string[], update: (rows: ReadonlyMap<string, LimitRow>) => { readonly writes: readonly LimitRow[], readonly value: T }): T {
    const rows = new Map<string, LimitRow>()
    for (const k of keys) {
      const r = this.#limits.get(k)
      if (r !== undefined) rows.set(k, { key: r.key, failures: r.failures, lockedUntil: r.lockedUntil, since: r.since, recent: r.recent })
    }
    const { writes, value } = update(rows)
    for (const l of writes) {
      const attempts = (this.#limits.get(l.key)?.attempts ?? 0) + 1
      this.#limits.set(l.key, { key: l.key, failures: l.failures, lockedUntil: l.lockedUntil, since: l.since, recent: l.recent === null ? null : Buffer.from(l.recent), attempts })
    }
    return value
  }

  attempts (key: string): number {
    return this.#limits.get(key)?.attempts ?? 0
  }

  close (): void {}
}
