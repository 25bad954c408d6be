/**
 * The cluster case: two receivers in cluster mode (`dc09 serve --nats`) on a 3-node NATS JetStream
 * cluster, all on this machine.
 *
 * - Throughput: two load clients at once, 50 AES-128 panels each, one per receiver, then the same
 *   two clients at once against the bare baseline server. Reported: the sum of the frame rates as
 *   a ratio to the baseline's, the worse client's p50 and p99, and the CPU time per frame of the
 *   receivers and of the three nats-servers (from /proc). The single-node receiver's case with the
 *   same load ('TCP, 100 panels, AES-128') runs in the same sitting (or its result is passed in),
 *   so the difference of the receivers' CPU per frame is what the publish to the stream costs.
 * - Failover: dual-path panels (`dc09 simulate --secondary`) at a steady rate; the events stream's
 *   leader is SIGKILLed mid-run (and started again), then, in other runs, receiver A is. Reported:
 *   the longest an event waited from its first transmission to its ACK, per run.
 * - An estimate of three machines, computed from the CPU per frame measured here.
 */
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectCluster, EVENTS_STREAM } from '../../src/cluster/nats.js'
import { initCluster, streamStatus } from '../../src/cluster/layout.js'
import { SharedState } from '../../src/cluster/shared-state.js'
import { openAccounts } from '../../src/cluster/parts.js'
import { makeFleet } from '../../src/sim/fleet.js'
import type { SimSummary } from '../../src/sim/simulator.js'
import { natsServerPath, startCluster, startWatchdog, type NatsCluster, type Watchdog } from '../cluster-harness.js'
import { fmt } from '../harness.js'
import {
  cpuMicros, freePort, runClient, runE2e, startBaseline, stop, untilQuiet, waitForPort, RATE_LIMITS_OUT_OF_THE_WAY,
  type E2eResult, type E2eRun,
} from './receiver.js'

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname
/** The single-node case the cluster is compared with: the same panels, the same client. */
export const SINGLE_NODE_CASE = 'TCP, 100 panels, AES-128'
/** What the cluster should keep of the baseline on this machine (3 servers and 2 receivers share its cores). */
export const CLUSTER_AIM = 0.3
const PANELS = 100

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface ClusterThroughput {
  readonly seconds: number
  /** Both clients' acknowledged frames per second, summed. */
  readonly framesPerSecond: number
  readonly failed: number
  /** The worse of the two clients. */
  readonly latencyMs: { readonly p50: number, readonly p99: number }
  /** Both receivers' CPU time over the run per acknowledged frame (of both clients), µs. */
  readonly receiverCpuUsPerFrame: number
  /** The three servers' CPU time per frame, summed, µs. */
  readonly natsCpuUsPerFrame: number
  /** Each server's, µs per frame, with which one led the events stream. */
  readonly nodes: ReadonlyArray<{ readonly name: string, readonly leader: boolean, readonly cpuUsPerFrame: number }>
  readonly clientCpuUsPerFrame: number
  /** With no load just before the run, % of one core: both receivers together, the three servers together. */
  readonly idlePercentOfCore: { readonly receivers: number, readonly nats: number }
  readonly runs: readonly E2eRun[]
}

export interface BaselinePair {
  readonly framesPerSecond: number
  readonly latencyMs: { readonly p50: number, readonly p99: number }
  readonly serverCpuUsPerFrame: number
  readonly clientCpuUsPerFrame: number
}

export interface FailoverRun {
  /** What was SIGKILLed: the events stream's leader (a nats-server) or receiver A. */
  readonly killed: string
  /** Seconds into the run. */
  readonly atSeconds: number
  /** The longest an event waited from its first transmission to its ACK, across both paths, ms. */
  readonly maxAckWaitMs: number
  readonly acknowledged: number
  readonly failed: number
  readonly pathSwitches: number
  /** Seconds until the stream had a leader again (leader runs). */
  readonly electionSeconds?: number | undefined
}

export interface ClusterEstimate {
  /** One receiver and one nats-server per machine, each process on a core of its own. */
  readonly layout: string
  /** What one receiver's core allows, frames/s. */
  readonly perReceiver: number
  /** What the stream leader's core allows, frames/s (all events go through one leader). */
  readonly leaderLimit: number
  /** Three receivers, bounded by the leader. */
  readonly total: number
  /** The bound that binds: 'receivers' or 'leader'. */
  readonly bound: 'receivers' | 'leader'
}

export interface ClusterResult {
  readonly panels: number
  readonly cluster: ClusterThroughput
  readonly baseline: BaselinePair
  readonly ratio: number
  readonly aim: number
  readonly aimMet: boolean
  readonly singleNode: E2eResult
  /** Cluster receiver CPU per frame minus the single-node receiver's: the publish to the stream, µs. */
  readonly publishUsPerFrame: number
  /** `nats-server --version`. */
  readonly natsVersion: string
  readonly failover: { readonly rate: number, readonly seconds: number, readonly downFor: number, readonly leader: readonly FailoverRun[], readonly receiver: readonly FailoverRun[] }
  readonly estimate: ClusterEstimate
  readonly quick: boolean
}

interface Receiver {
  readonly child: ChildProcess
  readonly port: number
  readonly node: string
}

interface Setup {
  readonly dir: string
  readonly fleetFile: string
  /** The fleet's two halves, one per load client. */
  readonly halves: readonly string[]
  readonly limitsFile: string
  readonly pepperFile: string
  readonly cluster: NatsCluster
  /** Where each receiver writes a CPU profile (of each of its threads) when it stops. */
  readonly profileDir?: string | undefined
}

/**
 * The receivers and simulators started here: SIGKILLed by PID when this process exits, and by a
 * watchdog process (each is the leader of its own process group) when it dies without exiting.
 */
const children = new Set<ChildProcess>()
let watchdog: Watchdog | undefined
let exitHook = false

function guarded (argv: string[], stdio: StdioOptions): ChildProcess {
  watchdog ??= startWatchdog()
  if (!exitHook) {
    process.on('exit', () => { for (const c of children) c.kill('SIGKILL') })
    exitHook = true
  }
  const child = spawn(process.execPath, argv, { stdio, detached: true })
  const pid = child.pid
  if (pid !== undefined) {
    children.add(child)
    watchdog.track(pid)
    child.once('exit', () => {
      children.delete(child)
      watchdog?.untrack(pid)
    })
  }
  return child
}

/** A receiver in cluster mode on a fresh node directory of its own. */
async function startClusterReceiver (s: Setup, node: string): Promise<Receiver> {
  const prof = s.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', join(s.profileDir, node)]
  const data = join(s.dir, node)
  mkdirSync(data, { recursive: true })
  const port = await freePort()
  const logFd = openSync(join(s.dir, `${node}.log`), 'a')
  let child: ChildProcess
  try {
    child = guarded([
      ...prof, CLI, 'serve', '--nats', s.cluster.url, '--node', node, '--data', data, '--port', String(port), '--api-port', '0',
      '--config', s.limitsFile, '--pepper-file', s.pepperFile,
    ], ['ignore', logFd, logFd])
  } finally {
    closeSync(logFd)
  }
  try {
    await waitForPort(port, child, 600)
  } catch (err) {
    await stop(child)
    throw err
  }
  return { child, port, node }
}

function sumRuns (runs: readonly E2eRun[]): { acked: number, seconds: number } {
  return { acked: runs.reduce((n, r) => n + r.acknowledged, 0), seconds: Math.max(...runs.map((r) => r.durationMs)) / 1000 }
}

const perFrame = (us: number, frames: number) => (frames === 0 ? 0 : Math.round((us / frames) * 10) / 10)

/** Two load clients at once, each with half the panels (its own fleet file), one per target; the CPU time of `pids` read around them. */
async function twoClients (halves: readonly string[], seconds: number, targets: ReadonlyArray<{ port: number, child: ChildProcess }>, extra: string[], pids: number[]): Promise<{ runs: E2eRun[], cpu: number[] }> {
  const cpu0 = pids.map(cpuMicros)
  const runs = await Promise.all(targets.map((t, i) => runClient([
    '--proto', 'tcp', '--panels', String(PANELS / 2), '--accounts', halves[i]!,
    '--duration', String(seconds), '--ack-timeout', '5000', '--port', String(t.port), ...extra,
  ], t.child)))
  return { runs, cpu: pids.map((p, i) => cpuMicros(p) - cpu0[i]!) }
}

/** How long to wait for the receivers to go quiet: a cluster receiver is never quite idle (it follows the streams). */
const QUIET_CAP_MS = 15_000
const IDLE_SAMPLE_MS = 3000

async function quiet (receivers: readonly Receiver[], log: (s: string) => void): Promise<void> {
  for (const r of receivers) {
    if (!await untilQuiet(r.child.pid!, QUIET_CAP_MS)) log(`  ${r.node} still used more than 10% of a core after ${QUIET_CAP_MS / 1000} s; measuring all the same`)
  }
}

/** The CPU the processes use with no load, % of one core (summed). */
async function idlePercent (pids: readonly number[]): Promise<number> {
  const cpu0 = pids.map(cpuMicros)
  const t0 = performance.now()
  await sleep(IDLE_SAMPLE_MS)
  const us = pids.reduce((n, p, i) => n + cpuMicros(p) - cpu0[i]!, 0)
  return Math.round((us / ((performance.now() - t0) * 1000)) * 1000) / 10
}

async function measureThroughput (s: Setup, receivers: readonly Receiver[], seconds: number, log: (s: string) => void): Promise<{ cluster: ClusterThroughput, baseline: BaselinePair }> {
  await quiet(receivers, log)
  const leader = await s.cluster.waitForLeader(EVENTS_STREAM)
  const natsPids = s.cluster.nodes.map((n) => n.pid()!)
  const idle = { receivers: await idlePercent(receivers.map((r) => r.child.pid!)), nats: await idlePercent(natsPids) }
  log(`idle, before the load: the receivers use ${idle.receivers}% of a core, the nats-servers ${idle.nats}%`)
  const { runs, cpu } = await twoClients(s.halves, seconds, receivers, [], [...receivers.map((r) => r.child.pid!), ...natsPids])
  const { acked, seconds: secs } = sumRuns(runs)
  const receiverCpu = cpu.slice(0, receivers.length).reduce((a, b) => a + b, 0)
  const natsCpu = cpu.slice(receivers.length)
  const cluster: ClusterThroughput = {
    seconds,
    framesPerSecond: Math.round(runs.reduce((n, r) => n + r.framesPerSecond, 0)),
    failed: runs.reduce((n, r) => n + r.failed, 0),
    latencyMs: { p50: Math.max(...runs.map((r) => r.latencyMs.p50)), p99: Math.max(...runs.map((r) => r.latencyMs.p99)) },
    receiverCpuUsPerFrame: perFrame(receiverCpu, acked),
    natsCpuUsPerFrame: perFrame(natsCpu.reduce((a, b) => a + b, 0), acked),
    nodes: s.cluster.nodes.map((n, i) => ({ name: n.name, leader: n.name === leader, cpuUsPerFrame: perFrame(natsCpu[i]!, acked) })),
    clientCpuUsPerFrame: perFrame(runs.reduce((n, r) => n + r.clientCpuUsPerFrame * r.acknowledged, 0), acked),
    idlePercentOfCore: idle,
    runs,
  }
  log(`cluster: ${cluster.framesPerSecond}/s over ${secs.toFixed(1)} s, p50 ${cluster.latencyMs.p50} / p99 ${cluster.latencyMs.p99} ms, failed ${cluster.failed}; ` +
    `receivers ${cluster.receiverCpuUsPerFrame} µs, nats ${cluster.natsCpuUsPerFrame} µs (${cluster.nodes.map((n) => `${n.name}${n.leader ? '*' : ''} ${n.cpuUsPerFrame}`).join(', ')}) CPU per frame`)
  await quiet(receivers, log)
  const base = await startBaseline()
  try {
    const b = await twoClients(s.halves, seconds, [base, base], ['--any-answer'], [base.child.pid!])
    const bAcked = sumRuns(b.runs).acked
    const baseline: BaselinePair = {
      framesPerSecond: Math.round(b.runs.reduce((n, r) => n + r.framesPerSecond, 0)),
      latencyMs: { p50: Math.max(...b.runs.map((r) => r.latencyMs.p50)), p99: Math.max(...b.runs.map((r) => r.latencyMs.p99)) },
      serverCpuUsPerFrame: perFrame(b.cpu[0]!, bAcked),
      clientCpuUsPerFrame: perFrame(b.runs.reduce((n, r) => n + r.clientCpuUsPerFrame * r.acknowledged, 0), bAcked),
    }
    log(`baseline (two clients): ${baseline.framesPerSecond}/s, p50 ${baseline.latencyMs.p50} / p99 ${baseline.latencyMs.p99} ms, server ${baseline.serverCpuUsPerFrame} µs CPU per frame`)
    return { cluster, baseline }
  } finally {
    await stop(base.child)
  }
}

/** `dc09 simulate` with dual-path panels, A primary and B secondary; SIGKILLed if it outlives its bound. */
async function simulate (s: Setup, a: Receiver, b: Receiver, rate: number, seconds: number): Promise<SimSummary> {
  const child = guarded([
    CLI, 'simulate', '--port', String(a.port), '--secondary', `127.0.0.1:${b.port}`, '--accounts', s.fleetFile,
    '--rate', String(rate), '--duration', String(seconds), '--ack-timeout', '2000', '--retries', '2', '--json',
  ], ['ignore', 'pipe', 'pipe'])
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const bound = setTimeout(() => { child.kill('SIGKILL') }, (seconds + 60) * 1000)
  try {
    await new Promise<void>((r) => child.once('exit', () => r()))
  } finally {
    clearTimeout(bound)
  }
  const line = out.trim().split('\n').at(-1) ?? ''
  try {
    return JSON.parse(line) as SimSummary
  } catch {
    throw new Error(`the simulator printed no summary (exit ${child.exitCode}): ${err.trim().slice(-500)}`)
  }
}

/** Waits until every server runs, the events stream has a leader, and every follower is current (at most `ms`). */
async function untilHealthy (s: Setup, log: (s: string) => void, ms = 60_000): Promise<void> {
  const t0 = Date.now()
  const end = t0 + ms
  const nc = await connectCluster(s.cluster.urls, { name: 'bench health' })
  try {
    for (;;) {
      const st = await streamStatus(nc, EVENTS_STREAM).catch(() => undefined)
      if (st?.leader !== undefined && st.followers.length === 2 && st.followers.every((f) => f.current && f.lag === 0)) {
        if (Date.now() - t0 > 1000) log(`  (the events stream was healthy again after ${((Date.now() - t0) / 1000).toFixed(1)} s)`)
        return
      }
      if (Date.now() > end) throw new Error(`the events stream was not healthy within ${ms / 1000} s`)
      await sleep(250)
    }
  } finally {
    await nc.close()
  }
}

function failoverFrom (sum: SimSummary, killed: string, atSeconds: number, electionSeconds?: number): FailoverRun {
  return {
    killed,
    atSeconds,
    maxAckWaitMs: sum.paths?.maxAckWaitMs ?? NaN,
    acknowledged: sum.acknowledged,
    failed: sum.failed,
    pathSwitches: sum.paths?.pathSwitches ?? 0,
    electionSeconds,
  }
}

/** One run with the events stream's leader SIGKILLed at `killAt` s and started again `downFor` s later. */
async function leaderRun (s: Setup, a: Receiver, b: Receiver, o: { rate: number, seconds: number, killAt: number, downFor: number }, log: (s: string) => void): Promise<FailoverRun> {
  await untilHealthy(s, log)
  const sim = simulate(s, a, b, o.rate, o.seconds)
  await sleep(o.killAt * 1000)
  const leader = await s.cluster.waitForLeader(EVENTS_STREAM)
  const t0 = performance.now()
  await s.cluster.kill(leader, 'SIGKILL')
  const elected = s.cluster.waitForLeader(EVENTS_STREAM, 30_000, leader).then(() => (performance.now() - t0) / 1000, () => NaN)
  await sleep(o.downFor * 1000)
  await s.cluster.restart(leader)
  const run = failoverFrom(await sim, `stream leader ${leader}`, o.killAt, Math.round(await elected * 10) / 10)
  log(`  leader ${leader} killed: longest wait ${run.maxAckWaitMs} ms (new leader after ${run.electionSeconds} s; acknowledged ${run.acknowledged}, failed ${run.failed}, path switches ${run.pathSwitches})`)
  return run
}

/** One run with receiver A SIGKILLed at `killAt` s; returns the run and a fresh receiver A named `next` for the next run, if any. */
async function receiverRun (s: Setup, a: Receiver, b: Receiver, o: { rate: number, seconds: number, killAt: number }, next: string | undefined, log: (s: string) => void): Promise<{ run: FailoverRun, a: Receiver | undefined }> {
  await untilHealthy(s, log)
  const sim = simulate(s, a, b, o.rate, o.seconds)
  await sleep(o.killAt * 1000)
  const exited = new Promise<void>((resolve) => { a.child.once('exit', () => resolve()) })
  a.child.kill('SIGKILL')
  await exited
  const run = failoverFrom(await sim, `receiver ${a.node}`, o.killAt)
  log(`  receiver ${a.node} killed: longest wait ${run.maxAckWaitMs} ms (acknowledged ${run.acknowledged}, failed ${run.failed}, path switches ${run.pathSwitches})${next === undefined ? '' : `; starting ${next}`}`)
  return { run, a: next === undefined ? undefined : await startClusterReceiver(s, next) }
}

function natsVersion (): string {
  try {
    return execFileSync(natsServerPath() ?? 'nats-server', ['--version'], { encoding: 'utf8', timeout: 5000 }).trim()
  } catch {
    return 'nats-server, version unknown'
  }
}

/**
 * Three machines, each with one receiver and one nats-server, each process on a core of its own:
 * a receiver's core allows 10^6 / (its CPU per frame) frames/s; every event goes through the one
 * leader of the events stream, whose core allows 10^6 / (the leader's CPU per frame).
 */
export function estimateThree (c: ClusterThroughput): ClusterEstimate {
  const leaderUs = Math.max(...c.nodes.map((n) => n.cpuUsPerFrame))
  const perReceiver = c.receiverCpuUsPerFrame > 0 ? Math.round(1e6 / c.receiverCpuUsPerFrame) : 0
  const leaderLimit = leaderUs > 0 ? Math.round(1e6 / leaderUs) : 0
  const receivers = 3 * perReceiver
  return {
    layout: 'three machines, each running one receiver and one nats-server (a stream replica), each process on a core of its own',
    perReceiver,
    leaderLimit,
    total: Math.min(receivers, leaderLimit),
    bound: receivers <= leaderLimit ? 'receivers' : 'leader',
  }
}

/**
 * `singleNode`: the single-node case's result from the same sitting (else it is measured here);
 * `seconds`: of each throughput run; `profileDir`: CPU profiles of the receivers.
 */
export async function runClusterBench (opts: { quick: boolean, log: (s: string) => void, singleNode?: E2eResult | undefined, seconds?: number | undefined, profileDir?: string | undefined }): Promise<ClusterResult> {
  const { quick, log } = opts
  const seconds = opts.seconds ?? (quick ? 1.5 : 6)
  // Quick (the test that keeps this case from rotting): no failover runs; the cluster's fault
  // suite kills leaders and receivers in every test run already.
  const failover = quick
    ? { rate: 2, seconds: 14, killAt: 3, downFor: 4, runs: 0 }
    : { rate: 2, seconds: 22, killAt: 5, downFor: 8, runs: 3 }
  const singleNode = opts.singleNode ??
    (await runE2e({ quick: false, log, only: (c) => c.name === SINGLE_NODE_CASE, seconds, memory: false })).results[0]
  if (singleNode === undefined) throw new Error(`no ${SINGLE_NODE_CASE} result`)

  const dir = mkdtempSync(join(tmpdir(), 'dc09-bench-cluster-'))
  watchdog ??= startWatchdog()
  watchdog.trackDir(dir)
  const cluster = await startCluster({ nodes: 3, guardMs: 15 * 60_000 })
  const receivers: Receiver[] = []
  try {
    const fleet = makeFleet(PANELS, 'hex', 300000)
    const halves = [join(dir, 'fleet-a.json'), join(dir, 'fleet-b.json')]
    writeFileSync(halves[0]!, JSON.stringify(fleet.slice(0, PANELS / 2)))
    writeFileSync(halves[1]!, JSON.stringify(fleet.slice(PANELS / 2)))
    const s: Setup = { dir, fleetFile: join(dir, 'fleet.json'), halves, limitsFile: join(dir, 'limits.json'), pepperFile: join(dir, 'pepper'), cluster, profileDir: opts.profileDir }
    writeFileSync(s.fleetFile, JSON.stringify(fleet))
    writeFileSync(s.limitsFile, JSON.stringify({ maxConnectionsPerAddress: 20_000, maxConnections: 20_000, ...RATE_LIMITS_OUT_OF_THE_WAY }))
    // One pepper for both receivers: they verify codes against the same shared accounts.
    writeFileSync(s.pepperFile, randomBytes(32), { mode: 0o600 })
    const nc = await connectCluster(cluster.urls, { name: 'bench init' })
    try {
      await initCluster(nc, { replicas: 3, duplicateWindowMs: 600_000, maxBytes: 0 })
    } finally {
      await nc.close()
    }
    const state = new SharedState({ servers: cluster.urls, name: 'bench import', dir: join(dir, 'import') })
    try {
      const r = openAccounts(state).accounts.import(fleet)
      if (!r.ok) throw new Error(r.reason)
    } finally {
      state.close()
    }
    receivers.push(await startClusterReceiver(s, 'rA'), await startClusterReceiver(s, 'rB'))
    log(`cluster up (nats ${cluster.nodes.map((n) => n.name).join(', ')} ready in ${Math.round(cluster.readyMs)} ms), receivers rA :${receivers[0]!.port}, rB :${receivers[1]!.port}`)

    const { cluster: tput, baseline } = await measureThroughput(s, receivers, seconds, log)
    const ratio = baseline.framesPerSecond === 0 ? 0 : tput.framesPerSecond / baseline.framesPerSecond
    log(`ratio ${ratio.toFixed(2)} (aim >= ${CLUSTER_AIM}: ${ratio >= CLUSTER_AIM ? 'met' : 'not met'})`)

    const leaderRuns: FailoverRun[] = []
    const receiverRuns: FailoverRun[] = []
    log(`failover: ${PANELS} dual-path panels at ${failover.rate} events/s each for ${failover.seconds} s per run`)
    for (let i = 0; i < failover.runs; i++) leaderRuns.push(await leaderRun(s, receivers[0]!, receivers[1]!, failover, log))
    for (let i = 0; i < failover.runs; i++) {
      const { run, a } = await receiverRun(s, receivers[0]!, receivers[1]!, failover, i + 1 < failover.runs ? `rA${i + 2}` : undefined, log)
      receiverRuns.push(run)
      if (a !== undefined) receivers[0] = a
    }
    return {
      panels: PANELS,
      cluster: tput,
      baseline,
      ratio: Math.round(ratio * 100) / 100,
      aim: CLUSTER_AIM,
      aimMet: ratio >= CLUSTER_AIM,
      singleNode,
      publishUsPerFrame: Math.round((tput.receiverCpuUsPerFrame - singleNode.receiver.serverCpuUsPerFrame) * 10) / 10,
      natsVersion: natsVersion(),
      failover: { rate: failover.rate, seconds: failover.seconds, downFor: failover.downFor, leader: leaderRuns, receiver: receiverRuns },
      estimate: estimateThree(tput),
      quick,
    }
  } finally {
    for (const r of receivers) await stop(r.child)
    await cluster.stopAll()
    rmSync(dir, { recursive: true, force: true })
    watchdog.untrackDir(dir)
  }
}

/** A constant use of `percent` of a core, spread over `fps` frames a second, µs per frame. */
const idleUs = (percent: number, fps: number) => (fps === 0 ? 'n/a' : String(Math.round((percent / 100) * 1e6 / fps)))

const ms = (n: number) => (Number.isFinite(n) ? fmt(n) : 'n/a')

function failoverRows (runs: readonly FailoverRun[]): string[] {
  return runs.map((r, i) => `| ${r.killed} | ${i + 1} | ${ms(r.maxAckWaitMs)} | ${r.electionSeconds === undefined ? '' : `${r.electionSeconds} s`} | ` +
    `${fmt(r.acknowledged)} | ${r.failed > 0 ? `**${fmt(r.failed)}**` : '0'} | ${fmt(r.pathSwitches)} |`)
}

/** The cluster section of docs/benchmarks.md; `why` when it was not run. */
export function clusterSection (r: ClusterResult | undefined, why: string): string {
  if (r === undefined) return `## Cluster (NATS JetStream)\n\nNot measured in this run: ${why}\n`
  const c = r.cluster
  const b = r.baseline
  const single = r.singleNode.receiver
  const nodes = c.nodes.map((n) => `${n.name}${n.leader ? ' (leader)' : ''} ${n.cpuUsPerFrame}`).join(', ')
  const leaderUs = Math.max(...c.nodes.map((n) => n.cpuUsPerFrame))
  const e = r.estimate
  const waits = (runs: readonly FailoverRun[]) => runs.map((x) => ms(x.maxAckWaitMs)).join(', ')
  return `## Cluster (NATS JetStream)

A 3-node nats-server cluster (${r.natsVersion}) on 127.0.0.1: the events stream with 3 replicas and a 10-minute duplicate
window, ${r.panels} AES-128 accounts imported through the shared state, and two receivers in cluster mode (\`dc09 serve
--nats ... --node rA\` and \`rB\`, each with a data directory of its own). Two load clients (the end-to-end client
above), ${r.panels / 2} panels each, one per receiver, run at once for ${c.seconds} s; then the same two clients at once
against the baseline server. Three nats-servers, two receivers and two clients share this machine's cores, so the
ratio says what the whole cluster keeps of one machine's limit, not what a cluster of machines would do. The
single-node receiver with the same load (\`${SINGLE_NODE_CASE}\` above) is measured in the same run, and the difference
of the receivers' CPU per frame is what the cluster adds on a receiver: the publish to the stream and its
acknowledgement, and the accounts read from the shared state's replica.

| run | frames/s | p50 / p99 ms (the worse client) | receiver CPU µs/frame | nats-server CPU µs/frame | client CPU µs/frame |
| --- | ---: | ---: | ---: | ---: | ---: |
| cluster: 2 receivers, 3 nats-servers | ${fmt(c.framesPerSecond)}${c.failed > 0 ? ` (**${fmt(c.failed)} failed**)` : ''} | ${c.latencyMs.p50} / ${c.latencyMs.p99} | ${c.receiverCpuUsPerFrame} (both together) | ${c.natsCpuUsPerFrame} (${nodes}) | ${c.clientCpuUsPerFrame} |
| baseline, the same two clients | ${fmt(b.framesPerSecond)} | ${b.latencyMs.p50} / ${b.latencyMs.p99} | ${b.serverCpuUsPerFrame} (baseline server) | | ${b.clientCpuUsPerFrame} |
| single node, \`${SINGLE_NODE_CASE}\` | ${fmt(single.framesPerSecond)} | ${single.latencyMs.p50} / ${single.latencyMs.p99} | ${single.serverCpuUsPerFrame} | | ${single.clientCpuUsPerFrame} |

Throughput ratio to the baseline: ${r.ratio.toFixed(2)} (aim at least ${r.aim.toFixed(2)} on this machine: ${r.aimMet ? 'met' : '**not met**'}).
What the cluster adds on a receiver: ${c.receiverCpuUsPerFrame} − ${single.serverCpuUsPerFrame} = **${r.publishUsPerFrame} µs of CPU per frame**.
With no load, just before the run, the two receivers used ${c.idlePercentOfCore.receivers}% of a core and the three nats-servers
${c.idlePercentOfCore.nats}%: at ${fmt(c.framesPerSecond)} frames/s, that constant cost alone is ${idleUs(c.idlePercentOfCore.receivers, c.framesPerSecond)} and
${idleUs(c.idlePercentOfCore.nats, c.framesPerSecond)} µs of the CPU per frame above.

Failover. ${r.panels} dual-path panels (\`dc09 simulate --port A --secondary 127.0.0.1:B --rate ${r.failover.rate}
--duration ${r.failover.seconds} --ack-timeout 2000 --retries 2\`: an event not acknowledged after three attempts two
seconds apart on one receiver goes to the other), ${fmt(r.panels * r.failover.rate)} events/s in all. In each run one
process is SIGKILLed ${r.failover.leader[0]?.atSeconds ?? r.failover.receiver[0]?.atSeconds ?? 0} s in: the events
stream's leader (started again ${r.failover.downFor} s later, and the next run waits until all three replicas are
current), or receiver A (a new receiver A replaces it for the next run). "Longest wait" is the simulator's longest time
from an event's first transmission to its ACK, on either path: the pause a panel sees.

| killed | run | longest wait for an ACK, ms | new stream leader after | acknowledged | failed | path switches |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
${[...failoverRows(r.failover.leader), ...failoverRows(r.failover.receiver)].join('\n')}

Longest waits: stream leader killed ${waits(r.failover.leader)} ms; receiver A killed ${waits(r.failover.receiver)} ms.

Estimate for three machines, computed from the CPU per frame above. Layout: ${e.layout}. Assumptions: each process
costs per frame what it cost here (µs of CPU per acknowledged frame; on this crowded machine the figures may be higher
than on idle cores), it has one core to itself, and the panels' load comes from elsewhere. A LAN adds latency, not CPU:
each acknowledged frame waits for the receiver's publish to reach the stream leader and for one follower to store it,
about two round trips more than on 127.0.0.1. Every event goes through the one leader of the events stream, so
- a receiver's core allows 10^6 / ${c.receiverCpuUsPerFrame} ≈ **${fmt(e.perReceiver)} frames/s**, three receivers ${fmt(3 * e.perReceiver)};
- the leader's core allows 10^6 / ${leaderUs} ≈ **${fmt(e.leaderLimit)} frames/s** (the busiest nats-server's CPU per frame here);
- three machines: about **${fmt(e.total)} frames/s**, bound by ${e.bound === 'leader' ? 'the stream leader' : 'the receivers'}${e.bound === 'leader' ? ' (more receivers would not help; partitioning the events over several streams with leaders on different nodes would)' : ''}.
Receivers on machines apart from the nats-servers change nothing per core: only the number of machines.
${r.quick ? '\nShort run (--quick): indicative only.\n' : ''}`
}
