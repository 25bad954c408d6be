/** The account registry the receiver, the CLI and (later) the API share. */
import type { Account, AccountInput, AccountPatch, AccountResult, ReceiverAccount } from './account.js'

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

export interface AccountStore {
  get (account: string): Account | undefined
  /**
   * The account if it belongs to this tenant. An account of another tenant is not even read: it
   * costs what a missing one costs (tenant scoping that cannot be timed).
   */
  getInTenant (account: string, tenant: string): Account | undefined
  list (opts?: ListOptions): Account[]
  /** How many accounts (of this tenant, if given). */
  count (tenant?: string): number
  add (input: AccountInput): AccountResult<Account>
  update (account: string, patch: AccountPatch): AccountResult<Account>
  remove (account: string): AccountResult<Account>
  /** Adds or updates every entry, all or nothing. */
  import (inputs: readonly unknown[]): AccountResult<{ readonly added: number, readonly updated: number }>
  /** For the receiver: the account with its key expanded, from memory (no disk on the hot path). */
  receiverAccount (account: string): ReceiverAccount | undefined
  /**
   * The account with the widest timestamp window (ahead + behind, defaults filled in), for the
   * receiver's check that none is wider than its duplicate window; undefined when there is none.
   */
  widestWindow (): { readonly account: string, readonly seconds: number } | undefined
  /** Picks up changes other processes made; returns how many accounts changed. */
  refresh (): number
  close (): void
}
