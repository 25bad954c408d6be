import { describe, expect, it } from 'vitest'
import {
  CONTACT_ID_CODE_COUNT, CONTACT_ID_QUALIFIERS, SIA_CODE_COUNT, contactIdCode, contactIdEventClass, siaCode,
} from '../../../src/protocol/codes/index.js'

describe('code tables (generated from the shared JSON)', () => {
  it('holds every code of both tables', () => {
    expect(CONTACT_ID_CODE_COUNT).toBe(274)
    expect(SIA_CODE_COUNT).toBe(325)
  })

  it('carries name, class, number kind and SIA mapping for Contact ID', () => {
    expect(contactIdCode('401')).toMatchObject({ class: 'open_close', number: 'user', sia: { new: 'OP', restore: 'CL' } })
    expect(contactIdCode('130')).toMatchObject({ class: 'alarm', number: 'zone', category: 'burglary' })
    expect(contactIdCode('102')?.sia).toBeUndefined()
    expect(contactIdCode('160')).toBeUndefined()
    expect(Object.keys(CONTACT_ID_QUALIFIERS)).toEqual(['1', '3', '6'])
  })

  it('carries class, number kind and vendor for SIA', () => {
    expect(siaCode('OP')).toMatchObject({ class: 'opening', number: 'user', vendor: undefined })
    expect(siaCode('DD')).toMatchObject({ number: 'door' })
    expect(siaCode('CB')).toMatchObject({ vendor: 'Ajax' })
    expect(siaCode('ZZZ')).toBeUndefined()
  })

  it('reads Contact ID classes with the qualifier', () => {
    expect(contactIdEventClass('alarm', '1')).toBe('alarm')
    expect(contactIdEventClass('alarm', '6')).toBe('alarm')
    expect(contactIdEventClass('alarm', '3')).toBe('restore')
    expect(contactIdEventClass('open_close', '1')).toBe('opening')
    expect(contactIdEventClass('open_close', '3')).toBe('closing')
    expect(contactIdEventClass('trouble', '3')).toBe('trouble_restore')
    expect(contactIdEventClass('supervisory', '3')).toBe('restore')
    expect(contactIdEventClass('test', '3')).toBe('test')
  })
})
