/**
 * Sur-Gard records: the published layouts byte for byte, every record read back by the strict
 * test client's parser (written from the layouts, not from the encoder), and no hostile field
 * able to put a control byte or a record boundary inside a record.
 */
import { describe, expect, it } from 'vitest'
import type { ContactIdItem, OutputEvent, SiaItem } from '../../../src/outputs/output.js'
import {
  DEFAULT_RECORD_OPTIONS, MAX_SIA_DATA, RECEIVER_EVENT_CODES, encodeEvent, encodeHeartbeat, parseSurgardOptions,
  type RecordOptions,
} from '../../../src/outputs/surgard/records.js'
import { siaCode } from '../../../src/protocol/codes/index.js'
import { parseRecord } from '../../support/surgard-client.js'

const O5 = DEFAULT_RECORD_OPTIONS
const O3: RecordOptions = { receiver: '01', line: '1', header: 3, b32: false }

function cid (over: Partial<ContactIdItem> = {}): ContactIdItem {
  return { format: 'ADM-CID', qualifier: '1', code: '131', group: '01', number: '015', class: 'alarm', ...over }
}
function sia (over: Partial<SiaItem> = {}): SiaItem {
  return { format: 'SIA-DCS', block: 'N', code: 'BA', number: '01', class: 'alarm', ...over }
}
function frame (events: OutputEvent['events'], over: Partial<OutputEvent> = {}): OutputEvent {
  const protocol = events?.[0]?.format ?? 'NULL'
  return { id: 1, at: '2026-12-03T00:00:00.000Z', tenant: null, account: '1234', type: 'frame', class: 'alarm', protocol, events, ...over }
}
function texts (e: OutputEvent, o: RecordOptions = O5): string[] {
  return encodeEvent(e, o).map((b) => {
    expect(b.at(-1)).toBe(0x14)
    return b.subarray(o.b32 ? 4 : 0, -1).toString('latin1')
  })
}
function parsed (e: OutputEvent, o: RecordOptions = O5): ReturnType<typeof parseRecord>[] {
  return texts(e, o).map((t) => parseRecord(t, o.header))
}

describe('the worked examples', () => {
  it('Contact ID, System III/5 layout: 22 characters and DC4', () => {
    const b = encodeEvent(frame([cid()]), O5)
    expect(b).toHaveLength(1)
    expect(b[0]).toEqual(Buffer.from('501001 181234E13101015\x14', 'latin1'))
  })

  it('Contact ID, MLR2 layout (RRL): 20 characters and DC4', () => {
    expect(encodeEvent(frame([cid()]), O3)[0]).toEqual(Buffer.from('5011 181234E13101015\x14', 'latin1'))
  })

  it('heartbeat: 1RR000, 11 spaces, @, 4 spaces (1RR0 with the 3-wide header)', () => {
    const hb = encodeHeartbeat(O5)
    expect(hb.toString('latin1')).toBe('101000' + ' '.repeat(11) + '@' + ' '.repeat(4) + '\x14')
    expect(hb.length).toBe(23)
    expect(encodeHeartbeat(O3).toString('latin1')).toBe('1010' + ' '.repeat(11) + '@    \x14')
    expect(parseRecord(hb.subarray(0, -1).toString(), 5)).toMatchObject({ kind: 'heartbeat', receiver: '01', line: '000' })
  })

  it('SIA-DCS: S01001[#1234|Nri1/BA01]', () => {
    expect(texts(frame([sia({ modifiers: { ri: '1' } })]))).toEqual(['S01001[#1234|Nri1/BA01]'])
  })
})

describe('Contact ID', () => {
  it('qualifiers 1/3/6 become E/R/P; one record per event', () => {
    const r = parsed(frame([cid(), cid({ qualifier: '3' }), cid({ qualifier: '6', code: '602', group: '00', number: '000' })]))
    expect(r.map((x) => x.kind === 'cid' && x.qualifier)).toEqual(['E', 'R', 'P'])
    expect(r[2]).toMatchObject({ kind: 'cid', protocol: '5', account: '1234', code: '602', group: '00', number: '000' })
  })

  it('accounts of 5 to 10 characters: the Q record, padded to 10', () => {
    expect(texts(frame([cid()], { account: '123456' }))).toEqual(['Q01001 580000123456E13101015'])
    expect(parsed(frame([cid()], { account: 'abcdef1234' }))[0]).toMatchObject({ kind: 'cid', protocol: 'Q', account: 'ABCDEF1234', qualifier: 'E' })
  })

  it('hex accounts are kept as the frame has them, in upper case', () => {
    expect(texts(frame([cid()], { account: '12aF' }))).toEqual(['501001 1812AFE13101015'])
  })

  it('an account that does not fit (longer than 10, 3 characters, or not hex) goes as SIA with its SIA equivalent', () => {
    const long = parsed(frame([cid(), cid({ qualifier: '3' })], { account: '123456789ABC' }))
    expect(long).toEqual([expect.objectContaining({ kind: 'sia', account: '123456789ABC' })])
    const events = long[0]?.kind === 'sia' ? long[0].events : []
    expect(events.map((e) => e.code + e.number)).toEqual(['BA015', 'BH015'])
    expect(events[0]?.modifiers).toEqual({ ri: '01' })
    expect(texts(frame([cid()], { account: '123' }))).toEqual(['S01001[#123|Nri01/BA015]'])
    // Not hex: the account cannot be carried at all, so 0000 (the receiver's own) says so.
    expect(texts(frame([cid()], { account: 'L1234' }))).toEqual(['S01001[#0000|Nri01/BA015]'])
  })

  it('with the 3-wide header there is no 10-digit record: long accounts go as SIA', () => {
    expect(texts(frame([cid()], { account: '123456' }), O3)).toEqual(['S011[#123456|Nri01/BA015]'])
  })

  it('a code without an SIA equivalent goes as an untyped alarm or restore; qualifier 6 as an old event', () => {
    expect(texts(frame([cid({ code: '999' }), cid({ code: '999', qualifier: '3', group: '00' })], { account: '12' }))).toEqual(['S01001[#12|Nri01/UA015]', 'S01001[#12|NUR015]'])
    expect(texts(frame([cid({ qualifier: '6' })], { account: '12' }))).toEqual(['S01001[#12|Ori01/BA015]'])
  })

  it('fields that are not what the layout holds fall back to SIA rather than shifting columns', () => {
    expect(texts(frame([cid({ qualifier: '2' })]))).toEqual(['S01001[#1234|Nri01/BA015]'])
    expect(texts(frame([cid({ number: '15' })]))).toEqual(['S01001[#1234|Nri01/BA15]'])
  })
})

describe('SIA', () => {
  it('several events of a frame share one record; modifiers are written when they change', () => {
    const e = frame([sia({ modifiers: { ri: '1' } }), sia({ number: '02', modifiers: { ri: '1' } }), sia({ code: 'OP', number: '3', modifiers: { ri: '2', id: '3' } })])
    expect(texts(e)).toEqual(['S01001[#1234|Nri1/BA01/BA02/ri2/id3/OP3]'])
    const r = parsed(e)[0]
    expect(r?.kind === 'sia' && r.events).toEqual([
      { block: 'N', code: 'BA', number: '01', modifiers: { ri: '1' } },
      { block: 'N', code: 'BA', number: '02', modifiers: { ri: '1' } },
      { block: 'N', code: 'OP', number: '3', modifiers: { ri: '2', id: '3' } },
    ])
  })

  it('a new record when the block changes or a modifier in force is not the next event\'s', () => {
    expect(texts(frame([sia({ modifiers: { ri: '1' } }), sia({ block: 'O' }), sia({ block: 'O', code: 'BR' })]))).toEqual([
      'S01001[#1234|Nri1/BA01]', 'S01001[#1234|OBA01/BR01]',
    ])
    expect(texts(frame([sia({ modifiers: { ri: '1' } }), sia()]))).toEqual(['S01001[#1234|Nri1/BA01]', 'S01001[#1234|NBA01]'])
  })

  it(`data longer than ${MAX_SIA_DATA} characters is split over records, each within the limit, none lost`, () => {
    const items = Array.from({ length: 40 }, (_, i) => sia({ number: String(i + 1).padStart(3, '0'), modifiers: { ri: '1' } }))
    const r = parsed(frame(items, { account: '1234567890ABCDEF' }))
    expect(r.length).toBeGreaterThan(1)
    const events = r.flatMap((x) => {
      expect(x.kind).toBe('sia')
      return x.kind === 'sia' ? (expect(x.data.length).toBeLessThanOrEqual(MAX_SIA_DATA), x.events) : []
    })
    expect(events.map((e) => e.number)).toEqual(items.map((i) => i.number))
    expect(events.every((e) => e.modifiers.ri === '1')).toBe(true)
  })

  it('an event with too many modifiers to fit keeps its code and as many modifiers as fit', () => {
    const modifiers = Object.fromEntries(['ri', 'id', 'ti', 'pi', 'da', 'ai', 'ph', 'lv', 'va'].map((m) => [m, '123456789012']))
    const r = parsed(frame([sia({ modifiers })], { account: '1234567890ABCDEF' }))
    expect(r).toHaveLength(1)
    expect(r[0]?.kind === 'sia' && r[0].data.length).toBeLessThanOrEqual(MAX_SIA_DATA)
    expect(r[0]?.kind === 'sia' && r[0].events[0]?.code).toBe('BA')
  })

  it('accounts longer than 16 characters become 0000', () => {
    expect(texts(frame([sia()], { account: '1'.repeat(17) }))).toEqual(['S01001[#0000|NBA01]'])
  })
})

describe('the line', () => {
  it('fixed, or taken from the frame when its receiver and line fields are digits that fit', () => {
    const o: RecordOptions = { ...O5, line: 'frame', receiver: '07' }
    expect(texts(frame([cid()], { receiver: '12', line: '0034' }), o)).toEqual(['512034 181234E13101015'])
    expect(texts(frame([cid()], { receiver: '123', line: '1000' }), o)).toEqual(['507001 181234E13101015'])
    expect(texts(frame([cid()], { receiver: 'A1', line: 'B' }), o)).toEqual(['507001 181234E13101015'])
    expect(texts(frame([cid()], { receiver: '2', line: '5' }), { ...O3, line: 'frame' })).toEqual(['5025 181234E13101015'])
    expect(texts(frame([cid()], { receiver: '2', line: '15' }), { ...O3, line: 'frame' })).toEqual(['5021 181234E13101015'])
    // The heartbeat always carries the receiver's own number.
    expect(encodeHeartbeat(o).subarray(0, 6).toString()).toBe('107000')
  })
})

describe('the receiver\'s own events', () => {
  function own (type: string, account = ''): OutputEvent {
    return { id: 9, at: '2026-12-03T00:00:00.000Z', tenant: null, account, type, class: 'trouble', by: 'supervision', causedBy: 0 }
  }

  it('supervision and output link events as SIA records (the receiver\'s own on line 0); codes from the code table', () => {
    expect(texts(own('supervision-failure', '1234'))).toEqual(['S01001[#1234|NYC]'])
    expect(texts(own('supervision-restore', '1234'))).toEqual(['S01001[#1234|NYK]'])
    expect(texts(own('output-link-failed'))).toEqual(['S01000[#0000|NNT]'])
    expect(texts(own('output-link-restored'))).toEqual(['S01000[#0000|NNR]'])
    expect(texts(own('output-parked', 'xyz'))).toEqual(['S01000[#0000|NRT]'])
    for (const code of Object.values(RECEIVER_EVENT_CODES)) expect(siaCode(code)).toBeDefined()
    expect(texts(own('output-parked'), O3)).toEqual(['S010[#0000|NRT]'])
    expect(texts(own('supervision-failure', '1234'), O3)).toEqual(['S011[#1234|NYC]'])
  })

  it('other kinds, link tests and frames without events have no record', () => {
    for (const t of ['case-opened', 'verification', 'duress', 'anything']) expect(encodeEvent(own(t), O5)).toEqual([])
    expect(encodeEvent(frame(undefined, { protocol: 'NULL', class: 'link-test' }), O5)).toEqual([])
    expect(encodeEvent(frame([], { protocol: 'SIA-DCS' }), O5)).toEqual([])
  })
})

describe('hostile fields', () => {
  const nasty = 'a\x14b\x06\x15\x00\r\n]|[#/^é\u2028' + '\x14'.repeat(50)

  it('no control byte, DC4 or stray bracket ever lands inside a record; every record still parses', () => {
    const items = [
      cid({ qualifier: nasty, code: nasty, group: nasty, number: nasty, name: nasty }),
      sia({ code: nasty }),
      sia({ number: nasty, text: nasty, name: nasty, modifiers: { ri: nasty, [nasty]: '1', id: '2' } }),
      sia({ block: nasty as 'N' }),
    ]
    const events: OutputEvent[] = [
      frame(items, { account: nasty, receiver: nasty, line: nasty, text: nasty }),
      frame(items, { account: '1234', receiver: nasty, line: nasty }),
      { ...frame(undefined), type: 'supervision-failure', account: nasty },
    ]
    for (const o of [O5, O3, { ...O5, line: 'frame' }, { ...O5, b32: true }]) {
      for (const e of events) {
        for (const b of encodeEvent(e, o)) {
          const body = b.subarray(o.b32 ? 4 : 0, -1)
          expect(b.at(-1)).toBe(0x14)
          for (const c of body) expect(c >= 0x20 && c < 0x7f).toBe(true)
          expect(parseRecord(body.toString('latin1'), o.header).kind).not.toBe('bad')
        }
      }
    }
  })
})

describe('B32', () => {
  it('each record is preceded by 00 00 LL LL, the BCD length of the whole packet', () => {
    const b = encodeEvent(frame([cid()]), { ...O5, b32: true })[0] as Buffer
    expect(b.length).toBe(27)
    expect([...b.subarray(0, 4)]).toEqual([0, 0, 0x00, 0x27])
    expect(b.subarray(4).toString('latin1')).toBe('501001 181234E13101015\x14')
    const hb = encodeHeartbeat({ ...O5, b32: true })
    expect([...hb.subarray(0, 4)]).toEqual([0, 0, 0, 0x27])
    const s = encodeEvent(frame(Array.from({ length: 20 }, () => sia({ number: '0123' })), { account: '1234567890ABCDEF' }), { ...O5, b32: true })[0] as Buffer
    expect(s.length).toBeGreaterThan(70)
    expect(s.subarray(2, 4).toString('hex')).toBe(String(s.length).padStart(4, '0'))
  })
})

describe('parseSurgardOptions', () => {
  it('fills in the defaults', () => {
    expect(parseSurgardOptions({ port: 1025 })).toEqual({
      ok: true,
      value: { host: '127.0.0.1', port: 1025, receiver: '01', line: '001', header: 5, b32: false, heartbeatSeconds: 30, ackTimeoutSeconds: 4 },
    })
    expect(parseSurgardOptions({ port: 1025, header: 3, receiver: 2, line: 7, b32: true, heartbeatSeconds: 99, ackTimeoutSeconds: 9.9 })).toEqual({
      ok: true,
      value: { host: '127.0.0.1', port: 1025, receiver: '02', line: '7', header: 3, b32: true, heartbeatSeconds: 99, ackTimeoutSeconds: 9.9 },
    })
    expect(parseSurgardOptions({ port: 1, line: 'frame' })).toMatchObject({ ok: true, value: { line: 'frame' } })
    expect(parseSurgardOptions({ port: 1, header: 3 })).toMatchObject({ ok: true, value: { line: '1' } })
  })

  it.each([
    [null], [[]], [{}], [{ port: 0 }], [{ port: 65536 }], [{ port: '1025' }], [{ port: 1.5 }],
    [{ port: 1, host: '' }], [{ port: 1, receiver: '123' }], [{ port: 1, receiver: 'A1' }],
    [{ port: 1, line: '1234' }], [{ port: 1, header: 3, line: '12' }], [{ port: 1, line: 'x' }],
    [{ port: 1, header: 4 }], [{ port: 1, b32: 'yes' }],
    [{ port: 1, heartbeatSeconds: 0 }], [{ port: 1, heartbeatSeconds: 100 }], [{ port: 1, heartbeatSeconds: 1.5 }],
    [{ port: 1, ackTimeoutSeconds: 3.9 }], [{ port: 1, ackTimeoutSeconds: 10 }], [{ port: 1, ackTimeoutMs: 100 }],
  ])('refuses %j', (raw) => {
    const r = parseSurgardOptions(raw)
    expect(r.ok).toBe(false)
    expect(!r.ok && r.reason.length).toBeGreaterThan(0)
  })
})
