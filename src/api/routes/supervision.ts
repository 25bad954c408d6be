/** Whether an account's panel reports within its interval, as the supervision stage has committed it. */
import { holderState } from '../../pipeline/stages/supervision.js'
import { notFound, ok, type RouteDef } from '../contract.js'
import { accountParam, params } from '../schemas.js'
import { ALL, visibleAccount } from './common.js'

export const SUPERVISION_ROUTES: readonly RouteDef[] = [
  {
    method: 'GET', path: '/v1/accounts/:account/supervision', roles: ALL, summary: 'whether the account\'s panel reports within its interval', audit: 'supervision-read',
    schema: { params: params(accountParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      // State of another holder of the number is not this account's.
      const s = holderState(c.deps.pipeline.store.readOne<{ lastSeen: number, failed: boolean, notBefore: number, holder?: string }>('supervision', a.account), a)
      return ok({
        account: a.account,
        supervisionSeconds: a.supervisionSeconds ?? null,
        supervised: a.supervisionSeconds !== undefined,
        lastSeen: s === undefined || s.lastSeen === 0 ? null : new Date(s.lastSeen).toISOString(),
        failed: s?.failed ?? false,
      })
    },
  },
]
