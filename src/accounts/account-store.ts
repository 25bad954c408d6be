/** The account registry the receiver, the CLI and (later) the API share. */
import type { Account, AccountInput, AccountPatch, AccountFailure, ReceiverAccount } from './account.js'
import type { Result } from '../result.js'

export interface ListOptions {
  readonly tenant?: string | undefined
  /** Accounts after this one (by account number): pages. */
  readonly after?: string | undefined
  readonly limit?: number | undefined
  /**
   * Only accounts whose number or site name starts with this text (case-insensitive): a prefix,
   * so that a search is a range of an index and never a scan of every account.
   */
  readonly search?: string | undefined
}

/** An account an import moved away from its tenant (which made every code of it invalid, as `update` does). */
export interface TenantMove {
  readonly account: string
  readonly from: string
  /** null: taken out of any tenant. */
  readonly to: string | null
}

/** What an import did: for the caller to report, and to audit each move with both tenants. */
export interface ImportResult {
  readonly added: number
  readonly updated: number
  readonly moved: readonly TenantMove[]
}

/** What supervision needs of an account, to walk a great many of them cheaply. */
export interface SupervisedAccount {
  readonly account: string
  readonly createdAt: string
  readonly supervisionSeconds: number
}

export interface AccountStore {
  get (account: string): Account | undefined
  /**
   * The account if it belongs to this tenant. An account of another tenant is not even read: it
   * costs what a missing one costs (tenant scoping that cannot be timed).
   */
  getInTenant (account: string, tenant: string): Account | undefined
  list (opts?: ListOptions): Account[]
  /**
   * Supervised accounts after `after`, in number order, up to `limit` (at most 10,000): the
   * number, its holder and its interval only, so that walking a million costs no full rows.
   */
  supervised (after: string | undefined, limit: number): SupervisedAccount[]
  /** How many accounts (of this tenant, if given). */
  count (tenant?: string): number
  /**
   * Adds an account. A number is refused (LEFTOVERS) while data of an earlier holder remain under
   * it (users, codes: left by a removal an older version did not finish), until they are purged;
   * failure counters under the number are dropped, so nothing an earlier holder (or a caller
   * probing the free number) left applies to the new one.
   */
  add (input: AccountInput): Result<Account, AccountFailure>
  /**
   * Changes an account. Moving it away from its tenant (`tenant` changed from a set value) needs a
   * new key if it has one, and makes every user's disarm and duress code invalid in the same
   * transaction: users stay, marked as needing new codes.
   */
  update (account: string, patch: AccountPatch): Result<Account, AccountFailure>
  /**
   * Removes an account and everything kept under its number (users, codes, salts, failure
   * counters), in one transaction: no failure leaves any of it to the next holder of the number.
   * With `holder.createdAt`, only that holder of the number: a caller that read the account, then
   * waited (to journal the removal), must not remove a later holder the number was given to
   * meanwhile; then nothing is removed (NOT_FOUND), checked in the same transaction.
   */
  remove (account: string, holder?: { readonly createdAt: string }): Result<Account, AccountFailure>
  /** Adds or updates every entry, all or nothing (the rules of add and update apply to each, moves to another tenant included). */
  import (inputs: readonly unknown[]): Result<ImportResult, AccountFailure>
  /** How many records (users, code rows) are kept under a number that has no account: 0 when clean. */
  leftovers (account: string): number
  /** Numbers without an account that still have records under them (up to `limit`, in order). */
  orphans (limit?: number): string[]
  /**
   * Deletes what is kept under a number that has no account (the repair for removals an older
   * version left unfinished); how many records went. Refused for a number that has an account.
   */
  purge (account: string): Result<number, AccountFailure>
  /**
   * For the receiver: the account with its key expanded. From memory when it was asked for
   * recently; a durable store keeps a bounded cache (unknown numbers included) and reads one row on a miss.
   */
  receiverAccount (account: string): ReceiverAccount | undefined
  /**
   * The account with the widest timestamp window (ahead + behind, defaults filled in), for the
   * receiver's check that none is wider than its duplicate window; undefined when there is none.
   */
  widestWindow (): { readonly account: string, readonly seconds: number } | undefined
  /** Picks up changes other processes made (never by loading every account); returns how many accounts changed. */
  refresh (): number
  close (): void
}
