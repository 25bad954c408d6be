/**
 * Events as the journal and the recent-events memory keep them: only what the panel sent. A
 * decoded SIA event repeats the code table's name and class and the modifiers in force with
 * every event; written out in full, a 1.7 KB block of 64 events took 17 KB of journal. Here a
 * block keeps each event's code and number, the runs of events that share their modifiers
 * once per run, and the texts; a Contact ID event keeps its four fields. Everything else is read
 * again from the code tables by `expandEvents`, the one place that rebuilds full events.
 */
import { contactIdEvent, siaEvent, type DecodedEvent, type SiaEvent, type SiaModifiers } from '../protocol/index.js'

/** Where a compact form made here keeps its JSON once made (a symbol: JSON.stringify leaves it out). */
const JSON_TEXT = Symbol('json')

/**
 * A SIA block: `e` its events, each `code + number`, `code + number + "^" + text` when its only
 * text is a `^text^` one, or else `[code + number, text, asciiText, extendedText]` (null for
 * none, trailing nulls left out); `m` the modifiers as runs `[first event, modifiers]`, each in
 * force until the next run starts. Modifiers are written as SIA writes them (`ri02/id7`: the
 * lower-case name, then the value), or as an object when a value would not read back so.
 */
export interface CompactSia {
  readonly f: 'S'
  /** The account in the data block, when sent. */
  readonly a?: string | undefined
  readonly b: 'N' | 'O'
  readonly e: ReadonlyArray<string | ReadonlyArray<string | null>>
  readonly m: ReadonlyArray<readonly [number, string | SiaModifiers]>
  [JSON_TEXT]?: string | undefined
}

/** A Contact ID event: `e` is Q EEE GG CCC without spaces (9 characters). */
export interface CompactContactId {
  readonly f: 'C'
  readonly a?: string | undefined
  readonly e: string
  [JSON_TEXT]?: string | undefined
}

export type CompactEvents = CompactSia | CompactContactId

/**
 * The JSON of a compact form, made once: the journal writes it, and the recent-events memory
 * keeps the same text (one flat string, its size known) instead of the objects.
 */
export function compactJson (c: CompactEvents): string {
  c[JSON_TEXT] ??= JSON.stringify(c)
  return c[JSON_TEXT]
}

/**
 * The compact form of a frame's events, as the protocol's decoders made them; undefined when
 * there are none, or when they do not fit it (then they are kept in full).
 */
export function compactEvents (events: readonly DecodedEvent[]): CompactEvents | undefined {
  const first = events[0]
  if (first === undefined) return undefined
  if (first.format === 'ADM-CID') {
    if (events.length !== 1 || first.qualifier.length !== 1 || first.code.length !== 3 || first.group.length !== 2 || first.number.length !== 3) return undefined
    return { f: 'C', a: first.account, e: first.qualifier + first.code + first.group + first.number, [JSON_TEXT]: undefined }
  }
  const e: Array<string | ReadonlyArray<string | null>> = []
  const m: Array<readonly [number, string | SiaModifiers]> = []
  let mods: SiaModifiers | undefined
  for (let i = 0; i < events.length; i++) {
    const x = events[i]!
    if (x.format !== 'SIA-DCS' || x.account !== first.account || x.block !== first.block || x.code.length !== 2 || x.number === '') return undefined
    // The decoder shares one modifiers object across a run; records read back share none.
    if (x.modifiers !== mods && (mods === undefined || !sameModifiers(x.modifiers, mods))) m.push([i, encodeModifiers(x.modifiers)])
    mods = x.modifiers
    const head = x.number === undefined ? x.code : x.code + x.number
    e.push(x.asciiText !== undefined || x.extendedText !== undefined ? withTexts(head, x) : x.text === undefined ? head : x.text.includes('^') ? withTexts(head, x) : head + '^' + x.text)
  }
  return { f: 'S', a: first.account, b: first.block, e, m, [JSON_TEXT]: undefined }
}

function withTexts (head: string, x: SiaEvent): Array<string | null> {
  const out: Array<string | null> = [head, x.text ?? null, x.asciiText ?? null, x.extendedText ?? null]
  while (out[out.length - 1] === null) out.pop()
  return out
}

function sameModifiers (a: SiaModifiers, b: SiaModifiers): boolean {
  let n = 0
  for (const k in a) {
    if (a[k] !== b[k]) return false
    n++
  }
  for (const _ in b) n--
  return n === 0
}

function encodeModifiers (mods: SiaModifiers): string | SiaModifiers {
  let s = ''
  for (const k in mods) {
    const v = mods[k]!
    // Read back by splitting at `/`, then where the lower-case name ends.
    if (!isName(k) || v.includes('/') || isLower(v.charCodeAt(0))) return mods
    s += (s === '' ? '' : '/') + k + v
  }
  return s
}

const isLower = (c: number): boolean => c >= 0x61 && c <= 0x7a

function isName (k: string): boolean {
  if (k === '') return false
  for (let i = 0; i < k.length; i++) if (!isLower(k.charCodeAt(i))) return false
  return true
}

function decodeModifiers (m: string | SiaModifiers): SiaModifiers {
  if (typeof m !== 'string') return m
  const out: Record<string, string> = {}
  if (m === '') return out
  for (const pair of m.split('/')) {
    let end = 0
    while (end < pair.length && isLower(pair.charCodeAt(end))) end++
    out[pair.slice(0, end)] = pair.slice(end)
  }
  return out
}

/** The full events of a compact form: the same values the decoder gave (modifiers shared within a run, as it shares them). */
export function expandEvents (c: CompactEvents | null | undefined): DecodedEvent[] {
  if (c === undefined || c === null) return []
  if (c.f === 'C') return [contactIdEvent(c.a ?? undefined, c.e.slice(0, 1), c.e.slice(1, 4), c.e.slice(4, 6), c.e.slice(6, 9))]
  const out: DecodedEvent[] = []
  let run = 0
  let modifiers: SiaModifiers = {}
  for (let i = 0; i < c.e.length; i++) {
    const next = c.m[run]
    if (next !== undefined && next[0] === i) {
      modifiers = decodeModifiers(next[1])
      run++
    }
    const x = c.e[i]!
    const caret = typeof x === 'string' ? x.indexOf('^') : -1
    const head = typeof x === 'string' ? (caret < 0 ? x : x.slice(0, caret)) : x[0] ?? ''
    out.push(siaEvent({
      code: head.slice(0, 2),
      number: head.length > 2 ? head.slice(2) : undefined,
      modifiers,
      text: typeof x === 'string' ? (caret < 0 ? undefined : x.slice(caret + 1)) : x[1] ?? undefined,
      asciiText: typeof x === 'string' ? undefined : x[2] ?? undefined,
      extendedText: typeof x === 'string' ? undefined : x[3] ?? undefined,
    }, c.a ?? undefined, c.b))
  }
  return out
}
