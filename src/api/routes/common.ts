/**
 * What the resources' routes share: who may call them, page sizes, and tenant scoping.
 *
 * Tenant scoping is done once, in `visibleAccount`: an account outside an installer's tenant is
 * looked up by the same query and answered by the same not-found as an account that does not
 * exist. Everything under an account goes through it first.
 */
import type { Account } from '../../accounts/account.js'
import type { DerivedRecord } from '../../journal/record.js'
import type { Role } from '../access.js'
import { journalFailing, type Answer, type ApiContext } from '../contract.js'

export const ALL: readonly Role[] = ['admin', 'operator', 'installer']
export const MANAGE: readonly Role[] = ['admin', 'installer']
export const CENTRE: readonly Role[] = ['admin', 'operator']
export const ADMIN: readonly Role[] = ['admin']

/** The page size asked for, within the interface's. */
export const limitOf = (c: ApiContext): number => Math.min(Number(c.query.limit ?? c.opts.pageSize), c.opts.pageSize)

/**
 * The account named in the path, if this token may see it: one lookup whatever the answer, and
 * for an installer one that cannot tell another tenant's account from none. An installer's reads
 * are counted toward the bulk-read alarm, found or not.
 */
export function visibleAccount (c: ApiContext): Account | undefined {
  const number = c.params.account!.toUpperCase()
  c.audit.account = number
  c.countReads([number])
  // An installer's lookup names its tenant: another tenant's account is never read, so it costs
  // what a missing one costs.
  return c.who.role === 'installer' ? c.deps.accounts.getInTenant(number, c.who.tenant ?? '\u0000') : c.deps.accounts.get(number)
}

/** Journals an event the interface makes: its id, or the answer when the journal does not take it. */
export async function journalEvent (c: ApiContext, r: Omit<DerivedRecord, 'type' | 'receivedAt' | 'causedBy' | 'n' | 'stage'>, stage = 'api'): Promise<number | Answer> {
  try {
    return await c.deps.journal.append({ type: 'derived', receivedAt: c.now(), stage, causedBy: 0, n: 0, ...r })
  } catch {
    return journalFailing()
  }
}
