/**
 * classify: what a journaled event is (alarm, restore, trouble, opening, closing, test, ...) and
 * its zone, user and area, from the Contact ID and SIA code tables, added for the stages after it.
 */
import pino from 'pino'
import { describe, expect, it } from 'vitest'
import type { StageContext } from '../../../src/pipeline/stage.js'
import { classify } from '../../../src/pipeline/stages/classify.js'
import { parseContactId, parseSia, type DecodedEvent } from '../../../src/protocol/index.js'
import type { DerivedRecord, EventRecord, FrameRecord } from '../../../src/journal/record.js'

const log = pino({ level: 'silent' })
const T0 = Date.UTC(2026, 10, 26, 8)

function frameOf (token: string, events: readonly DecodedEvent[]): FrameRecord {
  return {
    type: 'frame', receivedAt: T0, transport: 'tcp', peer: '127.0.0.1:5000', account: '1234', rcvr: undefined, lpref: '0', seq: '0001', token,
    encrypted: false, events, xdata: [], text: undefined, panelTime: undefined, flags: {}, quirks: [], dedupe: undefined, raw: '',
  }
}

function cid (data: string): FrameRecord {
  const parsed = parseContactId(Buffer.from(`#1234|${data}`))
  if (!parsed.ok) throw new Error(parsed.reason)
  return frameOf('ADM-CID', [parsed.value])
}

function sia (data: string): FrameRecord {
  const parsed = parseSia(Buffer.from(`#1234|${data}`))
  if (!parsed.ok) throw new Error(parsed.reason)
  return frameOf('SIA-DCS', parsed.value.events)
}

/** classify keeps no state and sets no timers: a context that fails if it tries. */
const ctx: StageContext = {
  state: {
    get: () => { throw new Error('classify read state') },
    set: () => { throw new Error('classify wrote state') },
    delete: () => { throw new Error('classify wrote state') },
    list: () => { throw new Error('classify read state') },
  },
  now: T0,
  schedule: () => { throw new Error('classify set a timer') },
  scheduled: () => false,
  cancel: () => { throw new Error('classify set a timer') },
  log,
}

async function annotate (record: EventRecord): Promise<unknown> {
  const result = await classify().run({ record: { ...record, id: 1 }, annotations: {} }, ctx)
  expect(result?.emit).toBeUndefined()
  return result?.add
}

describe('classify: Contact ID', () => {
  it.each([
    ['1130 01 015', 'burglary alarm, zone 15', { class: 'alarm', classes: ['alarm'], zone: 15 }],
    ['6130 01 015', 'burglary still present', { class: 'alarm', classes: ['alarm'], zone: 15 }],
    ['3130 01 015', 'burglary restore', { class: 'restore', classes: ['restore'], zone: 15 }],
    ['1110 01 004', 'fire alarm', { class: 'alarm', classes: ['alarm'], zone: 4 }],
    ['1121 01 003', 'duress, by user 3', { class: 'alarm', classes: ['alarm'], user: 3 }],
    ['1401 01 003', 'opening by user 3', { class: 'opening', classes: ['opening'], user: 3 }],
    ['3401 01 003', 'closing by user 3', { class: 'closing', classes: ['closing'], user: 3 }],
    ['1406 01 003', 'cancel by user 3', { class: 'status', classes: ['status'], user: 3 }],
    ['1602 00 000', 'periodic test', { class: 'test', classes: ['test'], zone: 0 }],
    ['1301 00 000', 'AC power loss', { class: 'trouble', classes: ['trouble'], zone: 0 }],
    ['3301 00 000', 'AC power restored', { class: 'trouble_restore', classes: ['trouble_restore'], zone: 0 }],
    ['1200 01 009', 'fire supervisory', { class: 'supervisory', classes: ['supervisory'], zone: 9 }],
    ['3200 01 009', 'fire supervisory restore', { class: 'restore', classes: ['restore'], zone: 9 }],
  ])('%s (%s)', async (data, _, expected) => {
    expect(await annotate(cid(data))).toEqual(expected)
  })

  it('names a code the table does not have "other", keeping the number as a zone', async () => {
    expect(await annotate(cid('1000 01 005'))).toEqual({ class: 'other', classes: ['other'], zone: 5 })
  })

  it('gives no zone when the number is not decimal', async () => {
    expect(await annotate(cid('1130 01 0A5'))).toEqual({ class: 'alarm', classes: ['alarm'] })
  })
})

describe('classify: SIA', () => {
  it.each([
    ['Nri1/BA01', 'burglary alarm', { class: 'alarm', classes: ['alarm'], zone: 1, area: 1 }],
    ['Nri1/BR01', 'burglary restoral', { class: 'restore', classes: ['restore'], zone: 1, area: 1 }],
    ['Nri2/OP03', 'opening by user 3 in area 2', { class: 'opening', classes: ['opening'], user: 3, area: 2 }],
    ['Nri01/CL05', 'closing by user 5', { class: 'closing', classes: ['closing'], user: 5, area: 1 }],
    ['NRP', 'automatic test', { class: 'test', classes: ['test'] }],
    ['NYT', 'battery trouble', { class: 'trouble', classes: ['trouble'] }],
    ['NYR', 'battery restoral', { class: 'trouble_restore', classes: ['trouble_restore'] }],
    ['NBB04', 'bypass', { class: 'bypass', classes: ['bypass'], zone: 4 }],
    ['Nid7/BA03', 'alarm with the user in a modifier', { class: 'alarm', classes: ['alarm'], zone: 3, user: 7 }],
    ['NOG02', 'area opened', { class: 'opening', classes: ['opening'], area: 2 }],
  ])('%s (%s)', async (data, _, expected) => {
    expect(await annotate(sia(data))).toEqual(expected)
  })

  it('names a frame with an alarm among its events an alarm, listing every class', async () => {
    expect(await annotate(sia('NRR/RP/BA03'))).toMatchObject({ class: 'alarm', classes: ['status', 'test', 'alarm'] })
  })

  it('otherwise names a frame after its first event, its zone or user from that event', async () => {
    expect(await annotate(sia('NOP03/CL04'))).toEqual({ class: 'opening', classes: ['opening', 'closing'], user: 3 })
  })

  it('names a code the table does not have "other"', async () => {
    expect(await annotate(sia('NQQ01'))).toEqual({ class: 'other', classes: ['other'] })
  })

  it('names a frame with no events (a text-only block) "other"', async () => {
    const parsed = parseSia(Buffer.from('#1234|Aservice visit'))
    if (!parsed.ok) throw new Error(parsed.reason)
    expect(parsed.value.events).toEqual([])
    expect(await annotate({ ...frameOf('SIA-DCS', []), text: parsed.value.text })).toEqual({ class: 'other', classes: [] })
  })
})

describe('classify: link tests and derived events', () => {
  it('names a NULL frame a link test', async () => {
    expect(await annotate({ ...frameOf('NULL', []), flags: { linkTest: true } })).toEqual({ class: 'link-test', classes: ['link-test'] })
  })

  it('names an event a stage or command derived by its kind', async () => {
    const record: DerivedRecord = { type: 'derived', receivedAt: T0, kind: 'supervision-failure', account: '1234', stage: 'supervision', causedBy: 0, n: 0, data: {} }
    expect(await annotate(record)).toEqual({ class: 'supervision-failure', classes: ['supervision-failure'] })
  })
})
