/**
 * Alarm cases, read through the cases stage's read model (the stage owns them), and resolved by
 * journaling the request for the stage, then waiting a while for it to close the case.
 */
import type { Account } from '../../accounts/account.js'
import { caseOfHolder, casesReadModel, type Case, type CasesFilter } from '../../pipeline/stages/cases.js'
import { conflict, notFound, ok, type Answer, type ApiContext, type RouteDef } from '../contract.js'
import { accountParam, caseParam, casesQuery, params, resolveBody } from '../schemas.js'
import { CENTRE, journalEvent, limitOf, visibleAccount } from './common.js'

function caseView (c: Case): Record<string, unknown> {
  const iso = (t: number | undefined) => (t === undefined ? null : new Date(t).toISOString())
  return {
    id: c.id, account: c.account, state: c.state, openedAt: iso(c.openedAt), alarms: c.alarms ?? c.events.length, events: c.events,
    cancelUntil: iso(c.cancelUntil), verifyBy: iso(c.verifyBy), escalated: c.escalated, duress: c.duress, closedAt: iso(c.closedAt), closedBy: c.closedBy ?? null,
  }
}

/**
 * One page of cases, oldest first, read with bounded work (the pipeline keeps closed cases for
 * weeks: there may be many). `next` is the case id to go on after.
 */
function casePage (c: ApiContext, state: CasesFilter['state'], account?: Account): Answer {
  const after = c.query.after === undefined ? undefined : Number(c.query.after)
  const page = casesReadModel(c.deps.pipeline.store).page({ of: account, state }, after, limitOf(c))
  return ok({ items: page.items.map(caseView), next: page.next ?? null })
}

/** The case in the path, if it is this account's (not a previous holder's of the number). */
function caseOf (c: ApiContext, a: Account): Case | undefined {
  const found = casesReadModel(c.deps.pipeline.store).get(Number(c.params.id))
  return found !== undefined && caseOfHolder(found, a) ? found : undefined
}

export const CASE_ROUTES: readonly RouteDef[] = [
  {
    method: 'GET', path: '/v1/cases', roles: CENTRE, summary: 'one page of alarm cases (state: open, closed or all; default open)', audit: 'cases-list',
    schema: { querystring: casesQuery },
    handler: (c) => {
      const answer = casePage(c, (c.query.state ?? 'open') as CasesFilter['state'])
      c.audit.detail = `${(answer.body as { items: unknown[] }).items.length} case(s)`
      return answer
    },
  },
  {
    method: 'GET', path: '/v1/accounts/:account/cases', roles: CENTRE, summary: 'the account\'s alarm cases, open and closed', audit: 'cases-read',
    schema: { params: params(accountParam), querystring: casesQuery },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      return casePage(c, (c.query.state ?? 'all') as CasesFilter['state'], a)
    },
  },
  {
    method: 'GET', path: '/v1/accounts/:account/cases/:id', roles: CENTRE, summary: 'one alarm case', audit: 'case-read',
    schema: { params: params(accountParam, caseParam) },
    handler: (c) => {
      const a = visibleAccount(c)
      const k = a === undefined ? undefined : caseOf(c, a)
      return k === undefined ? notFound() : ok(caseView(k))
    },
  },
  {
    method: 'POST', path: '/v1/accounts/:account/cases/:id/resolve', roles: CENTRE, summary: 'close an open case as resolved by the operator (with a note)', audit: 'case-resolve',
    schema: { params: params(accountParam, caseParam), body: resolveBody },
    handler: async (c) => {
      const a = visibleAccount(c)
      const k = a === undefined ? undefined : caseOf(c, a)
      if (a === undefined || k === undefined) return notFound()
      // One resolution of a case at a time: of two at once, the second is a conflict.
      if (k.state !== 'open' || c.resolving.has(k.id)) return conflict()
      c.resolving.add(k.id)
      try {
        const note = (c.body as { note?: string } | undefined)?.note
        // The cases stage owns cases: the request is journaled, and the stage closes the case.
        const id = await journalEvent(c, { kind: 'case-resolve', account: k.account, holder: a.createdAt, data: { caseId: k.id, by: c.actor, ...(note === undefined ? {} : { note }) } })
        if (typeof id !== 'number') return id
        const done = await c.waitForPipeline(id)
        const now = caseOf(c, a)
        if (now === undefined || (done && (now.state !== 'resolved' || now.closedBy !== c.actor))) return conflict()
        return done ? ok(caseView(now)) : ok({ ...caseView(now), state: 'resolving' }, 202)
      } finally {
        c.resolving.delete(k.id)
      }
    },
  },
]
