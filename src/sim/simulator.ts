/**
 * Simulated panels. Each one behaves like a panel: it sends an event, waits for the answer
 * with a timeout, retransmits the same frame with the same sequence number when none comes,
 * sets its clock from a NAK's time and retransmits, checks every answer (CRC, echoed fields,
 * an `*ACK` that decrypts, its timestamp), and counts a flawed answer as a failure.
 * Faults are injected per transmission, so a retransmission goes out clean, as after a line glitch.
 *
 * Dual-path panels (a secondary receiver given) report to the primary and, when an event's
 * attempts there all fail (no answer in time, refused or broken connections, NAKs or flawed
 * answers to the last), send the same event with the same sequence number on the secondary
 * path, with its own attempts. After such a failover a panel sends its new events to the
 * secondary first for `failbackMs`, then tries the primary first again; with 0 it tries the
 * primary first for every event. An event that fails on the secondary too goes back to the
 * other path once: each path gets its attempts per event, and no more.
 */
import { randomBytes } from 'node:crypto'
import { checkAnswer, decodeFrame, nodeAes, parseFrame, serializeFrame, type AesKey, type FrameHeader } from '../protocol/index.js'
import { dedupeKey } from '../receiver/dedupe.js'
import type { PanelConfig } from './fleet.js'
import { TcpLink, UdpLink, type Link, type LinkTarget, type WriteMode } from './link.js'
import { randomEvent, type EventSpec, type Mix, type Scenario } from './traffic.js'

export const FAULTS = ['bad-crc', 'wrong-key', 'skew', 'split', 'merge', 'slow', 'drop'] as const
export type Fault = typeof FAULTS[number]
/** Percent of transmissions that get each fault. */
export type Faults = Readonly<Partial<Record<Fault, number>>>

/** Caps: the simulator is a load generator, and stops by itself. */
export const LIMITS = Object.freeze({ panels: 20_000, eventsPerPanel: 1_000_000, durationMs: 3_600_000 })

export type PathName = 'primary' | 'secondary'

/** An acknowledged event as the panel saw it: what a check against the receiver's journal needs. */
export interface AckedEvent {
  readonly account: string
  readonly seq: number
  readonly token: EventSpec['token']
  /** The key the receiver journals the event under and recognises its retransmissions by; null for a link test. */
  readonly identity: string | null
  readonly path: PathName
}

export interface SimOptions {
  readonly host: string
  readonly port: number
  /** A second receiver for dual-path panels. */
  readonly secondary?: { readonly host: string, readonly port: number } | undefined
  /** After a failover, how long new events go to the secondary first (ms); 0: the primary first every time. */
  readonly failbackMs?: number | undefined
  /** Told of every acknowledged event, and awaited (so a slow log holds the panel back). */
  readonly onAcked?: ((e: AckedEvent) => void | Promise<void>) | undefined
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
  /** Dual-path counts; only with a secondary receiver. */
  readonly paths?: PathSummary | undefined
}

export interface PathSummary {
  readonly ackedPrimary: number
  readonly ackedSecondary: number
  /** Events moved to the other path after their attempts on one path failed. */
  readonly pathSwitches: number
  /** New events sent to the primary first again after a hold on the secondary. */
  readonly failbacks: number
  /** The longest time from an event's first transmission to its ACK, across paths (ms). */
  readonly maxAckWaitMs: number
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
  acked: Record<PathName, number> = { primary: 0, secondary: 0 }
  pathSwitches = 0
  failbacks = 0
  maxAckWaitMs = 0
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
      ...(o.secondary === undefined
        ? {}
        : {
            paths: {
              ackedPrimary: this.acked.primary,
              ackedSecondary: this.acked.secondary,
              pathSwitches: this.pathSwitches,
              failbacks: this.failbacks,
              maxAckWaitMs: Math.round(this.maxAckWaitMs * 100) / 100,
            },
          }),
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
  /** After a failover: new events go to the secondary first until then (performance.now()). */
  holdUntil = -Infinity
  /** The path of the last transmission. */
  lastPath: PathName = 'primary'

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
  const secondary: LinkTarget | undefined = o.secondary === undefined ? undefined : { ...o.secondary, anyAnswer: o.anyAnswer }
  let progress: NodeJS.Timeout | undefined
  if (o.onProgress !== undefined) progress = setInterval(() => o.onProgress!(stats.summary(o, performance.now() - start)), 1000)
  try {
    await Promise.all(o.panels.map((cfg, i) => runPanel(new Panel(cfg, o.clockSkewSeconds), i, o, stats, { primary: target, secondary }, start, deadline)))
  } finally {
    if (progress !== undefined) clearInterval(progress)
  }
  return stats.summary(o, performance.now() - start)
}

/** A panel's lines: the primary, and the secondary when there is one (opened when first used). */
class Paths {
  readonly #o: SimOptions
  readonly #targets: Record<PathName, LinkTarget | undefined>
  readonly #links: Partial<Record<PathName, Link>> = {}

  constructor (o: SimOptions, targets: Record<PathName, LinkTarget | undefined>) {
    this.#o = o
    this.#targets = targets
  }

  get dual (): boolean {
    return this.#targets.secondary !== undefined
  }

  link (path: PathName): Link {
    let l = this.#links[path]
    if (l === undefined) {
      const target = this.#targets[path]!
      l = this.#o.proto === 'udp' ? new UdpLink(target) : new TcpLink(target)
      this.#links[path] = l
    }
    return l
  }

  async close (): Promise<void> {
    await Promise.all(Object.values(this.#links).map((l) => l.close()))
  }
}

async function runPanel (panel: Panel, index: number, o: SimOptions, stats: Stats, targets: Record<PathName, LinkTarget | undefined>, start: number, deadline: number): Promise<void> {
  const paths = new Paths(o, targets)
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
      await deliver(panel, step?.event ?? randomEvent(o.mix), paths, o, stats)
      if (o.connectPerEvent && o.proto === 'tcp') await paths.close()
    }
  } finally {
    await paths.close()
  }
}

/**
 * Delivers one event like a panel: on its first path, then (dual path, all attempts there
 * failed) on the other, with the same sequence number.
 */
async function deliver (panel: Panel, ev: EventSpec, paths: Paths, o: SimOptions, stats: Stats): Promise<void> {
  stats.events++
  const seq = ev.token === 'NULL' ? 0 : panel.nextSeq()
  const t0 = performance.now()
  const first: PathName = paths.dual && t0 < panel.holdUntil ? 'secondary' : 'primary'
  if (first === 'primary' && panel.lastPath === 'secondary') stats.failbacks++
  const order: PathName[] = paths.dual ? [first, first === 'primary' ? 'secondary' : 'primary'] : ['primary']
  let outcome: Outcome = { acked: false, fault: undefined, final: false }
  for (const [i, path] of order.entries()) {
    if (i > 0) stats.pathSwitches++
    panel.lastPath = path
    outcome = await attempts(panel, ev, seq, paths.link(path), o, stats)
    if (path === 'primary' && paths.dual) panel.holdUntil = outcome.acked ? -Infinity : performance.now() + (o.failbackMs ?? 0)
    if (outcome.acked) {
      stats.acked[path]++
      stats.maxAckWaitMs = Math.max(stats.maxAckWaitMs, performance.now() - t0)
      if (o.onAcked !== undefined) await o.onAcked(ackedEvent(panel, ev, seq, path))
      return
    }
    if (outcome.final) break
  }
  fail(stats, outcome.fault)
}

/** What the receiver journals the event under, from a clean copy of its frame. */
function ackedEvent (panel: Panel, ev: EventSpec, seq: number, path: PathName): AckedEvent {
  const d = decodeFrame(panel.frame(ev, seq, undefined), { profile: { key: panel.cfg.key, requireEncryption: false, window: null } })
  const identity = d.ok ? dedupeKey(d.value) ?? null : null
  return { account: panel.cfg.account, seq, token: ev.token, identity, path }
}

/** How an event's attempts on one path ended; `final`: the receiver refused it (DUH), no other path will do better. */
interface Outcome {
  readonly acked: boolean
  /** The fault injected into the last transmission. */
  readonly fault: Fault | undefined
  readonly final: boolean
}

/** Sends, waits, checks, retransmits on one path, like a panel. */
async function attempts (panel: Panel, ev: EventSpec, seq: number, link: Link, o: SimOptions, stats: Stats): Promise<Outcome> {
  const stream = o.proto === 'tcp'
  let fault: Fault | undefined
  for (let attempt = 0; attempt <= o.retries; attempt++) {
    if (attempt > 0) stats.retries++
    fault = pickFault(o.faults, (f) => (f === 'wrong-key' ? panel.cfg.key !== undefined : f === 'split' || f === 'slow' || f === 'merge' || f === 'drop' ? stream : true))
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
      continue
    }
    if (o.anyAnswer) {
      stats.acknowledged++
      stats.latency(ms)
      return { acked: true, fault, final: false }
    }
    const c = checkAnswer(answer, header, panel.cfg.key)
    if (c.problems.length > 0) {
      stats.flawed++
      stats.problem(`${panel.cfg.account} seq ${seq}: flawed ${c.token || 'answer'}: ${c.problems.join('; ')}`)
    } else if (c.token === 'ACK') {
      stats.acknowledged++
      stats.latency(ms)
      return { acked: true, fault, final: false }
    } else if (c.token === 'NAK') {
      stats.nak++
      // The panel sets its clock from the receiver's and tries again.
      if (c.receiverTime !== undefined) panel.clockOffsetMs = c.receiverTime + 500 - Date.now()
      if (fault === undefined) stats.problem(`${panel.cfg.account} seq ${seq}: NAK`)
    } else if (c.token === 'DUH') {
      stats.duh++
      stats.problem(`${panel.cfg.account} seq ${seq}: DUH (the receiver cannot process it; not retried)`)
      return { acked: false, fault, final: true }
    }
  }
  return { acked: false, fault, final: false }
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
    ...(s.paths === undefined ? [] : [`acknowledged on primary ${s.paths.ackedPrimary}, on secondary ${s.paths.ackedSecondary}, path switches ${s.paths.pathSwitches}, back to primary ${s.paths.failbacks}, longest wait for an ACK ${s.paths.maxAckWaitMs} ms`]),
    ...s.problems.map((p) => `  ${p}`),
  ].join('\n')
}
