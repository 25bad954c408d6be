import { describe, expect, it, vi } from 'vitest'
import { eventView, RecentEvents } from '../../../src/api/recent.js'
import type { Stored } from '../../../src/journal/journal.js'
import { decodeFrame, formatSia, serializeFrame } from '../../../src/protocol/index.js'
import { compactEvents } from '../../../src/journal/compact.js'
import { recordJson, type DerivedRecord, type FrameRecord, type JournalFrame, type JournalRecord } from '../../../src/journal/record.js'

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

/** A frame as the receiver journals it: a SIA block of `n` events in compact form. */
function block (id: number, account: string, n = 64, text = ''): Stored<JournalFrame> {
  const events = Array.from({ length: n }, (_, i) => ({ modifiers: { ri: String(i % 8), id: String(i) }, code: 'BA', number: String(i + 1).padStart(3, '0'), text: `Zone ${i}${text}` }))
  const raw = serializeFrame({ token: 'SIA-DCS', seq: id % 9999 + 1, lpref: '0', acct: account, data: formatSia({ account, events }) })
  const d = decodeFrame(raw)
  if (!d.ok) throw new Error(d.reason)
  return {
    id, type: 'frame', receivedAt: T0 + id * 1000, transport: 'tcp', peer: '10.1.2.3:40000', account, rcvr: undefined, lpref: '0', seq: d.value.seq, token: 'SIA-DCS',
    encrypted: false, ev: compactEvents(d.value.events), xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: `d${id}`, raw: raw.toString('base64'),
  }
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

describe('RecentEvents, in bytes', () => {
  it('lets go of what the per-account bound drops: its bytes, its ring slot', () => {
    const r = new RecentEvents({ perAccount: 3, total: 10_000 })
    add(r, block(1, 'AAA'))
    const one = r.bytes
    expect(one).toBeGreaterThan(0)
    for (let i = 2; i <= 500; i++) add(r, block(i, 'AAA'))
    expect(r.size).toBe(3)
    expect(r.bytes).toBe(3 * one)
    expect(ids(r.list('AAA', 10))).toEqual([500, 499, 498])
  })

  it('keeps what it holds under maxBytes, the oldest going first whatever the counts allow', () => {
    const r = new RecentEvents({ perAccount: 50, total: 10_000, maxBytes: 100_000 })
    for (let i = 1; i <= 200; i++) add(r, block(i, `A0${i % 10}`))
    expect(r.bytes).toBeLessThanOrEqual(100_000)
    expect(r.bytes).toBeGreaterThan(50_000)
    expect(r.size).toBeLessThan(200)
    const kept = Array.from({ length: 10 }, (_, a) => ids(r.list(`A0${a}`, 50))).flat().sort((a, b) => a - b)
    // The newest, all of them, without a gap.
    expect(kept).toEqual(Array.from({ length: r.size }, (_, i) => 201 - r.size + i))
  })

  it('counts a frame by the lengths of what it keeps', () => {
    const small = new RecentEvents({ perAccount: 5, total: 100 })
    const big = new RecentEvents({ perAccount: 5, total: 100 })
    add(small, block(1, 'AAA', 64))
    add(big, block(1, 'AAA', 64, 'x'.repeat(20)))
    expect(big.bytes - small.bytes).toBeGreaterThanOrEqual(64 * 20)
  })

  it('serialises nothing again for a frame the journal wrote', () => {
    const r = new RecentEvents({ perAccount: 5, total: 100 })
    const rec = block(1, 'AAA')
    recordJson(rec)
    const spy = vi.spyOn(JSON, 'stringify')
    try {
      add(r, rec)
      expect(spy).not.toHaveBeenCalled()
    } finally {
      spy.mockRestore()
    }
  })

  it('frees the bytes of a forgotten account', () => {
    const r = new RecentEvents({ perAccount: 5, total: 100 })
    add(r, block(1, 'AAA'))
    const one = r.bytes
    add(r, block(2, 'BBB'))
    r.forget('BBB')
    expect(r.bytes).toBe(one)
  })

  it('fills within maxBytes, and reads no further than it can keep', async () => {
    const r = new RecentEvents({ perAccount: 50, total: 10_000, maxBytes: 100_000 })
    let read = 0
    async function * newestFirst (): AsyncIterable<Stored<JournalRecord>> {
      for (let i = 1000; i >= 1; i--) {
        read++
        yield block(i, `A0${i % 10}`)
      }
    }
    await r.fill(newestFirst())
    expect(r.bytes).toBeLessThanOrEqual(100_000)
    expect(r.size).toBeGreaterThan(5)
    expect(read).toBe(r.size + 1)
    expect(ids(r.list('A00', 50))[0]).toBe(1000)
  })

  it('fills past the per-account bound without keeping what it drops', async () => {
    const r = new RecentEvents({ perAccount: 2, total: 10_000 })
    async function * newestFirst (): AsyncIterable<Stored<JournalRecord>> {
      for (let i = 500; i >= 1; i--) yield block(i, i % 100 === 0 ? 'BBB' : 'AAA')
    }
    await r.fill(newestFirst())
    add(r, block(501, 'CCC'))
    const one = r.bytes / 5
    expect(r.size).toBe(5)
    expect(r.bytes).toBeCloseTo(5 * one)
    expect(ids(r.list('AAA', 10))).toEqual([499, 498])
    expect(ids(r.list('BBB', 10))).toEqual([500, 400])
  })

  it('shows a compact frame\'s events in full, as the decoder gave them', () => {
    const rec = block(7, 'AAA', 3)
    const d = decodeFrame(Buffer.from(rec.raw, 'base64'))
    if (!d.ok) throw new Error(d.reason)
    const r = new RecentEvents({ perAccount: 5, total: 100 })
    add(r, rec)
    expect(r.list('AAA', 1)[0]!.events).toEqual(d.value.events)
    expect(eventView(rec).events).toEqual(d.value.events)
    // A record from a journal written before the compact form: its events in full.
    const { ev: _ev, ...fields } = rec
    add(r, { ...fields, id: 8, events: d.value.events })
    expect(r.list('AAA', 1)[0]!.events).toEqual(d.value.events)
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

describe('recentMaxBytes, a setting', () => {
  it('defaults to 64 MiB, and refuses less than 1 MiB', async () => {
    const { defaultApiOptions, validateApiOptions } = await import('../../../src/api/server.js')
    expect(defaultApiOptions.recentMaxBytes).toBe(64 * 1024 * 1024)
    expect(validateApiOptions({ recentMaxBytes: 1000 }).ok).toBe(false)
    expect(validateApiOptions({ recentMaxBytes: 16 << 20 })).toEqual({ ok: true, value: { recentMaxBytes: 16 << 20 } })
  })
})
