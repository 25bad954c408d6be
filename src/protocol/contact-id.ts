/**
 * Contact ID (SIA DC-05) inside DC-09, token `ADM-CID`:
 *
 *   [#acct|QEEE GG CCC]    Q qualifier, EEE event code, GG group/partition, CCC zone or user
 *
 * Lenient as real panels need: the `#acct|` part may be missing or lack its `#`, the spaces may
 * be missing, GG and CCC may hold hex digits (Trikdis `1700 99 999`, Pima, Dahua).
 */
import { ascii, DIGIT_VALUE, HEX_VALUE } from './bytes.js'
import { contactIdCode, contactIdEventClass, type EventClass } from './codes/index.js'
import { readDataAccount } from './data-account.js'
import { ErrorCode, type Failure } from './errors.js'
import { err, ok, type Result } from '../result.js'

/** Qualifier 1: new event (or opening); 3: restore (or closing); 6: previously reported, still present. */
export type QualifierMeaning = 'new' | 'restore' | 'previous' | 'unknown'

export interface ContactIdEvent {
  readonly format: 'ADM-CID'
  /** The account in the data block, when sent (may differ from the header's). */
  readonly account: string | undefined
  readonly qualifier: string
  readonly qualifierMeaning: QualifierMeaning
  readonly code: string
  /** Whether the code is in the Contact ID table. Unknown codes are still events. */
  readonly known: boolean
  readonly name: string | undefined
  readonly category: string | undefined
  /** Unified class: the table's class read with the qualifier (restore, opening, closing...). */
  readonly class: EventClass
  /** GG as sent. */
  readonly group: string
  /** CCC as sent. */
  readonly number: string
  /** What CCC carries for this code (`zone` for unknown codes). */
  readonly numberKind: 'zone' | 'user'
  /** CCC as a number when it is decimal and the code names a zone. */
  readonly zone: number | undefined
  /** CCC as a number when it is decimal and the code names a user. */
  readonly user: number | undefined
  /** Published SIA equivalent for this code and qualifier, if any. */
  readonly sia: string | undefined
}

export type ContactIdResult = Result<ContactIdEvent, Failure>

const MEANING: Readonly<Record<string, QualifierMeaning>> = { 1: 'new', 3: 'restore', 6: 'previous' }

function decimal (s: string): number | undefined {
  for (let i = 0; i < s.length; i++) if (DIGIT_VALUE[s.charCodeAt(i)]! < 0) return undefined
  return Number(s)
}

export function parseContactId (data: Uint8Array): ContactIdResult {
  const { account, start } = readDataAccount(data)
  if (start < 0) return err(ErrorCode.DATA, 'the account in the data block is longer than 16 characters')
  // Q EEE [ ] GG [ ] CCC, then nothing but spaces.
  let p = start
  const q = p
  p += 4
  if (data[p] === 0x20) p++
  const g = p
  p += 2
  if (data[p] === 0x20) p++
  const z = p
  p += 3
  if (p > data.length || !hexDigits(data, q, 4) || !hexDigits(data, g, 2) || !hexDigits(data, z, 3)) {
    return err(ErrorCode.DATA, 'Contact ID data is not QEEE GG CCC')
  }
  while (p < data.length && data[p] === 0x20) p++
  if (p !== data.length) return err(ErrorCode.DATA, 'unexpected bytes after the Contact ID event')
  const qualifier = String.fromCharCode(data[q]!)
  const code = ascii(data, q + 1, q + 4)
  const group = ascii(data, g, g + 2)
  const number = ascii(data, z, z + 3)
  return ok(contactIdEvent(account, qualifier, code, group, number))
}

/**
 * The event for the fields a panel sent (Q, EEE, GG, CCC as text), with what the code table
 * says of them: what parseContactId returns, and what a stored event is rebuilt from.
 */
export function contactIdEvent (account: string | undefined, qualifier: string, code: string, group: string, number: string): ContactIdEvent {
  const entry = contactIdCode(code)
  const numberKind = entry?.number ?? 'zone'
  const n = decimal(number)
  const sia = entry?.sia === undefined ? undefined : qualifier === '3' ? entry.sia.restore : entry.sia.new
  return {
    format: 'ADM-CID',
    account,
    qualifier,
    qualifierMeaning: MEANING[qualifier] ?? 'unknown',
    code,
    known: entry !== undefined,
    name: entry?.name,
    category: entry?.category,
    class: entry === undefined ? 'other' : contactIdEventClass(entry.class, qualifier),
    group,
    number,
    numberKind,
    zone: numberKind === 'zone' ? n : undefined,
    user: numberKind === 'user' ? n : undefined,
    sia,
  }
}

function hexDigits (data: Uint8Array, at: number, n: number): boolean {
  for (let i = at; i < at + n; i++) if (HEX_VALUE[data[i] ?? 0]! < 0) return false
  return true
}

export interface ContactIdFields {
  readonly account?: string | undefined
  readonly qualifier: string | number
  readonly code: string | number
  readonly group: string | number
  readonly number: string | number
}

function digits (v: string | number, width: number): string {
  return typeof v === 'number' ? String(v).padStart(width, '0') : v
}

/** Builds the data block content `#acct|QEEE GG CCC` (without the brackets). */
export function formatContactId (f: ContactIdFields): string {
  const body = `${digits(f.qualifier, 1)}${digits(f.code, 3)} ${digits(f.group, 2)} ${digits(f.number, 3)}`
  return f.account === undefined ? body : `#${f.account}|${body}`
}
