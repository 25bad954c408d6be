/**
 * A real NATS JetStream cluster (1 or 3 `nats-server` processes) on 127.0.0.1, for
 * the cluster tests and benchmarks. No server outlives the process that started it:
 * - a guard timer and a process 'exit' handler SIGKILL every server by PID;
 * - a watchdog process SIGKILLs them when this process ends in a way that runs no handler
 *   (SIGKILL, or the SIGTERM/SIGINT a test runner or a Ctrl-C sends): its stdin, a pipe from
 *   this process, then reaches end of file;
 * - where coreutils' `timeout` exists, it wraps each server as a last bound on its life.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process'
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'

export const NATS_MISSING = 'nats-server is not installed: the cluster suite is skipped (apt-get install -y nats-server)'

/** Where the Debian package and a manual install put the server, besides PATH. */
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/bin']
/** Ports are drawn from here: above the usual 4222 (a system service may hold it), below the ephemeral range. */
const PORT_MIN = 14220
const PORT_MAX = 29999
/** Health wait for a start or a restart. The servers start in well under a second when idle. */
const READY_MS = 15_000
/** stopAll: SIGTERM, then SIGKILL after this long. */
const TERM_GRACE_MS = 3000
/** Each monitor request; a SIGSTOPped server never answers. */
const HTTP_TIMEOUT_MS = 1000
/** Lines of each server's log quoted in a start failure. */
const LOG_TAIL_LINES = 15
/** Start attempts when another process took one of the chosen ports between the check and the bind. */
const START_ATTEMPTS = 3

export interface ClusterOptions {
  /** 3 (the default): a cluster with routes between all nodes. 1: one standalone JetStream server. */
  nodes?: 3 | 1
  /** Directory for configs, stores, logs and PID files; kept by stopAll. By default a fresh temporary one, removed by stopAll. */
  dir?: string
  /** The servers' `max_payload` (e.g. '2MB'); the server's default (1MB) when absent. */
  maxPayload?: string
  /** After this long every server is SIGKILLed, whatever the test is doing (default 5 min). */
  guardMs?: number
}

export interface NatsNode {
  /** The server_name: n1, n2, n3. */
  readonly name: string
  /** Client port. */
  readonly port: number
  /** Monitoring (HTTP) port. */
  readonly httpPort: number
  /** Cluster route port (0 for a single node, which has none). */
  readonly clusterPort: number
  /** The server's PID while it runs. */
  pid (): number | undefined
  /** The process has been started and has not exited (a SIGSTOPped server still runs). */
  readonly running: boolean
  /** Stopped with SIGSTOP and not yet continued. */
  readonly paused: boolean
}

export interface NatsCluster {
  /** nats://127.0.0.1:port of every node. */
  readonly urls: string[]
  /** The same, comma-joined. */
  readonly url: string
  readonly nodes: NatsNode[]
  readonly dir: string
  /** Milliseconds from the first spawn until every node answered /healthz with 200 and knew the meta leader. */
  readonly readyMs: number
  /** Sends a signal to one server; waits (up to 5 s) until it has exited when the signal ends it. */
  kill (name: string, signal?: NodeJS.Signals): Promise<void>
  /** SIGSTOP: the server freezes without closing its sockets, like a hung machine. */
  stop (name: string): void
  /** SIGCONT after stop(). */
  cont (name: string): void
  /**
   * Starts a node again with the same config and store (SIGKILLing it first if it runs) and waits
   * for /healthz, up to `timeoutMs` (15 s by default; when every node restarts at once, the
   * elections of the metadata and of each stream can take longer).
   */
  restart (name: string, timeoutMs?: number): Promise<void>
  /** The node leading the stream's Raft group, as that node itself reports; undefined while none does. */
  streamLeader (stream: string): Promise<string | undefined>
  /** Polls streamLeader until there is one (other than `except`, when given); throws after timeoutMs. */
  waitForLeader (stream: string, timeoutMs?: number, except?: string): Promise<string>
  /** SIGTERM to every server, SIGKILL after 3 s, then removes the temporary directory. */
  stopAll (): Promise<void>
}

/**
 * Runs `fn` until it resolves, at most `ms`: while the servers elect a leader they answer 503
 * ("jetstream is not enabled" in this client) or time out.
 */
export async function retry<T> (fn: () => Promise<T>, ms = 20_000, pauseMs = 200): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    try {
      return await fn()
    } catch (e) {
      if (Date.now() > deadline) throw e
      await new Promise((resolve) => setTimeout(resolve, pauseMs))
    }
  }
}

export function natsServerPath (): string | undefined {
  return findExecutable('nats-server', EXTRA_DIRS)
}

function findExecutable (name: string, extra: string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter((d) => d !== ''), ...extra]
  for (const dir of dirs) {
    const file = join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      if (statSync(file).isFile()) return file
    } catch {}
  }
  return undefined
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Servers not yet stopped, killed synchronously if the test process exits first. */
const live = new Set<ServerProcess>()
function killLive (): void {
  for (const s of live) s.killNow()
}
let exitHookInstalled = false

/**
 * The watchdog's program: '+<pgid>' and '-<pgid>' lines add and remove process groups, 'd<path>'
 * and 'k<path>' directories; at end of input (this process closed the pipe, or died) it SIGKILLs
 * the groups and removes the directories still listed.
 */
const WATCHDOG_SCRIPT = `
const { rmSync } = require('node:fs')
const groups = new Set()
const dirs = new Set()
let rest = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => {
  const lines = (rest + d).split('\\n')
  rest = lines.pop()
  for (const l of lines) {
    const arg = l.slice(1)
    if (l[0] === '+') groups.add(Number(arg))
    else if (l[0] === '-') groups.delete(Number(arg))
    else if (l[0] === 'd') dirs.add(arg)
    else if (l[0] === 'k') dirs.delete(arg)
  }
})
process.stdin.on('end', () => {
  for (const g of groups) { try { process.kill(-g, 'SIGKILL') } catch {} }
  for (const d of dirs) { try { rmSync(d, { recursive: true, force: true }) } catch {} }
  process.exit(0)
})
`

export interface Watchdog {
  /** Kill this process group (the leader's PID) if the pipe closes while it is listed. */
  track (pgid: number): void
  untrack (pgid: number): void
  /** Remove this directory (after the kills) if the pipe closes while it is listed. */
  trackDir (dir: string): void
  untrackDir (dir: string): void
  /** Closes the pipe, as the end of this process would. */
  close (): void
}

/** Starts a watchdog process (detached, and not keeping this process alive). */
export function startWatchdog (): Watchdog {
  const child = spawn(process.execPath, ['-e', WATCHDOG_SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] })
  child.unref()
  const pipe = child.stdin as Socket
  pipe.on('error', () => {})
  pipe.unref()
  return {
    track: (pgid) => { pipe.write(`+${pgid}\n`) },
    untrack: (pgid) => { pipe.write(`-${pgid}\n`) },
    trackDir: (dir) => { if (!dir.includes('\n')) pipe.write(`d${dir}\n`) },
    untrackDir: (dir) => { if (!dir.includes('\n')) pipe.write(`k${dir}\n`) },
    close: () => { pipe.end() },
  }
}

/** One watchdog for all the clusters of this process, started with the first. */
let watchdog: Watchdog | undefined

/** One nats-server process (and the `timeout` wrapper around it, when there is one). */
class ServerProcess implements NatsNode {
  readonly name: string
  readonly port: number
  readonly httpPort: number
  readonly clusterPort: number
  readonly conf: string
  readonly logFile: string
  readonly #pidFile: string
  #child: ChildProcess | undefined
  #exited: Promise<void> = Promise.resolve()
  #serverPid: number | undefined
  #wrapped = false
  #paused = false

  constructor (name: string, ports: { port: number, httpPort: number, clusterPort: number }, dir: string) {
    this.name = name
    this.port = ports.port
    this.httpPort = ports.httpPort
    this.clusterPort = ports.clusterPort
    this.conf = join(dir, `${name}.conf`)
    this.logFile = join(dir, `${name}.log`)
    this.#pidFile = join(dir, `${name}.pid`)
  }

  get running (): boolean {
    return this.#child !== undefined
  }

  get paused (): boolean {
    return this.#paused
  }

  /**
   * The PID of nats-server itself: the child when it runs unwrapped, else what it wrote to its PID
   * file (so a signal reaches the server, not the wrapper).
   */
  pid (): number | undefined {
    if (this.#child === undefined) return undefined
    if (!this.#wrapped) return this.#child.pid
    if (this.#serverPid === undefined) {
      try {
        const n = Number(readFileSync(this.#pidFile, 'utf8').trim())
        if (Number.isSafeInteger(n) && n > 0) this.#serverPid = n
      } catch {}
    }
    return this.#serverPid
  }

  /** Starts the process in a process group of its own; `boundSec` bounds its life when `timeout` exists. */
  spawn (bin: string, boundSec: number): void {
    rmSync(this.#pidFile, { force: true })
    const serverArgs = ['-c', this.conf, '-P', this.#pidFile, '-l', this.logFile]
    const wrapper = findExecutable('timeout')
    this.#wrapped = wrapper !== undefined
    this.#serverPid = undefined
    this.#paused = false
    // A configuration error is printed to stderr before the log file is opened: it goes to the log too.
    const out = openSync(this.logFile, 'a')
    const stdio: StdioOptions = ['ignore', out, out]
    let child: ChildProcess
    try {
      child = wrapper !== undefined
        ? spawn(wrapper, ['-s', 'KILL', String(boundSec), bin, ...serverArgs], { detached: true, stdio })
        : spawn(bin, serverArgs, { detached: true, stdio })
    } finally {
      closeSync(out)
    }
    child.unref()
    this.#child = child
    live.add(this)
    const pgid = child.pid
    if (pgid !== undefined) watchdog?.track(pgid)
    this.#exited = new Promise((resolve) => {
      const done = (): void => {
        if (pgid !== undefined) watchdog?.untrack(pgid)
        if (this.#child === child) {
          this.#child = undefined
          this.#serverPid = undefined
          this.#paused = false
          live.delete(this)
        }
        resolve()
      }
      child.once('exit', done)
      child.once('error', done)
    })
  }

  signal (sig: NodeJS.Signals): void {
    const pid = this.pid()
    if (pid === undefined) throw new Error(`${this.name} is not running (or has no PID yet)`)
    process.kill(pid, sig)
    if (sig === 'SIGSTOP') this.#paused = true
    if (sig === 'SIGCONT') this.#paused = false
  }

  /**
   * SIGKILL, synchronously (usable in an 'exit' handler): to the server, whose wrapper then reaps
   * it and exits; to the whole process group while the server's PID is not known yet.
   */
  killNow (): void {
    const child = this.#child
    if (child === undefined) return
    const pid = this.pid()
    try {
      if (pid !== undefined) process.kill(pid, 'SIGKILL')
      else if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
    } catch {}
  }

  /** Resolves when the process has exited, or false after `ms`. */
  async waitExit (ms: number): Promise<boolean> {
    if (this.#child === undefined) return true
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
    const result = await Promise.race([this.#exited.then(() => true), timedOut])
    clearTimeout(timer)
    return result
  }

  logTail (): string {
    try {
      const lines = readFileSync(this.logFile, 'utf8').trimEnd().split('\n')
      return lines.slice(-LOG_TAIL_LINES).join('\n')
    } catch {
      return '(no log)'
    }
  }

  /** GET a monitoring endpoint; undefined when the server does not answer 200 in time. */
  async monitor (path: string): Promise<unknown> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.httpPort}${path}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) })
      if (res.status !== 200) {
        await res.body?.cancel()
        return undefined
      }
      return await res.json()
    } catch {
      return undefined
    }
  }
}

/** The parts of /jsz?streams=true read here (nats-server 2.9.10). */
interface Jsz {
  meta_cluster?: { leader?: string }
  account_details?: Array<{ stream_detail?: Array<{ name: string, cluster?: { leader?: string } }> }>
}

function asJsz (v: unknown): Jsz | undefined {
  return typeof v === 'object' && v !== null ? v as Jsz : undefined
}

/** Who `jsz` names as the stream's leader: null when the node holds no replica of it. */
function leaderIn (jsz: Jsz, stream: string): string | undefined | null {
  for (const acc of jsz.account_details ?? []) {
    const s = acc.stream_detail?.find((d) => d.name === stream)
    if (s !== undefined) return s.cluster?.leader ?? undefined
  }
  return null
}

async function isFree (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

/** `count` distinct ports that could be bound on 127.0.0.1 just now, drawn at random to keep parallel runs apart. */
async function pickPorts (count: number): Promise<number[]> {
  const out: number[] = []
  for (let tries = 0; out.length < count; tries++) {
    if (tries > 500) throw new Error('no free ports found on 127.0.0.1')
    const port = PORT_MIN + Math.floor(Math.random() * (PORT_MAX - PORT_MIN + 1))
    if (port !== 4222 && !out.includes(port) && await isFree(port)) out.push(port)
  }
  return out
}

function renderConfig (node: ServerProcess, all: ServerProcess[], dir: string, maxPayload: string | undefined): string {
  const lines = [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.port}`,
    `http: 127.0.0.1:${node.httpPort}`,
  ]
  if (maxPayload !== undefined) lines.push(`max_payload: ${maxPayload}`)
  lines.push(
    'jetstream {',
    `  store_dir: ${JSON.stringify(join(dir, node.name))}`,
    '  max_memory_store: 256MB',
    '  max_file_store: 1GB',
    '}'
  )
  if (all.length > 1) {
    const routes = all.map((n) => `nats-route://127.0.0.1:${n.clusterPort}`).join(', ')
    lines.push('cluster {', '  name: dc09', `  listen: 127.0.0.1:${node.clusterPort}`, `  routes: [ ${routes} ]`, '}')
  }
  return lines.join('\n') + '\n'
}

/**
 * Resolves when every node answers /healthz with 200 and (clustered) names a meta leader, so the
 * JetStream API works; throws with the log tails when a node exits or `ms` passes.
 */
async function waitReady (nodes: ServerProcess[], clustered: boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  const pending = new Set(nodes)
  while (pending.size > 0) {
    for (const node of pending) {
      if (!node.running) throw startError(nodes, `${node.name} exited while starting`)
      const health = await node.monitor('/healthz')
      if (health === undefined) continue
      if (clustered && asJsz(await node.monitor('/jsz'))?.meta_cluster?.leader === undefined) continue
      pending.delete(node)
    }
    if (pending.size === 0) break
    if (Date.now() > deadline) throw startError(nodes, `not healthy within ${ms / 1000} s: ${[...pending].map((n) => n.name).join(', ')}`)
    await sleep(50)
  }
}

class StartError extends Error {
  readonly portTaken: boolean
  constructor (message: string, portTaken: boolean) {
    super(message)
    this.portTaken = portTaken
  }
}

function startError (nodes: ServerProcess[], what: string): StartError {
  const tails = nodes.map((n) => `--- ${n.name} (${n.logFile})\n${n.logTail()}`).join('\n')
  return new StartError(`nats-server cluster: ${what}\n${tails}`, /address already in use/i.test(tails))
}

/** Starts the servers and waits until they are ready; on any failure kills them all and throws. */
export async function startCluster (opts: ClusterOptions = {}): Promise<NatsCluster> {
  const bin = natsServerPath()
  if (bin === undefined) throw new Error(NATS_MISSING)
  if (opts.maxPayload !== undefined && !/^\d+(?:[KMG]B?|B)?$/i.test(opts.maxPayload)) {
    throw new Error(`maxPayload must be a size such as 2MB, not ${JSON.stringify(opts.maxPayload)}`)
  }
  const guardMs = opts.guardMs ?? 5 * 60_000
  if (!exitHookInstalled) {
    process.on('exit', killLive)
    exitHookInstalled = true
  }
  watchdog ??= startWatchdog()
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'dc09-nats-'))
  mkdirSync(dir, { recursive: true })
  if (opts.dir === undefined) watchdog.trackDir(dir)
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(bin, opts.nodes ?? 3, dir, opts, guardMs)
    } catch (e) {
      if (!(e instanceof StartError && e.portTaken && attempt < START_ATTEMPTS)) {
        removeTempDir(dir, opts)
        throw e
      }
    }
  }
}

function removeTempDir (dir: string, opts: ClusterOptions): void {
  if (opts.dir !== undefined) return
  rmSync(dir, { recursive: true, force: true })
  watchdog?.untrackDir(dir)
}

async function startOnce (bin: string, count: 1 | 3, dir: string, opts: ClusterOptions, guardMs: number): Promise<NatsCluster> {
  const clustered = count > 1
  const ports = await pickPorts(clustered ? count * 3 : 2)
  const nodes = Array.from({ length: count }, (_, i) => new ServerProcess(`n${i + 1}`, {
    port: ports[i * 3] as number,
    httpPort: ports[i * 3 + 1] as number,
    clusterPort: clustered ? ports[i * 3 + 2] as number : 0,
  }, dir))
  for (const node of nodes) {
    writeFileSync(node.conf, renderConfig(node, nodes, dir, opts.maxPayload))
    rmSync(node.logFile, { force: true })
  }
  const killAll = (): void => { for (const n of nodes) n.killNow() }
  const guard = setTimeout(() => {
    killAll()
    process.emitWarning(`nats-server cluster in ${dir} SIGKILLed by its ${guardMs} ms guard`)
  }, guardMs)
  guard.unref()
  const guardEnd = Date.now() + guardMs
  /** The wrapper's bound: the guard's remaining time plus a margin for the guard to act first. */
  const boundSec = (): number => Math.ceil(Math.max(0, guardEnd - Date.now()) / 1000) + 10

  const t0 = performance.now()
  try {
    for (const node of nodes) node.spawn(bin, boundSec())
    await waitReady(nodes, clustered, READY_MS)
  } catch (e) {
    clearTimeout(guard)
    killAll()
    await Promise.all(nodes.map((n) => n.waitExit(2000)))
    throw e
  }
  const readyMs = performance.now() - t0

  const byName = (name: string): ServerProcess => {
    const node = nodes.find((n) => n.name === name)
    if (node === undefined) throw new Error(`no node ${name} (nodes: ${nodes.map((n) => n.name).join(', ')})`)
    return node
  }

  const streamLeader = async (stream: string): Promise<string | undefined> => {
    const up = nodes.filter((n) => n.running && !n.paused)
    const views = await Promise.all(up.map(async (n) => ({ node: n.name, jsz: asJsz(await n.monitor('/jsz?streams=true')) })))
    // Followers go on naming a dead leader until the election ends, so only a node that names
    // itself counts; should two do so (a resumed old leader not yet stepped down), the one most
    // nodes name wins.
    const named = views.map((v) => v.jsz === undefined ? undefined : leaderIn(v.jsz, stream))
    const claims = views.filter((v, i) => named[i] === v.node).map((v) => v.node)
    const votes = (name: string): number => named.filter((l) => l === name).length
    return claims.sort((a, b) => votes(b) - votes(a))[0]
  }

  let stopped = false
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`)
  return {
    urls,
    url: urls.join(','),
    nodes,
    dir,
    readyMs,
    async kill (name, signal = 'SIGKILL') {
      const node = byName(name)
      const paused = node.paused
      node.signal(signal)
      if (['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT'].includes(signal)) {
        // A stopped process acts on a catchable signal only once it runs again.
        if (paused && signal !== 'SIGKILL') node.signal('SIGCONT')
        if (!await node.waitExit(5000)) throw new Error(`${name} did not exit within 5 s of ${signal}`)
      }
    },
    stop (name) { byName(name).signal('SIGSTOP') },
    cont (name) { byName(name).signal('SIGCONT') },
    async restart (name, timeoutMs = READY_MS) {
      const node = byName(name)
      if (node.running) {
        node.killNow()
        if (!await node.waitExit(5000)) throw new Error(`${name} did not exit within 5 s of SIGKILL`)
      }
      node.spawn(bin, boundSec())
      try {
        await waitReady([node], false, timeoutMs)
      } catch (e) {
        node.killNow()
        throw e
      }
    },
    streamLeader,
    async waitForLeader (stream, timeoutMs = READY_MS, except) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const leader = await streamLeader(stream)
        if (leader !== undefined && leader !== except) return leader
        if (Date.now() > deadline) throw new Error(`no leader for stream ${stream} within ${timeoutMs} ms`)
        await sleep(100)
      }
    },
    async stopAll () {
      if (stopped) return
      stopped = true
      clearTimeout(guard)
      for (const n of nodes) {
        if (!n.running) continue
        try {
          n.signal('SIGTERM')
          if (n.paused) n.signal('SIGCONT')
        } catch {
          n.killNow()
        }
      }
      const exited = await Promise.all(nodes.map((n) => n.waitExit(TERM_GRACE_MS)))
      if (exited.includes(false)) {
        killAll()
        await Promise.all(nodes.map((n) => n.waitExit(2000)))
      }
      removeTempDir(dir, opts)
    },
  }
}
