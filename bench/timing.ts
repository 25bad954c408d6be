/**
 * `npm run bench:timing`: does the time a code verification takes say anything about the code or
 * the account? A dudect-style test (Reparaz, Balasch, Verbauwhede: "Dude, is my code constant
 * time?", 2017) of Verifier.verify, end to end: the slot row read, the hash, the match, the
 * counters, the audit row, the journal event, the answer.
 *
 * Four classes of attempt on one verifier: a valid code, an invalid one, a duress code (all three
 * on the same account) and an unknown account. They are run strictly one after another, in a
 * random interleaved order, so that noise (GC, the WAL checkpoint, a shared host) falls on every
 * class alike; each is timed from just before the call to the resolution of its promise. Then
 * Welch's t for every pair of classes, on the raw times and cropped at a few percentiles of the
 * pooled times (dudect's crops: a heavy tail hides small differences in the body). The target is
 * every |t| below 4.5. The hash runs once per attempt whatever the input, so a small scrypt N
 * keeps the run short and leaves what it must expose, everything around the hash, in plain view.
 *
 * Rewrites bench/TIMING.md; never edit it by hand. `--per-class N` (default 20,000; `--quick`:
 * 2,000), `--warmup N`, `--scrypt-n N` (a power of two, default 16), `--out FILE`. Exits 0 whatever
 * the verdict (it is a benchmark, not a test); 1 when an attempt does not answer as its class must.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteAccountStore } from '../src/accounts/sqlite-store.js'
import { MemoryJournal } from '../src/journal/memory-journal.js'
import type { DerivedRecord } from '../src/journal/record.js'
import { Verifier, type VerificationEvent, type VerifyResult } from '../src/verification/verifier.js'
import { fmt, machine } from './harness.js'
import { cropThresholds, interleaved, mdTable, moments, pairT, percentile, textTable } from './stats.js'

const args = process.argv.slice(2)
const log = (s: string) => process.stderr.write(s + '\n')

function intFlag (name: string, fallback: number): number {
  const at = args.indexOf(name)
  if (at < 0) return fallback
  const v = Number(args[at + 1])
  if (!Number.isSafeInteger(v) || v < 1) {
    log(`bench:timing: ${name} needs a positive integer`)
    process.exit(2)
  }
  return v
}

const quick = args.includes('--quick')
const perClass = intFlag('--per-class', quick ? 2_000 : 20_000)
const warmup = intFlag('--warmup', quick ? 500 : 2_000)
const scryptN = intFlag('--scrypt-n', 16)
if (scryptN < 2 || (scryptN & (scryptN - 1)) !== 0) {
  log('bench:timing: --scrypt-n must be a power of two, at least 2')
  process.exit(2)
}
const outAt = args.indexOf('--out')
const out = outAt >= 0 ? args[outAt + 1]! : new URL('../../bench/TIMING.md', import.meta.url).pathname

/** dudect's threshold: |t| above it is taken as a leak. */
const T_LIMIT = 4.5
/** Crops: samples above this percentile of the pooled times (all four classes) are dropped. */
const CROPS = [50, 90, 99] as const

// ------------------------------------------------------------ set-up

const ACCOUNT = '4A21'
/** Not in the store; the same length as ACCOUNT so the account strings cost alike. */
const UNKNOWN = '4A2F'
const OTHER_ACCOUNTS = ['1B07', '77C3', 'D0E5']
const CALLER = 'ivr:line-1'
/** Codes on ACCOUNT: user 1 (with a duress code) and four more, so the slots are not trivial. */
const CODES: ReadonlyArray<{ user: number, code: string, duress?: true }> = [
  { user: 1, code: '135792' },
  { user: 2, code: '402917' },
  { user: 3, code: '718264' },
  { user: 4, code: '590813' },
  { user: 5, code: '263048' },
  { user: 1, code: '864209', duress: true },
]
const WRONG = '570381'

type ClassName = 'valid' | 'invalid' | 'duress' | 'unknown'

interface AttemptClass {
  readonly name: ClassName
  readonly what: string
  readonly account: string
  readonly code: string
  /** What the caller must get, and what the journal must get. */
  readonly answer: (r: VerifyResult) => boolean
  readonly kind: VerificationEvent['kind']
}

const CLASSES: readonly AttemptClass[] = [
  { name: 'valid', what: `account ${ACCOUNT}, user 1's code`, account: ACCOUNT, code: '135792', answer: (r) => r.result === 'valid' && r.user === 1, kind: 'verification' },
  { name: 'invalid', what: `account ${ACCOUNT}, a wrong 6-digit code`, account: ACCOUNT, code: WRONG, answer: (r) => r.result === 'invalid', kind: 'verification' },
  { name: 'duress', what: `account ${ACCOUNT}, user 1's duress code`, account: ACCOUNT, code: '864209', answer: (r) => r.result === 'valid' && r.user === 1, kind: 'duress' },
  { name: 'unknown', what: `account ${UNKNOWN} (not in the store), a 6-digit code`, account: UNKNOWN, code: '135792', answer: (r) => r.result === 'invalid', kind: 'verification' },
]

const dir = mkdtempSync(join(tmpdir(), 'dc09-timing-'))
const accounts = new SqliteAccountStore(dir)
for (const a of [ACCOUNT, ...OTHER_ACCOUNTS]) {
  const r = accounts.add({ account: a })
  if (!r.ok) throw new Error(`bench set-up: ${r.reason}`)
}
const verifier = new Verifier(dir, accounts, {
  pepper: randomBytes(32),
  scryptN,
  // Lockout off: thousands of invalid attempts must never turn into `locked`.
  maxFailures: Number.MAX_SAFE_INTEGER,
  callerMaxFailures: Number.MAX_SAFE_INTEGER,
})
const must = (r: { ok: true } | { ok: false, reason: string }, what: string) => { if (!r.ok) throw new Error(`bench set-up, ${what}: ${r.reason}`) }
for (const [i, a] of [ACCOUNT, ...OTHER_ACCOUNTS].entries()) {
  for (let user = 1; user <= 5; user++) must(verifier.addUser(a, user, `user ${user}`, 'bench'), `user ${user} on ${a}`)
  for (const c of CODES) {
    // The other accounts get other codes (a code is per account; these only fill their slots).
    const code = i === 0 ? c.code : String((Number(c.code) + 111_111 * i) % 1_000_000).padStart(6, '0')
    must(await verifier.setCode(a, c.user, code, c.duress === true, 'bench'), `code of user ${c.user} on ${a}`)
  }
}

// Journaled as `dc09 verify` does, into a journal in memory: part of everything around the hash.
const journal = new MemoryJournal<DerivedRecord>()
let lastKind: VerificationEvent['kind'] | undefined
const record = async (e: VerificationEvent): Promise<void> => {
  lastKind = e.kind
  const r: DerivedRecord = { type: 'derived', receivedAt: Date.now(), kind: e.kind, account: e.account, stage: 'verify', causedBy: 0, n: 0, data: e.data }
  await journal.append(r)
}

let wrongAnswers = 0
async function attempt (c: AttemptClass): Promise<number> {
  lastKind = undefined
  const t0 = process.hrtime.bigint()
  const r = await verifier.verify(c.account, c.code, CALLER, record)
  const t1 = process.hrtime.bigint()
  if (!c.answer(r) || lastKind !== c.kind) {
    if (wrongAnswers++ === 0) log(`bench:timing: class ${c.name} answered ${JSON.stringify(r)}, journaled ${lastKind ?? 'nothing'}`)
  }
  return Number(t1 - t0)
}

// ------------------------------------------------------------ measurement

log(`machine: ${machine()}`)
log(`scrypt N ${scryptN}; ${fmt(warmup)} warm-up attempts, then ${fmt(perClass)} per class (${fmt(perClass * CLASSES.length)} timed), interleaved at random`)
const started = performance.now()
for (const i of interleaved(Math.ceil(warmup / CLASSES.length), CLASSES.length)) await attempt(CLASSES[i]!)
const samples = CLASSES.map(() => new Float64Array(perClass))
const filled = CLASSES.map(() => 0)
const order = interleaved(perClass, CLASSES.length)
const timedStart = performance.now()
for (let k = 0; k < order.length; k++) {
  const i = order[k]!
  samples[i]![filled[i]!++] = await attempt(CLASSES[i]!)
  if ((k + 1) % 10_000 === 0) log(`  ${fmt(k + 1)} / ${fmt(order.length)}`)
}
const timedSeconds = (performance.now() - timedStart) / 1000
const totalSeconds = (performance.now() - started) / 1000
const journaled = journal.lastId
await journal.close()
verifier.close()
accounts.close()
rmSync(dir, { recursive: true, force: true })
if (wrongAnswers > 0) {
  log(`bench:timing: ${wrongAnswers} attempt(s) did not answer or journal as their class must; the figures mean nothing`)
  process.exit(1)
}

// ------------------------------------------------------------ statistics

const sorted = samples.map((s) => Float64Array.from(s).sort())
const cropAt = cropThresholds(samples, CROPS)

const us = (ns: number) => (ns / 1000).toFixed(1)
const classRows = CLASSES.map((c, i) => {
  const m = moments(samples[i]!)
  const s = sorted[i]!
  return [c.name, fmt(m.n), us(m.mean), us(percentile(s, 50)), us(percentile(s, 99)), us(Math.sqrt(m.variance)), us(s[0]!)]
})

interface PairRow { pair: string, ts: number[], max: number }
const pairs: PairRow[] = []
for (let a = 0; a < CLASSES.length; a++) {
  for (let b = a + 1; b < CLASSES.length; b++) {
    const ts = pairT(samples[a]!, samples[b]!, cropAt)
    pairs.push({ pair: `${CLASSES[a]!.name} vs ${CLASSES[b]!.name}`, ts, max: Math.max(...ts.map(Math.abs)) })
  }
}
const worst = pairs.reduce((w, p) => (p.max > w.max ? p : w))
const pass = worst.max < T_LIMIT
const pairRows = pairs.map((p) => [p.pair, ...p.ts.map((t) => t.toFixed(2)), p.max.toFixed(2), p.max < T_LIMIT ? 'PASS' : 'FAIL'])
const verdict = pass
  ? `PASS: every |t| < ${T_LIMIT} (largest ${worst.max.toFixed(2)}, ${worst.pair})`
  : `FAIL: ${pairs.filter((p) => p.max >= T_LIMIT).map((p) => `${p.pair} |t| = ${p.max.toFixed(2)}`).join('; ')} (target: every |t| < ${T_LIMIT})`

const classHead = ['class', 'n', 'mean µs', 'median µs', 'p99 µs', 'sd µs', 'min µs']
const pairHead = ['pair', 't raw', ...CROPS.map((p) => `t ≤p${p}`), 'max |t|', `|t| < ${T_LIMIT}`]

// ------------------------------------------------------------ output

const cropLine = `crop thresholds (pooled): ${CROPS.map((p, i) => `p${p} = ${us(cropAt[i]!)} µs`).join(', ')}`
process.stdout.write(`
scrypt N ${scryptN}, ${fmt(perClass)} per class, ${timedSeconds.toFixed(1)} s timed (${totalSeconds.toFixed(1)} s with warm-up)

${textTable(classHead, classRows)}

${cropLine}

${textTable(pairHead, pairRows)}

${verdict}
`)

const md = `# Timing benchmark: code verification

Generated by \`npm run bench:timing\`${quick ? ' --quick (short run: indicative only)' : ''} (bench/timing.ts); do not edit by hand.

Machine: ${machine()}

A dudect-style test (Reparaz, Balasch and Verbauwhede, "Dude, is my code constant time?", 2017) of
\`Verifier.verify\` end to end: the slot row read, the hash, the match against the 64 slots, both
counters, the audit row, the journal event (a \`DerivedRecord\` appended to an in-memory journal, as
\`dc09 verify\` appends one) and the answer. One verifier on a fresh data directory (SQLite, WAL) with
${1 + OTHER_ACCOUNTS.length} accounts of 5 users each; lockout off so that no invalid attempt ever turns into \`locked\`; one caller
for every attempt. scrypt N = ${scryptN} (r 8, p 1) rather than 2^15: the hash runs exactly once per
attempt whatever the input, and a small N leaves what this must expose, everything around the hash,
in plain view.

| class | attempt |
| --- | --- |
${CLASSES.map((c) => `| ${c.name} | ${c.what} |`).join('\n')}

${fmt(warmup)} untimed attempts of all classes first, then ${fmt(perClass)} of each class
(${fmt(perClass * CLASSES.length)} in all, ${fmt(journaled)} journal events with the warm-up) in one random interleaved
order, strictly one after another, each timed with \`process.hrtime.bigint()\` from just before the
call to the resolution of its promise: ${timedSeconds.toFixed(1)} s.

## Per class

${mdTable(classHead, classRows)}

## Welch's t for every pair

On the raw times, then with the times above the 50th, 90th and 99th percentile of all four classes
pooled dropped (the ${cropLine.replace('crop thresholds (pooled): ', '')}). A positive t: the first class
of the pair is the slower. Target: every |t| < ${T_LIMIT}.

${mdTable(pairHead, pairRows)}

**${verdict}**
`
writeFileSync(out, md)
log(`wrote ${out}`)
