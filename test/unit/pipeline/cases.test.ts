/**
 * cases: alarms open a case per account and join it; a cancel from the panel or an opening by a
 * valid user within the cancel window closes it as cancelled (ANSI/SIA CP-01); a valid code
 * verifies it; an unverified case is escalated once; a duress code marks or opens a case.
 * Tested on the stage with a hand-made context (state in a map, timers recorded, `now` set here).
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import type { Emit } from '../../../src/pipeline/stage.js'
import { StageHarness } from './stage-context.js'
import { cases, MAX_CASE_EVENTS, type Case, type CasesOptions } from '../../../src/pipeline/stages/cases.js'
import { parseContactId, parseSia, type DecodedEvent } from '../../../src/protocol/index.js'
import type { DerivedRecord, EventRecord, FrameRecord } from '../../../src/journal/record.js'

const log = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 10, 26, 8)
const SECOND = 1000
const MINUTE = 60 * SECOND

function frameOf (account: string, token: string, events: readonly DecodedEvent[], receivedAt: number): FrameRecord {
  return {
    type: 'frame', receivedAt, transport: 'tcp', peer: '127.0.0.1:5000', account, rcvr: undefined, lpref: '0', seq: '0001', token,
    encrypted: false, events, xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

/** A Contact ID frame: `cid('1234', '1130 01 015', t)`. */
function cid (account: string, data: string, receivedAt: number): FrameRecord {
  const parsed = parseContactId(Buffer.from(`#${account}|${data}`))
  if (!parsed.ok) throw new Error(parsed.reason)
  return frameOf(account, 'ADM-CID', [parsed.value], receivedAt)
}

/** A SIA frame: `sia('1234', 'Nri1/BA01', t)`. */
function sia (account: string, data: string, receivedAt: number): FrameRecord {
  const parsed = parseSia(Buffer.from(`#${account}|${data}`))
  if (!parsed.ok) throw new Error(parsed.reason)
  return frameOf(account, 'SIA-DCS', parsed.value.events, receivedAt)
}

function derived (account: string, kind: string, data: Record<string, unknown>, receivedAt: number): DerivedRecord {
  return { type: 'derived', receivedAt, kind, account, stage: 'verify', causedBy: 0, n: 0, data }
}

/** A removal of the account, as the HTTP interface or `dc09 accounts remove` journals it. */
const removal = (account: string, createdAt: string, at: number): DerivedRecord =>
  ({ type: 'derived', receivedAt: at, kind: 'account-removed', account, stage: 'accounts', causedBy: 0, n: 0, data: { createdAt, tenant: 't1', by: 'admin:abc' } })
const verification = (account: string, user: number, at: number) => derived(account, 'verification', { outcome: 'valid', user, caller: 'operator' }, at)
const duress = (account: string, user: number, at: number) => derived(account, 'duress', { outcome: 'valid', user, caller: 'operator' }, at)

/** Users the tests' accounts have: user 3 on 1234. */
const VALID_USERS = new Set(['1234/3'])

/**
 * The stage with a context the test drives: state in a map (values copied as JSON, as the
 * pipeline store does), timers recorded by key, journal ids handed out in order.
 */
class Harness extends StageHarness {
  readonly userChecks: Array<[string, number]> = []
  nextId = 1

  constructor (options: CasesOptions = {}, accounts = new MemoryAccountStore()) {
    const checks: Array<[string, number]> = []
    super(cases(options, {
      accounts,
      isUser: (account, user) => { checks.push([account, user]); return VALID_USERS.has(`${account}/${user}`) },
      dataDir: '/nonexistent',
      log,
    }), T0)
    this.userChecks = checks
  }

  /** Runs a record as the runner would (its receive time as `now`); returns its journal id and what it emitted. */
  async run (record: EventRecord): Promise<{ id: number, emit: readonly Emit[] }> {
    const id = this.nextId++
    this.now = record.receivedAt
    const result = await this.stage.run({ record: { ...record, id }, annotations: {} }, this.ctx)
    const emit = result?.emit ?? []
    this.emitted.push(...emit)
    return { id, emit }
  }

  async start (at: number): Promise<void> {
    this.now = at
    await this.stage.start!(this.ctx)
  }

  /** Every case the stage keeps, oldest first. */
  cases (): Case[] {
    return this.ctx.state.list<Case>('case:').map(([, c]) => c)
  }

  case (id: number): Case {
    const c = this.cases().find((x) => x.id === id)
    if (c === undefined) throw new Error(`no case ${id}`)
    return c
  }

  kinds (): string[] {
    return this.emitted.map((e) => e.kind)
  }
}

/** A harness with a burglary alarm on 1234 at T0 that opened case `caseId`. */
async function withOpenCase (options: CasesOptions = {}): Promise<{ h: Harness, caseId: number }> {
  const h = new Harness(options)
  const { id } = await h.run(cid('1234', '1130 01 015', T0))
  return { h, caseId: id }
}

describe('cases: opening and joining', () => {
  it('an alarm opens a case for its account, to be verified within 10 minutes', async () => {
    const h = new Harness()
    const { id, emit } = await h.run(cid('1234', '1130 01 015', T0))
    expect(emit).toEqual([{ kind: 'case-opened', account: '1234', data: { caseId: id, code: '130', zone: 15 } }])
    expect(h.cases()).toEqual([{
      id, account: '1234', openedAt: T0, events: [id], alarms: 1, state: 'open',
      cancelUntil: T0 + 5 * MINUTE, verifyBy: T0 + 10 * MINUTE, escalated: false, duress: false,
    }])
    expect(h.timers).toEqual(new Map([[`esc:${id}`, T0 + 10 * MINUTE]]))
  })

  it('a SIA alarm opens a case too', async () => {
    const h = new Harness()
    const { id, emit } = await h.run(sia('1234', 'Nri1/FA04', T0))
    expect(emit).toEqual([{ kind: 'case-opened', account: '1234', data: { caseId: id, code: 'FA', zone: 4 } }])
  })

  it.each([
    ['a restore', '3130 01 015'], ['an opening', '1401 01 003'], ['a closing', '3401 01 003'], ['a periodic test', '1602 00 000'], ['a trouble', '1301 00 000'],
  ])('%s opens no case', async (_, data) => {
    const h = new Harness()
    expect((await h.run(cid('1234', data, T0))).emit).toEqual([])
    expect(h.cases()).toEqual([])
  })

  it('later alarms join the open case, counted, without opening another', async () => {
    const { h, caseId } = await withOpenCase()
    const second = await h.run(sia('1234', 'Nri1/BA02', T0 + MINUTE))
    const third = await h.run(cid('1234', '1110 01 007', T0 + 2 * MINUTE))
    expect([second.emit, third.emit]).toEqual([[], []])
    expect(h.case(caseId)).toMatchObject({ state: 'open', events: [caseId, second.id, third.id], alarms: 3 })
    expect(h.cases()).toHaveLength(1)
  })

  it('a frame with several alarm events joins once', async () => {
    const { h, caseId } = await withOpenCase()
    const { id } = await h.run(sia('1234', 'Nri1/BA02/BA03/BA04', T0 + MINUTE))
    expect(h.case(caseId)).toMatchObject({ events: [caseId, id], alarms: 2 })
  })

  it('each account has its own case', async () => {
    const { h, caseId } = await withOpenCase()
    const other = await h.run(cid('5678', '1130 01 001', T0 + MINUTE))
    expect(other.emit.map((e) => [e.kind, e.account])).toEqual([['case-opened', '5678']])
    expect(h.cases().map((c) => [c.id, c.account, c.alarms])).toEqual([[caseId, '1234', 1], [other.id, '5678', 1]])
  })

  it(`keeps the first ${MAX_CASE_EVENTS} alarms of a storm in the case, and counts them all`, async () => {
    const { h, caseId } = await withOpenCase()
    const ids = [caseId]
    for (let i = 1; i < 150; i++) ids.push((await h.run(cid('1234', '1130 01 015', T0 + i * SECOND))).id)
    const c = h.case(caseId)
    expect(c.alarms).toBe(150)
    expect(c.events).toEqual(ids.slice(0, MAX_CASE_EVENTS))
  })
})

describe('cases: cancelled at the premises', () => {
  it('a Contact ID 406 cancel closes the open case', async () => {
    const { h, caseId } = await withOpenCase()
    const { id, emit } = await h.run(cid('1234', '1406 01 003', T0 + 2 * MINUTE))
    expect(emit).toEqual([{ kind: 'case-cancelled', account: '1234', causedBy: id, data: { caseId, by: 'panel cancel, user 3' } }])
    expect(h.case(caseId)).toMatchObject({ state: 'cancelled', closedAt: T0 + 2 * MINUTE, closedBy: 'panel cancel, user 3' })
    expect(h.timers.has(`esc:${caseId}`)).toBe(false)
  })

  it.each([
    ['OC with a user', 'NOC05', 'panel cancel, user 5'],
    ['BC', 'NBC', 'panel cancel'],
  ])('a SIA %s cancel closes the open case', async (_, data, by) => {
    const { h, caseId } = await withOpenCase()
    const { emit } = await h.run(sia('1234', data, T0 + MINUTE))
    expect(emit).toEqual([expect.objectContaining({ kind: 'case-cancelled', data: { caseId, by } })])
    expect(h.case(caseId).state).toBe('cancelled')
  })

  it('a cancel with no case open does nothing', async () => {
    const h = new Harness()
    expect((await h.run(cid('1234', '1406 01 003', T0))).emit).toEqual([])
    expect(h.cases()).toEqual([])
  })

  it('a cancel for another account leaves the case open', async () => {
    const { h, caseId } = await withOpenCase()
    expect((await h.run(cid('5678', '1406 01 003', T0 + MINUTE))).emit).toEqual([])
    expect(h.case(caseId).state).toBe('open')
  })

  it('an alarm after the case was closed opens a new case', async () => {
    const { h, caseId } = await withOpenCase()
    await h.run(cid('1234', '1406 01 003', T0 + MINUTE))
    const { id, emit } = await h.run(cid('1234', '1130 01 015', T0 + 2 * MINUTE))
    expect(emit.map((e) => e.kind)).toEqual(['case-opened'])
    expect(h.cases().map((c) => [c.id, c.state])).toEqual([[caseId, 'cancelled'], [id, 'open']])
  })

  it.each([
    ['Contact ID 1401', () => cid('1234', '1401 01 003', T0 + 4 * MINUTE)],
    ['SIA OP', () => sia('1234', 'Nri1/OP03', T0 + 4 * MINUTE)],
  ])('an opening (%s) by a valid user within 5 minutes closes the case as cancelled', async (_, opening) => {
    const { h, caseId } = await withOpenCase()
    const { id, emit } = await h.run(opening())
    expect(emit).toEqual([{ kind: 'case-cancelled', account: '1234', causedBy: id, data: { caseId, by: 'opening by user 3' } }])
    expect(h.case(caseId)).toMatchObject({ state: 'cancelled', closedBy: 'opening by user 3' })
    expect(h.userChecks).toEqual([['1234', 3]])
    expect(h.timers.has(`esc:${caseId}`)).toBe(false)
  })

  it('an opening at the end of the cancel window still counts', async () => {
    const { h, caseId } = await withOpenCase()
    await h.run(cid('1234', '1401 01 003', T0 + 5 * MINUTE))
    expect(h.case(caseId).state).toBe('cancelled')
  })

  it('an opening after the cancel window does not close the case', async () => {
    const { h, caseId } = await withOpenCase()
    expect((await h.run(cid('1234', '1401 01 003', T0 + 5 * MINUTE + SECOND))).emit).toEqual([])
    expect(h.case(caseId).state).toBe('open')
    expect(h.timers.has(`esc:${caseId}`)).toBe(true)
  })

  it('an opening by a user the account does not have does not close the case', async () => {
    const { h, caseId } = await withOpenCase()
    expect((await h.run(cid('1234', '1401 01 009', T0 + MINUTE))).emit).toEqual([])
    expect(h.userChecks).toEqual([['1234', 9]])
    expect(h.case(caseId).state).toBe('open')
  })

  it('an opening that names no user does not close the case', async () => {
    const { h, caseId } = await withOpenCase()
    expect((await h.run(sia('1234', 'NOP', T0 + MINUTE))).emit).toEqual([])
    expect(h.case(caseId).state).toBe('open')
  })

  it('a closing (arming) by a valid user does not close the case', async () => {
    const { h, caseId } = await withOpenCase()
    expect((await h.run(cid('1234', '3401 01 003', T0 + MINUTE))).emit).toEqual([])
    expect(h.case(caseId).state).toBe('open')
  })

  it('the cancel window is an option', async () => {
    const { h, caseId } = await withOpenCase({ cancelWindowSeconds: 60 })
    expect(h.case(caseId).cancelUntil).toBe(T0 + MINUTE)
    await h.run(cid('1234', '1401 01 003', T0 + MINUTE + SECOND))
    expect(h.case(caseId).state).toBe('open')
  })
})

describe('cases: verification and escalation', () => {
  it('a valid code within the window closes the case as verified by that user', async () => {
    const { h, caseId } = await withOpenCase()
    const { id, emit } = await h.run(verification('1234', 3, T0 + 7 * MINUTE))
    expect(emit).toEqual([{ kind: 'case-verified', account: '1234', causedBy: id, data: { caseId, by: 'user 3' } }])
    expect(h.case(caseId)).toMatchObject({ state: 'verified', closedAt: T0 + 7 * MINUTE, closedBy: 'user 3' })
    expect(h.timers.has(`esc:${caseId}`)).toBe(false)
    await h.advance(T0 + 60 * MINUTE)
    expect(h.kinds()).toEqual(['case-opened', 'case-verified'])
  })

  it('a verification that was not valid changes nothing', async () => {
    const { h, caseId } = await withOpenCase()
    expect((await h.run(derived('1234', 'verification', { outcome: 'invalid', user: null, caller: 'operator' }, T0 + MINUTE))).emit).toEqual([])
    expect(h.case(caseId).state).toBe('open')
  })

  it('a verification for an account with no open case does nothing', async () => {
    const h = new Harness()
    expect((await h.run(verification('1234', 3, T0))).emit).toEqual([])
  })

  it('a case not verified in time is escalated, once', async () => {
    const { h, caseId } = await withOpenCase()
    await h.advance(T0 + 10 * MINUTE - 1)
    expect(h.kinds()).toEqual(['case-opened'])
    await h.advance(T0 + 10 * MINUTE)
    expect(h.emitted.at(-1)).toEqual({ kind: 'case-escalated', account: '1234', causedBy: caseId, data: { caseId, minutesOpen: 10 } })
    expect(h.case(caseId)).toMatchObject({ state: 'open', escalated: true })
    // The timer firing again (a replay, a restart) says nothing more.
    expect(await h.stage.due!(`esc:${caseId}`, h.ctx)).toBeUndefined()
    await h.start(T0 + 20 * MINUTE)
    expect([...h.timers.keys()]).toEqual(['prune'])
    expect(h.kinds()).toEqual(['case-opened', 'case-escalated'])
  })

  it('a late verification still closes the case, flagged late', async () => {
    const { h, caseId } = await withOpenCase()
    await h.advance(T0 + 10 * MINUTE)
    const { id, emit } = await h.run(verification('1234', 3, T0 + 12 * MINUTE))
    expect(emit).toEqual([{ kind: 'case-verified', account: '1234', causedBy: id, data: { caseId, by: 'user 3', late: true } }])
    expect(h.case(caseId).state).toBe('verified')
  })

  it('a closed case is not escalated, even when its timer fires', async () => {
    const { h, caseId } = await withOpenCase()
    await h.run(cid('1234', '1406 01 003', T0 + MINUTE))
    expect(await h.stage.due!(`esc:${caseId}`, h.ctx)).toBeUndefined()
    expect(h.case(caseId).escalated).toBe(false)
  })

  it('the verification window is an option', async () => {
    const { h, caseId } = await withOpenCase({ verificationWindowSeconds: 120 })
    expect(h.timers.get(`esc:${caseId}`)).toBe(T0 + 2 * MINUTE)
    const { emit } = await h.run(verification('1234', 3, T0 + 3 * MINUTE))
    expect(emit[0]?.data).toEqual({ caseId, by: 'user 3', late: true })
  })
})

describe('cases: duress', () => {
  it('marks the open case', async () => {
    const { h, caseId } = await withOpenCase()
    const { emit } = await h.run(duress('1234', 3, T0 + MINUTE))
    expect(emit).toEqual([{ kind: 'case-duress', account: '1234', data: { caseId, user: 3 } }])
    expect(h.cases()).toHaveLength(1)
    expect(h.case(caseId)).toMatchObject({ state: 'open', duress: true })
  })

  it('opens a new case, to be verified, when none is open', async () => {
    const h = new Harness()
    const { id, emit } = await h.run(duress('1234', 3, T0))
    expect(emit).toEqual([
      { kind: 'case-opened', account: '1234', data: { caseId: id, duress: true } },
      { kind: 'case-duress', account: '1234', data: { caseId: id, user: 3 } },
    ])
    expect(h.case(id)).toMatchObject({ state: 'open', duress: true, alarms: 0, events: [id] })
    expect(h.timers.get(`esc:${id}`)).toBe(T0 + 10 * MINUTE)
  })

  it('an alarm after a duress joins the duress case', async () => {
    const h = new Harness()
    const { id } = await h.run(duress('1234', 3, T0))
    const alarm = await h.run(cid('1234', '1130 01 015', T0 + MINUTE))
    expect(alarm.emit).toEqual([])
    expect(h.case(id)).toMatchObject({ alarms: 1, events: [id, alarm.id] })
  })
})

describe('cases: start', () => {
  it('re-arms the escalation of open cases from the state, and only theirs', async () => {
    const h = new Harness()
    const open = (await h.run(cid('1234', '1130 01 015', T0))).id
    const cancelled = (await h.run(cid('5678', '1130 01 015', T0))).id
    await h.run(cid('5678', '1406 01 003', T0 + MINUTE))
    const escalated = (await h.run(cid('9999', '1130 01 015', T0 - 20 * MINUTE))).id
    await h.advance(T0)
    expect(h.case(escalated).escalated).toBe(true)

    h.timers.clear()
    await h.start(T0 + 2 * MINUTE)
    expect(h.timers).toEqual(new Map([[`esc:${open}`, T0 + 10 * MINUTE], ['prune', T0 + 2 * MINUTE + 3_600_000]]))
    expect(h.case(cancelled).state).toBe('cancelled')
    await h.advance(T0 + 10 * MINUTE)
    expect(h.emitted.filter((e) => e.kind === 'case-escalated').map((e) => e.account)).toEqual(['9999', '1234'])
  })

  it('drops closed cases older than keepClosedDays (default 30), never open ones', async () => {
    const DAY = 86_400_000
    const h = new Harness()
    const open = (await h.run(cid('1111', '1130 01 015', T0))).id
    const closed = (await h.run(cid('2222', '1130 01 015', T0))).id
    await h.run(cid('2222', '1406 01 003', T0 + MINUTE))

    await h.start(T0 + MINUTE + 30 * DAY)
    expect(h.cases().map((c) => c.id)).toEqual([open, closed])
    await h.start(T0 + MINUTE + 30 * DAY + 1)
    expect(h.cases().map((c) => c.id)).toEqual([open])
  })

  it('drops them every hour while running, not only at start', async () => {
    const DAY = 86_400_000
    const h = new Harness({ keepClosedDays: 1 })
    await h.start(T0)
    expect(h.timers.get('prune')).toBe(T0 + 3_600_000)
    const closed = (await h.run(cid('2222', '1130 01 015', T0 + MINUTE))).id
    await h.run(cid('2222', '1406 01 003', T0 + 2 * MINUTE))
    const open = (await h.run(cid('1111', '1130 01 015', T0 + 3 * MINUTE))).id
    await h.advance(T0 + DAY)
    expect(h.cases().map((c) => c.id)).toEqual([closed, open])
    await h.advance(T0 + DAY + 2 * 3_600_000)
    expect(h.cases().map((c) => c.id)).toEqual([open])
    expect(h.timers.get('prune')).toBe(T0 + 27 * 3_600_000)
  })

  it('keepClosedDays is an option', async () => {
    const DAY = 86_400_000
    const h = new Harness({ keepClosedDays: 1 })
    await h.run(cid('2222', '1130 01 015', T0))
    await h.run(verification('2222', 3, T0 + MINUTE))
    await h.start(T0 + MINUTE + DAY + 1)
    expect(h.cases()).toEqual([])
  })
})

describe('cases: options', () => {
  it.each([
    [{ cancelWindowSeconds: 0 }], [{ cancelWindowSeconds: -300 }], [{ cancelWindowSeconds: 'five' }],
    [{ verificationWindowSeconds: 0 }], [{ verificationWindowSeconds: -1 }],
  ])('refuses %j', (options) => {
    expect(() => new Harness(options as unknown as CasesOptions)).toThrow('cases: the windows are positive numbers of seconds')
  })

  it.each([[{ keepClosedDays: -1 }], [{ keepClosedDays: 'month' }]])('refuses %j', (options) => {
    expect(() => new Harness(options as unknown as CasesOptions)).toThrow('cases: keepClosedDays is a number of days')
  })

  it('accepts keepClosedDays: 0', () => {
    expect(new Harness({ keepClosedDays: 0 }).stage.name).toBe('cases')
  })
})

describe('cases: resolved by an operator', () => {
  const resolve = (account: string, caseId: number, at: number, stage = 'api'): DerivedRecord =>
    ({ type: 'derived', receivedAt: at, kind: 'case-resolve', account, stage, causedBy: 0, n: 0, data: { caseId, by: 'operator:0123456789ab', note: 'police sent' } })

  it('closes the open case named, as resolved by the operator, and stops its escalation', async () => {
    const { h, caseId } = await withOpenCase()
    const { emit } = await h.run(resolve('1234', caseId, T0 + MINUTE))
    expect(emit).toEqual([{ kind: 'case-resolved', account: '1234', causedBy: expect.any(Number), data: { caseId, by: 'operator:0123456789ab' } }])
    expect(h.case(caseId)).toMatchObject({ state: 'resolved', closedBy: 'operator:0123456789ab', closedAt: T0 + MINUTE })
    expect(h.timers.has(`esc:${caseId}`)).toBe(false)
  })

  it('ignores a resolution of another case, of another account, of a closed case, or not from the API', async () => {
    const { h, caseId } = await withOpenCase()
    for (const r of [resolve('1234', caseId + 99, T0 + 1), resolve('5678', caseId, T0 + 2), resolve('1234', caseId, T0 + 3, 'verify')]) {
      expect((await h.run(r)).emit).toEqual([])
    }
    expect(h.case(caseId).state).toBe('open')
    await h.run(resolve('1234', caseId, T0 + 4))
    expect((await h.run(resolve('1234', caseId, T0 + 5))).emit).toEqual([])
  })
})

describe('cases: an account number that changes hands', () => {
  it('a removal closes the open case as account-removed; the next holder\'s alarm opens a new case that its codes close', async () => {
    const { h, caseId } = await withOpenCase()
    const removed = await h.run(removal('1234', '2026-11-01T00:00:00.000Z', T0 + MINUTE))
    expect(removed.emit).toEqual([{ kind: 'case-account-removed', account: '1234', causedBy: removed.id, data: { caseId, by: 'account removed by admin:abc' } }])
    expect(h.case(caseId)).toMatchObject({ state: 'account-removed', closedAt: T0 + MINUTE })
    expect(h.timers.has(`esc:${caseId}`)).toBe(false)
    // The next holder's alarm is not merged into the old case: a case of its own.
    const next = await h.run(cid('1234', '1130 01 015', T0 + 2 * MINUTE))
    expect(next.emit).toEqual([{ kind: 'case-opened', account: '1234', data: { caseId: next.id, code: '130', zone: 15 } }])
    const verified = await h.run(verification('1234', 3, T0 + 3 * MINUTE))
    expect(verified.emit).toEqual([{ kind: 'case-verified', account: '1234', causedBy: verified.id, data: { caseId: next.id, by: 'user 3' } }])
    expect(h.case(caseId).state).toBe('account-removed')
  })

  it('a duress code of the next holder raises on a case of its own, not on the removed holder\'s', async () => {
    const { h, caseId } = await withOpenCase()
    await h.run(removal('1234', '2026-11-01T00:00:00.000Z', T0 + MINUTE))
    const d = await h.run(duress('1234', 3, T0 + 2 * MINUTE))
    expect(d.emit).toEqual([
      { kind: 'case-opened', account: '1234', data: { caseId: d.id, duress: true } },
      { kind: 'case-duress', account: '1234', data: { caseId: d.id, user: 3 } },
    ])
    expect(h.case(d.id)).toMatchObject({ state: 'open', duress: true })
    expect(h.case(caseId)).toMatchObject({ state: 'account-removed', duress: false })
  })

  it('a removal of an account without an open case changes nothing; one made by another stage is not a removal', async () => {
    const h = new Harness()
    expect((await h.run(removal('1234', '2026-11-01T00:00:00.000Z', T0))).emit).toEqual([])
    const { h: h2, caseId } = await withOpenCase()
    expect((await h2.run({ ...removal('1234', '2026-11-01T00:00:00.000Z', T0 + MINUTE), stage: 'my-stage' })).emit).toEqual([])
    expect(h2.case(caseId).state).toBe('open')
  })

  it('a removal journaled after the number was taken again leaves the later holder\'s case open', async () => {
    let made = T0 - 86_400_000
    const accounts = new MemoryAccountStore(undefined, { now: () => new Date(made++) })
    accounts.add({ account: '1234', tenant: 't1' })
    const removed = accounts.get('1234')!.createdAt
    accounts.remove('1234')
    accounts.add({ account: '1234', tenant: 't2' })
    const h = new Harness({}, accounts)
    const next = await h.run(cid('1234', '1130 01 015', T0))
    expect((await h.run(removal('1234', removed, T0 + MINUTE))).emit).toEqual([])
    expect(h.case(next.id).state).toBe('open')
  })

  /**
   * The holder 1234 had (t1, made a day before T0), its alarm at T0 and its removal a second
   * later, both journaled while it held the number; then t2 takes the number at T0 + 2 s. The
   * pipeline, lagging (or stopped while the commands ran), reaches them only after that.
   */
  function handedOnWhileLagging (stamped: boolean) {
    let now = T0 - 86_400_000
    const accounts = new MemoryAccountStore(undefined, { now: () => new Date(now) })
    accounts.add({ account: '1234', tenant: 't1' })
    const t1 = accounts.get('1234')!.createdAt
    const stamp = <R extends EventRecord>(r: R, holder: string): R => (stamped ? { ...r, holder } : r)
    const alarm = stamp(cid('1234', '1130 01 015', T0), t1)
    const removed = stamp(removal('1234', t1, T0 + SECOND), t1)
    accounts.remove('1234')
    now = T0 + 2 * SECOND
    accounts.add({ account: '1234', tenant: 't2' })
    const t2 = accounts.get('1234')!.createdAt
    return { h: new Harness({}, accounts), t1, t2, alarm, removed, stamp }
  }

  it('an alarm the receiver stamped with the removed holder is that holder\'s case when the pipeline reaches it after the number was taken again, and its removal closes it', async () => {
    const { h, t1, t2, alarm, removed, stamp } = handedOnWhileLagging(true)
    const old = await h.run(alarm)
    expect(old.emit).toEqual([{ kind: 'case-opened', account: '1234', holder: t1, data: { caseId: old.id, code: '130', zone: 15 } }])
    expect(h.case(old.id)).toMatchObject({ state: 'open', holder: t1 })
    const r = await h.run(removed)
    expect(r.emit).toEqual([{ kind: 'case-account-removed', account: '1234', holder: t1, causedBy: r.id, data: { caseId: old.id, by: 'account removed by admin:abc' } }])
    // t2's valid code closes nothing of t1's; t2's next alarm opens a case of its own, joined by nothing of t1's.
    expect((await h.run(stamp(verification('1234', 3, T0 + 3 * SECOND), t2))).emit).toEqual([])
    const next = await h.run(stamp(cid('1234', '1130 01 015', T0 + 4 * SECOND), t2))
    expect(next.emit).toEqual([{ kind: 'case-opened', account: '1234', holder: t2, data: { caseId: next.id, code: '130', zone: 15 } }])
    expect(h.case(next.id)).toMatchObject({ state: 'open', holder: t2, events: [next.id], alarms: 1 })
    expect(h.case(old.id)).toMatchObject({ state: 'account-removed', events: [old.id] })
  })

  it('an alarm journaled before the number was taken again, from before records named their holder, opens no case for the next holder', async () => {
    const { h, t2, alarm, removed } = handedOnWhileLagging(false)
    expect((await h.run(alarm)).emit).toEqual([])
    expect((await h.run(removed)).emit).toEqual([])
    expect(h.cases()).toEqual([])
    expect((await h.run(verification('1234', 3, T0 + 3 * SECOND))).emit).toEqual([])
    const next = await h.run(cid('1234', '1130 01 015', T0 + 4 * SECOND))
    expect(next.emit.map((e) => e.kind)).toEqual(['case-opened'])
    expect(h.cases()).toMatchObject([{ id: next.id, state: 'open', holder: t2, events: [next.id] }])
  })

  it('an event stamped with an earlier holder than the open case\'s neither joins nor closes it, nor opens another', async () => {
    const { h, t1, t2, stamp } = handedOnWhileLagging(true)
    const lines: Array<Record<string, unknown>> = []
    h.log = pino({ level: 'info' }, { write: (l: string) => { lines.push(JSON.parse(l) as Record<string, unknown>) } })
    const next = await h.run(stamp(cid('1234', '1130 01 015', T0 + 4 * SECOND), t2))
    // Received while t1 held the number, journaled after its removal (the two raced).
    expect((await h.run(stamp(cid('1234', '1130 01 016', T0 + 5 * SECOND), t1))).emit).toEqual([])
    expect((await h.run(stamp(verification('1234', 3, T0 + 6 * SECOND), t1))).emit).toEqual([])
    const d = await h.run(stamp(duress('1234', 3, T0 + 7 * SECOND), t1))
    expect(d.emit).toEqual([])
    expect(h.cases()).toMatchObject([{ id: next.id, state: 'open', holder: t2, events: [next.id], alarms: 1, duress: false }])
    // The duress is no case of t2's, but it is not passed over in silence.
    expect(lines).toMatchObject([{ level: 40, account: '1234', id: d.id, msg: expect.stringMatching(/duress of an earlier holder/) }])
  })

  it('with the removal never journaled (an older version removed it), a case of the earlier holder is closed, not joined', async () => {
    let made = T0 - 86_400_000
    const accounts = new MemoryAccountStore(undefined, { now: () => new Date(made++) })
    expect(accounts.add({ account: '1234', tenant: 't1' }).ok).toBe(true)
    const h = new Harness({}, accounts)
    const old = await h.run(cid('1234', '1130 01 015', T0))
    const t1 = accounts.get('1234')!.createdAt
    expect(h.case(old.id).holder).toBe(t1)
    accounts.remove('1234')
    expect(accounts.add({ account: '1234', tenant: 't2' }).ok).toBe(true)
    const t2 = accounts.get('1234')!.createdAt
    const next = await h.run(cid('1234', '1130 01 015', T0 + MINUTE))
    // Each event names the holder of the case it is about.
    expect(next.emit).toEqual([
      { kind: 'case-account-removed', account: '1234', holder: t1, causedBy: next.id, data: { caseId: old.id, by: 'a later holder of the number' } },
      { kind: 'case-opened', account: '1234', holder: t2, data: { caseId: next.id, code: '130', zone: 15 } },
    ])
    expect(h.case(next.id)).toMatchObject({ state: 'open', holder: t2 })
  })
})
