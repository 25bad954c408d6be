/** What simulated panels send: a random mix of events, or a scenario. */
import { readJsonFileOrThrow } from '../cli/read-file.js'

export type Kind = 'cid' | 'sia' | 'null'

/** An event as `dc09 send` takes it: token and data block body. */
export interface EventSpec {
  readonly token: 'ADM-CID' | 'SIA-DCS' | 'NULL'
  readonly body: string
}

export type Mix = Readonly<Record<Kind, number>>

/** `cid=70,sia=20,null=10` (weights; need not add up to 100). */
export function parseMix (text: string): Mix {
  const mix: Record<Kind, number> = { cid: 0, sia: 0, null: 0 }
  for (const part of text.split(',')) {
    const m = /^\s*(cid|sia|null)\s*=\s*(\d{1,6})\s*$/i.exec(part)
    if (m === null) throw new Error(`--mix: expected kind=weight with kinds cid, sia, null, not ${JSON.stringify(part)}`)
    mix[m[1]!.toLowerCase() as Kind] = Number(m[2])
  }
  if (mix.cid + mix.sia + mix.null === 0) throw new Error('--mix: the weights add up to 0')
  return mix
}

// Everyday traffic: alarms and restores, openings and closings by users, tests, troubles.
const CID = ['1130 01 0ZZ', '3130 01 0ZZ', '1401 01 0UU', '3401 01 0UU', '1602 00 000', '1301 00 000', '3301 00 000', '1110 01 0ZZ', '1570 01 0ZZ']
const SIA = ['Nri1/BA0ZZ', 'Nri1/BR0ZZ', 'Nri1/OP0UU', 'Nri1/CL0UU', 'Nri0/RP0000', 'Nri1/FA0ZZ', 'Nri1/TA0ZZ', 'Nri0/AT', 'Nri1/BA0ZZ/BA0YY']

function fill (template: string, rnd: () => number): string {
  const two = (n: number) => String(n).padStart(2, '0')
  return template
    .replace('ZZ', two(1 + Math.floor(rnd() * 32)))
    .replace('YY', two(1 + Math.floor(rnd() * 32)))
    .replace('UU', two(1 + Math.floor(rnd() * 8)))
}

export function randomEvent (mix: Mix, rnd: () => number = Math.random): EventSpec {
  let r = rnd() * (mix.cid + mix.sia + mix.null)
  if ((r -= mix.cid) < 0) return { token: 'ADM-CID', body: fill(CID[Math.floor(rnd() * CID.length)]!, rnd) }
  if ((r -= mix.sia) < 0) return { token: 'SIA-DCS', body: fill(SIA[Math.floor(rnd() * SIA.length)]!, rnd) }
  return { token: 'NULL', body: '' }
}

/** `ADM-CID 1130 01 015`, `SIA-DCS Nri1/BA01`, `NULL`. */
export function parseEvent (text: string): EventSpec {
  const m = /^\s*(ADM-CID|SIA-DCS|NULL)\s*(.*?)\s*$/i.exec(text)
  if (m === null) throw new Error(`not an event: ${JSON.stringify(text)} (expected ADM-CID <QEEE GG CCC>, SIA-DCS <block>, or NULL)`)
  return { token: m[1]!.toUpperCase() as EventSpec['token'], body: m[2]! }
}

/**
 * A scenario: events at times (seconds from the panel's start), for sequences such as a
 * burglary alarm, then an opening by user 3 within two minutes, then a closing.
 *
 *   { "steps": [ { "at": 0, "event": "ADM-CID 1130 01 015" }, { "at": 90, "event": "ADM-CID 1401 01 003" } ] }
 */
export interface Scenario {
  readonly steps: ReadonlyArray<{ readonly at: number, readonly event: EventSpec }>
}

export function readScenario (file: string): Scenario {
  const raw = readJsonFileOrThrow(file)
  const steps = (raw as { steps?: unknown }).steps
  if (!Array.isArray(steps) || steps.length === 0) throw new Error(`${file}: expected {"steps": [{"at": seconds, "event": "ADM-CID 1130 01 015"}, ...]}`)
  let last = 0
  return {
    steps: steps.map((s: { at?: unknown, event?: unknown }, i) => {
      if (typeof s.at !== 'number' || s.at < last || typeof s.event !== 'string') throw new Error(`${file}: step ${i} needs "at" (seconds, not before the step before) and "event"`)
      last = s.at
      return { at: s.at, event: parseEvent(s.event) }
    }),
  }
}
