/**
 * Supervision at scale: the pipeline runner's memory and start time with N supervised accounts.
 * `node --expose-gc dist/bench/supervision-scale.js N DIR`: imports N accounts into a
 * SqliteAccountStore in DIR (once: an existing DIR with enough accounts is reused, as importing a
 * million takes minutes), then starts a PipelineRunner with the default pipeline over an empty
 * journal and prints JSON: start time, heap used and RSS after the start (after a full GC), the
 * timers set. Run it twice to see a start over state that exists (the usual restart).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { SqliteAccountStore } from '../src/accounts/sqlite-store.js'
import { MemoryJournal } from '../src/journal/memory-journal.js'
import { DEFAULT_PIPELINE, loadPipeline } from '../src/pipeline/loader.js'
import { PipelineRunner } from '../src/pipeline/runner.js'
import { PipelineStore } from '../src/pipeline/store.js'
import type { JournalRecord } from '../src/journal/record.js'

const n = Number(process.argv[2] ?? 100_000)
const dir = process.argv[3] ?? `/tmp/dc09-supervision-${n}`
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const mib = (b: number) => Math.round(b / 2 ** 20)

mkdirSync(dir, { recursive: true })
const accounts = new SqliteAccountStore(join(dir, 'accounts'))
const have = accounts.count()
const t0 = performance.now()
for (let i = have; i < n; i += 10_000) {
  const r = accounts.import(Array.from({ length: Math.min(10_000, n - i) }, (_, j) => ({ account: String(1_000_000 + i + j), prefix: '0', supervisionSeconds: 3600 })))
  if (!r.ok) throw new Error(r.reason)
  if (i % 100_000 === 0) process.stderr.write(`imported ${i}\n`)
}
const importSeconds = (performance.now() - t0) / 1000
gc()
const before = process.memoryUsage()
const log = pino({ level: 'silent' })
const store = new PipelineStore(join(dir, 'pipeline'))
const stages = await loadPipeline(DEFAULT_PIPELINE, { accounts, isUser: () => false, dataDir: join(dir, 'pipeline'), log })
const runner = new PipelineRunner({ journal: new MemoryJournal<JournalRecord>(), store, stages, log })
const cpu0 = process.cpuUsage()
const s0 = performance.now()
// The event loop's longest wait while the start runs: how responsive the worker stays.
let longest = 0
let last = performance.now()
const ticker = setInterval(() => { const now = performance.now(); longest = Math.max(longest, now - last); last = now }, 10)
await runner.start()
clearInterval(ticker)
const startSeconds = (performance.now() - s0) / 1000
const cpu = process.cpuUsage(cpu0)
gc()
const after = process.memoryUsage()
process.stdout.write(JSON.stringify({
  accounts: n,
  importSeconds: Math.round(importSeconds),
  startSeconds: Math.round(startSeconds * 10) / 10,
  startCpuSeconds: Math.round((cpu.user + cpu.system) / 1e5) / 10,
  longestEventLoopWaitMs: Math.round(longest),
  timers: runner.timers,
  heapUsedMiB: { beforeStart: mib(before.heapUsed), afterStart: mib(after.heapUsed), growth: mib(after.heapUsed - before.heapUsed) },
  rssMiB: { beforeStart: mib(before.rss), afterStart: mib(after.rss) },
  heapTotalMiB: mib(after.heapTotal),
  externalMiB: mib(after.external),
  cachedStateValues: store.cached,
}) + '\n')
await runner.stop()
store.close()
accounts.close()
