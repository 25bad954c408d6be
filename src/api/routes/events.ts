/** What an account's panel sent, newest first, from the recent events kept in memory. */
import { notFound, ok, type RouteDef } from '../contract.js'
import type { EventView } from '../recent.js'
import { accountParam, eventsQuery, params } from '../schemas.js'
import { ALL, limitOf, visibleAccount } from './common.js'

/** Installers see what their panels sent and whether they report; case and verification events are the centre's. */
function installerMaySee (e: EventView): boolean {
  return e.type === 'frame' || (e.kind !== undefined && e.kind.startsWith('supervision'))
}

export const EVENT_ROUTES: readonly RouteDef[] = [
  {
    method: 'GET', path: '/v1/accounts/:account/events', roles: ALL, summary: 'the account\'s recent events, newest first (before: an event id, for the next page)', audit: 'events-read',
    schema: { params: params(accountParam), querystring: eventsQuery },
    handler: (c) => {
      const a = visibleAccount(c)
      if (a === undefined) return notFound()
      const limit = limitOf(c)
      // Only this holder's: an event names the holder of the number it was received or made for
      // (whoever holds it when the pipeline gets there may be a later one); one from before events
      // named it, only since the account was made.
      const since = a.createdAt
      const installer = c.who.role === 'installer'
      const mine = (e: EventView, holder: string | undefined): boolean => (holder !== undefined ? holder === a.createdAt : e.receivedAt >= since)
      const items = c.deps.recent.list(a.account, limit, c.query.before === undefined ? undefined : Number(c.query.before), (e, holder) => mine(e, holder) && (!installer || installerMaySee(e)))
      return ok({ items, next: items.length === limit ? items.at(-1)!.id : null })
    },
  },
]
