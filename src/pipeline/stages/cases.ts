/**
 * cases: an alarm opens a case for its account; later alarms join the open case. Following
 * ANSI/SIA CP-01's false-alarm practice, a cancel from the panel (Contact ID 406, SIA OC/BC), or
 * an opening by a valid user within the cancel window, closes the case as cancelled at the
 * premises. Otherwise the case waits for verification: a valid disarm code (a `verification`
 * event) closes it as verified by that user; a case not verified within its verification window
 * is escalated. A duress code raises a silent emergency on the open case, or on a new one. An
 * operator may resolve an open case (a `case-resolve` event the HTTP interface journals).
 *
 * Removing an account closes its open case (`account-removed`): nothing of it is joined, verified
 * or raised on by the next holder of the number. Each case names its holder (the account's
 * `createdAt`), taken from the event that opened it (the receiver and the commands name the
 * holder an event is for), never from whoever holds the number when the pipeline gets there: an
 * alarm of a removed holder that the pipeline reaches after the number was taken again is that
 * holder's case, closed by its removal. A case of an earlier holder whose removal was never
 * journaled (an older version removed it) is closed, not joined, when the number's new holder
 * alarms; an event of an earlier holder than the open case's touches nothing.
 */
import type { Account } from '../../accounts/account.js'
import type { FrameRecord } from '../../journal/record.js'
import { holderOf, isAccountRemoved, type Stage, type StageContext, type StageEnvironment, type StageResult } from '../stage.js'

export interface Case {
  /** The journal id of the event that opened it. */
  readonly id: number
  readonly account: string
  readonly openedAt: number
  /** Journal ids of the alarms in it: the first MAX_CASE_EVENTS (a panel in an alarm storm must not grow a case without bound). */
  readonly events: number[]
  /** How many alarm events joined it, all told. */
  alarms: number
  state: 'open' | 'cancelled' | 'verified' | 'resolved' | 'account-removed'
  cancelUntil: number
  verifyBy: number
  escalated: boolean
  duress: boolean
  closedAt?: number
  /** Who or what closed it: `panel cancel`, `user 3`, ... */
  closedBy?: string
  /** The holder of the number it is for: its account's `createdAt` (absent: unknown, or a case from before holders were named). */
  holder?: string
}

export interface CasesOptions {
  /** Seconds after the alarm in which a cancel or an opening by a user closes the case (CP-01: 5 minutes). */
  readonly cancelWindowSeconds?: number
  /** Seconds after the alarm in which it must be verified, or it is escalated. */
  readonly verificationWindowSeconds?: number
  /** Days a closed case stays listed (the journal keeps its history for good); checked hourly. Default 30. */
  readonly keepClosedDays?: number
}

export const MAX_CASE_EVENTS = 100

/**
 * Whether a case is this account's: of its number, and of this holder of the number (a case
 * names its holder; one from before cases did is judged by when it opened).
 */
export function caseOfHolder (k: Pick<Case, 'account' | 'openedAt' | 'holder'>, a: Pick<Account, 'account' | 'createdAt'>): boolean {
  return k.account === a.account && (k.holder !== undefined ? k.holder === a.createdAt : k.openedAt >= Date.parse(a.createdAt))
}

/** The stage's name: its state is kept under it. */
const STAGE = 'cases'
/** A case's key: its id padded, so that keys sort as ids do. */
const CASE_PREFIX = 'case:'
const caseKey = (id: number) => `${CASE_PREFIX}${String(id).padStart(16, '0')}`
const openKey = (account: string) => `open:${account}`

/** Committed stage state, read-only (the pipeline's store). */
export interface CommittedState {
  readOne<T>(stage: string, key: string): T | undefined
  page<T>(stage: string, prefix: string, after: string | undefined, limit: number, where?: Readonly<Record<string, string>>): { items: Array<[string, T]>, next: string | undefined }
}

/** Which cases a page lists: one holder's of a number, or all; open, closed or both. */
export interface CasesFilter {
  /** The holder whose cases (not a previous holder's of the number); absent: every account's. */
  readonly of?: Pick<Account, 'account' | 'createdAt'> | undefined
  readonly state: 'open' | 'closed' | 'all'
}

/** Cases as the stage has committed them, for readers outside the pipeline (the HTTP interface, commands). */
export interface CasesReadModel {
  /**
   * One page of cases in id order (the oldest first), after the case id `after`, at most `limit`
   * of them, read with bounded work whatever the number of cases kept. `next` is the case id to
   * go on after (undefined: nothing more); a page may hold fewer than `limit` and still have one.
   */
  page (filter: CasesFilter, after: number | undefined, limit: number): { items: Case[], next: number | undefined }
  /** The case opened by journal event `id`, of whichever holder. */
  get (id: number): Case | undefined
  /** The holder's open case. */
  openOf (a: Pick<Account, 'account' | 'createdAt'>): Case | undefined
}

/** Reads the committed cases in `store`: the stage's name and its key layout stay in this file. */
export function casesReadModel (store: CommittedState): CasesReadModel {
  return {
    page (filter, after, limit) {
      const where: Record<string, string> = {}
      if (filter.of !== undefined) where.account = filter.of.account
      if (filter.state === 'open') where.state = 'open'
      if (filter.state === 'closed') where['!state'] = 'open'
      const page = store.page<Case>(STAGE, CASE_PREFIX, after === undefined ? undefined : caseKey(after), limit, where)
      // A holder's cases only: a previous holder's of the number are not listed.
      const items = page.items.map(([, k]) => k).filter((k) => filter.of === undefined || caseOfHolder(k, filter.of))
      return { items, next: page.next === undefined ? undefined : Number(page.next.slice(CASE_PREFIX.length)) }
    },
    get: (id) => store.readOne<Case>(STAGE, caseKey(id)),
    openOf: (a) => openCaseOf(store, a),
  }
}

/** The account's open case, as the committed state of the stage has it (for the interface and commands). */
export function openCaseOf (store: Pick<CommittedState, 'readOne'>, a: Pick<Account, 'account' | 'createdAt'>): Case | undefined {
  const id = store.readOne<number>(STAGE, openKey(a.account))
  const k = id === undefined ? undefined : store.readOne<Case>(STAGE, caseKey(id))
  return k !== undefined && k.state === 'open' && caseOfHolder(k, a) ? k : undefined
}

/** What an event about a case names as its holder: the case's (not that of what caused the event). */
const holderOfCase = (c: { readonly holder?: string | undefined }): { holder?: string } => (c.holder === undefined ? {} : { holder: c.holder })

/** The timer that drops old closed cases, and how often it runs. */
const PRUNE = 'prune'
const PRUNE_EVERY_MS = 3_600_000

function isCancel (e: FrameRecord['events'][number]): boolean {
  return e.format === 'ADM-CID' ? e.code === '406' : e.code === 'OC' || e.code === 'BC'
}

export function cases (options: CasesOptions, env: StageEnvironment): Stage {
  const cancelMs = (options.cancelWindowSeconds ?? 300) * 1000
  const verifyMs = (options.verificationWindowSeconds ?? 600) * 1000
  const keepMs = (options.keepClosedDays ?? 30) * 86_400_000
  if (!(cancelMs > 0) || !(verifyMs > 0)) throw new Error('cases: the windows are positive numbers of seconds')
  if (!(keepMs >= 0)) throw new Error('cases: keepClosedDays is a number of days')

  const open = (ctx: StageContext, account: string): Case | undefined => {
    const id = ctx.state.get<number>(openKey(account))
    return id === undefined ? undefined : ctx.state.get<Case>(caseKey(id))
  }
  const save = (ctx: StageContext, c: Case): void => {
    ctx.state.set(caseKey(c.id), c)
    if (c.state === 'open') ctx.state.set(openKey(c.account), c.id)
    else ctx.state.delete(openKey(c.account))
  }
  const close = (ctx: StageContext, c: Case, state: Exclude<Case['state'], 'open'>, by: string, at: number, cause: number): StageResult['emit'] => {
    c.state = state
    c.closedAt = at
    c.closedBy = by
    save(ctx, c)
    ctx.cancel(`esc:${c.id}`)
    return [{ kind: `case-${state}`, account: c.account, ...holderOfCase(c), causedBy: cause, data: { caseId: c.id, by } }]
  }
  const create = (ctx: StageContext, account: string, holder: string | undefined, id: number, at: number, duress: boolean): Case => {
    const c: Case = { id, account, openedAt: at, events: [id], alarms: duress ? 0 : 1, state: 'open', cancelUntil: at + cancelMs, verifyBy: at + verifyMs, escalated: false, duress, ...(holder === undefined ? {} : { holder }) }
    save(ctx, c)
    ctx.schedule(`esc:${id}`, c.verifyBy)
    return c
  }

  /**
   * Makes way for an event of `holder`: the number's open case, if an earlier holder's (the number
   * was removed and taken again without a journaled removal), is closed, and the event must not
   * join it. Returns false when the open case is a later holder's than the event's: the event is
   * of a holder gone before it (it was received before that holder was removed, and journaled
   * after), and opens, joins or closes nothing.
   */
  const retire = (ctx: StageContext, account: string, holder: string | undefined, at: number, cause: number, emit: NonNullable<StageResult['emit']>[number][]): boolean => {
    const c = open(ctx, account)
    // The holder's own case, or no holder to tell apart (an unregistered account's frame).
    if (c === undefined || holder === undefined || caseOfHolder(c, { account, createdAt: holder })) return true
    // A later holder's case. (One that names no holder and is not this holder's was opened before it had the number.)
    if (c.holder !== undefined && Date.parse(c.holder) > Date.parse(holder)) return false
    emit.push(...close(ctx, c, 'account-removed', 'a later holder of the number', at, cause)!)
    return true
  }

  /** Drops closed cases past keepClosedDays (the journal keeps their history), now and then every hour. */
  const prune = (ctx: StageContext): void => {
    for (const [key, c] of ctx.state.list<Case>(CASE_PREFIX)) {
      if (c.state !== 'open' && c.closedAt !== undefined && c.closedAt + keepMs < ctx.now) ctx.state.delete(key)
    }
    ctx.schedule(PRUNE, ctx.now + PRUNE_EVERY_MS)
  }

  return {
    name: STAGE,
    start (ctx) {
      prune(ctx)
      for (const [, id] of ctx.state.list<number>('open:')) {
        const c = ctx.state.get<Case>(caseKey(id))
        if (c !== undefined && c.state === 'open' && !c.escalated) ctx.schedule(`esc:${c.id}`, c.verifyBy)
      }
    },
    run ({ record }, ctx): StageResult | undefined {
      const emit: NonNullable<StageResult['emit']>[number][] = []
      const at = record.receivedAt
      if (isAccountRemoved(record) && record.type === 'derived') {
        // The removed holder's open case is closed, with who removed it. (A case a later holder
        // already has, when this runs after the number was taken again, stays open.)
        const c = open(ctx, record.account)
        if (c !== undefined && (c.holder === undefined || c.holder === record.data.createdAt)) emit.push(...close(ctx, c, 'account-removed', `account removed by ${String(record.data.by).slice(0, 120)}`, at, record.id)!)
        return emit.length === 0 ? undefined : { emit }
      }
      if (record.account === '') return undefined
      const holder = holderOf(record, env.accounts.get(record.account))
      if (holder === null || !retire(ctx, record.account, holder, at, record.id, emit)) {
        // An earlier holder's event: nothing of it reaches a later holder of the number. A duress
        // is an emergency all the same; it stays in the journal, and is said here.
        if (record.type === 'derived' && record.kind === 'duress') ctx.log.warn({ account: record.account, id: record.id }, 'cases: a duress of an earlier holder of the number; no case of the holder there is now is raised')
        return emit.length === 0 ? undefined : { emit }
      }
      if (record.type === 'frame') {
        let joined = false
        for (const e of record.events) {
          const c = open(ctx, record.account)
          if (isCancel(e)) {
            if (c !== undefined) emit.push(...close(ctx, c, 'cancelled', e.user === undefined ? 'panel cancel' : `panel cancel, user ${e.user}`, at, record.id)!)
          } else if (e.class === 'alarm') {
            if (c === undefined) {
              create(ctx, record.account, holder, record.id, at, false)
              emit.push({ kind: 'case-opened', account: record.account, ...holderOfCase({ holder }), data: { caseId: record.id, code: e.code, ...(e.zone === undefined ? {} : { zone: e.zone }) } })
            } else if (c.id !== record.id && !joined) {
              // Once per frame, however many alarm events it carries.
              joined = true
              c.alarms++
              if (c.events.length < MAX_CASE_EVENTS) c.events.push(record.id)
              save(ctx, c)
            }
          } else if (e.class === 'opening' && c !== undefined && e.user !== undefined && at <= c.cancelUntil && env.isUser(record.account, e.user)) {
            emit.push(...close(ctx, c, 'cancelled', `opening by user ${e.user}`, at, record.id)!)
          }
        }
      } else if (record.kind === 'verification' && record.data.outcome === 'valid') {
        const c = open(ctx, record.account)
        if (c !== undefined) {
          // After the window the case was escalated; the code still closes it, marked late.
          const [closed] = close(ctx, c, 'verified', `user ${String(record.data.user)}`, at, record.id)!
          emit.push(at <= c.verifyBy ? closed! : { ...closed!, data: { ...closed!.data, late: true } })
        }
      } else if (record.kind === 'case-resolve' && record.stage === 'api') {
        // An operator closed it (the HTTP interface journals the request; this stage owns cases).
        const c = open(ctx, record.account)
        if (c !== undefined && c.id === record.data.caseId) emit.push(...close(ctx, c, 'resolved', String(record.data.by).slice(0, 120), at, record.id)!)
      } else if (record.kind === 'duress') {
        // Silent: the caller was told "valid"; here it is an emergency, on the open case or a new one.
        let c = open(ctx, record.account)
        if (c === undefined) {
          c = create(ctx, record.account, holder, record.id, at, true)
          emit.push({ kind: 'case-opened', account: record.account, ...holderOfCase(c), data: { caseId: c.id, duress: true } })
        } else {
          c.duress = true
          save(ctx, c)
        }
        emit.push({ kind: 'case-duress', account: record.account, ...holderOfCase(c), data: { caseId: c.id, user: record.data.user ?? null } })
      }
      return emit.length === 0 ? undefined : { emit }
    },
    due (key, ctx): StageResult | undefined {
      if (key === PRUNE) {
        prune(ctx)
        return undefined
      }
      const id = Number(key.slice(4))
      const c = ctx.state.get<Case>(caseKey(id))
      if (c === undefined || c.state !== 'open' || c.escalated) return undefined
      c.escalated = true
      save(ctx, c)
      return { emit: [{ kind: 'case-escalated', account: c.account, ...holderOfCase(c), causedBy: c.id, data: { caseId: c.id, minutesOpen: Math.round((ctx.now - c.openedAt) / 60_000) } }] }
    },
  }
}
