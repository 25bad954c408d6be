/**
 * SIA DC-03/DC-04 data inside DC-09, token `SIA-DCS`:
 *
 *   [#acct|Nri1/BA01]   [#acct|Nri01/BA01/BA02]   [#acct|Nri1BA01/ri2BA05]   [#acct|NRR|Atest]
 *
 * A block is `N` (new) or `O` (old) followed by packets: modifiers (two lower-case letters and a
 * value) and events (two upper-case letters and an optional number), separated by `/` (or `|`,
 * Eaton i-on "Extended SIA3 V2"). Every event is returned, not just the first; modifiers carry
 * forward to the events after them in the same block (openGalaxy's DC-03 notes). Text forms:
 * `^text^` after an event, `|A text` (or `/A text`) at the end, xSIA `*'text'NM` (Bosch
 * D6600 manual: `NM` is a unit tag, not an event), and the DC-03 units form `*123AB`.
 */
import { ascii, DIGIT_VALUE, HEX_VALUE } from './bytes.js'
import { siaCode, type EventClass, type SiaNumberKind } from './codes/index.js'
import { readDataAccount } from './data-account.js'
import { ErrorCode, type Failure } from './errors.js'
import { err, ok, type Result } from '../result.js'
import { decodeText, type Charset } from './text.js'

/**
 * DC-03 modifiers (openGalaxy's transcription of DC-03-1990.01): `ri` area, `id` user,
 * `ti` time HH:MM[:SS], `pi` peripheral, `da` date MM-DD-YY, `ai` automated id, `ph` phone,
 * `lv` level, `va` value, `pt` path, `rg` route group, `ss` sub-subscriber.
 */
export type SiaModifiers = Readonly<Record<string, string>>

export interface SiaEvent {
  readonly format: 'SIA-DCS'
  /** The account in the data block, when sent (may differ from the header's). */
  readonly account: string | undefined
  /** `N` new event, `O` old (previously occurred) event. */
  readonly block: 'N' | 'O'
  readonly code: string
  /** Whether the code is in the SIA table. Unknown codes are still events. */
  readonly known: boolean
  readonly name: string | undefined
  readonly class: EventClass
  /** What the number after the code identifies (undefined for unknown codes). */
  readonly numberKind: SiaNumberKind | undefined
  /** The number after the code as sent (`01` in `BA01`). */
  readonly number: string | undefined
  /** The modifiers in force for this event (carried forward within the block). */
  readonly modifiers: SiaModifiers
  readonly zone: number | undefined
  /** The user: the number for user codes (OP, CL...), else the `id` modifier. */
  readonly user: number | undefined
  /** The area: the number for area codes, else the `ri` modifier. */
  readonly area: number | undefined
  /** `^text^` after the event. */
  readonly text: string | undefined
  /** `|A text` or `/A text` ending the block. */
  readonly asciiText: string | undefined
  /** xSIA `*'text'NM`. */
  readonly extendedText: string | undefined
}

export interface SiaBlock {
  readonly account: string | undefined
  /** `N`, `O`, or `A` for a block that is only ASCII text. */
  readonly block: 'N' | 'O' | 'A'
  readonly events: readonly SiaEvent[]
  /** The text of an `A` block, or text that came before any event. */
  readonly text: string | undefined
}

export type SiaResult = Result<SiaBlock, Failure>

/**
 * Most events in one block, by default (a decode option changes it). A 4 KB block could hold
 * 1300 two-letter events; no panel sends more than a few dozen, and each costs the journal and
 * the pipeline (cases, outputs, notifications) downstream.
 */
export const MAX_SIA_EVENTS = 64
/** Most distinct modifier names in one block (DC-03 defines 12); each event holds its own copy. */
export const MAX_SIA_MODIFIERS = 16

const SLASH = 0x2f
const PIPE = 0x7c
const CARET = 0x5e
const STAR = 0x2a
const SPACE = 0x20

function isUpper (b: number | undefined): boolean {
  return b !== undefined && b >= 0x41 && b <= 0x5a
}
function isLower (b: number | undefined): boolean {
  return b !== undefined && b >= 0x61 && b <= 0x7a
}

function decimal (s: string | undefined): number | undefined {
  if (s === undefined || s.length === 0) return undefined
  for (let i = 0; i < s.length; i++) if (DIGIT_VALUE[s.charCodeAt(i)]! < 0) return undefined
  return Number(s)
}

/** What a panel sent of one SIA event; the rest of a SiaEvent comes from the code table. */
export interface SiaEventParts {
  readonly code: string
  readonly number: string | undefined
  readonly modifiers: SiaModifiers
  readonly text: string | undefined
  readonly asciiText: string | undefined
  readonly extendedText: string | undefined
}

type Draft = { -readonly [K in keyof SiaEventParts]: SiaEventParts[K] }

/** Where the bytes at `p` stop being the value of modifier `m`. */
function modifierEnd (data: Uint8Array, p: number, m: string): number {
  let q = p
  if (m === 'ti' || m === 'da') {
    // ti HH:MM[:SS], da MM-DD-YY: digits with their separators, at most 8 bytes.
    const sep = m === 'ti' ? 0x3a : 0x2d
    while (q < data.length && q - p < 8 && (DIGIT_VALUE[data[q]!]! >= 0 || data[q] === sep)) q++
  } else {
    while (q < data.length && q - p < 6 && DIGIT_VALUE[data[q]!]! >= 0) q++
  }
  return q
}

/** Where the number after an event code ends: decimal digits, or hex (the standard's base) up to a separator. */
function numberEnd (data: Uint8Array, p: number): number {
  let q = p
  while (q < data.length && q - p < 6 && DIGIT_VALUE[data[q]!]! >= 0) q++
  let h = q
  while (h < data.length && h - p < 6 && HEX_VALUE[data[h]!]! >= 0 && !isLower(data[h])) h++
  if (h > q) {
    const next = data[h]
    if (next === undefined || next === SLASH || next === PIPE || next === CARET || next === STAR || next === SPACE) return h
  }
  return q
}

function text (data: Uint8Array, from: number, to: number, charset: Charset): string {
  return decodeText(data.subarray(from, to), charset)
}

/** The DC-03 modifier names as shared strings (object keys built from them stay fast). */
const MODIFIERS = new Map(['ri', 'id', 'ti', 'pi', 'da', 'ai', 'ph', 'lv', 'va', 'pt', 'rg', 'ss'].map((m) => [m.charCodeAt(0) << 8 | m.charCodeAt(1), m]))

function modifierName (a: number, b: number): string {
  return MODIFIERS.get(a << 8 | b) ?? String.fromCharCode(a, b)
}

function indexOf (data: Uint8Array, byte: number, from: number): number {
  for (let i = from; i < data.length; i++) if (data[i] === byte) return i
  return -1
}

/**
 * Parses a SIA data block into its events. Unknown codes are events; unreadable bytes are not.
 * More than `maxEvents` events is refused (`TOO_MANY_EVENTS`) as soon as the next one starts.
 */
export function parseSia (data: Uint8Array, charset: Charset = 'auto', maxEvents = MAX_SIA_EVENTS): SiaResult {
  const { account, start: afterAccount } = readDataAccount(data)
  if (afterAccount < 0) return err(ErrorCode.DATA, 'the account in the data block is longer than 16 characters')
  // Some panels put another short field before the block (AlphaVision: `#0001|0|NRP`): skip
  // up to two such `field|` runs when what follows them starts a block.
  let start = afterAccount
  for (let i = 0; i < 2 && data[start] !== 0x4e && data[start] !== 0x4f && data[start] !== 0x41; i++) {
    const bar = indexOf(data, PIPE, start)
    if (bar < 0 || bar - start > 16) break
    start = bar + 1
  }
  const head = data[start]
  if (head === 0x41) {
    return ok({ account, block: 'A', events: [], text: text(data, start + 1, data.length, charset) })
  }
  if (head !== 0x4e && head !== 0x4f) return err(ErrorCode.DATA, 'a SIA block starts with N, O or A')
  const block = head === 0x4e ? 'N' : 'O'
  const drafts: Draft[] = []
  let modifiers: Record<string, string> = {}
  let shared = true
  let distinct = 0
  let blockText: string | undefined
  let p = start + 1
  const n = data.length
  while (p < n) {
    const c = data[p]!
    const last = drafts[drafts.length - 1]
    if (c === SLASH || c === SPACE) { p++; continue }
    if (c === PIPE || (c === 0x41 && data[p - 1] === SLASH) || (c === 0x41 && p === start + 1 && drafts.length === 0 && !isUpper(data[p + 1]))) {
      if (c === PIPE && data[p + 1] !== 0x41) { p++; continue }
      // `|A text` / `/A text`: ASCII text to the end of the block, about the event before it.
      const from = c === PIPE ? p + 2 : p + 1
      if (c === PIPE || !isUpper(data[p + 1])) {
        const t = text(data, from, n, charset)
        if (last !== undefined) last.asciiText = t
        else blockText = t
        p = n
        continue
      }
    }
    if (c === CARET) {
      const close = indexOf(data, CARET, p + 1)
      const end = close < 0 ? n : close
      const t = text(data, p + 1, end, charset)
      if (last !== undefined) last.text = last.text === undefined ? t : last.text + ' ' + t
      else blockText = t
      p = end + 1
      continue
    }
    if (c === STAR) {
      const q = data[p + 1]
      // xSIA text: *'text'NM or *"text"NM; a typographic ’ (UTF-8 E2 80 99) has been seen too.
      const quoteLen = q === 0x27 || q === 0x22 ? 1 : q === 0xe2 && data[p + 2] === 0x80 && data[p + 3] === 0x99 ? 3 : 0
      if (quoteLen > 0) {
        const from = p + 1 + quoteLen
        let close = -1
        for (let i = from; i + quoteLen <= n; i++) {
          if (data[i] === q && (quoteLen === 1 || (data[i + 1] === 0x80 && data[i + 2] === 0x99))) { close = i; break }
        }
        let end = close < 0 ? n : close
        let next = close < 0 ? n : close + quoteLen
        if (close < 0 && end - from >= 2 && data[end - 2] === 0x4e && data[end - 1] === 0x4d) end -= 2
        if (data[next] === 0x4e && data[next + 1] === 0x4d) next += 2
        if (last !== undefined) last.extendedText = text(data, from, end, charset)
        p = next
        continue
      }
      // DC-03 units: * digits then a 1-2 letter unit type; kept in the modifiers of the event.
      let e = p + 1
      while (e < n && DIGIT_VALUE[data[e]!]! >= 0) e++
      while (e < n && e - p < 10 && isUpper(data[e])) e++
      if (e === p + 1) return err(ErrorCode.DATA, 'a * in a SIA block is followed by neither text nor units')
      if (last !== undefined) last.modifiers = { ...last.modifiers, units: ascii(data, p + 1, e) }
      p = e
      continue
    }
    // Modifier: two lower-case letters (DSC writes `Ri01` with a capital R).
    if ((isLower(c) || c === 0x52) && isLower(data[p + 1])) {
      const m = modifierName(data[p]! | 0x20, data[p + 1]!)
      const end = modifierEnd(data, p + 2, m)
      if (shared) { modifiers = { ...modifiers }; shared = false }
      if (!(m in modifiers) && ++distinct > MAX_SIA_MODIFIERS) return err(ErrorCode.DATA, `more than ${MAX_SIA_MODIFIERS} kinds of modifier in one SIA block`)
      modifiers[m] = ascii(data, p + 2, end)
      p = end
      continue
    }
    if (isUpper(c) && isUpper(data[p + 1])) {
      if (drafts.length >= maxEvents) return err(ErrorCode.TOO_MANY_EVENTS, `more than ${maxEvents} events in one SIA block`)
      const code = ascii(data, p, p + 2)
      const end = numberEnd(data, p + 2)
      shared = true
      drafts.push({
        code,
        number: end > p + 2 ? ascii(data, p + 2, end) : undefined,
        modifiers,
        text: undefined,
        asciiText: undefined,
        extendedText: undefined,
      })
      p = end
      continue
    }
    return err(ErrorCode.DATA, `unexpected byte 0x${c.toString(16).padStart(2, '0')} at ${p} in the SIA block`)
  }
  const events = drafts.map((d) => siaEvent(d, account, block))
  return ok({ account, block, events, text: blockText })
}

/**
 * The event for what a panel sent, with what the code table says of it: what parseSia returns,
 * and what a stored event is rebuilt from.
 */
export function siaEvent (d: SiaEventParts, account: string | undefined, block: 'N' | 'O'): SiaEvent {
  const entry = siaCode(d.code)
  const kind = entry?.number
  const num = decimal(d.number)
  return {
    format: 'SIA-DCS',
    account,
    block,
    code: d.code,
    known: entry !== undefined,
    name: entry?.name,
    class: entry?.class ?? 'other',
    numberKind: kind,
    number: d.number,
    modifiers: d.modifiers,
    zone: kind === 'zone' ? num : undefined,
    user: kind === 'user' ? num : decimal(d.modifiers.id),
    area: kind === 'area' ? num : decimal(d.modifiers.ri),
    text: d.text,
    asciiText: d.asciiText,
    extendedText: d.extendedText,
  }
}

export interface SiaEventFields {
  readonly code: string
  readonly number?: string | number | undefined
  /** Modifiers written before the event, in order (`{ ri: '1' }` gives `ri1`). */
  readonly modifiers?: Readonly<Record<string, string | number>> | undefined
  readonly text?: string | undefined
}

export interface SiaBlockFields {
  readonly account?: string | undefined
  readonly block?: 'N' | 'O' | undefined
  readonly events: readonly SiaEventFields[]
  readonly asciiText?: string | undefined
}

/**
 * Builds SIA data block content (without the brackets): `#acct|Nri1/BA01/ri2/BA05|Atext`.
 * Each event writes the modifiers it lists, then its code, number and `^text^`.
 */
export function formatSia (f: SiaBlockFields): string {
  const packets: string[] = []
  for (const e of f.events) {
    for (const [m, v] of Object.entries(e.modifiers ?? {})) packets.push(m + String(v))
    packets.push(e.code + (e.number === undefined ? '' : String(e.number)) + (e.text === undefined ? '' : `^${e.text}^`))
  }
  const body = (f.block ?? 'N') + packets.join('/') + (f.asciiText === undefined ? '' : `|A${f.asciiText}`)
  return f.account === undefined ? body : `#${f.account}|${body}`
}
