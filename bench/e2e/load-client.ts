/**
 * The end-to-end benchmark's load client, run as its own process: N panels (TCP connections or
 * connected UDP sockets) in ping-pong, each sending its next frame when the answer to the last
 * one came, for a given time. It prints `started` when its links are up and the first frames go
 * out, and at the end one JSON line with the figures.
 *
 * It is built to cost as little per frame as possible, so that against the bare baseline server
 * the limit measured is the machine's and not the client's: frames come from precomputed parts
 * (load-frames.ts) and answers are checked by their first bytes only. What a panel does besides
 * (retransmissions, NAK clock setting, full answer checks, faults) is the simulator's job
 * (`dc09 simulate`), not this one's.
 *
 *   node load-client.js --port P --accounts FLEET.json --panels N --duration S
 *     [--host H] [--proto tcp|udp] [--offset N] [--alarm-every K] [--any-answer]
 *     [--connect-per-event] [--ack-timeout MS]
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { FrameMaker, LatencyHistogram, isAck, setStamp, type LoadPanel } from './load-frames.js'

export interface LoadSummary {
  readonly panels: number
  readonly proto: 'tcp' | 'udp'
  readonly encrypted: boolean
  readonly sent: number
  readonly acknowledged: number
  /** Frames answered with anything but the expected ACK, or not answered in time. */
  readonly failed: number
  readonly timeouts: number
  /** Alarms (Contact ID 1130) sent: with `--alarm-every`. */
  readonly alarms: number
  readonly durationMs: number
  /** Acknowledged frames per second. */
  readonly framesPerSecond: number
  /** From writing a frame (connect-per-event: from connecting) to its answer, ms. */
  readonly latencyMs: { readonly p50: number, readonly p95: number, readonly p99: number, readonly max: number }
  /** This process's CPU time (user + system) over the run, per acknowledged frame, µs. */
  readonly clientCpuUsPerFrame: number
  /** A few examples of what went wrong. */
  readonly problems: readonly string[]
}

export interface LoadOptions {
  readonly host: string
  readonly port: number
  readonly proto: 'tcp' | 'udp'
  readonly panels: readonly LoadPanel[]
  readonly durationMs: number
  readonly offset: number
  readonly alarmEvery: number
  readonly anyAnswer: boolean
  readonly connectPerEvent: boolean
  readonly ackTimeoutMs: number
  /** Called once the links are up, as the first frames go out. */
  readonly onStart?: (() => void) | undefined
}

const CR = 0x0d
/**
 * Where every persistent TCP link reads into: answers are handled as they are read, on the one
 * thread, so one buffer serves all (no new buffer per read); the rare answer cut in two is copied.
 */
const READ_BUFFER = Buffer.alloc(16 * 1024)

class Counters {
  sent = 0
  acknowledged = 0
  failed = 0
  timeouts = 0
  readonly latency = new LatencyHistogram()
  readonly problems: string[] = []

  problem (p: string): void {
    if (this.problems.length < 10) this.problems.push(p)
  }
}

/** One panel: a frame maker, and the one frame it has in flight. */
interface Panel {
  readonly maker: FrameMaker
  readonly account: string
  /** When the frame in flight was sent; -1: none in flight. */
  t0: number
  /** The part of an answer received so far (TCP, when it came in pieces). */
  partial: Buffer | undefined
  socket: Socket | UdpSocket | undefined
  done: boolean
}

export async function runLoad (o: LoadOptions): Promise<LoadSummary> {
  const c = new Counters()
  const panels: Panel[] = o.panels.map((p) => ({ maker: new FrameMaker(p, { offset: o.offset, alarmEvery: o.alarmEvery }), account: p.account, t0: -1, partial: undefined, socket: undefined, done: false }))
  const encrypted = panels[0]?.maker.encrypted ?? false
  const stampTimer = setInterval(() => setStamp(Date.now()), 1000)
  let finish!: () => void
  const finished = new Promise<void>((resolve) => { finish = resolve })
  let active = panels.length
  let deadline = Infinity

  const settle = (p: Panel): void => {
    if (p.done) return
    p.done = true
    if (--active === 0) finish()
  }
  /** An answer (or its absence) for the frame in flight; then the next frame, until the deadline. */
  const answered = (p: Panel, answer: Buffer | undefined): void => {
    const now = performance.now()
    if (answer === undefined) {
      c.failed++
      c.timeouts++
      c.problem(`${p.account}: no answer within ${o.ackTimeoutMs} ms`)
    } else if (o.anyAnswer || isAck(answer, p.maker.encrypted)) {
      c.acknowledged++
      c.latency.add(now - p.t0)
    } else {
      c.failed++
      c.problem(`${p.account}: answered ${JSON.stringify(answer.subarray(0, 40).toString('latin1'))}`)
    }
    p.t0 = -1
    if (o.connectPerEvent) {
      (p.socket as Socket | undefined)?.destroy()
      p.socket = undefined
    }
    if (now >= deadline) settle(p)
    else send(p)
  }
  const send = (p: Panel): void => {
    const frame = p.maker.next()
    c.sent++
    p.t0 = performance.now()
    if (o.connectPerEvent) {
      const s = openTcp(p)
      s.once('connect', () => s.write(frame))
    } else if (o.proto === 'udp') (p.socket as UdpSocket).send(frame)
    else (p.socket as Socket).write(frame)
  }
  const onTcpData = (p: Panel, chunk: Buffer): void => {
    // Ping-pong: one answer per frame in flight, almost always in one chunk.
    let answer = p.partial === undefined ? chunk : Buffer.concat([p.partial, chunk])
    if (answer[answer.length - 1] !== CR) {
      p.partial = p.partial === undefined ? Buffer.from(answer) : answer
      return
    }
    p.partial = undefined
    if (o.anyAnswer) answer = answer.subarray(0, answer.indexOf(CR) + 1)
    if (p.t0 >= 0) answered(p, answer)
  }
  const openTcp = (p: Panel): Socket => {
    const s = connect({
      host: o.host,
      port: o.port,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => { onTcpData(p, (buf as Buffer).subarray(0, n)); return true } },
    })
    p.socket = s
    s.on('error', (err) => {
      c.problem(`${p.account}: ${err.message}`)
    })
    s.on('close', () => {
      if (p.socket !== s) return
      p.socket = undefined
      // A persistent connection that closes under a frame fails the frame, and the panel stops.
      if (p.t0 >= 0) {
        c.failed++
        p.t0 = -1
      }
      if (!o.connectPerEvent || performance.now() >= deadline) settle(p)
      else send(p)
    })
    return s
  }

  // Connect first (persistent links), then start the clock.
  if (!o.connectPerEvent) {
    await Promise.all(panels.map((p) => new Promise<void>((resolve, reject) => {
      if (o.proto === 'udp') {
        const s = createSocket('udp4')
        p.socket = s
        s.on('message', (m: Buffer) => { if (p.t0 >= 0) answered(p, m) })
        s.on('error', (err) => c.problem(`${p.account}: ${err.message}`))
        s.connect(o.port, o.host, () => resolve())
      } else {
        const s = openTcp(p)
        s.once('connect', () => resolve())
        s.once('error', reject)
      }
    })))
  }
  o.onStart?.()
  const cpu0 = process.cpuUsage()
  const start = performance.now()
  deadline = start + o.durationMs
  // Unanswered frames: checked every 100 ms. A TCP link whose answer is late is out of step for
  // good, so the panel stops; a UDP panel sends its next frame.
  const sweep = setInterval(() => {
    const now = performance.now()
    for (const p of panels) {
      if (p.done || p.t0 < 0 || now - p.t0 < o.ackTimeoutMs) continue
      if (o.proto === 'udp' || o.connectPerEvent) answered(p, undefined)
      else {
        c.failed++
        c.timeouts++
        c.problem(`${p.account}: no answer within ${o.ackTimeoutMs} ms; the connection is dropped`)
        p.t0 = -1
        ;(p.socket as Socket).destroy()
        settle(p)
      }
    }
  }, 100)
  for (const p of panels) send(p)
  await finished
  const end = performance.now()
  const cpu = process.cpuUsage(cpu0)
  clearInterval(sweep)
  clearInterval(stampTimer)
  for (const p of panels) {
    if (p.socket === undefined) continue
    if (o.proto === 'udp') (p.socket as UdpSocket).close()
    else (p.socket as Socket).destroy()
  }
  const ms = end - start
  const q = (p: number) => Math.round(c.latency.percentile(p) * 100) / 100
  return {
    panels: panels.length,
    proto: o.proto,
    encrypted,
    sent: c.sent,
    acknowledged: c.acknowledged,
    failed: c.failed,
    timeouts: c.timeouts,
    alarms: panels.reduce((n, p) => n + p.maker.alarms, 0),
    durationMs: Math.round(ms),
    framesPerSecond: Math.round((c.acknowledged / ms) * 1000),
    latencyMs: { p50: q(50), p95: q(95), p99: q(99), max: Math.round(c.latency.max * 100) / 100 },
    clientCpuUsPerFrame: c.acknowledged === 0 ? 0 : Math.round(((cpu.user + cpu.system) / c.acknowledged) * 10) / 10,
    problems: c.problems,
  }
}

/** The first `n` panels of a fleet file (the form `dc09 accounts import` takes). */
export function readPanels (file: string, n: number): LoadPanel[] {
  const fleet = JSON.parse(readFileSync(file, 'utf8')) as Array<{ account: string, key?: string, keyFormat?: string, prefix?: string }>
  if (fleet.length < n) throw new Error(`${file} has ${fleet.length} accounts, not ${n}`)
  return fleet.slice(0, n).map((e) => ({
    account: e.account,
    prefix: e.prefix,
    key: e.key === undefined ? undefined : Buffer.from(e.key, e.keyFormat === 'ascii' ? 'latin1' : 'hex'),
  }))
}

function parseArgs (argv: string[]): LoadOptions {
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(a)}`)
    if (a === '--any-answer' || a === '--connect-per-event') flags.set(a, 'yes')
    else flags.set(a, argv[++i] ?? '')
  }
  const num = (name: string, dflt?: number): number => {
    const v = flags.get(name)
    if (v === undefined && dflt !== undefined) return dflt
    const n = Number(v)
    if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) throw new Error(`${name} needs a number`)
    return n
  }
  const accounts = flags.get('--accounts')
  if (accounts === undefined) throw new Error('--accounts FILE is needed')
  const proto = flags.get('--proto') ?? 'tcp'
  if (proto !== 'tcp' && proto !== 'udp') throw new Error('--proto is tcp or udp')
  return {
    host: flags.get('--host') ?? '127.0.0.1',
    port: num('--port'),
    proto,
    panels: readPanels(accounts, num('--panels')),
    durationMs: num('--duration') * 1000,
    offset: num('--offset', 0),
    alarmEvery: num('--alarm-every', 0),
    anyAnswer: flags.has('--any-answer'),
    connectPerEvent: flags.has('--connect-per-event'),
    ackTimeoutMs: num('--ack-timeout', 5000),
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    // `started` on a line of its own: the harness times what it samples from there.
    const summary = await runLoad({ ...parseArgs(process.argv.slice(2)), onStart: () => process.stdout.write('started\n') })
    process.stdout.write(JSON.stringify(summary) + '\n')
    process.exit(0)
  } catch (err) {
    process.stderr.write(`load-client: ${(err as Error).message}\n`)
    process.exit(2)
  }
}
