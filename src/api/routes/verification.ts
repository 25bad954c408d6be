/**
 * Verification: a disarm code the keyholder gave, checked in constant time (a duress code answers
 * as valid and silently raises a duress case), and the lift of an account's lock.
 */
import { busy, journalFailing, noContent, notFound, ok, type RouteDef } from '../contract.js'
import { accountParam, codeBody, params } from '../schemas.js'
import { CENTRE, journalEvent, visibleAccount } from './common.js'

export const VERIFICATION_ROUTES: readonly RouteDef[] = [
  {
    method: 'POST', path: '/v1/accounts/:account/verify', roles: CENTRE,
    summary: 'check a disarm code the keyholder gave (constant time; a duress code answers as valid and silently raises a duress case)', audit: 'verify',
    schema: { params: params(accountParam), body: codeBody },
    handler: async (c) => {
      const account = c.params.account!.toUpperCase()
      c.audit.account = account
      let failed = false
      const r = await c.deps.verifier.verify(account, (c.body as { code: string }).code, c.actor, async (e) => {
        const id = await journalEvent(c, { kind: e.kind, account: e.account, ...(e.holder === undefined ? {} : { holder: e.holder }), data: e.data })
        if (typeof id !== 'number') {
          failed = true
          throw new Error('journal')
        }
      }, c.source).catch((err: unknown) => {
        if (failed) return undefined
        if ((err as { code?: unknown }).code === 'DC09_ERR_BUSY') return 'busy' as const
        throw err
      })
      if (r === 'busy') return busy()
      if (r === undefined) return journalFailing()
      c.deps.metrics.verifications.inc({ outcome: r.result })
      c.audit.outcome = r.result
      return ok(r)
    },
  },
  {
    method: 'POST', path: '/v1/accounts/:account/unlock', roles: CENTRE, summary: 'lift the account\'s verification lock after failed attempts', audit: 'verify-unlock',
    schema: { params: params(accountParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      c.deps.verifier.unlock(a.account, c.actor)
      return noContent()
    },
  },
]
