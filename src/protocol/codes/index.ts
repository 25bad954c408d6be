/**
 * Lookups in the Contact ID and SIA code tables (generated from the code-table JSON, see
 * scripts/generate-codes.mjs). Built into maps once, at load.
 */
import { CONTACT_ID_QUALIFIERS, CONTACT_ID_ROWS } from './contact-id.generated.js'
import { SIA_ROWS } from './sia.generated.js'
import type { ContactIdClass, ContactIdNumberKind, EventClass, SiaNumberKind } from './types.js'

export type { ContactIdClass, ContactIdNumberKind, EventClass, SiaNumberKind } from './types.js'
export { CONTACT_ID_QUALIFIERS }

export interface ContactIdCode {
  readonly code: string
  readonly name: string
  readonly category: string
  readonly class: ContactIdClass
  /** What CCC carries for this code. */
  readonly number: ContactIdNumberKind
  /** Published SIA equivalents for qualifier 1 and 3, when one exists. */
  readonly sia: { readonly new: string | undefined, readonly restore: string | undefined } | undefined
}

export interface SiaCode {
  readonly code: string
  readonly name: string
  readonly class: EventClass
  /** What the number after the code identifies. */
  readonly number: SiaNumberKind
  /** Set when only one vendor's list defines the code (Ajax). */
  readonly vendor: string | undefined
}

const cid = new Map<string, ContactIdCode>()
for (const [code, name, category, cls, number, siaNew, siaRestore] of CONTACT_ID_ROWS) {
  const sia = siaNew === undefined && siaRestore === undefined ? undefined : { new: siaNew, restore: siaRestore }
  cid.set(code, Object.freeze({ code, name, category, class: cls, number, sia }))
}

const sia = new Map<string, SiaCode>()
for (const [code, name, cls, number, vendor] of SIA_ROWS) {
  sia.set(code, Object.freeze({ code, name, class: cls, number, vendor }))
}

export function contactIdCode (code: string): ContactIdCode | undefined {
  return cid.get(code)
}

export function siaCode (code: string): SiaCode | undefined {
  return sia.get(code)
}

export const CONTACT_ID_CODE_COUNT = cid.size
export const SIA_CODE_COUNT = sia.size

/**
 * One class for Contact ID and SIA events alike. Contact ID's table class says what the code is;
 * the qualifier says whether it starts (1, or 6 still present) or ends (3): a burglary with
 * qualifier 3 is a restore, an open/close with qualifier 1 an opening (DC-05).
 */
export function contactIdEventClass (cls: ContactIdClass, qualifier: string): EventClass {
  const restore = qualifier === '3'
  switch (cls) {
    case 'alarm': return restore ? 'restore' : 'alarm'
    case 'supervisory': return restore ? 'restore' : 'supervisory'
    case 'trouble': return restore ? 'trouble_restore' : 'trouble'
    case 'open_close': return restore ? 'closing' : 'opening'
    case 'test': return 'test'
    case 'status': return 'status'
    default: return 'other'
  }
}
