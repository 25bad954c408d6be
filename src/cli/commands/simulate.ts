/** `dc09 simulate` and `dc09 fleet`: argument handling around src/sim. */
import { once } from 'node:events'
import { createWriteStream, openSync, writeFileSync, type WriteStream } from 'node:fs'
import { isIP } from 'node:net'
import { Option, type Command } from 'commander'
import { parseKey, type AesKey, type KeyFormat } from '../../protocol/index.js'
import type { CliDeps } from '../deps.js'
import { givenOnly } from '../help.js'
import { describePlan, plannedMs, progressReporter, type Plan } from '../progress.js'
import { loadKey, parseCount, parsePort, parsePositive, parseSeconds } from '../options.js'
import { makeFleet, readFleet, type PanelConfig } from '../../sim/fleet.js'
import { FAULTS, formatSummary, LIMITS, simulate, type AckedEvent, type Fault, type Faults, type SimSummary } from '../../sim/simulator.js'
import { parseMix, readScenario } from '../../sim/traffic.js'

export interface SimulateFlags {
  readonly host: string
  readonly port: number
  /** `HOST:PORT` of the second receiver of dual-path panels. */
  readonly secondary?: string | undefined
  /** Seconds a panel sends new events to the secondary first after a failover. */
  readonly failback?: number | undefined
  /** A file for one JSON line per acknowledged event. */
  readonly ackedLog?: string | undefined
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

/** How long a dual-path panel stays on the secondary after a failover before it tries the primary first again. */
const DEFAULT_FAILBACK_SECONDS = 60

/** How often a run not on a terminal says how it goes. */
const PROGRESS_EVERY_MS = 30_000

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'))
}

/** `127.0.0.1:9001`, `[::1]:9001`, `receiver-b:9001`. */
export function parseHostPort (text: string): { host: string, port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text)
  if (m === null || Number(m[3]) > 65535) throw new Error(`--secondary: expected HOST:PORT (an IPv6 address in brackets), not ${JSON.stringify(text)}`)
  return { host: m[1] ?? m[2]!, port: Number(m[3]) }
}

/**
 * The acknowledged events, a JSON line each, written as they come: a panel waits while the file
 * catches up, so nothing piles up in memory however long the run.
 */
class AckedLog {
  readonly #file: string
  readonly #stream: WriteStream
  #drain: Promise<unknown> | undefined
  #error: Error | undefined

  constructor (file: string) {
    this.#file = file
    // Opened now: a path that cannot be written is an error before the run, not after it.
    this.#stream = createWriteStream('', { fd: openSync(file, 'w') })
    this.#stream.on('error', (e) => { this.#error ??= e })
  }

  async write (e: AckedEvent): Promise<void> {
    if (this.#error !== undefined) return
    if (this.#stream.write(JSON.stringify(e) + '\n')) return
    this.#drain ??= once(this.#stream, 'drain').catch(() => {}).finally(() => { this.#drain = undefined })
    await this.#drain
  }

  async close (): Promise<void> {
    if (!this.#stream.destroyed) {
      this.#stream.end()
      await once(this.#stream, 'close').catch(() => {})
    }
    if (this.#error !== undefined) throw new Error(`--acked-log ${this.#file}: ${this.#error.message}`)
  }
}

/** Runs the simulation; resolves with the exit code. */
export async function runSimulate (f: SimulateFlags, out: (s: string) => void, err: (s: string) => void, tty = process.stderr.isTTY): Promise<number> {
  // A load generator pointed at someone else's server is an attack: loopback unless asked.
  if (!isLoopback(f.host) && f.allowRemote !== true) throw new Error(`${f.host} is not a loopback address; add --allow-remote to load a receiver on another host`)
  const secondary = f.secondary === undefined ? undefined : parseHostPort(f.secondary)
  if (secondary !== undefined && !isLoopback(secondary.host) && f.allowRemote !== true) throw new Error(`--secondary ${secondary.host} is not a loopback address; add --allow-remote to load a receiver on another host`)
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
  const scenario = f.scenario === undefined ? undefined : readScenario(f.scenario)
  const plan: Plan = {
    panels: panels.length, events, rate: f.rate, durationMs,
    scenario: scenario === undefined || f.scenario === undefined ? undefined : { file: f.scenario, steps: scenario.steps.length, lastAtSeconds: scenario.steps.at(-1)!.at },
  }
  const log = f.ackedLog === undefined ? undefined : new AckedLog(f.ackedLog)
  // Said first: a scenario can run for many minutes with nothing else to show.
  err(`simulate: ${describePlan(plan)}\n`)
  const live = tty && f.json !== true
  let summary: SimSummary
  try {
    summary = await simulate({
      host: f.host,
      port: f.port,
      secondary,
      failbackMs: (f.failback ?? DEFAULT_FAILBACK_SECONDS) * 1000,
      onAcked: log === undefined ? undefined : (e) => log.write(e),
      proto: f.proto,
      connectPerEvent: f.connectPerEvent === true,
      panels,
      events,
      // A scenario ends with its last step; a run without events or duration still stops by itself.
      durationMs: durationMs ?? (events === undefined && f.scenario === undefined ? 60_000 : LIMITS.durationMs),
      rate: f.rate,
      mix: parseMix(f.mix),
      scenario,
      ackTimeoutMs: f.ackTimeout,
      retries: f.retries,
      clockSkewSeconds: f.clockSkew,
      faults,
      anyAnswer: f.anyAnswer === true,
      // On a terminal one line drawn again; in a log, a line every half minute.
      onProgress: progressReporter({ tty: live, totalMs: plannedMs(plan), everyMs: PROGRESS_EVERY_MS, write: err }),
    })
  } finally {
    await log?.close()
  }
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

type SimulateArgs = Omit<SimulateFlags, 'key'> & { keyStdin?: boolean, keyFile?: string, keyFormat: KeyFormat }

export function register (program: Command, deps: CliDeps): void {
  const sim = program.command('simulate')
  sim.description('drive a receiver like many real panels: events, retries, faults, and a summary with ACK latency')
    .option('--host <address>', 'receiver address (loopback unless --allow-remote)', '127.0.0.1')
    .option('--port <port>', 'receiver port', parsePort, 9000)
    .option('--secondary <host:port>', 'dual-path panels: the receiver an event goes to when the primary (--host, --port) fails it; loopback unless --allow-remote')
    .option('--failback <seconds>', 'dual path: after a failover, new events go to the secondary first for this long, then the primary is tried first again (0: the primary first for every event)', parseCount, DEFAULT_FAILBACK_SECONDS)
    .option('--acked-log <file>', 'write one JSON line per acknowledged event: account, seq, token, identity (the receiver\'s duplicate key), path')
    .addOption(new Option('--proto <proto>', 'transport').choices(['tcp', 'udp']).default('tcp'))
    .option('--connect-per-event', 'TCP: a new connection for every event, as some hubs do')
    .addOption(new Option('--panels <n>', 'number of panels').argParser(parseCount).default(1, '1, or one per account of --accounts'))
    .option('--account <number>', 'the account every panel reports as')
    .option('--key-stdin', 'read the AES key for --account from standard input')
    .option('--key-file <file>', 'read the AES key for --account from a file')
    .addOption(new Option('--key-format <format>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--prefix <hex>', 'account prefix (L) with --account', '0')
    .option('--receiver <hex>', 'receiver number (R) with --account')
    .option('--accounts <file>', 'one panel per entry of a fleet file (the dc09 accounts import format)')
    .addOption(new Option('--events <n>', 'events per panel').argParser(parseCount).default(10, '10, unless --duration or --scenario'))
    .option('--duration <seconds>', 'run this long instead', parsePositive)
    .option('--rate <events/s>', 'events per second per panel; without it, ping-pong: the next after each answer', parsePositive)
    .option('--mix <weights>', 'kinds of event', 'cid=70,sia=20,null=10')
    .option('--scenario <file>', 'a JSON scenario each panel plays instead of random events')
    .option('--ack-timeout <ms>', 'how long a panel waits for its answer', parseCount, 5000)
    .option('--retries <n>', 'retransmissions of an unanswered or refused frame', parseCount, 3)
    .option('--clock-skew <seconds>', 'every panel clock runs this far off', parseSeconds, 0)
    .option('--faults <percentages>', `faults on demand: ${FAULTS.map((x) => `${x}=P`).join(',')}`)
    // For the benchmark's bare baseline server only: accepted, not shown.
    .addOption(new Option('--any-answer', 'count any CR-terminated line as the answer').hideHelp())
    .option('--allow-remote', 'allow a host that is not loopback')
    .option('--json', 'print the summary as one JSON object')
    .action(async (all: SimulateArgs) => {
      // Defaults shown in the help but applied by runSimulate, which knows what else was given.
      const o = givenOnly(sim, all, ['panels', 'events'])
      try {
        let key: AesKey | undefined
        if (o.keyStdin === true) {
          const text = deps.readStdin().replace(/^\uFEFF/, '').replace(/[\r\n]+$/, '')
          const k = parseKey(text, o.keyFormat)
          if (!k.ok) throw new Error(`the key is not usable: ${k.reason}`)
          key = k.value
        } else if (o.account !== undefined) {
          key = loadKey(o.keyFile, o.keyFormat, 'node')
        }
        process.exitCode = await runSimulate({ ...o, key }, deps.out, deps.err, deps.stderrIsTTY)
      } catch (err) {
        deps.err(`dc09 simulate: ${(err as Error).message}\n`)
        process.exitCode = 2
      }
    })

  program.command('fleet')
    .description('write a fleet file (the dc09 accounts import format) with fresh random keys, for the receiver and the simulator')
    .requiredOption('--count <n>', 'number of accounts', parseCount)
    .addOption(new Option('--key-format <format>', 'keys as hex or ASCII, or no keys').choices(['hex', 'ascii', 'none']).default('hex'))
    .requiredOption('--out <file>', 'where to write it (mode 0600: it holds keys)')
    .option('--first <n>', 'first account number', parseCount, 100000)
    .option('--tenant <name>', 'tenant of every account')
    .action((o: { count: number, keyFormat: KeyFormat | 'none', out: string, first: number, tenant?: string }) => {
      if (o.count < 1 || o.count > 1_000_000) program.error('error: --count is 1 to 1000000', { exitCode: 2 })
      writeFleet(o.count, o.keyFormat, o.out, o.first, o.tenant)
      deps.out(`wrote ${o.count} account(s) to ${o.out}\n`)
    })
}
