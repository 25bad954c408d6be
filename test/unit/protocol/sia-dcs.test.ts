import { describe, expect, it } from 'vitest'
import { ErrorCode } from '../../../src/protocol/errors.js'
import { formatSia, parseSia } from '../../../src/protocol/sia-dcs.js'

const sia = (s: string | Buffer, charset?: string) => {
  const r = parseSia(typeof s === 'string' ? Buffer.from(s, 'latin1') : s, charset)
  if (!r.ok) throw new Error(r.reason)
  return r.value
}

describe('SIA DC-03/04 data', () => {
  it('reads one event with its area and zone', () => {
    const b = sia('#1234|Nri1/BA01')
    expect(b.account).toBe('1234')
    expect(b.events).toHaveLength(1)
    expect(b.events[0]).toMatchObject({ code: 'BA', known: true, class: 'alarm', number: '01', numberKind: 'zone', zone: 1, area: 1, modifiers: { ri: '1' } })
  })

  it('reads every event of a block, carrying modifiers forward until they change', () => {
    expect(sia('#1|Nri01/BA01/BA02').events.map((e) => [e.code, e.zone, e.area])).toEqual([['BA', 1, 1], ['BA', 2, 1]])
    expect(sia('#1|Nri1BA01/ri2BA05').events.map((e) => [e.zone, e.area])).toEqual([[1, 1], [5, 2]])
    const e = sia('#3080|Nti19:44/id1/ri4/RP').events[0]
    expect(e).toMatchObject({ code: 'RP', modifiers: { ti: '19:44', id: '1', ri: '4' }, user: 1, area: 4 })
  })

  it('reads modifiers written back to back, with dates and seconds', () => {
    const e = sia('#12345|Nri0000pi0006da10-25-18ti14:37:53UT0000^$PR,SCOMPARSA  ,Zona1^').events[0]
    expect(e).toMatchObject({ code: 'UT', modifiers: { ri: '0000', pi: '0006', da: '10-25-18', ti: '14:37:53' }, text: '$PR,SCOMPARSA  ,Zona1' })
  })

  it('takes user numbers from user codes and area numbers from area codes', () => {
    expect(sia('#1|Nri1/OP001').events[0]).toMatchObject({ numberKind: 'user', user: 1, zone: undefined, area: 1 })
    expect(sia('#1|Nri1/CL501').events[0]).toMatchObject({ class: 'closing', user: 501 })
    expect(sia('#5555|Npi1/NL1').events[0]).toMatchObject({ numberKind: 'area', area: 1, modifiers: { pi: '1' } })
  })

  it('reads ^text^, |A text and xSIA *\'text\'NM', () => {
    expect(sia('#1|Nri1CL0^VX FRONTE ^').events[0]).toMatchObject({ code: 'CL', user: 0, text: 'VX FRONTE ' })
    expect(sia('#1234|NRR|Atest').events[0]).toMatchObject({ code: 'RR', asciiText: 'test' })
    expect(sia("#001234|Nri01/NR001*'HA'NM").events[0]).toMatchObject({ code: 'NR', extendedText: 'HA' })
    expect(sia('#1|Nri04/OP001*"Front door"NM/ri05/CL002').events.map((e) => [e.code, e.extendedText, e.area]))
      .toEqual([['OP', 'Front door', 4], ['CL', undefined, 5]])
    expect(sia(Buffer.from('#006969|Nri04/OP001*\u2019NM', 'utf8')).events[0]).toMatchObject({ code: 'OP', extendedText: '' })
  })

  it('reads a text-only A block and the Eaton | separator', () => {
    expect(sia('#000010|AFire Zone 2')).toMatchObject({ block: 'A', events: [], text: 'Fire Zone 2' })
    expect(sia('#000010|Nti10:15|ri4|FA2|AFire Zone 2').events[0]).toMatchObject({ code: 'FA', zone: 2, area: 4, asciiText: 'Fire Zone 2' })
  })

  it('reads O (old event) blocks, DSC\'s capital Ri, and accounts in all their forms', () => {
    expect(sia('#1|Ori1/BA01').events[0]).toMatchObject({ block: 'O', code: 'BA' })
    expect(sia('#1|NRi01/BA01').events[0]).toMatchObject({ area: 1 })
    expect(sia('12345A|NFA129')).toMatchObject({ account: '12345A', events: [{ code: 'FA', zone: 129 }] })
    expect(sia('|Nri1/CL501')).toMatchObject({ account: undefined, events: [{ user: 501 }] })
    expect(sia('Nri1/WA000')).toMatchObject({ account: undefined, events: [{ code: 'WA', zone: 0 }] })
    expect(sia('#0001|0|NRP').events[0]).toMatchObject({ code: 'RP' })
  })

  it('keeps unknown codes as events, and hex addresses as sent', () => {
    expect(sia('#1|NQQ12').events[0]).toMatchObject({ code: 'QQ', known: false, class: 'other', number: '12', zone: undefined })
    expect(sia('#1|NBA1F/BA2').events.map((e) => e.number)).toEqual(['1F', '2'])
  })

  it('decodes text as UTF-8 when valid, else Windows-1252, or as the account says', () => {
    expect(sia(Buffer.from('#1|NBA1^Caf\u00e9^', 'utf8')).events[0]?.text).toBe('Caf\u00e9')
    expect(sia(Buffer.from([...Buffer.from('#1|NBA1^'), 0x80, 0x93, ...Buffer.from('^')])).events[0]?.text).toBe('\u20ac\u201c')
    expect(sia(Buffer.from([...Buffer.from('#1|NBA1^'), 0xc0, 0xe1, ...Buffer.from('^')]), 'windows-1251').events[0]?.text).toBe('\u0410\u0431')
  })

  it('rejects what is not a SIA block as DATA', () => {
    for (const bad of ['#1|Xri1/BA01', '#1|N12', '#1|Nri1/B', '#1|N*', '#1|N{BA}']) {
      const r = parseSia(Buffer.from(bad))
      expect(r.ok, bad).toBe(false)
      expect(!r.ok && r.code).toBe(ErrorCode.DATA)
    }
  })

  it('formats blocks that read back to the same events', () => {
    const text = formatSia({ account: '1234', events: [{ code: 'BA', number: '01', modifiers: { ri: 1 } }, { code: 'BA', number: '02' }], asciiText: 'hall' })
    expect(text).toBe('#1234|Nri1/BA01/BA02|Ahall')
    expect(sia(text).events.map((e) => [e.code, e.zone, e.area, e.asciiText])).toEqual([['BA', 1, 1, undefined], ['BA', 2, 1, 'hall']])
  })
})
