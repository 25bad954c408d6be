import { describe, expect, it } from 'vitest'
import { formatContactId, parseContactId } from '../../../src/protocol/contact-id.js'
import { ErrorCode } from '../../../src/protocol/errors.js'

const cid = (s: string) => {
  const r = parseContactId(Buffer.from(s, 'latin1'))
  if (!r.ok) throw new Error(r.reason)
  return r.value
}

describe('Contact ID data', () => {
  it('reads #acct|QEEE GG CCC with the table entry', () => {
    expect(cid('#1234|1130 01 015')).toMatchObject({
      account: '1234', qualifier: '1', qualifierMeaning: 'new', code: '130', known: true, name: 'Burglary alarm',
      class: 'alarm', group: '01', number: '015', numberKind: 'zone', zone: 15, user: undefined, sia: 'BA',
    })
  })

  it('reads the qualifier: 3 is a restore, and for open/close codes 1 opens and 3 closes', () => {
    expect(cid('#1|3130 01 015')).toMatchObject({ qualifierMeaning: 'restore', class: 'restore', sia: 'BH' })
    expect(cid('#4F39|3401 01 057')).toMatchObject({ class: 'closing', numberKind: 'user', user: 57, zone: undefined })
    expect(cid('#1|1401 01 003')).toMatchObject({ class: 'opening', user: 3 })
    expect(cid('#1|6301 00 000')).toMatchObject({ qualifierMeaning: 'previous', class: 'trouble' })
    expect(cid('#1|3301 00 000')).toMatchObject({ class: 'trouble_restore' })
  })

  it('tolerates a missing #acct|, a missing #, missing spaces and hex fillers', () => {
    expect(cid('1602 00 001')).toMatchObject({ account: undefined, code: '602', class: 'test' })
    expect(cid('5101|1401 01 003')).toMatchObject({ account: '5101', user: 3 })
    expect(cid('#1234|113001015')).toMatchObject({ code: '130', group: '01', zone: 15 })
    expect(cid('#9413|1700 99 999')).toMatchObject({ code: '700', known: false, zone: 999 })
    expect(cid('#1|1130 0A 01F')).toMatchObject({ group: '0A', number: '01F', zone: undefined })
    expect(cid('#foc7688|1351 01 000')).toMatchObject({ account: 'foc7688', class: 'trouble' })
    expect(cid('#1|1130 01 015  ')).toMatchObject({ zone: 15 })
  })

  it('keeps unknown codes and qualifiers as events, flagged', () => {
    expect(cid('#1|1999 00 000')).toMatchObject({ known: true })
    expect(cid('#1|1088 00 001')).toMatchObject({ known: false, name: undefined, class: 'other', zone: 1 })
    expect(cid('#1|2130 01 015')).toMatchObject({ qualifierMeaning: 'unknown' })
  })

  it('rejects what is not Contact ID as DATA', () => {
    for (const bad of ['', '#1234|', '#1234|hello', '#1234|1130 01 01', '#1234|1130 01 015 x', '#1234|11300101', '#1|113G 01 015']) {
      const r = parseContactId(Buffer.from(bad))
      expect(r.ok, bad).toBe(false)
      expect(!r.ok && r.code).toBe(ErrorCode.DATA)
    }
  })

  it('formats the data block and reads back the same fields', () => {
    const s = formatContactId({ account: '1234', qualifier: 1, code: 130, group: 1, number: 15 })
    expect(s).toBe('#1234|1130 01 015')
    expect(formatContactId({ qualifier: '3', code: '401', group: '02', number: '003' })).toBe('3401 02 003')
  })
})
