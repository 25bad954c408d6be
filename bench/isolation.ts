/**
 * `npm run bench:isolation`: can an installer tell, by the time an answer takes, another tenant's
 * account from one that does not exist? The HTTP interface answers both with the same 404; this
 * measures whether it also takes the same time, dudect-style (as bench:timing does for codes).
 *
 * One interface in-process (fastify's inject: routing, the hooks, the audit row, the handler), an
 * installer of tenant alpha, and four classes of request, run strictly one after another in one
 * random interleaved order: GET of beta's account (a large one: 20 keyholders, a long address) and
 * of a number nobody has, and a code PUT to a user of each. Welch's t for the pairs that must not
 * differ (foreign vs missing, for each route), raw and cropped at pooled percentiles. Target: every
 * |t| below 4.5. `--per-class N` (default 20,000), `--out FILE`. Rewrites bench/ISOLATION.md.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { SqliteAccountStore } from '../src/accounts/sqlite-store.js'
import { AccessStore } from '../src/api/access.js'
import { Metrics } from '../src/api/metrics.js'
import { RecentEvents } from '../src/api/recent.js'
import { buildApi } from '../src/api/server.js'
import { MemoryJournal } from '../src/journal/memory-journal.js'
import { PipelineStore } from '../src/pipeline/store.js'
import type { JournalRecord } from '../src/journal/record.js'
import { Verifier } from '../src/verification/verifier.js'
import { fmt, machine } from './harness.js'
import { cropThresholds, interleaved, mdTable, moments, pairT, percentile, textTable } from './stats.js'

const args = process.argv.slice(2)
const log = (s: string) => process.stderr.write(s + '\n')
const at = args.indexOf('--per-class')
const perClass = at >= 0 ? Number(args[at + 1]) : 20_000
const outAt = args.indexOf('--out')
const out = outAt >= 0 ? args[outAt + 1]! : new URL('../../bench/ISOLATION.md', import.meta.url).pathname
const T_LIMIT = 4.5
const CROPS = [50, 90, 99] as const
const OTHER_ACCOUNTS = 10_000

const dir = mkdtempSync(join(tmpdir(), 'dc09-isolation-'))
const accounts = new SqliteAccountStore(dir)
const verifier = new Verifier(dir, accounts, { pepper: Buffer.alloc(32, 3), scryptN: 16 })
const access = new AccessStore(dir)
const store = new PipelineStore(dir)
const journal = new MemoryJournal<JournalRecord>()
const keyholders = Array.from({ length: 20 }, (_, i) => ({ name: `Keyholder Number ${i + 1} of Beta Site`, phone: `+44 20 7946 ${String(1000 + i)}`, order: i + 1 }))
const must = (r: { ok: boolean, reason?: string }, what: string) => { if (!r.ok) throw new Error(`bench set-up, ${what}: ${r.reason ?? ''}`) }
must(accounts.import([
  { account: 'A100', tenant: 'alpha', siteName: 'Alpha' },
  { account: 'B100', tenant: 'beta', siteName: 'Beta Manor', siteAddress: 'x'.repeat(480) + ' Street 9', keyholders, vip: true },
  ...Array.from({ length: OTHER_ACCOUNTS }, (_, i) => ({ account: `C${String(i).padStart(6, '0')}`, tenant: i % 2 === 0 ? 'beta' : 'gamma', siteName: `Site ${i}` })),
]), 'accounts')
must(verifier.addUser('B100', 1, 'Beta Keyholder', 'bench'), 'user')
const token = access.createToken({ role: 'installer', tenant: 'alpha', name: 'bench' })
if (!token.ok) throw new Error(token.reason)
const app = buildApi({
  accounts, verifier, access, journal, recent: new RecentEvents({ perAccount: 50, total: 1000 }), metrics: new Metrics(),
  pipeline: { store, waitFor: async () => false }, log: pino({ level: 'silent' }),
}, { rateBurst: 1e5, ratePerSecond: 1e5, bulkReadPerMinute: 1e6, codeSetsPerAccountPerHour: 10_000 })
await app.ready()

interface RequestClass { readonly name: string, readonly what: string, readonly method: 'GET' | 'PUT', readonly url: string, readonly body?: unknown }
const CLASSES: readonly RequestClass[] = [
  { name: 'account foreign', what: 'GET /v1/accounts/B100 (beta\'s, 20 keyholders)', method: 'GET', url: '/v1/accounts/B100' },
  { name: 'account missing', what: 'GET /v1/accounts/B999 (nobody\'s)', method: 'GET', url: '/v1/accounts/B999' },
  { name: 'code foreign', what: 'PUT /v1/accounts/B100/users/1/code (beta\'s user)', method: 'PUT', url: '/v1/accounts/B100/users/1/code', body: { code: '582039' } },
  { name: 'code missing', what: 'PUT /v1/accounts/B999/users/1/code', method: 'PUT', url: '/v1/accounts/B999/users/1/code', body: { code: '582039' } },
]
const PAIRS: ReadonlyArray<readonly [number, number]> = [[0, 1], [2, 3]]
const headers = { authorization: `Bearer ${token.value.token}`, 'content-type': 'application/json' }
let wrong = 0
let firstBody: string | undefined

async function request (c: RequestClass): Promise<number> {
  const payload = c.body === undefined ? undefined : JSON.stringify(c.body)
  const t0 = process.hrtime.bigint()
  const res = await app.inject({ method: c.method, url: c.url, headers, ...(payload === undefined ? {} : { payload }) })
  const t = Number(process.hrtime.bigint() - t0)
  // Every class must answer the very same 404.
  firstBody ??= res.body
  if (res.statusCode !== 404 || res.body !== firstBody) wrong++
  return t
}

log(`machine: ${machine()}`)
log(`${fmt(OTHER_ACCOUNTS + 2)} accounts; ${fmt(perClass)} requests per class, interleaved at random, after a warm-up`)
for (const i of interleaved(500, CLASSES.length)) await request(CLASSES[i]!)
const samples = CLASSES.map(() => new Float64Array(perClass))
const filled = CLASSES.map(() => 0)
const started = performance.now()
for (const i of interleaved(perClass, CLASSES.length)) samples[i]![filled[i]!++] = await request(CLASSES[i]!)
const seconds = (performance.now() - started) / 1000
await app.close()
store.close()
verifier.close()
access.close()
accounts.close()
rmSync(dir, { recursive: true, force: true })
if (wrong > 0) {
  log(`bench:isolation: ${wrong} request(s) did not answer the one not-found; the figures mean nothing`)
  process.exit(1)
}

const cropAt = cropThresholds(samples, CROPS)
const us = (ns: number) => (ns / 1000).toFixed(1)
const classRows = CLASSES.map((c, i) => {
  const m = moments(samples[i]!)
  const s = Float64Array.from(samples[i]!).sort()
  return [c.name, fmt(m.n), us(m.mean), us(percentile(s, 50)), us(percentile(s, 99)), us(Math.sqrt(m.variance))]
})
const pairs = PAIRS.map(([a, b]) => {
  const ts = pairT(samples[a]!, samples[b]!, cropAt)
  return { pair: `${CLASSES[a]!.name} vs ${CLASSES[b]!.name}`, ts, max: Math.max(...ts.map(Math.abs)) }
})
const pass = pairs.every((p) => p.max < T_LIMIT)
const pairRows = pairs.map((p) => [p.pair, ...p.ts.map((t) => t.toFixed(2)), p.max.toFixed(2), p.max < T_LIMIT ? 'PASS' : 'FAIL'])
const verdict = `${pass ? 'PASS' : 'FAIL'}: largest |t| ${Math.max(...pairs.map((p) => p.max)).toFixed(2)} (target: every |t| < ${T_LIMIT})`
const classHead = ['class', 'n', 'mean µs', 'median µs', 'p99 µs', 'sd µs']
const pairHead = ['pair', 't raw', ...CROPS.map((p) => `t ≤p${p}`), 'max |t|', `|t| < ${T_LIMIT}`]

process.stdout.write(`\n${textTable(classHead, classRows)}\n\n${textTable(pairHead, pairRows)}\n\n${verdict}\n`)
writeFileSync(out, `# Timing benchmark: tenant isolation

Generated by \`npm run bench:isolation\` (bench/isolation.ts); do not edit by hand.

Machine: ${machine()}

Can an installer tell another tenant's account from one that does not exist by how long the
not-found answer takes? One HTTP interface in-process (fastify's inject: routing, hooks, the audit
row, the handler) on a fresh data directory with ${fmt(OTHER_ACCOUNTS + 2)} accounts, one installer token of
tenant alpha, and four classes of request, all answered with the same 404 body:

| class | request |
| --- | --- |
${CLASSES.map((c) => `| ${c.name} | ${c.what} |`).join('\n')}

${fmt(perClass)} of each, in one random interleaved order after a warm-up, each timed from just
before the request to its answer: ${seconds.toFixed(1)} s.

${mdTable(classHead, classRows)}

Welch's t, raw and with times above the pooled 50th, 90th and 99th percentiles dropped:

${mdTable(pairHead, pairRows)}

**${verdict}**
`)
log(`wrote ${out}`)
