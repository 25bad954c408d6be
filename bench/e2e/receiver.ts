/**
 * End-to-end benchmark: the receiver (real on-disk journal, in a temporary directory) and the
 * load client (load-client.ts) in separate processes, and for every case the same client run
 * against the bare baseline server in the same benchmark run. The client costs as little per
 * frame as it can, so that the baseline is the machine's limit for that load and not the
 * client's; the receiver is reported as a ratio of it: what it keeps of what this machine can do.
 * Each run also gives the CPU time per frame of the client and of the server process.
 */
import { randomBytes } from 'node:crypto'
import { execSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteAccountStore } from '../../src/accounts/sqlite-store.js'
import { makeFleet } from '../../src/sim/fleet.js'
import type { LoadSummary } from './load-client.js'
import { runConnections, type ConnectionsResult } from './connections.js'

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname
const BASELINE = new URL('./baseline-server.js', import.meta.url).pathname
const LOAD_CLIENT = new URL('./load-client.js', import.meta.url).pathname

export interface E2eCase {
  readonly name: string
  readonly proto: 'tcp' | 'udp'
  readonly panels: number
  readonly aes: boolean
  readonly connectPerEvent: boolean
}

/** One load client run, and the CPU time the server process spent meanwhile. */
export interface E2eRun extends LoadSummary {
  /** The server's CPU time (user + system) from the start of the client to its end, per acknowledged frame, µs. */
  readonly serverCpuUsPerFrame: number
}

export interface E2eResult {
  readonly case: E2eCase
  readonly receiver: E2eRun
  readonly baseline: E2eRun
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Frame-rate limits far above what one machine's simulator can send: benchmarks measure the receiver, not the limiter. */
export const RATE_LIMITS_OUT_OF_THE_WAY = {
  frameBurstPerAccount: 1_000_000, framesPerSecondPerAccount: 1_000_000, frameBurstPerAddress: 1_000_000, framesPerSecondPerAddress: 1_000_000,
} as const

/** A port free on 127.0.0.1 right now. */
export async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((r) => s.close(() => r()))
  return port
}

/** Resolves once something listens on the port; rejects if `child` exits first, or after `tries` looks (about 20 a second). */
export async function waitForPort (port: number, child: ChildProcess, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (child.exitCode !== null) throw new Error(`the process exited with ${child.exitCode} before listening`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true) })
      s.on('error', () => resolve(false))
    })
    if (ok) return
    await sleep(50)
  }
  throw new Error(`nothing listens on ${port}`)
}

export async function stop (child: ChildProcess): Promise<void> {
  // A process ended by a signal has no exit code, only the signal's name.
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  await Promise.race([exited, sleep(20_000).then(() => { child.kill('SIGKILL') })])
  await exited
}

export function rss (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

/** Clock ticks per second of /proc/<pid>/stat's times. */
const TICKS_PER_SECOND = (() => {
  try {
    return Number(execSync('getconf CLK_TCK', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()) || 100
  } catch {
    return 100
  }
})()

/** CPU time (user + system) a process has spent so far, µs. */
export function cpuMicros (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
  // The fields after `(comm)`: state is the first, utime the 12th, stime the 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1e6
}

/**
 * Waits until a process has gone quiet (under 10% of a core over 200 ms), at most `capMs`; returns
 * whether it did. The receiver works off its pipeline's backlog after a run; a run measured
 * meanwhile (the baseline's above all) would share the cores with that work.
 */
export async function untilQuiet (pid: number, capMs = 60_000): Promise<boolean> {
  const end = performance.now() + capMs
  let last = cpuMicros(pid)
  while (performance.now() < end) {
    await sleep(200)
    const now = cpuMicros(pid)
    if (now - last < 20_000) return true
    last = now
  }
  return false
}

/** The next block of frame numbers: every run against one receiver sends events none other sent. */
let nextOffset = 0
const OFFSET_BLOCK = 10_000_000

/**
 * Runs the load client against the server process `server`; its CPU time is read before and after.
 * `onStart`: called when the client's links are up and its first frames go out.
 */
export async function runClient (args: string[], server: ChildProcess, onStart?: () => void): Promise<E2eRun> {
  const offset = nextOffset
  nextOffset = (nextOffset + OFFSET_BLOCK) % 990_000_000
  const cpu0 = cpuMicros(server.pid!)
  const child = spawn(process.execPath, [LOAD_CLIENT, '--offset', String(offset), ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  let started = false
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString()
    if (!started && out.startsWith('started\n')) {
      started = true
      onStart?.()
    }
  })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  await new Promise<void>((r) => child.on('exit', () => r()))
  const cpu = cpuMicros(server.pid!) - cpu0
  const line = out.trim().split('\n').at(-1) ?? ''
  let summary: LoadSummary
  try {
    summary = JSON.parse(line) as LoadSummary
  } catch {
    throw new Error(`the load client printed no summary: ${err.trim() || out.trim()}`)
  }
  return { ...summary, serverCpuUsPerFrame: summary.acknowledged === 0 ? 0 : Math.round((cpu / summary.acknowledged) * 10) / 10 }
}

/**
 * A receiver process on a fresh data directory with the given fleets imported. `limits`: more
 * receiver limits for its limits file; `wrap`: a command prefix to start it through (a raised
 * file limit); `cli`: another build's dc09 (to compare two builds in one sitting); `apiPort`: its
 * HTTP interface's port (default: any); `args`: more `dc09 serve` options (its outputs).
 */
export async function startReceiver (dir: string, fleets: object[][], log: string, opts: { limits?: object, wrap?: (argv: string[]) => string[], cli?: string | undefined, apiPort?: number, args?: readonly string[] } = {}): Promise<{ child: ChildProcess, port: number }> {
  const store = new SqliteAccountStore(join(dir, 'data'))
  for (const f of fleets) {
    const r = store.import(f)
    if (!r.ok) throw new Error(r.reason)
  }
  store.close()
  // Everything comes from 127.0.0.1 here, so the per-address limits must allow the whole load,
  // and a simulated panel sends as fast as its ACKs come back, far above any real panel's rate.
  writeFileSync(join(dir, 'limits.json'), JSON.stringify({
    maxConnectionsPerAddress: 20_000, maxConnections: 20_000, ...RATE_LIMITS_OUT_OF_THE_WAY, ...opts.limits,
  }))
  const port = await freePort()
  const logFd = openSync(join(dir, log), 'a')
  writeFileSync(join(dir, 'pepper'), randomBytes(32), { mode: 0o600 })
  const argv = (opts.wrap ?? ((a) => a))([process.execPath, opts.cli ?? CLI, 'serve', '--data', join(dir, 'data'), '--port', String(port), '--api-port', String(opts.apiPort ?? 0), '--config', join(dir, 'limits.json'), '--pepper-file', join(dir, 'pepper'), ...opts.args ?? []])
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', logFd, logFd] })
  try {
    // A receiver with 100,000 accounts takes a while to start on a loaded machine.
    await waitForPort(port, child, 3000)
  } catch (err) {
    await stop(child)
    throw err
  }
  return { child, port }
}

export async function startBaseline (): Promise<{ child: ChildProcess, port: number }> {
  const child = spawn(process.execPath, [BASELINE], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (c: Buffer) => resolve(Number(c.toString().trim())))
    child.once('exit', () => reject(new Error('the baseline server exited')))
  })
  return { child, port }
}

export function cases (quick: boolean): E2eCase[] {
  const all: E2eCase[] = [
    { name: 'TCP, 1 panel, plain', proto: 'tcp', panels: 1, aes: false, connectPerEvent: false },
    { name: 'TCP, 1 panel, AES-128', proto: 'tcp', panels: 1, aes: true, connectPerEvent: false },
    { name: 'TCP, 100 panels, plain', proto: 'tcp', panels: 100, aes: false, connectPerEvent: false },
    { name: 'TCP, 100 panels, AES-128', proto: 'tcp', panels: 100, aes: true, connectPerEvent: false },
    { name: 'TCP, 1000 panels, plain', proto: 'tcp', panels: 1000, aes: false, connectPerEvent: false },
    { name: 'TCP, 1000 panels, AES-128', proto: 'tcp', panels: 1000, aes: true, connectPerEvent: false },
    { name: 'UDP, 100 panels, plain', proto: 'udp', panels: 100, aes: false, connectPerEvent: false },
    { name: 'TCP connect-per-event, 100 panels, plain', proto: 'tcp', panels: 100, aes: false, connectPerEvent: true },
  ]
  return quick ? all.filter((c) => c.panels === 100) : all
}

/** The load client's options for a case: its panels from `fleetFile`, for `seconds`. */
export function clientArgs (c: E2eCase, fleetFile: string, seconds: number): string[] {
  return [
    '--proto', c.proto, '--panels', String(c.panels), '--accounts', fleetFile,
    '--duration', String(seconds), '--ack-timeout', '5000',
    ...(c.connectPerEvent ? ['--connect-per-event'] : []),
  ]
}

type Server = { readonly child: ChildProcess, readonly port: number }

/**
 * One case: the client against the receiver, then the same client against the baseline, each
 * once the receiver has gone quiet. `onStart`: called as the receiver's run starts; `between`:
 * awaited after the receiver's run, before the baseline's (the outputs case waits there for its
 * outputs to catch up).
 */
export async function measurePair (receiver: Server, baseline: Server, args: readonly string[], o: { log: (s: string) => void, name: string, onStart?: () => void, between?: (r: E2eRun) => Promise<void> }): Promise<{ receiver: E2eRun, baseline: E2eRun }> {
  const quiet = async () => {
    if (!await untilQuiet(receiver.child.pid!)) o.log('  the receiver was still busy after 60 s; measuring all the same')
  }
  await quiet()
  const r = await runClient([...args, '--port', String(receiver.port)], receiver.child, o.onStart)
  await o.between?.(r)
  await quiet()
  const b = await runClient([...args, '--port', String(baseline.port), '--any-answer'], baseline.child)
  const cpu = (x: E2eRun) => `client ${x.clientCpuUsPerFrame} µs, server ${x.serverCpuUsPerFrame} µs CPU per frame`
  o.log(`${o.name}: receiver ${r.framesPerSecond}/s p99 ${r.latencyMs.p99} ms (failed ${r.failed}; ${cpu(r)}); baseline ${b.framesPerSecond}/s p99 ${b.latencyMs.p99} ms (${cpu(b)})`)
  if (r.problems.length > 0) o.log(`  ${r.problems.slice(0, 3).join('\n  ')}`)
  return { receiver: r, baseline: b }
}

/** `cli`: another build's dc09 to measure (its dist/src/cli/main.js): a before and after in one sitting. */
export async function runE2e (opts: { quick: boolean, log: (s: string) => void, only?: (c: E2eCase) => boolean, seconds?: number, memory?: boolean, cli?: string | undefined }): Promise<{ results: E2eResult[], memory: ConnectionsResult | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'dc09-bench-'))
  const seconds = opts.seconds ?? (opts.quick ? 1 : 6)
  try {
    const plain = makeFleet(1000, 'none', 100000)
    const aes = makeFleet(1000, 'hex', 200000)
    writeFileSync(join(dir, 'plain.json'), JSON.stringify(plain))
    writeFileSync(join(dir, 'aes.json'), JSON.stringify(aes))
    const receiver = await startReceiver(dir, [plain, aes], 'receiver.log', { cli: opts.cli })
    const baseline = await startBaseline()
    const results: E2eResult[] = []
    try {
      for (const c of cases(opts.quick).filter(opts.only ?? (() => true))) {
        const args = clientArgs(c, join(dir, c.aes ? 'aes.json' : 'plain.json'), seconds)
        results.push({ case: c, ...await measurePair(receiver, baseline, args, { log: opts.log, name: c.name }) })
      }
    } finally {
      await stop(receiver.child)
      await stop(baseline.child)
    }
    const memory = opts.memory === false ? undefined : await runConnections({ count: opts.quick ? 300 : 100_000, log: opts.log })
    return { results, memory }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
