/**
 * Sur-Gard records, for any event: every record is printable ASCII ended by one DC4 and parses by
 * the layouts; well-formed events come back field for field, in order, none lost.
 */
import { fc, test } from '@fast-check/vitest'
import { describe, expect } from 'vitest'
import type { OutputEvent, OutputEventItem, SiaItem } from '../../src/outputs/output.js'
import { encodeEvent, type RecordOptions } from '../../src/outputs/surgard/records.js'
import { parseRecord, type ParsedRecord } from '../support/surgard-client.js'

const chars = (set: string, min: number, max: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...set), minLength: min, maxLength: max })
const HEX = '0123456789ABCDEF'
const DIGITS = '0123456789'
/** Anything at all: control bytes, DC4, brackets, non-ASCII. */
const anyText = fc.string({ unit: fc.oneof(fc.constantFrom('\x14', '\x06', '\x15', '\r', '\n', '[', ']', '|', '/', '#', '^', 'é'), fc.string({ minLength: 1, maxLength: 1 })), maxLength: 30 })

const options: fc.Arbitrary<RecordOptions> = fc.record({
  receiver: chars(DIGITS, 2, 2),
  line: fc.constantFrom('001', '123', 'frame'),
  header: fc.constant(5 as const),
  b32: fc.boolean(),
}).chain((o) => fc.oneof(fc.constant(o), fc.constant({ ...o, header: 3 as const, line: o.line === 'frame' ? 'frame' : '7' })))

const hostileItem: fc.Arbitrary<OutputEventItem> = fc.oneof(
  fc.record({ format: fc.constant('ADM-CID' as const), qualifier: anyText, code: anyText, group: anyText, number: anyText, class: anyText }),
  fc.record({
    format: fc.constant('SIA-DCS' as const),
    block: fc.constantFrom('N' as const, 'O' as const),
    code: fc.oneof(anyText, chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 2, 2)),
    number: fc.option(anyText, { nil: undefined }),
    class: anyText,
    modifiers: fc.option(fc.dictionary(fc.oneof(anyText, fc.constantFrom('ri', 'id', 'ti')), anyText, { maxKeys: 5 }), { nil: undefined }),
    text: fc.option(anyText, { nil: undefined }),
  })
)

function frame (account: string, events: readonly OutputEventItem[], over: Partial<OutputEvent> = {}): OutputEvent {
  return { id: 1, at: '2026-12-03T00:00:00.000Z', tenant: null, account, type: 'frame', class: 'alarm', protocol: events[0]?.format ?? 'NULL', events, ...over }
}

function parseAll (e: OutputEvent, o: RecordOptions): ParsedRecord[] {
  return encodeEvent(e, o).map((b) => {
    expect(b.at(-1)).toBe(0x14)
    const body = b.subarray(o.b32 ? 4 : 0, -1)
    for (const c of body) expect(c >= 0x20 && c < 0x7f).toBe(true)
    if (o.b32) expect(b.subarray(0, 4).toString('hex')).toBe(String(b.length).padStart(8, '0'))
    const r = parseRecord(body.toString('latin1'), o.header)
    if (r.kind === 'bad') throw new Error(`${r.why}: ${r.text}`)
    return r
  })
}

describe('Sur-Gard records', () => {
  test.prop([options, anyText, anyText, anyText, fc.array(hostileItem, { maxLength: 12 }), fc.constantFrom('frame', 'supervision-failure', 'output-parked', 'case-opened')])(
    'whatever the fields hold, records are printable ASCII, one DC4 at the end, and parse',
    (o, account, receiver, line, items, type) => {
      parseAll(frame(account, items, { receiver, line, type }), o)
    })

  test.prop([options, chars(HEX, 4, 10), fc.array(fc.record({
    format: fc.constant('ADM-CID' as const),
    qualifier: fc.constantFrom('1', '3', '6'),
    code: chars(HEX, 3, 3),
    group: chars(HEX, 2, 2),
    number: chars(HEX, 3, 3),
    class: fc.constant('alarm'),
  }), { minLength: 1, maxLength: 5 })])('Contact ID comes back field for field, one record per event', (o, account, items) => {
    const r = parseAll(frame(account, items), o)
    if (o.header === 3 && account.length > 4) {
      expect(r.every((x) => x.kind === 'sia')).toBe(true)
      return
    }
    expect(r.map((x) => x.kind === 'cid' ? [x.account.replace(/^0+/, ''), x.qualifier, x.code, x.group, x.number] : x.kind))
      .toEqual(items.map((i) => [account.replace(/^0+/, ''), { 1: 'E', 3: 'R', 6: 'P' }[i.qualifier], i.code, i.group, i.number]))
  })

  test.prop([options, chars(HEX, 1, 16), fc.array(fc.record({
    format: fc.constant('SIA-DCS' as const),
    block: fc.constantFrom('N' as const, 'O' as const),
    code: chars('ABCDEFGHIJKLMNOPQRSTUVWXYZ', 2, 2),
    number: fc.option(chars(DIGITS, 1, 4), { nil: undefined }),
    class: fc.constant('alarm'),
    modifiers: fc.option(fc.record({ ri: chars(DIGITS, 1, 3), id: chars(DIGITS, 1, 4) }, { requiredKeys: [] }), { nil: undefined }),
  }), { minLength: 1, maxLength: 30 })])('SIA events come back in order with their modifiers, across as many records as it takes', (o, account, items: SiaItem[]) => {
    const r = parseAll(frame(account, items), o)
    const got = r.flatMap((x) => {
      if (x.kind !== 'sia') throw new Error(x.kind)
      expect(x.account).toBe(account)
      return x.events
    })
    expect(got).toEqual(items.map((i) => ({ block: i.block, code: i.code, number: i.number ?? '', modifiers: { ...i.modifiers } })))
  })
})
