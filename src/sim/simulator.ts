/**
 * Simulated panels. Each one behaves like a panel: it sends an event, waits for the answer
 * with a timeout, retransmits the same frame with the same sequence number when none comes,
 * sets its clock from a NAK's time and retransmits, checks every answer (CRC, echoed fields,
 * an `*ACK` that decrypts, its timestamp), and counts a flawed answer as a failure.
 * Faults are injected per transmission, so a retransmission goes out clean, as after a line glitch.
 */
import { randomBytes } from 'node:crypto'
import { checkAnswer, nodeAes, parseFrame, serializeFrame, type AesKey, type FrameHeader } from '../protocol/index.js'
import type { PanelConfig } from './fleet.js'
import { TcpLink, UdpLink, type Link, type LinkTarget, type WriteMode } from './link.js'
import { randomEvent, type EventSpec, type Mix, type Scenario } from './traffic.js'

export const FAULTS = ['bad-crc', 'wrong-key', 'skew', 'split', 'merge', 'slow', 'drop'] as const
export type Fault = typeof FAULTS[number]
/** Percent of transmissions that get each fault. */
export type Faults = Readonly<Partial<Record<Fault, number>>>

/** Caps: the simulator is a load generator, and stops by itself. */
export const LIMITS = Object.freeze({ panels: 20_000, eventsPerPanel: 1_000_000, durationMs: 3_600_000 })

export interface SimOptions {
  readonly host: string
  readonly port: number
  readonly proto: 'tcp' | 'udp'
  readonly connectPerEvent: boolean
  readonly panels: readonly PanelConfig[]
  /** Events per panel; or run for `durationMs`. */
  readonly events?: number | undefined
  readonly durationMs?: number | undefined
  /** Events per second per panel; undefined: ping-pong, the next event as soon as the answer came. */
  readonly rate?: number | undefined
  readonly mix: Mix
  readonly scenario?: Scenario | undefined
  readonly ackTimeoutMs: number
  readonly retries: number
  /** Every panel's clock runs this far off UTC (seconds). */
  readonly clockSkewSeconds: number
  readonly faults: Faults
  readonly anyAnswer: boolean
  readonly onProgress?: ((s: SimSummary) => void) | undefined
}

export interface SimSummary {
  readonly panels: number
  readonly proto: 'tcp' | 'udp'
  /** Events the panels tried to deliver. */
  readonly events: number
  /** Frames written, retransmissions included. */
  readonly sent: number
  readonly acknowledged: number
  readonly nak: number
  readonly duh: number
  /** Answers that were wrong (echo, CRC, decryption, timestamp). */
  readonly flawed: number
  readonly retries: number
  readonly timeouts: number
  /** Events never acknowledged. */
  readonly failed: number
  /** Of those, the ones whose last transmission carried an injected fault. */
  readonly expectedFailures: number
  readonly faultsInjected: Readonly<Record<string, number>>
  readonly durationMs: number
  /** Acknowledged events per second. */
  readonly framesPerSecond: number
  /** Time from writing a frame to its acknowledgement (ms). */
  readonly latencyMs: { readonly p50: number, readonly p95: number, readonly p99: number, readonly max: number }
  /** A few examples of what went wrong, for the reader of the summary. */
  readonly problems: readonly string[]
}

class Stats {
  events = 0
  sent = 0
  acknowledged = 0
  nak = 0
  duh = 0
  flawed = 0
  retries = 0
  timeouts = 0
  failed = 0
  expectedFailures = 0
  faults: Record<string, number> = {}
  latencies = new Float64Array(1024)
  n = 0
  problems: string[] = []

  latency (ms: number): void {
    if (this.n === this.latencies.length) {
      const bigger = new Float64Array(this.n * 2)
      bigger.set(this.latencies)
      this.latencies = bigger
    }
    this.latencies[this.n++] = ms
  }

  problem (p: string): void {
    if (this.problems.length < 10) this.problems.push(p)
  }

  summary (o: SimOptions, ms: number): SimSummary {
    const sorted = this.latencies.slice(0, this.n).sort()
    const q = (p: number) => (this.n === 0 ? 0 : Math.round(sorted[Math.min(this.n - 1, Math.floor(p * this.n))]! * 100) / 100)
    return {
      panels: o.panels.length,
      proto: o.proto,
      events: this.events,
      sent: this.sent,
      acknowledged: this.acknowledged,
      nak: this.nak,
      duh: this.duh,
      flawed: this.flawed,
      retries: this.retries,
      timeouts: this.timeouts,
      failed: this.failed,
      expectedFailures: this.expectedFailures,
      faultsInjected: { ...this.faults },
      durationMs: Math.round(ms),
      framesPerSecond: Math.round((this.acknowledged / ms) * 1000),
      latencyMs: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: this.n === 0 ? 0 : Math.round(sorted[this.n - 1]! * 100) / 100 },
      problems: [...this.problems],
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A key no account has: what a misconfigured panel encrypts with. */
const WRONG_KEY = nodeAes.importKey(randomBytes(16))

class Panel {
  readonly cfg: PanelConfig
  seq = 0
  /** The panel's clock minus the receiver's, in ms: set from a NAK's time. */
  clockOffsetMs: number

  constructor (cfg: PanelConfig, skewSeconds: number) {
    this.cfg = cfg
    this.clockOffsetMs = skewSeconds * 1000
  }

  /** 0001..9999, then 0001 again: 0000 is for link tests. */
  nextSeq (): number {
    this.seq = this.seq >= 9999 ? 1 : this.seq + 1
    return this.seq
  }

  frame (ev: EventSpec, seq: number, fault: Fault | undefined): Buffer {
    const key: AesKey | undefined = fault === 'wrong-key' && this.cfg.key !== undefined ? WRONG_KEY : this.cfg.key
    const skew = fault === 'skew' ? 600_000 : 0
    const f = serializeFrame({
      token: ev.token,
      encrypted: key !== undefined,
      seq: ev.token === 'NULL' ? 0 : seq,
      rcvr: this.cfg.receiver,
      lpref: this.cfg.prefix,
      acct: this.cfg.account,
      data: ev.token === 'NULL' ? '' : `#${this.cfg.account}|${ev.body}`,
      timestamp: Date.now() + this.clockOffsetMs + skew,
    }, { key })
    if (fault === 'bad-crc') f[2] = f[2] === 0x30 ? 0x31 : 0x30
    return f
  }
}

function pickFault (faults: Faults, allowed: (f: Fault) => boolean): Fault | undefined {
  let r = Math.random() * 100
  for (const f of FAULTS) {
    const pct = faults[f] ?? 0
    if (pct > 0 && allowed(f) && (r -= pct) < 0) return f
  }
  return undefined
}

/** Runs the panels until each has sent its events, or the duration is over. */
export async function simulate (o: SimOptions): Promise<SimSummary> {
  const stats = new Stats()
  const start = performance.now()
  const deadline = o.durationMs === undefined ? Infinity : start + o.durationMs
  const target: LinkTarget = { host: o.host, port: o.port, anyAnswer: o.anyAnswer }
  let progress: NodeJS.Timeout | undefined
  if (o.onProgress !== undefined) progress = setInterval(() => o.onProgress!(stats.summary(o, performance.now() - start)), 1000)
  try {
    await Promise.all(o.panels.map((cfg, i) => runPanel(new Panel(cfg, o.clockSkewSeconds), i, o, stats, target, start, deadline)))
  } finally {
    if (progress !== undefined) clearInterval(progress)
  }
  return stats.summary(o, performance.now() - start)
}

async function runPanel (panel: Panel, index: number, o: SimOptions, stats: Stats, target: LinkTarget, start: number, deadline: number): Promise<void> {
  const link: Link = o.proto === 'udp' ? new UdpLink(target) : new TcpLink(target)
  // Panels do not all start in the same millisecond: spread over up to a second.
  const phase = (index % 1000) * (o.rate === undefined ? 0.02 : Math.min(1000, 1000 / o.rate) / 1000)
  await sleep(phase)
  const steps = o.scenario?.steps
  const count = steps?.length ?? o.events ?? Infinity
  const interval = o.rate === undefined ? 0 : 1000 / o.rate
  try {
    for (let n = 0; n < count && performance.now() < deadline; n++) {
      const step = steps?.[n]
      if (step !== undefined) {
        const wait = start + step.at * 1000 - performance.now()
        if (wait > 0) await sleep(Math.min(wait, deadline - performance.now()))
        if (performance.now() >= deadline) break
      } else if (interval > 0) {
        // An event due at or after the end of the run is not sent (decided on the schedule,
        // not after sleeping: timers may wake a fraction of a millisecond early).
        const due = start + phase + n * interval
        if (due >= deadline) break
        const wait = due - performance.now()
        if (wait > 0) await sleep(wait)
      }
      await deliver(panel, step?.event ?? randomEvent(o.mix), link, o, stats)
      if (o.connectPerEvent && o.proto === 'tcp') await link.close()
    }
  } finally {
    await link.close()
  }
}

/** Delivers one event: sends, waits, checks, retransmits, like a panel. */
async function deliver (panel: Panel, ev: EventSpec, link: Link, o: SimOptions, stats: Stats): Promise<void> {
  stats.events++
  const seq = ev.token === 'NULL' ? 0 : panel.nextSeq()
  const stream = o.proto === 'tcp'
  for (let attempt = 0; attempt <= o.retries; attempt++) {
    if (attempt > 0) stats.retries++
    const fault = pickFault(o.faults, (f) => (f === 'wrong-key' ? panel.cfg.key !== undefined : f === 'split' || f === 'slow' || f === 'merge' || f === 'drop' ? stream : true))
    if (fault !== undefined) stats.faults[fault] = (stats.faults[fault] ?? 0) + 1
    const bytes = panel.frame(ev, seq, fault)
    const header = (parseFrame(fault === 'bad-crc' ? panel.frame(ev, seq, undefined) : bytes) as { ok: true, value: FrameHeader }).value
    const mode: WriteMode = fault === 'split' ? 'split' : fault === 'slow' ? 'slow' : 'whole'
    // merge: a link test rides in the same write; its answer comes second.
    const out = fault === 'merge' ? Buffer.concat([bytes, panel.frame({ token: 'NULL', body: '' }, 0, undefined)]) : bytes
    const t0 = performance.now()
    stats.sent += fault === 'merge' ? 2 : 1
    try {
      await link.send(out, mode)
    } catch (err) {
      stats.problem(`${panel.cfg.account}: cannot send: ${(err as Error).message}`)
      await sleep(Math.min(1000, o.ackTimeoutMs))
      continue
    }
    if (fault === 'drop') link.drop()
    const answer = await link.answer(o.ackTimeoutMs)
    const ms = performance.now() - t0
    if (fault === 'merge' && answer !== null) await link.answer(o.ackTimeoutMs)
    if (answer === null) {
      stats.timeouts++
      if (attempt === o.retries) fail(stats, fault)
      continue
    }
    if (o.anyAnswer) {
      stats.acknowledged++
      stats.latency(ms)
      return
    }
    const c = checkAnswer(answer, header, panel.cfg.key)
    if (c.problems.length > 0) {
      stats.flawed++
      stats.problem(`${panel.cfg.account} seq ${seq}: flawed ${c.token || 'answer'}: ${c.problems.join('; ')}`)
    } else if (c.token === 'ACK') {
      stats.acknowledged++
      stats.latency(ms)
      return
    } else if (c.token === 'NAK') {
      stats.nak++
      // The panel sets its clock from the receiver's and tries again.
      if (c.receiverTime !== undefined) panel.clockOffsetMs = c.receiverTime + 500 - Date.now()
      if (fault === undefined) stats.problem(`${panel.cfg.account} seq ${seq}: NAK`)
    } else if (c.token === 'DUH') {
      stats.duh++
      stats.problem(`${panel.cfg.account} seq ${seq}: DUH (the receiver cannot process it; not retried)`)
      fail(stats, fault)
      return
    }
    if (attempt === o.retries) fail(stats, fault)
  }
}

/** An event that was never acknowledged; expected when its last transmission carried a fault. */
function fail (stats: Stats, fault: Fault | undefined): void {
  stats.failed++
  if (fault !== undefined) stats.expectedFailures++
}

/** The summary as text, for a terminal. */
export function formatSummary (s: SimSummary): string {
  const faults = Object.entries(s.faultsInjected).map(([k, v]) => `${k} ${v}`).join(', ')
  return [
    `panels ${s.panels} (${s.proto}), ${s.events} events in ${(s.durationMs / 1000).toFixed(1)} s`,
    `sent ${s.sent}, acknowledged ${s.acknowledged}, NAK ${s.nak}, DUH ${s.duh}, flawed answers ${s.flawed}, retries ${s.retries}, timeouts ${s.timeouts}`,
    `failed ${s.failed}${s.expectedFailures > 0 ? ` (${s.expectedFailures} by injected faults)` : ''}${faults === '' ? '' : `; faults injected: ${faults}`}`,
    `${s.framesPerSecond} frames/s; ACK latency p50 ${s.latencyMs.p50} ms, p95 ${s.latencyMs.p95} ms, p99 ${s.latencyMs.p99} ms, max ${s.latencyMs.max} ms`,
    ...s.problems.map((p) => `  ${p}`),
  ].join('\n')
}
