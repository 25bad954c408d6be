/**
 * What one idle TCP connection costs the receiver itself, without the rest of `dc09 serve`:
 * a ReceiverServer in this process (accounts in memory, a journal that keeps nothing) and the
 * light link-test client in a child process. Prints the growth of RSS, V8 heap and external
 * memory per connection, after a full GC (run node with --expose-gc).
 *
 *   node --expose-gc dist/bench/conn-memory.js [connections=20000] [--snapshot FILE]
 *
 * --snapshot NAME writes V8 heap snapshots before the connections (NAME.before.heapsnapshot) and
 * with them held (NAME.after.heapsnapshot): compare them in Chrome DevTools.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { writeHeapSnapshot } from 'node:v8'
import pino from 'pino'
import { MemoryAccountStore } from '../src/accounts/memory-store.js'
import type { Journal } from '../src/journal/journal.js'
import { ReceiverServer } from '../src/receiver/server.js'
import type { JournalRecord } from '../src/journal/record.js'
import { makeFleet } from '../src/sim/fleet.js'
import type { ClientStatus } from './e2e/link-client.js'
import { fileLimitCommand, ownFileLimits } from './e2e/connections.js'

const CLIENT = new URL('./e2e/link-client.js', import.meta.url).pathname
const args = process.argv.slice(2)
const wanted = Number(args.find((a) => /^\d+$/.test(a)) ?? 20_000)
const snapAt = args.indexOf('--snapshot')
const gc = (globalThis as { gc?: () => void }).gc ?? (() => { throw new Error('run with node --expose-gc') })
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

// This process holds the connections too: start again with a file limit that allows them, or
// hold as many as the limit allows.
const own = fileLimitCommand(wanted + 500)
const n = Math.min(wanted, own.limit - 500)
if (n < wanted) process.stderr.write(`the file limit is ${own.limit} and cannot be raised here: ${n} connections\n`)
if ((ownFileLimits()?.soft ?? Infinity) < n + 500 && process.env.DC09_CONN_MEMORY_CHILD === undefined) {
  const argv = own.wrap([process.execPath, '--expose-gc', process.argv[1]!, ...args])
  const r = spawnSync(argv[0]!, argv.slice(1), { stdio: 'inherit', env: { ...process.env, DC09_CONN_MEMORY_CHILD: '1' } })
  process.exit(r.status ?? 1)
}

/** A journal that commits at once and keeps nothing: only the connections are measured. */
function nullJournal (): Journal<JournalRecord> {
  let id = 0
  return {
    append: async () => ++id,
    read: async function * () {},
    readBackwards: async function * () {},
    reader: () => ({ next: async () => [], close: async () => {} }),
    get lastId () { return id },
    healthy: true,
    close: async () => {},
  }
}

function snapshot (): { rss: number, heap: number, external: number } {
  gc()
  gc()
  const m = process.memoryUsage()
  return { rss: m.rss, heap: m.heapUsed, external: m.external }
}

const accounts = new MemoryAccountStore()
const imported = accounts.import(makeFleet(n, 'none', 300000))
if (!imported.ok) throw new Error(imported.reason)
const server = await ReceiverServer.start({
  journal: nullJournal(), accounts, logger: pino({ level: 'warn' }),
  options: { maxConnections: n + 10, maxConnectionsPerAddress: n + 10 },
}, { host: '127.0.0.1', port: 0, tcp: true, udp: false })
await sleep(500)
const before = snapshot()
if (snapAt >= 0) writeHeapSnapshot(`${args[snapAt + 1] ?? 'connections'}.before.heapsnapshot`)
const { limit, wrap } = fileLimitCommand(n + 1000)
const argv = wrap([process.execPath, CLIENT, JSON.stringify({ port: server.port, count: n, first: 300000, intervalMs: 60_000, concurrency: 256, answerTimeoutMs: 30_000 })])
const client = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] })
const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]()
const first = JSON.parse((await lines.next()).value as string) as ClientStatus
await sleep(1000)
const after = snapshot()
const held = server.connections
const per = (k: 'rss' | 'heap' | 'external') => Math.round((after[k] - before[k]) / Math.max(1, held))
process.stdout.write(JSON.stringify({
  connections: held, fileLimit: limit, client: first,
  bytesPerConnection: { rss: per('rss'), heap: per('heap'), external: per('external') },
  before, after,
}, null, 2) + '\n')
if (snapAt >= 0) writeHeapSnapshot(`${args[snapAt + 1] ?? 'connections'}.after.heapsnapshot`)
client.kill()
await server.close()
process.exit(0)
