/**
 * supervision: every frame from a panel, link tests included, proves it alive. When an account's
 * reporting interval passes without one, a `supervision-failure`; when it reports again, a
 * `supervision-restore` (after `restoreAfter` reports: 2 is Sur-Gard's practice).
 *
 * One scheduler for all accounts: a timer is set per account only when none is, and when it
 * fires the deadline is read from the state (moved on by every frame) and the timer set again if
 * it has not passed. After a start, no panel is declared silent before one full interval: the
 * receiver was away, not the panels.
 *
 * The state names the holder of the number it is about (the account's `createdAt`): removing an
 * account drops its state and timer (the `account-removed` event), and state of an earlier
 * holder whose removal was never journaled is not taken for the new holder's. A new holder is
 * watched from the scan that finds it, one interval on, like any account added while running.
 * A frame counts for the holder the receiver named on it, not whoever holds the number when the
 * pipeline gets there: a removed holder's last report is no report of the next one.
 */
import type { Account } from '../../accounts/account.js'
import type { SupervisedAccount } from '../../accounts/account-store.js'
import { holderOf, isAccountRemoved, type Stage, type StageContext, type StageEnvironment, type StageResult } from '../stage.js'

interface Seen {
  /** Last frame: receive time and journal id. */
  lastSeen: number
  lastId: number
  failed: boolean
  /** Reports since the failure. */
  reports: number
  /** Not declared silent before this (one interval after a start). */
  notBefore: number
  /** The holder of the number: its account's `createdAt` (absent in state from before holders were named). */
  holder?: string
}

/**
 * The kept state, if it is about this holder of the number. State from before holders were named
 * is judged by its times: a report, or the start of the watch, after the account was made.
 */
export function holderState<T extends { lastSeen: number, notBefore: number, holder?: string }> (st: T | undefined, account: Pick<Account, 'createdAt'>): T | undefined {
  if (st === undefined) return undefined
  if (st.holder !== undefined) return st.holder === account.createdAt ? st : undefined
  const since = Date.parse(account.createdAt)
  return (st.lastSeen === 0 ? st.notBefore >= since : st.lastSeen >= since) ? st : undefined
}

const fresh = (account: Pick<Account, 'createdAt'>, notBefore: number): Seen => ({ lastSeen: 0, lastId: 0, failed: false, reports: 0, notBefore, holder: account.createdAt })

export interface SupervisionOptions {
  readonly restoreAfter?: number
  /** How often accounts added or changed while running are picked up, in seconds (default 60). */
  readonly scanSeconds?: number
}

/** The timer that looks for accounts added while running (no account number has a '~'). */
const SCAN = '~scan'
/**
 * Accounts to a page: a start commits (and yields to the event loop) once a page, and a scan
 * looks at one page per timer, each its own batch: a million accounts are a hundred steps, none
 * of which holds the pipeline for long.
 */
export const SUPERVISION_PAGE = 2000

export function supervision (options: SupervisionOptions, env: StageEnvironment): Stage {
  const restoreAfter = options.restoreAfter ?? 1
  if (!Number.isInteger(restoreAfter) || restoreAfter < 1 || restoreAfter > 10) throw new Error('supervision: restoreAfter is a whole number from 1 to 10')
  const scanMs = (options.scanSeconds ?? 60) * 1000
  if (!(scanMs >= 1000 && scanMs <= 86_400_000)) throw new Error('supervision: scanSeconds is from 1 to 86400')
  /** The account, if it is supervised. */
  const supervised = (account: string): Account | undefined => {
    const a = env.accounts.get(account)
    return a?.supervisionSeconds === undefined ? undefined : a
  }
  /** One page of accounts after `after`, the supervised ones given to `f`; the last account of a full page (undefined: that was the last page). */
  const pageSupervised = (after: string | undefined, f: (account: SupervisedAccount, intervalMs: number) => void): string | undefined => {
    const page = env.accounts.supervised(after, SUPERVISION_PAGE)
    for (const a of page) f(a, a.supervisionSeconds * 1000)
    return page.length < SUPERVISION_PAGE ? undefined : page.at(-1)!.account
  }
  /** Where the scan goes on (in memory: after a restart, the start has seen every account). */
  let scanAfter: string | undefined
  const arm = (ctx: StageContext, account: string, at: number): void => {
    if (!ctx.scheduled(account)) ctx.schedule(account, at)
  }
  return {
    name: 'supervision',
    async start (ctx) {
      // Every supervised account gets a deadline at least one interval after this start: a page
      // at a time, each committed before the next (`checkpoint`).
      for (let after: string | undefined; ;) {
        const page = env.accounts.supervised(after, SUPERVISION_PAGE)
        // The page's kept state in one read (key by key where the state cannot read a range).
        const kept = page.length === 0 || ctx.state.range === undefined ? undefined : new Map(ctx.state.range<Seen>(page[0]!.account, page.at(-1)!.account))
        for (const a of page) {
          const interval = a.supervisionSeconds * 1000
          const inRange = kept !== undefined && a.account >= page[0]!.account && a.account <= page.at(-1)!.account
          const st = holderState(inRange ? kept.get(a.account) : ctx.state.get<Seen>(a.account), a) ?? fresh(a, 0)
          // State from before holders were named, judged this holder's, is named from now on.
          st.holder = a.createdAt
          st.notBefore = ctx.now + interval
          ctx.state.set(a.account, st)
          if (!st.failed) ctx.schedule(a.account, Math.max(st.lastSeen + interval, st.notBefore))
        }
        await ctx.checkpoint?.()
        if (page.length < SUPERVISION_PAGE) break
        after = page.at(-1)!.account
      }
      scanAfter = undefined
      ctx.schedule(SCAN, ctx.now + scanMs)
    },
    run ({ record }, ctx): StageResult | undefined {
      if (isAccountRemoved(record) && record.type === 'derived') {
        // The holder is gone: its last report, failure and deadline go with it. (State a later
        // holder already has, when this runs after the number was taken again, stays.)
        const st = ctx.state.get<Seen>(record.account)
        if (st !== undefined && (st.holder === undefined || st.holder === record.data.createdAt)) {
          ctx.state.delete(record.account)
          ctx.cancel(record.account)
        }
        return undefined
      }
      if (record.type !== 'frame') return undefined
      const a = supervised(record.account)
      // A frame of another holder of the number (journaled before a removal the pipeline had not
      // reached when the number was taken again) proves nothing of this holder's panel.
      if (a === undefined || holderOf(record, a) !== a.createdAt) return undefined
      const interval = a.supervisionSeconds! * 1000
      const st = holderState(ctx.state.get<Seen>(record.account), a) ?? fresh(a, 0)
      st.holder = a.createdAt
      st.lastSeen = record.receivedAt
      st.lastId = record.id
      let emit: StageResult['emit']
      if (st.failed && ++st.reports >= restoreAfter) {
        st.failed = false
        st.reports = 0
        emit = [{ kind: 'supervision-restore', account: record.account, data: { reports: restoreAfter } }]
      }
      ctx.state.set(record.account, st)
      if (!st.failed) arm(ctx, record.account, Math.max(st.lastSeen + interval, st.notBefore))
      return emit === undefined ? undefined : { emit }
    },
    due (account, ctx): StageResult | undefined {
      if (account === SCAN) {
        // Accounts added (or given an interval) while running: watched from now, one interval on.
        // One page a timer; the next page is due at once, the next scan scanSeconds on.
        scanAfter = pageSupervised(scanAfter, (a, interval) => {
          const kept = ctx.state.get<Seen>(a.account)
          if (holderState(kept, a) !== undefined) return
          ctx.state.set(a.account, fresh(a, ctx.now + interval))
          // An earlier holder's timer may be set for any time: the new holder's deadline replaces it.
          if (kept === undefined) arm(ctx, a.account, ctx.now + interval)
          else ctx.schedule(a.account, ctx.now + interval)
        })
        ctx.schedule(SCAN, scanAfter === undefined ? ctx.now + scanMs : ctx.now)
        return undefined
      }
      const a = supervised(account)
      const kept = ctx.state.get<Seen>(account)
      if (a === undefined || kept === undefined) return undefined
      const interval = a.supervisionSeconds! * 1000
      const st = holderState(kept, a)
      if (st === undefined) {
        // An earlier holder's: the new one is watched from now, one interval on.
        ctx.state.set(account, fresh(a, ctx.now + interval))
        ctx.schedule(account, ctx.now + interval)
        return undefined
      }
      if (st.failed) return undefined
      const deadline = Math.max(st.lastSeen + interval, st.notBefore)
      if (deadline > ctx.now) {
        // It reported since the timer was set: wait for the new deadline.
        ctx.schedule(account, deadline)
        return undefined
      }
      st.failed = true
      st.reports = 0
      ctx.state.set(account, st)
      return {
        emit: [{
          kind: 'supervision-failure',
          account,
          ...(st.holder === undefined ? {} : { holder: st.holder }),
          causedBy: st.lastId,
          data: { lastSeen: st.lastSeen === 0 ? null : new Date(st.lastSeen).toISOString(), intervalSeconds: interval / 1000 },
        }],
      }
    },
  }
}
