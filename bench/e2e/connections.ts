/**
 * The connections case: one receiver (`dc09 serve`, journal on disk) holding many idle TCP panel
 * connections, each on its own account and from its own source address in 127.0.0.0/8, each
 * sending a NULL link test at once and every 60 s. The light client (link-client.ts) opens them;
 * the simulator costs too much per connection for this. Both processes need a file descriptor
 * per connection: they are started with a raised file limit when this machine allows it, and
 * otherwise the case measures what the limit allows and says so.
 */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { makeFleet } from '../../src/sim/fleet.js'
import type { ClientStatus } from './link-client.js'
import { rss, startReceiver, stop } from './receiver.js'

const CLIENT = new URL('./link-client.js', import.meta.url).pathname
const FIRST_ACCOUNT = 300000

export interface ConnectionsResult {
  /** Connections asked for, and those the file limits allowed (less a margin for the process's own files). */
  readonly wanted: number
  readonly connections: number
  /** The file limit the receiver and the client ran with, and whether it was raised to what was wanted. */
  readonly fileLimit: number
  readonly fileLimitRaised: boolean
  /** Connections open when measured, and those whose first link test was acknowledged. */
  readonly open: number
  readonly acknowledged: number
  readonly failed: number
  readonly connectSeconds: number
  /** RSS with every account loaded, before any connection. */
  readonly idleRssBytes: number
  /** The highest RSS in the few seconds after every connection was open and answered. */
  readonly loadedRssBytes: number
  /** The highest RSS from the first connection on. */
  readonly peakRssBytes: number
  readonly bytesPerConnection: number
  /** When the file limit held the case to fewer connections: the RSS with all wanted, at bytesPerConnection each. */
  readonly extrapolatedRssBytes: number | undefined
  readonly clientRssBytes: number
  readonly firstError: string | undefined
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The soft and hard limits on open files of this process (Linux), or undefined. */
export function ownFileLimits (): { soft: number, hard: number } | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))
    if (m === null) return undefined
    const n = (s: string) => (s === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(s))
    return { soft: n(m[1]!), hard: n(m[2]!) }
  } catch {
    return undefined
  }
}

/**
 * How to start a child with a file limit of `want`: through `prlimit`, or a shell's `ulimit -n`;
 * failing both (no tool, not allowed), at the highest limit one of them can set (the hard
 * limit, for a user who is not root), or as this process is.
 */
export function fileLimitCommand (want: number): { limit: number, raised: boolean, wrap: (argv: string[]) => string[] } {
  const own = ownFileLimits()
  const tries = [want, ...(own !== undefined && own.hard < want ? [own.hard] : [])]
  for (const n of tries) {
    if (own !== undefined && own.soft >= n) return { limit: n, raised: n >= want, wrap: (a) => a }
    if (spawnSync('prlimit', [`--nofile=${n}:${n}`, 'true'], { stdio: 'ignore' }).status === 0) {
      return { limit: n, raised: n >= want, wrap: (a) => ['prlimit', `--nofile=${n}:${n}`, '--', ...a] }
    }
    if (spawnSync('sh', ['-c', `ulimit -n ${n}`], { stdio: 'ignore' }).status === 0) {
      return { limit: n, raised: n >= want, wrap: (a) => ['sh', '-c', `ulimit -n ${n} && exec "$@"`, 'sh', ...a] }
    }
  }
  return { limit: own?.soft ?? 1024, raised: false, wrap: (a) => a }
}

/** Files a process needs besides its connections: journal, database, logs, listeners, libraries. */
const SPARE_FILES = 200

/** `cli`: another build's dc09 to measure (e.g. the commit before, to compare in the same minute on a noisy machine). */
export async function runConnections (opts: { count: number, log: (s: string) => void, cli?: string | undefined }): Promise<ConnectionsResult> {
  const limit = fileLimitCommand(opts.count + SPARE_FILES)
  const n = Math.max(0, Math.min(opts.count, limit.limit - SPARE_FILES))
  if (n < opts.count) opts.log(`connections: the file limit cannot be raised to ${opts.count + SPARE_FILES} here (it is ${limit.limit}); measuring ${n} connections`)
  const dir = mkdtempSync(join(tmpdir(), 'dc09-conns-'))
  try {
    // Every account wanted, even when fewer connections fit: the receiver's idle RSS is then the one it would have.
    const fleet = makeFleet(opts.count, 'none', FIRST_ACCOUNT)
    // Link tests at the rate panels send them need no limit raised but the connection limits.
    const receiver = await startReceiver(dir, [fleet], 'receiver.log', {
      limits: { maxConnections: n + 100, maxConnectionsPerAddress: n + 100 },
      wrap: limit.wrap,
      cli: opts.cli,
    })
    try {
      await sleep(1000)
      const idle = rss(receiver.child.pid!)
      let peak = idle
      const sampler = setInterval(() => { peak = Math.max(peak, rss(receiver.child.pid!)) }, 500)
      const argv = limit.wrap([process.execPath, CLIENT, JSON.stringify({
        port: receiver.port, count: n, first: FIRST_ACCOUNT, intervalMs: 60_000, concurrency: 256, answerTimeoutMs: 30_000,
      })])
      const client = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })
      try {
        const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]()
        const next = async (): Promise<ClientStatus> => {
          const l = await lines.next()
          if (l.done === true) throw new Error('the link-test client exited early')
          return JSON.parse(l.value) as ClientStatus
        }
        const first = await next()
        opts.log(`connections: ${first.open} open in ${(first.connectMs / 1000).toFixed(1)} s (${first.failed} failed), ${first.acknowledged} acknowledged`)
        let loaded = 0
        for (let t = 0; t < 10; t++) {
          await sleep(500)
          loaded = Math.max(loaded, rss(receiver.child.pid!))
        }
        clearInterval(sampler)
        client.stdin!.write('status\n')
        const last = await next()
        const r: ConnectionsResult = {
          wanted: opts.count,
          connections: n,
          fileLimit: limit.limit,
          fileLimitRaised: limit.raised,
          open: last.open,
          acknowledged: last.acknowledged,
          failed: last.failed,
          connectSeconds: Math.round(first.connectMs) / 1000,
          idleRssBytes: idle,
          loadedRssBytes: loaded,
          peakRssBytes: Math.max(peak, loaded),
          bytesPerConnection: Math.round((loaded - idle) / Math.max(1, last.open)),
          extrapolatedRssBytes: n < opts.count ? Math.round(loaded + ((loaded - idle) / Math.max(1, last.open)) * (opts.count - last.open)) : undefined,
          clientRssBytes: last.rssBytes,
          firstError: last.firstError,
        }
        opts.log(`connections: ${r.open} held: receiver RSS ${(loaded / 2 ** 20).toFixed(0)} MiB (idle ${(idle / 2 ** 20).toFixed(0)} MiB, peak ${(r.peakRssBytes / 2 ** 20).toFixed(0)} MiB), ${r.bytesPerConnection} bytes per connection; ${r.acknowledged} link tests acknowledged`)
        return r
      } finally {
        clearInterval(sampler)
        client.kill()
      }
    } finally {
      await stop(receiver.child)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
