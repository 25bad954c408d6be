/**
 * supervision: every frame from a panel, link tests included, proves it alive. When an account's
 * reporting interval passes without one, a `supervision-failure`; when it reports again, a
 * `supervision-restore` (after `restoreAfter` reports: 2 is Sur-Gard's practice).
 *
 * One scheduler for all accounts: a timer is set per account only when none is, and when it
 * fires the deadline is read from the state (moved on by every frame) and the timer set again if
 * it has not passed. After a start, no panel is declared silent before one full interval: the
 * receiver was away, not the panels.
 */
import type { Stage, StageContext, StageEnvironment, StageResult } from '../stage.js'

interface Seen {
  /** Last frame: receive time and journal id. */
  lastSeen: number
  lastId: number
  failed: boolean
  /** Reports since the failure. */
  reports: number
  /** Not declared silent before this (one interval after a start). */
  notBefore: number
}

export interface SupervisionOptions {
  readonly restoreAfter?: number
  /** How often accounts added or changed while running are picked up, in seconds (default 60). */
  readonly scanSeconds?: number
}

/** The timer that looks for accounts added while running (no account number has a '~'). */
const SCAN = '~scan'

export function supervision (options: SupervisionOptions, env: StageEnvironment): Stage {
  const restoreAfter = options.restoreAfter ?? 1
  if (!Number.isInteger(restoreAfter) || restoreAfter < 1 || restoreAfter > 10) throw new Error('supervision: restoreAfter is a whole number from 1 to 10')
  const scanMs = (options.scanSeconds ?? 60) * 1000
  if (!(scanMs >= 1000 && scanMs <= 86_400_000)) throw new Error('supervision: scanSeconds is from 1 to 86400')
  const intervalMs = (account: string): number | undefined => {
    const s = env.accounts.get(account)?.supervisionSeconds
    return s === undefined ? undefined : s * 1000
  }
  const eachSupervised = (f: (account: string, intervalMs: number) => void): void => {
    for (let after: string | undefined; ;) {
      const page = env.accounts.list({ after, limit: 10_000 })
      for (const a of page) if (a.supervisionSeconds !== undefined) f(a.account, a.supervisionSeconds * 1000)
      if (page.length < 10_000) break
      after = page.at(-1)!.account
    }
  }
  const arm = (ctx: StageContext, account: string, at: number): void => {
    if (!ctx.scheduled(account)) ctx.schedule(account, at)
  }
  return {
    name: 'supervision',
    start (ctx) {
      // Every supervised account gets a deadline at least one interval after this start.
      eachSupervised((account, interval) => {
        const st = ctx.state.get<Seen>(account) ?? { lastSeen: 0, lastId: 0, failed: false, reports: 0, notBefore: 0 }
        st.notBefore = ctx.now + interval
        ctx.state.set(account, st)
        if (!st.failed) ctx.schedule(account, Math.max(st.lastSeen + interval, st.notBefore))
      })
      ctx.schedule(SCAN, ctx.now + scanMs)
    },
    run ({ record }, ctx): StageResult | undefined {
      if (record.type !== 'frame') return undefined
      const interval = intervalMs(record.account)
      if (interval === undefined) return undefined
      const st = ctx.state.get<Seen>(record.account) ?? { lastSeen: 0, lastId: 0, failed: false, reports: 0, notBefore: 0 }
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
        eachSupervised((a, interval) => {
          if (ctx.state.get<Seen>(a) !== undefined) return
          ctx.state.set(a, { lastSeen: 0, lastId: 0, failed: false, reports: 0, notBefore: ctx.now + interval })
          arm(ctx, a, ctx.now + interval)
        })
        ctx.schedule(SCAN, ctx.now + scanMs)
        return undefined
      }
      const interval = intervalMs(account)
      const st = ctx.state.get<Seen>(account)
      if (interval === undefined || st === undefined || st.failed) return undefined
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
          causedBy: st.lastId,
          data: { lastSeen: st.lastSeen === 0 ? null : new Date(st.lastSeen).toISOString(), intervalSeconds: interval / 1000 },
        }],
      }
    },
  }
}
