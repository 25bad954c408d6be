import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { parseContactId, parseSia, serializeFrame, siaEvent, formatSia, decodeFrame } from '../../../src/protocol/index.js'
import { encodeRecord } from '../../../src/journal/record-codec.js'
import { compactEvents, expandEvents, type CompactEvents, type CompactSia } from '../../../src/journal/compact.js'
import { recordJson, type JournalFrame } from '../../../src/journal/record.js'

const safeText = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,-:\u00e9\u20ac'), maxLength: 20 })
const modifier = fc.tuple(fc.constantFrom('ri', 'id', 'pi', 'ai', 'lv', 'ti', 'da'), fc.string({ unit: fc.constantFrom(...'0123456789'), maxLength: 4 }))
const event = fc.record({
  code: fc.constantFrom('BA', 'BR', 'OP', 'CL', 'NL', 'QQ', 'YT', 'CG'),
  number: fc.option(fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 4 }), { nil: undefined }),
  modifiers: fc.array(modifier, { maxLength: 3 }).map((m) => Object.fromEntries(m)),
  text: fc.option(safeText, { nil: undefined }),
})

/** Round trip through JSON, as through the journal. */
const stored = (c: CompactEvents | undefined): CompactEvents | null => JSON.parse(JSON.stringify(c ?? null)) as CompactEvents | null

describe('compact events', () => {
  test.prop([fc.option(fc.string({ unit: fc.constantFrom(...'0123456789ABCDEF'), minLength: 1, maxLength: 8 }), { nil: undefined }), fc.constantFrom('N', 'O'), fc.array(event, { minLength: 1, maxLength: 64 }), fc.option(safeText, { nil: undefined })], { numRuns: 500 })(
    'a SIA block expands to exactly the events the decoder gave', (account, block, events, asciiText) => {
      const data = formatSia({ account, block: block as 'N' | 'O', events, asciiText })
      const r = parseSia(Buffer.from(data, 'utf8'))
      if (!r.ok) return
      const back = expandEvents(stored(compactEvents(r.value.events)))
      expect(back).toEqual(r.value.events)
      expect(JSON.stringify(back)).toBe(JSON.stringify(r.value.events))
    })

  test.prop([fc.constantFrom('1', '3', '6', 'E'), fc.string({ unit: fc.constantFrom(...'0123456789ABCDEF'), minLength: 3, maxLength: 3 }), fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 2, maxLength: 2 }), fc.string({ unit: fc.constantFrom(...'0123456789ABCDEF'), minLength: 3, maxLength: 3 }), fc.boolean()])(
    'a Contact ID event expands to exactly the event the decoder gave', (q, code, group, number, withAccount) => {
      const r = parseContactId(Buffer.from(`${withAccount ? '#1234|' : ''}${q}${code} ${group} ${number}`))
      if (!r.ok) throw new Error(r.reason)
      const c = compactEvents([r.value])
      expect(stored(c)).toEqual({ f: 'C', ...(withAccount ? { a: '1234' } : {}), e: q + code + group + number })
      expect(expandEvents(stored(c))).toEqual([r.value])
    })

  it('keeps modifiers once per run of events that share them', () => {
    const r = parseSia(Buffer.from('#1|Nri1/id2/BA01/BA02/BA03/ri2/BA04*12KM/BR05', 'latin1'))
    if (!r.ok) throw new Error(r.reason)
    const c = compactEvents(r.value.events) as CompactSia
    expect(c.m).toEqual([[0, 'ri1/id2'], [3, 'ri2/id2/units12KM'], [4, 'ri2/id2']])
    expect(c.e).toEqual(['BA01', 'BA02', 'BA03', 'BA04', 'BR05'])
    const back = expandEvents(stored(c))
    // Shared within a run, as the decoder shares them.
    expect(back[0]!.format === 'SIA-DCS' && back[1]!.format === 'SIA-DCS' && back[0]!.modifiers === back[1]!.modifiers).toBe(true)
    expect(back).toEqual(r.value.events)
  })

  it('keeps modifiers that would not read back from SIA\'s own form as an object', () => {
    for (const modifiers of [{ ri: 'x/y' }, { ri: 'abc' }, { Ri: '1' }, { '': '1' }, { ri: '1', 'i d': '2' }]) {
      const odd = siaEvent({ code: 'BA', number: '1', modifiers, text: undefined, asciiText: undefined, extendedText: undefined }, '1', 'N')
      const c = compactEvents([odd]) as CompactSia
      expect(c.m).toEqual([[0, modifiers]])
      expect(expandEvents(stored(c))).toEqual([odd])
    }
  })

  it('keeps the texts of an event, and none where it has none', () => {
    const r = parseSia(Buffer.from("#1|Nri1/BA01^front^/NR001*'HA'NM/FA2|AFire", 'latin1'))
    if (!r.ok) throw new Error(r.reason)
    const c = compactEvents(r.value.events) as CompactSia
    expect(c.e).toEqual(['BA01^front', ['NR001', null, null, 'HA'], ['FA2', null, 'Fire']])
    expect(expandEvents(stored(c))).toEqual(r.value.events)
  })

  it('gives nothing for no events, and no events back', () => {
    expect(compactEvents([])).toBeUndefined()
    expect(expandEvents(undefined)).toEqual([])
    expect(expandEvents(null)).toEqual([])
  })

  it('leaves events it cannot represent to be kept in full', () => {
    const a = parseContactId(Buffer.from('1130 01 015'))
    if (!a.ok) throw new Error(a.reason)
    expect(compactEvents([a.value, a.value])).toBeUndefined()
    const odd = siaEvent({ code: 'BAX', number: undefined, modifiers: {}, text: undefined, asciiText: undefined, extendedText: undefined }, undefined, 'N')
    expect(compactEvents([odd])).toBeUndefined()
  })
})

/** The record the receiver journals for a frame (its encoded size is what the journal writes). */
function journaled (frame: Buffer): { compact: number, full: number } {
  const d = decodeFrame(frame)
  if (!d.ok) throw new Error(d.reason)
  const base = {
    type: 'frame' as const, receivedAt: 1700000000123, transport: 'tcp' as const, peer: '127.0.0.1:40000', account: d.value.account, rcvr: d.value.rcvr, lpref: d.value.lpref,
    seq: d.value.seq, token: d.value.token, encrypted: false, xdata: [], text: d.value.text, panelTime: d.value.panelTime, flags: {}, quirks: [], dedupe: undefined, raw: frame.toString('base64'),
  }
  const compact: JournalFrame = { ...base, ev: compactEvents(d.value.events) }
  const full: JournalFrame = { ...base, events: d.value.events }
  return { compact: encodeRecord(recordJson(compact), 1).length, full: encodeRecord(recordJson(full), 1).length }
}

describe('journal bytes', () => {
  it('are at most 3 per wire byte for a 1.7 KB block of 64 events whose modifiers change with every event', () => {
    const events = Array.from({ length: 64 }, (_, i) => ({
      modifiers: { ri: String(1 + (i % 8)).padStart(2, '0'), id: String(i * 7 % 1000).padStart(3, '0') },
      code: ['BA', 'BR', 'TA', 'FA'][i % 4]!,
      number: String(1 + i).padStart(3, '0'),
      text: `Zone ${String(i).padStart(2, '0')}`,
    }))
    const frame = serializeFrame({ token: 'SIA-DCS', seq: 1, lpref: '0', acct: '7777', data: formatSia({ account: '7777', events }) })
    expect(frame.length).toBeGreaterThan(1600)
    const { compact, full } = journaled(frame)
    expect(compact / frame.length).toBeLessThanOrEqual(3)
    expect(full / frame.length).toBeGreaterThan(3)
  })

  it('are fewer for a Contact ID frame than with the event in full', () => {
    const frame = serializeFrame({ token: 'ADM-CID', seq: 1, lpref: '0', acct: '1234', data: '#1234|1130 01 015' })
    const { compact, full } = journaled(frame)
    expect(compact).toBeLessThan(full)
  })
})
