import { fc, test } from '@fast-check/vitest'
import { expect } from 'vitest'
import { decodeFrame, serializeFrame } from '../../../src/protocol/index.js'
import { recordJson, type FrameRecord } from '../../../src/receiver/record.js'

/** recordJson must say exactly what JSON.stringify says (with undefined fields as null). */
test.prop([fc.string(), fc.string(), fc.option(fc.string(), { nil: undefined }), fc.boolean()])('recordJson is JSON.stringify for frame records', (peer, text, rcvr, enc) => {
  const f = serializeFrame({ token: 'SIA-DCS', seq: 5, lpref: '0', acct: '1234', data: '#1234|Nri1/BA01^x^', xdata: [{ id: 'I', value: 'a"b\\c' }] })
  const d = decodeFrame(f)
  if (!d.ok) throw new Error(d.reason)
  const r: FrameRecord = {
    type: 'frame', receivedAt: 1700000000123, transport: 'udp', peer, account: '1234', rcvr, lpref: '0', seq: '0005', token: 'SIA-DCS',
    encrypted: enc, events: d.frame.events, xdata: [{ id: 'I', value: text }], text, panelTime: enc ? 1700000000000 : undefined,
    flags: enc ? { quarantine: true } : {}, quirks: ['junk-after-data'], dedupe: enc ? `k|${text}` : undefined, raw: f.toString('base64'),
  }
  const expected = JSON.parse(JSON.stringify(r)) as Record<string, unknown>
  const got = JSON.parse(recordJson(r)) as Record<string, unknown>
  for (const k of Object.keys(got)) if (got[k] === null && expected[k] === undefined) delete got[k]
  expect(got).toEqual(expected)
})
