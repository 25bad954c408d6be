import { fc, test } from '@fast-check/vitest'
import { describe, expect, it } from 'vitest'
import { decodeFrame, serializeFrame } from '../../../src/protocol/index.js'
import { compactEvents } from '../../../src/journal/compact.js'
import { expandFrame, expandRecord, frameEvents, recordJson, type FrameRecord, type JournalFrame } from '../../../src/journal/record.js'

function decoded (data: string) {
  const f = serializeFrame({ token: 'SIA-DCS', seq: 5, lpref: '0', acct: '1234', data, xdata: [{ id: 'I', value: 'a"b\\c' }] })
  const d = decodeFrame(f)
  if (!d.ok) throw new Error(d.reason)
  return { f, d: d.value }
}

/** recordJson must say exactly what JSON.stringify says (with undefined fields as null). */
test.prop([fc.string(), fc.string(), fc.option(fc.string(), { nil: undefined }), fc.boolean(), fc.constantFrom('compact', 'full', 'none'), fc.option(fc.string(), { nil: undefined })])('recordJson is JSON.stringify for frame records', (peer, text, rcvr, enc, form, holder) => {
  const { f, d } = decoded('#1234|Nri1/BA01^x^')
  const r: JournalFrame = {
    type: 'frame', receivedAt: 1700000000123, transport: 'udp', peer, account: '1234', holder, rcvr, lpref: '0', seq: '0005', token: 'SIA-DCS',
    encrypted: enc, ...(form === 'compact' ? { ev: compactEvents(d.events) } : form === 'full' ? { events: d.events } : {}), xdata: [{ id: 'I', value: text }], text, panelTime: enc ? 1700000000000 : undefined,
    flags: enc ? { quarantine: true } : {}, quirks: ['junk-after-data'], dedupe: enc ? `k|${text}` : undefined, raw: f.toString('base64'),
  }
  const expected = JSON.parse(JSON.stringify(r)) as Record<string, unknown>
  const got = JSON.parse(recordJson(r)) as Record<string, unknown>
  for (const k of Object.keys(got)) if (got[k] === null && expected[k] === undefined) delete got[k]
  expect(got).toEqual(expected)
})

describe('reading journaled frames', () => {
  const { f, d } = decoded('#1234|Nri1/id3/BA01^front^/BA02/ri2/OP003')
  /** A frame record as journals held it before the compact form: events in full, read back from JSON. */
  const full: FrameRecord = JSON.parse(JSON.stringify({
    type: 'frame', receivedAt: 1700000000123, transport: 'tcp', peer: '10.0.0.1:4000', account: '1234', rcvr: null, lpref: '0', seq: '0005', token: 'SIA-DCS',
    encrypted: false, events: d.events, xdata: [{ id: 'I', value: 'a"b\\c' }], text: null, panelTime: null, flags: {}, quirks: [], dedupe: 'k', raw: f.toString('base64'),
  })) as FrameRecord
  const { events: _e, ...rest } = full
  const compact = JSON.parse(recordJson({ ...rest, ev: compactEvents(d.events) })) as JournalFrame

  it('gives the same events and the same export from the compact form as from the full one', () => {
    expect(frameEvents(compact)).toEqual(frameEvents(full))
    expect(JSON.stringify(expandFrame({ ...compact, id: 9 }))).toBe(JSON.stringify({ id: 9, ...full }))
    expect(JSON.stringify(expandRecord({ ...full, id: 9 }))).toBe(JSON.stringify({ id: 9, ...full }))
  })

  it('reads a frame without events (a link test) as having none', () => {
    const { ev: _ev, ...none } = compact
    expect(frameEvents(none)).toEqual([])
  })
})
