/** Triage classes of the Contact ID table (`class` in contact-id.json). */
export type ContactIdClass = 'alarm' | 'trouble' | 'supervisory' | 'open_close' | 'test' | 'status' | 'other'

/** What the CCC field of a Contact ID event carries. */
export type ContactIdNumberKind = 'zone' | 'user'

/** Classes of the SIA table (`class` in sia.json); also the unified class of every decoded event. */
export type EventClass =
  | 'alarm' | 'restore' | 'trouble' | 'trouble_restore' | 'bypass' | 'unbypass'
  | 'opening' | 'closing' | 'test' | 'status' | 'access' | 'supervisory' | 'other'

/** What the number after a SIA code identifies (`number` in sia.json). */
export type SiaNumberKind =
  | 'area' | 'condition' | 'custom_function' | 'dealer_id' | 'device' | 'door' | 'expander'
  | 'line' | 'line_card' | 'message' | 'mfr_defined' | 'network' | 'output' | 'printer'
  | 'receiver' | 'relay' | 'unused' | 'user' | 'zone'

export type ContactIdRow = readonly [
  code: string, name: string, category: string, cls: ContactIdClass, number: ContactIdNumberKind,
  siaNew: string | undefined, siaRestore: string | undefined
]

export type SiaRow = readonly [
  code: string, name: string, cls: EventClass, number: SiaNumberKind, vendor: string | undefined
]
