import { describe, expect, it } from 'vitest'
import { eventView, RecentEvents } from '../../../src/api/recent.js'
import type { Stored } from '../../../src/journal/journal.js'
import type { DerivedRecord, FrameRecord, JournalRecord } from '../../../src/receiver/record.js'

const T0 = Date.UTC(2026, 10, 27, 9)

function frame (id: number, account: string): Stored<FrameRecord> {
  return {
    id, type: 'frame', receivedAt: T0 + id * 1000, transport: 'tcp', peer: '10.1.2.3:40000', account, rcvr: 'R1', lpref: 'L0', seq: '0001', token: 'ADM-CID',
    encrypted: id % 2 === 0, events: [], xdata: [{ id: 'V', value: 'x' }], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: `d${id}`, raw: 'U0VDUkVUUkFXQllURVM=',
  }
}

function derived (id: number, account: string, kind = 'case-opened'): Stored<DerivedRecord> {
  return { id, type: 'derived', receivedAt: T0 + id * 1000, kind, account, stage: 'cases', causedBy: id - 1, n: 0, data: { caseId: id } }
}

const ids = (events: ReadonlyArray<{ id: number }>): number[] => events.map((e) => e.id)

async function * iterate (records: Array<Stored<JournalRecord>>): AsyncIterable<Stored<JournalRecord>> {
  for (const r of records) yield r
}

const add = (r: RecentEvents, rec: Stored<JournalRecord>): void => r.add(rec, rec.id)

describe('RecentEvents', () => {
  it('keeps the newest perAccount events of an account', () => {
    const r = new RecentEvents({ perAccount: 3, total: 100 })
    for (let i = 1; i <= 5; i++) add(r, frame(i, '1234'))
    expect(ids(r.list('1234', 10))).toEqual([5, 4, 3])
    expect(r.size).toBe(3)
  })

  it('forgets the oldest events first when the total is reached', () => {
    const r = new RecentEvents({ perAccount: 10, total: 5 })
    add(r, frame(1, 'AAA'))
    add(r, frame(2, 'BBB'))
    add(r, frame(3, 'CCC'))
    add(r, frame(4, 'AAA'))
    add(r, frame(5, 'CCC'))
    expect(r.size).toBe(5)
    add(r, frame(6, 'DDD'))
    // Event 1 (AAA's first) went.
    expect(ids(r.list('AAA', 10))).toEqual([4])
    expect(ids(r.list('BBB', 10))).toEqual([2])
    expect(ids(r.list('CCC', 10))).toEqual([5, 3])
    expect(ids(r.list('DDD', 10))).toEqual([6])
    expect(r.size).toBe(5)
    add(r, frame(7, 'DDD'))
    expect(r.list('BBB', 10)).toEqual([])
    expect(ids(r.list('DDD', 10))).toEqual([7, 6])
    expect(r.size).toBe(5)
  })

  it('keeps the count right when the per-account bound dropped an event before the total did', () => {
    const r = new RecentEvents({ perAccount: 2, total: 4 })
    for (let i = 1; i <= 3; i++) add(r, frame(i, 'AAA'))
    expect(r.size).toBe(2)
    for (let i = 4; i <= 9; i++) add(r, frame(i, i % 2 === 0 ? 'BBB' : 'CCC'))
    expect(r.size).toBe(4)
    expect(r.list('AAA', 10)).toEqual([])
    expect(ids(r.list('BBB', 10))).toEqual([8, 6])
    expect(ids(r.list('CCC', 10))).toEqual([9, 7])
  })

  it('lists newest first, up to limit, below before, through keep', () => {
    const r = new RecentEvents({ perAccount: 50, total: 100 })
    for (let i = 1; i <= 10; i++) add(r, i % 3 === 0 ? derived(i, '1234') : frame(i, '1234'))
    add(r, frame(11, '9999'))
    expect(ids(r.list('1234', 100))).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    expect(ids(r.list('1234', 3))).toEqual([10, 9, 8])
    expect(ids(r.list('1234', 3, 8))).toEqual([7, 6, 5])
    expect(ids(r.list('1234', 3, 1))).toEqual([])
    const framesOnly = (e: { type: string }) => e.type === 'frame'
    expect(ids(r.list('1234', 4, undefined, framesOnly))).toEqual([10, 8, 7, 5])
    expect(ids(r.list('1234', 4, 7, framesOnly))).toEqual([5, 4, 2, 1])
    expect(r.list('nobody', 10)).toEqual([])
  })

  it('forgets an account', () => {
    const r = new RecentEvents({ perAccount: 10, total: 100 })
    add(r, frame(1, 'AAA'))
    add(r, frame(2, 'BBB'))
    add(r, frame(3, 'AAA'))
    r.forget('AAA')
    expect(r.list('AAA', 10)).toEqual([])
    expect(ids(r.list('BBB', 10))).toEqual([2])
    expect(r.size).toBe(1)
    r.forget('nobody')
    expect(r.size).toBe(1)
  })

  it('ignores records not tied to an account', () => {
    const r = new RecentEvents({ perAccount: 10, total: 100 })
    add(r, { ...derived(1, ''), kind: 'security', stage: 'api' })
    expect(r.size).toBe(0)
    expect(r.list('', 10)).toEqual([])
  })

  it('fills from a newest-first iterable, keeping what the bounds allow, oldest evicted', async () => {
    const r = new RecentEvents({ perAccount: 2, total: 4 })
    const records: Array<Stored<JournalRecord>> = []
    for (let i = 1; i <= 9; i++) records.push(frame(i, i <= 6 ? 'AAA' : 'BBB'))
    const newestFirst = [...records].reverse()
    const n = await r.fill(iterate(newestFirst))
    expect(n).toBe(4)
    expect(ids(r.list('BBB', 10))).toEqual([9, 8])
    expect(ids(r.list('AAA', 10))).toEqual([6])
    expect(r.size).toBe(3)
    // Added after the fill: newer than anything filled; event 6 is no longer among the last 4.
    add(r, frame(10, 'AAA'))
    expect(ids(r.list('AAA', 10))).toEqual([10])
  })

  it('fills everything when the journal is short', async () => {
    const r = new RecentEvents({ perAccount: 10, total: 100 })
    expect(await r.fill(iterate([frame(3, 'AAA'), derived(2, 'AAA'), frame(1, 'AAA')]))).toBe(3)
    expect(ids(r.list('AAA', 10))).toEqual([3, 2, 1])
  })
})

describe('eventView', () => {
  it('never includes raw bytes or the peer address of a frame', () => {
    const v = eventView(frame(2, '1234'))
    expect(v).not.toHaveProperty('raw')
    expect(v).not.toHaveProperty('peer')
    expect(v).not.toHaveProperty('transport')
    expect(JSON.stringify(v)).not.toContain('10.1.2.3')
    expect(JSON.stringify(v)).not.toContain('U0VDUkVUUkFXQllURVM=')
    expect(v).toEqual({
      id: 2, receivedAt: new Date(T0 + 2000).toISOString(), account: '1234', type: 'frame', messageType: '*ADM-CID', seq: '0001', encrypted: true, events: [], text: null, flags: {},
    })
  })

  it('shows a derived event\'s kind, stage, cause and data', () => {
    const v = eventView(derived(5, '1234', 'supervision-failure'))
    expect(v).toEqual({ id: 5, receivedAt: new Date(T0 + 5000).toISOString(), account: '1234', type: 'derived', kind: 'supervision-failure', stage: 'cases', causedBy: 4, data: { caseId: 5 } })
    expect(v).not.toHaveProperty('raw')
    expect(v).not.toHaveProperty('peer')
  })

  it('stores views, not records: list() results carry no raw or peer', () => {
    const r = new RecentEvents({ perAccount: 10, total: 100 })
    add(r, frame(1, '1234'))
    const [e] = r.list('1234', 1)
    expect(e).not.toHaveProperty('raw')
    expect(e).not.toHaveProperty('peer')
  })
})
