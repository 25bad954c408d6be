/** `dc09 simulate` and `dc09 fleet`: argument handling around src/sim. */
import { writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import type { AesKey, KeyFormat } from '../../protocol/index.js'
import { makeFleet, readFleet, type PanelConfig } from '../../sim/fleet.js'
import { FAULTS, formatSummary, LIMITS, simulate, type Fault, type Faults, type SimSummary } from '../../sim/simulator.js'
import { parseMix, readScenario } from '../../sim/traffic.js'

export interface SimulateFlags {
  readonly host: string
  readonly port: number
  readonly proto: 'tcp' | 'udp'
  readonly connectPerEvent?: boolean
  readonly panels?: number
  readonly account?: string
  readonly key?: AesKey | undefined
  readonly prefix: string
  readonly receiver?: string
  readonly accounts?: string
  readonly events?: number
  readonly duration?: number
  readonly rate?: number
  readonly mix: string
  readonly scenario?: string
  readonly ackTimeout: number
  readonly retries: number
  readonly clockSkew: number
  readonly faults?: string
  readonly anyAnswer?: boolean
  readonly allowRemote?: boolean
  readonly json?: boolean
}

/** `bad-crc=5,split=10`: percent of transmissions per fault. */
export function parseFaults (text: string): Faults {
  const out: Partial<Record<Fault, number>> = {}
  let total = 0
  for (const part of text.split(',')) {
    const m = /^\s*([a-z-]+)\s*=\s*(\d{1,3}(?:\.\d+)?)\s*$/.exec(part)
    if (m === null || !(FAULTS as readonly string[]).includes(m[1]!)) throw new Error(`--faults: expected name=percent with names ${FAULTS.join(', ')}, not ${JSON.stringify(part)}`)
    out[m[1] as Fault] = Number(m[2])
    total += Number(m[2])
  }
  if (total > 100) throw new Error('--faults: the percentages add up to more than 100')
  return out
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/** Runs the simulation; resolves with the exit code. */
export async function runSimulate (f: SimulateFlags, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  // A load generator pointed at someone else's server is an attack: loopback unless asked.
  if (!isLoopback(f.host) && f.allowRemote !== true) throw new Error(`${f.host} is not a loopback address; add --allow-remote to load a receiver on another host`)
  let panels: PanelConfig[]
  if (f.accounts !== undefined) {
    const fleet = readFleet(f.accounts)
    panels = fleet.slice(0, f.panels ?? fleet.length)
    if (f.panels !== undefined && f.panels > fleet.length) throw new Error(`--panels ${f.panels}, but ${f.accounts} has ${fleet.length} accounts`)
  } else {
    if (f.account === undefined) throw new Error('say which account the panels report as: --account A, or --accounts fleet.json')
    panels = Array.from({ length: f.panels ?? 1 }, () => ({ account: f.account!, key: f.key, prefix: f.prefix, receiver: f.receiver }))
  }
  if (panels.length > LIMITS.panels) throw new Error(`at most ${LIMITS.panels} panels`)
  const durationMs = f.duration === undefined ? undefined : f.duration * 1000
  if (durationMs !== undefined && durationMs > LIMITS.durationMs) throw new Error(`at most ${LIMITS.durationMs / 1000} s`)
  const events = f.scenario !== undefined ? undefined : f.events ?? (durationMs === undefined ? 10 : undefined)
  if (events !== undefined && events > LIMITS.eventsPerPanel) throw new Error(`at most ${LIMITS.eventsPerPanel} events per panel`)
  const faults = f.faults === undefined ? {} : parseFaults(f.faults)
  const live = process.stderr.isTTY && f.json !== true
  const summary: SimSummary = await simulate({
    host: f.host,
    port: f.port,
    proto: f.proto,
    connectPerEvent: f.connectPerEvent === true,
    panels,
    events,
    // A scenario ends with its last step; a run without events or duration still stops by itself.
    durationMs: durationMs ?? (events === undefined && f.scenario === undefined ? 60_000 : LIMITS.durationMs),
    rate: f.rate,
    mix: parseMix(f.mix),
    scenario: f.scenario === undefined ? undefined : readScenario(f.scenario),
    ackTimeoutMs: f.ackTimeout,
    retries: f.retries,
    clockSkewSeconds: f.clockSkew,
    faults,
    anyAnswer: f.anyAnswer === true,
    onProgress: live
      ? (s) => { if (s.durationMs >= 3000) err(`\r${s.acknowledged} acknowledged, ${s.framesPerSecond}/s, p99 ${s.latencyMs.p99} ms, failed ${s.failed}   `) }
      : undefined,
  })
  if (live) err('\n')
  out(f.json === true ? JSON.stringify(summary) + '\n' : formatSummary(summary) + '\n')
  const unexpected = summary.failed - summary.expectedFailures
  return unexpected > 0 || summary.flawed > 0 ? 1 : 0
}

export function writeFleet (count: number, keyFormat: KeyFormat | 'none', file: string, first: number, tenant: string | undefined): void {
  const fleet = makeFleet(count, keyFormat, first, tenant === undefined ? {} : { tenant })
  // The file holds keys: only its owner may read it.
  writeFileSync(file, JSON.stringify(fleet, null, 1) + '\n', { mode: 0o600 })
}
