/**
 * The million case: a receiver that supervises 1,000,000 accounts. Four figures, each against
 * its target:
 *
 * - `dc09 accounts import` of every account (a JSON array written here, mixed plain and
 *   AES-128, every account supervised) through the real CLI: at most 60 s for 1,000,000.
 * - `dc09 serve` on that directory answers a frame at most 10 s after it was started: the time
 *   from the spawn to the first ACK of a link test sent again and again, not to the port
 *   listening (which is reported beside it).
 * - Receiver RSS at most 1 GiB while 10% of the accounts report every 90 s, spread evenly
 *   (100,000 panels: about 1,111 frames a second), over UDP from one socket in this process.
 * - Supervision deadlines fire within 1 s of due. A small group of accounts with a short
 *   interval reports once each, early in the load, and then never again: each one's failure is
 *   due its interval after that report, whose receive time the journal holds (a failure record
 *   names it). Lateness is the failure's receive time minus that. (A pipeline that started
 *   after those reports gives one interval from its own start instead, which the journal does
 *   not record: the figure would then overstate the lateness, by about the same for every
 *   account. A receiver that answers before its pipeline runs would show that.)
 *
 * With fewer accounts (`--accounts`) the import target is scaled down in proportion; the others
 * are not. A timeline of RSS and answers, once a second, shows the receiver's stalls.
 *
 * Every wait is bounded: a receiver that never answers gives "not met: no answer within N s",
 * and the case goes on to stop it. Everything started is stopped by its process id and the
 * temporary directory removed, also when the benchmark is interrupted.
 */
import { createHash, randomBytes } from 'node:crypto'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readJournal } from '../../src/journal/file-journal.js'
import { aesEngine, checkAnswer, parseKey, readHeader, serializeFrame, type AesKey, type FrameHeader } from '../../src/protocol/index.js'
import type { JournalRecord } from '../../src/journal/record.js'
import { freePort, RATE_LIMITS_OUT_OF_THE_WAY } from './receiver.js'

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname

/** The targets, for 1,000,000 accounts. */
export const TARGETS = Object.freeze({
  accounts: 1_000_000,
  importSeconds: 60,
  firstAckSeconds: 10,
  rssBytes: 2 ** 30,
  latenessMs: 1000,
})

/** Who is who among the accounts: a pure function of the counts, so that the file and the load agree. */
export interface Plan {
  readonly accounts: number
  /** Accounts that report during the load: every tenth. */
  readonly reporters: number
  /** Accounts with the short interval that report once and then stay silent. */
  readonly silent: number
  readonly silentIntervalSeconds: number
  /** The interval of every other account: long enough that none comes due during a run. */
  readonly longIntervalSeconds: number
  /** Each reporting account sends a frame this often. */
  readonly reportEverySeconds: number
  /** How long the load runs. */
  readonly loadSeconds: number
  /** The silent group's one report each is spread over the first this many seconds of the load. */
  readonly silentSpreadSeconds: number
}

export function makePlan (o: { accounts: number, loadSeconds: number, silent: number, silentIntervalSeconds: number, silentSpreadSeconds: number }): Plan {
  if (!Number.isInteger(o.accounts) || o.accounts < 100 || o.accounts > 9_000_000) throw new Error('accounts: a whole number from 100 to 9,000,000')
  const reporters = Math.floor(o.accounts / 10)
  if (o.silent > reporters) throw new Error(`at most ${reporters} silent accounts for ${o.accounts} accounts`)
  return { accounts: o.accounts, reporters, silent: o.silent, silentIntervalSeconds: o.silentIntervalSeconds, longIntervalSeconds: 25 * 3600, reportEverySeconds: 90, loadSeconds: o.loadSeconds, silentSpreadSeconds: o.silentSpreadSeconds }
}

/** The account number of index `i`: seven digits and more, valid hex as panels send. */
export const accountAt = (i: number): string => String(1_000_000 + i)
/** Reporting account `j` (every tenth, from 1); silent account `k` (every tenth, from 2). */
export const reporterIndex = (j: number): number => j * 10 + 1
export const silentIndex = (k: number): number => k * 10 + 2
export const isSilent = (i: number, plan: Plan): boolean => i % 10 === 2 && (i - 2) / 10 < plan.silent
/** Every other run of ten accounts is AES-128: half of them, and half of the reporting and silent ones. */
export const isAes = (i: number): boolean => Math.floor(i / 10) % 2 === 1
export function aesCount (accounts: number): number {
  let n = 0
  for (let i = 0; i < accounts; i++) if (isAes(i)) n++
  return n
}

/** An account's AES key, derived from the run's seed so that no table of a million keys is kept. */
export function keyOf (seed: Buffer, account: string): string {
  return createHash('sha256').update(seed).update(account).digest().subarray(0, 16).toString('hex').toUpperCase()
}

/** The JSON entry of account `i`, as `dc09 accounts import` takes it. */
export function accountEntry (i: number, plan: Plan, seed: Buffer): Record<string, unknown> {
  const account = accountAt(i)
  return {
    account,
    prefix: '0',
    supervisionSeconds: isSilent(i, plan) ? plan.silentIntervalSeconds : plan.longIntervalSeconds,
    ...(isAes(i) ? { key: keyOf(seed, account), keyFormat: 'hex' } : {}),
  }
}

/** Writes every account as one JSON array, in chunks (a million objects at once is a needless peak here). */
export function writeAccounts (file: string, plan: Plan, seed: Buffer): number {
  const fd = openSync(file, 'w', 0o600)
  let bytes = 0
  try {
    const chunk: string[] = []
    const flush = (last: boolean): void => {
      const text = chunk.join(',\n') + (last ? '\n]\n' : ',\n')
      bytes += writeSync(fd, text)
      chunk.length = 0
    }
    bytes += writeSync(fd, '[\n')
    for (let i = 0; i < plan.accounts; i++) {
      chunk.push(JSON.stringify(accountEntry(i, plan, seed)))
      if (chunk.length === 10_000 && i < plan.accounts - 1) flush(false)
    }
    flush(true)
  } finally {
    closeSync(fd)
  }
  return bytes
}

/** One frame to send: who, when (ms from the start of the load), and what. */
export interface Send {
  readonly index: number
  readonly at: number
  readonly kind: 'null' | 'cid'
  /** The report of a silent account: sent until answered (up to the retries), like a panel. */
  readonly silent: boolean
}

/**
 * The load, in time order: reporting account j sends at j/reporters of the interval and every
 * interval after, alternately a link test and a Contact ID periodic test; silent account k sends
 * one link test at k/silent of the spread.
 */
export function schedule (plan: Plan): Send[] {
  const out: Send[] = []
  const everyMs = plan.reportEverySeconds * 1000
  const endMs = plan.loadSeconds * 1000
  for (let j = 0; j < plan.reporters; j++) {
    const phase = (j / plan.reporters) * everyMs
    for (let n = 0, at = phase; at < endMs; n++, at += everyMs) out.push({ index: reporterIndex(j), at, kind: (j + n) % 2 === 0 ? 'null' : 'cid', silent: false })
  }
  for (let k = 0; k < plan.silent; k++) out.push({ index: silentIndex(k), at: (k / plan.silent) * plan.silentSpreadSeconds * 1000, kind: 'null', silent: true })
  return out.sort((a, b) => a.at - b.at)
}

export interface Quantiles { readonly n: number, readonly min: number, readonly p50: number, readonly p99: number, readonly max: number }

export function quantiles (values: readonly number[]): Quantiles {
  const s = Float64Array.from(values).sort()
  const at = (p: number) => (s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!)
  return { n: s.length, min: at(0), p50: at(0.5), p99: at(0.99), max: s.length === 0 ? NaN : s[s.length - 1]! }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

interface Pending {
  readonly id: string
  readonly header: FrameHeader
  readonly key: AesKey | undefined
  readonly bytes: Buffer
  readonly t0: number
  readonly retries: number
  readonly waitMs: number
  attempt: number
  deadline: number
  done: (answer: Answer) => void
}

export type Answer = 'ACK' | 'NAK' | 'DUH' | 'flawed' | 'none'

export interface PanelStats {
  sent: number
  acknowledged: number
  nak: number
  duh: number
  flawed: number
  unanswered: number
  retries: number
  /** Answers that matched nothing waiting (late answers to a frame sent again, mostly). */
  stray: number
  readonly latencyMs: number[]
}

/**
 * Many panels on one UDP socket: each frame waits for the answer that echoes its account and
 * sequence; after its wait it is sent again, up to its retries, then counted unanswered.
 */
export class UdpPanels {
  readonly stats: PanelStats = { sent: 0, acknowledged: 0, nak: 0, duh: 0, flawed: 0, unanswered: 0, retries: 0, stray: 0, latencyMs: [] }
  readonly #socket: UdpSocket
  readonly #port: number
  readonly #ackTimeoutMs: number
  readonly #pending = new Map<string, Pending>()
  /** Deadlines in the order they were set, one queue per length of wait: so each is in time order. */
  readonly #queues = new Map<number, { items: Pending[], head: number }>()
  readonly #timer: NodeJS.Timeout

  constructor (port: number, ackTimeoutMs: number) {
    this.#port = port
    this.#ackTimeoutMs = ackTimeoutMs
    this.#socket = createSocket('udp4')
    this.#socket.on('message', (m) => this.#answer(m))
    this.#socket.on('error', () => {})
    this.#timer = setInterval(() => this.#expire(), 50)
  }

  get waiting (): number {
    return this.#pending.size
  }

  /**
   * Sends a frame and resolves with what came back (`busy`: a frame of that account and
   * sequence is waiting already; not sent). `waitMs`: how long before it is sent again.
   */
  send (bytes: Buffer, key: AesKey | undefined, retries: number, waitMs = this.#ackTimeoutMs): Promise<Answer | 'busy'> {
    const header = readHeader(bytes)!
    const id = `${header.acct}/${header.seq}`
    if (this.#pending.has(id)) return Promise.resolve('busy')
    return new Promise((resolve) => {
      const p: Pending = { id, header, key, bytes, t0: performance.now(), retries, waitMs, attempt: 0, deadline: 0, done: resolve }
      this.#pending.set(id, p)
      this.#transmit(p)
    })
  }

  #transmit (p: Pending): void {
    this.stats.sent++
    p.deadline = performance.now() + p.waitMs
    let q = this.#queues.get(p.waitMs)
    if (q === undefined) this.#queues.set(p.waitMs, q = { items: [], head: 0 })
    q.items.push(p)
    this.#socket.send(p.bytes, this.#port, '127.0.0.1')
  }

  #answer (m: Buffer): void {
    const h = readHeader(m)
    const p = h === undefined ? undefined : this.#pending.get(`${h.acct}/${h.seq}`)
    if (p === undefined) {
      this.stats.stray++
      return
    }
    this.#pending.delete(p.id)
    const c = checkAnswer(m, p.header, p.key)
    if (c.problems.length > 0) {
      this.stats.flawed++
      p.done('flawed')
    } else if (c.token === 'ACK') {
      this.stats.acknowledged++
      this.stats.latencyMs.push(performance.now() - p.t0)
      p.done('ACK')
    } else if (c.token === 'NAK') {
      this.stats.nak++
      p.done('NAK')
    } else {
      this.stats.duh++
      p.done('DUH')
    }
  }

  #expire (): void {
    const now = performance.now()
    for (const q of this.#queues.values()) {
      while (q.head < q.items.length && q.items[q.head]!.deadline <= now) {
        const p = q.items[q.head++]!
        // Answered already, or sent again since (a later entry holds its new deadline).
        if (this.#pending.get(p.id) !== p || p.deadline > now) continue
        if (p.attempt < p.retries) {
          p.attempt++
          this.stats.retries++
          this.#transmit(p)
          continue
        }
        this.#pending.delete(p.id)
        this.stats.unanswered++
        p.done('none')
      }
      if (q.head > 10_000) {
        q.items.splice(0, q.head)
        q.head = 0
      }
    }
  }

  /** Gives up on everything waiting and closes the socket. */
  async close (): Promise<void> {
    clearInterval(this.#timer)
    for (const p of this.#pending.values()) p.done('none')
    this.#pending.clear()
    await new Promise<void>((r) => this.#socket.close(() => r()))
  }
}

/** A link test, or a Contact ID periodic test report, from account `i`. */
export function panelFrame (i: number, kind: 'null' | 'cid', seq: number, key: AesKey | undefined): Buffer {
  const account = accountAt(i)
  return serializeFrame({
    token: kind === 'null' ? 'NULL' : 'ADM-CID',
    encrypted: key !== undefined,
    seq: kind === 'null' ? 0 : seq,
    lpref: '0',
    acct: account,
    data: kind === 'null' ? '' : `#${account}|1602 00 000`,
    timestamp: Date.now(),
  }, { key })
}

export interface FirstAck {
  /** Seconds from the spawn to the first ACK; undefined: none within the wait. */
  readonly seconds: number | undefined
  /** Seconds from the spawn until TCP connections were accepted; undefined: never. */
  readonly listeningSeconds: number | undefined
  readonly waitedSeconds: number
  /** Why there was none: the receiver exited, or the wait ran out. */
  readonly reason?: string
}

/**
 * Sends a link test from account `index` again every `everyMs` (the same frame, as a panel
 * does) until it is acknowledged, the child exits, or `timeoutMs` has passed since `t0` (the
 * spawn). TCP connects are tried alongside, for the moment the port listens.
 */
export async function waitForFirstAck (o: { port: number, panels: UdpPanels, index: number, key: AesKey | undefined, t0: number, timeoutMs: number, everyMs?: number, child?: ChildProcess }): Promise<FirstAck> {
  const every = o.everyMs ?? 200
  const since = () => (performance.now() - o.t0) / 1000
  const left = () => o.t0 + o.timeoutMs - performance.now()
  let listening: number | undefined
  let done = false
  const listen = (async () => {
    while (!done && listening === undefined && left() > 0) {
      if (await tcpAccepts(o.port)) listening = since()
      else await sleep(every)
    }
  })()
  const exited = o.child === undefined || o.child.exitCode !== null
    ? new Promise<never>(() => {})
    : new Promise<'exit'>((r) => o.child!.once('exit', () => r('exit')))
  let reason: string | undefined
  let seconds: number | undefined
  while (left() > 0) {
    const answer = o.panels.send(panelFrame(o.index, 'null', 0, o.key), o.key, Math.ceil(left() / every), every)
    const r = await Promise.race([answer, exited, sleep(Math.max(0, left())).then(() => 'timeout' as const)])
    if (r === 'ACK') {
      seconds = since()
      break
    }
    if (r === 'exit') {
      reason = `the receiver exited with ${o.child!.exitCode ?? o.child!.signalCode}`
      break
    }
    if (r === 'timeout' || r === 'none') break
    // NAK, DUH, flawed: not yet ready; ask again.
    reason = `answered ${r}`
    await sleep(every)
  }
  done = true
  await listen
  const waitedSeconds = since()
  if (seconds === undefined) return { seconds, listeningSeconds: listening, waitedSeconds, reason: reason ?? `no answer within ${Math.round(o.timeoutMs / 1000)} s` }
  return { seconds, listeningSeconds: listening ?? seconds, waitedSeconds }
}

function tcpAccepts (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true) })
    s.on('error', () => resolve(false))
    s.setTimeout(1000, () => { s.destroy(); resolve(false) })
  })
}

export function rssOf (pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m === null ? 0 : Number(m[1]) * 1024
  } catch {
    return 0
  }
}

export interface SupervisionResult {
  readonly accounts: number
  readonly intervalSeconds: number
  /** Silent accounts whose one report was acknowledged (their failure is expected). */
  readonly reported: number
  readonly fired: number
  /** Expected failures not in the journal when the receiver was stopped. */
  readonly missing: number
  /**
   * Failures of silent accounts that name no last report: due one interval after the pipeline's
   * start, which came before their report (a start slower than the interval). Not in the lateness.
   */
  readonly beforeReport: number
  /** Failures of accounts outside the silent group (none expected). */
  readonly unexpected: number
  /** Failure receive time minus due (last report + interval), ms: every silent account's failure that names a last report. */
  readonly latenessMs: Quantiles
}

/** The supervision failures in the journal, judged against each account's last report. */
export async function supervisionLateness (journalDir: string, plan: Plan, reported: ReadonlySet<string>): Promise<SupervisionResult> {
  const lateness: number[] = []
  const fired = new Set<string>()
  let unexpected = 0
  let beforeReport = 0
  for await (const r of readJournal<JournalRecord>(journalDir)) {
    if (r.type !== 'derived' || r.kind !== 'supervision-failure') continue
    if (!isSilent(Number(r.account) - 1_000_000, plan)) {
      unexpected++
      continue
    }
    const lastSeen = typeof r.data.lastSeen === 'string' ? Date.parse(r.data.lastSeen) : NaN
    const interval = typeof r.data.intervalSeconds === 'number' ? r.data.intervalSeconds * 1000 : NaN
    if (!Number.isFinite(lastSeen)) {
      beforeReport++
      continue
    }
    if (reported.has(r.account)) fired.add(r.account)
    if (Number.isFinite(interval)) lateness.push(r.receivedAt - (lastSeen + interval))
  }
  return {
    accounts: plan.silent,
    intervalSeconds: plan.silentIntervalSeconds,
    reported: reported.size,
    fired: fired.size,
    missing: reported.size - fired.size,
    beforeReport,
    unexpected,
    latenessMs: quantiles(lateness),
  }
}

export interface LogSummary {
  readonly lines: number
  readonly byLevel: Readonly<Record<string, number>>
  /** Each distinct warning or error message with its count and first time (ms after the spawn). */
  readonly messages: ReadonlyArray<{ readonly level: string, readonly msg: string, readonly count: number, readonly firstMs: number }>
  /** Lines that are not pino JSON (a stack trace, a message on stderr), the first few. */
  readonly other: readonly string[]
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

/** What the receiver logged, summed up: messages at warn and above, and info messages by count. */
export function summarizeLog (text: string, spawnedAt: number): LogSummary {
  const byLevel: Record<string, number> = {}
  const messages = new Map<string, { level: string, msg: string, count: number, firstMs: number }>()
  const other: string[] = []
  let lines = 0
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue
    lines++
    let o: { level?: number, msg?: string, time?: string | number }
    try {
      o = JSON.parse(line)
    } catch {
      if (other.length < 20) other.push(line.slice(0, 300))
      continue
    }
    const level = LEVELS[o.level ?? 0] ?? String(o.level)
    byLevel[level] = (byLevel[level] ?? 0) + 1
    const k = `${level}\x00${o.msg ?? ''}`
    const m = messages.get(k)
    if (m !== undefined) m.count++
    else {
      const at = typeof o.time === 'string' ? Date.parse(o.time) : o.time ?? NaN
      messages.set(k, { level, msg: o.msg ?? '', count: 1, firstMs: Number.isFinite(at) ? at - spawnedAt : NaN })
    }
  }
  return { lines, byLevel, messages: [...messages.values()].slice(0, 40), other }
}

/** The longest run of load seconds in which frames waited and no answer came. */
export function longestStall (timeline: MillionResult['timeline']): number {
  let longest = 0
  let run = 0
  for (let i = 1; i < timeline.length; i++) {
    const [, , answered, waiting, load] = timeline[i]!
    run = load === 1 && waiting > 0 && answered === timeline[i - 1]![2] ? run + 1 : 0
    longest = Math.max(longest, run)
  }
  return longest
}

export interface Verdict { readonly target: string, readonly value: string, readonly verdict: string }

export interface MillionResult {
  readonly plan: Plan
  readonly aesAccounts: number
  readonly accountsFileBytes: number
  readonly import: { readonly seconds: number | undefined, readonly exitCode: number | null, readonly output: string }
  readonly firstAck: FirstAck | undefined
  readonly load: (Omit<PanelStats, 'latencyMs'> & { readonly seconds: number, readonly framesPerSecond: number, readonly latencyMs: Quantiles }) | undefined
  readonly rss: { readonly atFirstAckBytes: number, readonly maxDuringLoadBytes: number, readonly maxBytes: number, readonly samples: number }
  /**
   * Once a second from the spawn: seconds since, RSS in MiB, answers so far (ACK or other), frames
   * waiting for theirs, and whether the load was running.
   */
  readonly timeline: ReadonlyArray<readonly [seconds: number, rssMiB: number, answered: number, waiting: number, load: 0 | 1]>
  /** The longest stretch of the load, in whole seconds, with frames waiting and no answer at all: the receiver's stalls. */
  readonly longestStallSeconds: number
  readonly supervision: SupervisionResult | undefined
  readonly dataBytes: number
  /** The receiver ended by itself before the case stopped it (a crash, out of memory): how, and when after its spawn. */
  readonly receiverExit?: { readonly code: number | null, readonly signal: string | null, readonly seconds: number } | undefined
  readonly receiverLog: LogSummary | undefined
  readonly targets: readonly Verdict[]
}

export interface MillionOptions {
  readonly quick: boolean
  readonly log: (s: string) => void
  /** Defaults: 1,000,000 (quick: 20,000). */
  readonly accounts?: number | undefined
  /** Seconds of load; defaults: 100 (quick: 6). */
  readonly seconds?: number | undefined
  /** How long `dc09 serve` may take to answer a first frame; default 180 s (quick: 60 s). */
  readonly startTimeoutSeconds?: number
  /** How long the import may take; default 600 s (quick: 120 s). */
  readonly importTimeoutSeconds?: number
  /** Write a CPU profile of the receiver (node --cpu-prof) into this directory when it stops. */
  readonly profileDir?: string | undefined
}

async function stopChild (child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  if (await Promise.race([exited.then(() => true), sleep(graceMs).then(() => false)])) return
  child.kill('SIGKILL')
  await Promise.race([exited, sleep(5000)])
}

/** Runs a CLI command to its end or `timeoutMs`, whichever first (then it is killed). */
async function runCli (args: string[], timeoutMs: number): Promise<{ seconds: number | undefined, exitCode: number | null, output: string, child: ChildProcess }> {
  const t0 = performance.now()
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let output = ''
  const keep = (c: Buffer) => { output = (output + c.toString()).slice(-4000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<boolean>((r) => child.once('exit', () => r(true)))
  const finished = await Promise.race([exited, sleep(timeoutMs).then(() => false)])
  const seconds = (performance.now() - t0) / 1000
  if (!finished) await stopChild(child, 5000)
  running.delete(child)
  return { seconds: finished ? seconds : undefined, exitCode: child.exitCode, output: output.trim(), child }
}

/** Children of this case still running: an interrupted benchmark kills them on its way out. */
const running = new Set<ChildProcess>()

/** What the data directory takes on disk (du), in bytes; 0 if it cannot be read. */
function dirBytes (dir: string): number {
  try {
    return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8', timeout: 30_000 }).split('\t')[0])
  } catch {
    return 0
  }
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
const secs = (s: number | undefined) => (s === undefined ? 'n/a' : `${s.toFixed(1)} s`)

/** The figures against the targets; a count other than 1,000,000 scales the import's (the others do not scale). */
export function verdicts (r: Omit<MillionResult, 'targets'>): Verdict[] {
  const n = r.plan.accounts
  const scaled = n !== TARGETS.accounts
  const importTarget = (TARGETS.importSeconds * n) / TARGETS.accounts
  const out: Verdict[] = []
  const imp = r.import
  out.push({
    target: `accounts import <= ${TARGETS.importSeconds} s for ${TARGETS.accounts.toLocaleString('en-US')}${scaled ? ` (scaled: ${importTarget.toFixed(1)} s for ${n.toLocaleString('en-US')})` : ''}`,
    value: imp.seconds === undefined ? 'did not finish' : `${imp.seconds.toFixed(1)} s (${Math.round(n / imp.seconds).toLocaleString('en-US')} accounts/s)${imp.exitCode === 0 ? '' : `, exit ${imp.exitCode}`}`,
    verdict: imp.seconds === undefined ? 'not met: did not finish in time' : imp.exitCode !== 0 ? `not met: exit ${imp.exitCode}` : imp.seconds <= importTarget ? 'met' : 'not met',
  })
  const f = r.firstAck
  out.push({
    target: `serve answers a frame <= ${TARGETS.firstAckSeconds} s after its start`,
    value: f === undefined ? 'not started' : f.seconds === undefined ? `none (listening: ${secs(f.listeningSeconds)})` : `${secs(f.seconds)} (listening after ${secs(f.listeningSeconds)})`,
    verdict: f === undefined ? 'not measured: the import failed' : f.seconds === undefined ? `not met: ${f.reason ?? 'no answer'}` : f.seconds <= TARGETS.firstAckSeconds ? 'met' : 'not met',
  })
  const l = r.load
  out.push({
    target: `receiver RSS <= ${mib(TARGETS.rssBytes)} while ${r.plan.reporters.toLocaleString('en-US')} panels report every ${r.plan.reportEverySeconds} s`,
    value: l === undefined ? `no load (max RSS seen ${mib(r.rss.maxBytes)})` : `${mib(r.rss.maxDuringLoadBytes)} at most (${mib(r.rss.atFirstAckBytes)} at the first ACK); ${l.acknowledged.toLocaleString('en-US')} of ${(l.acknowledged + l.nak + l.duh + l.flawed + l.unanswered).toLocaleString('en-US')} frames acknowledged`,
    verdict: l === undefined
      ? 'not measured: no answer, so no load'
      : r.receiverExit !== undefined ? `not met: the receiver exited ${r.receiverExit.seconds.toFixed(0)} s after its start` : r.rss.maxDuringLoadBytes > TARGETS.rssBytes ? 'not met' : l.unanswered + l.nak + l.duh + l.flawed > 0 ? 'met, but not every frame was acknowledged' : 'met',
  })
  const s = r.supervision
  const q = s?.latenessMs
  out.push({
    target: `supervision failures fire <= ${TARGETS.latenessMs / 1000} s after due`,
    value: s === undefined || q === undefined ? 'not measured' : `${s.fired} of ${s.reported} fired; lateness p50 ${q.p50.toFixed(0)} ms, p99 ${q.p99.toFixed(0)} ms, max ${q.max.toFixed(0)} ms, min ${q.min.toFixed(0)} ms`,
    verdict: s === undefined || q === undefined
      ? 'not measured: no answer, so no load'
      : s.reported === 0
        ? 'not measured: no silent account got its report acknowledged'
        : s.missing > 0
          ? `not met: ${s.missing} of ${s.reported} never fired`
          : q.min < 0 ? 'not met: fired before due' : q.max <= TARGETS.latenessMs ? 'met' : 'not met',
  })
  return out
}

export async function runMillion (opts: MillionOptions): Promise<MillionResult> {
  const accounts = opts.accounts ?? (opts.quick ? 20_000 : 1_000_000)
  const loadSeconds = opts.seconds ?? (opts.quick ? 6 : 100)
  const long = loadSeconds >= 60
  // Long runs: a 30 s interval, reports over the first 40 s, so failures are due from 30 s to 70 s
  // into the load (across the receiver's once-a-minute work too). Short runs: in proportion.
  const plan = makePlan({
    accounts,
    loadSeconds,
    silent: Math.min(opts.quick ? 200 : 1000, Math.floor(accounts / 10)),
    silentIntervalSeconds: long ? 30 : Math.max(1, Math.floor(loadSeconds / 3)),
    silentSpreadSeconds: long ? 40 : loadSeconds / 3,
  })
  const startTimeoutMs = (opts.startTimeoutSeconds ?? (opts.quick ? 60 : 180)) * 1000
  const importTimeoutMs = (opts.importTimeoutSeconds ?? (opts.quick ? 120 : 600)) * 1000
  const ackTimeoutMs = 5000
  const log = opts.log
  const dir = mkdtempSync(join(tmpdir(), 'dc09-million-'))
  const data = join(dir, 'data')
  const seed = randomBytes(16)
  const interrupted = (): void => {
    for (const c of running) c.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    process.exit(130)
  }
  process.once('SIGINT', interrupted)
  process.once('SIGTERM', interrupted)
  let receiver: ChildProcess | undefined
  let panels: UdpPanels | undefined
  let sampler: NodeJS.Timeout | undefined
  const rss = { atFirstAckBytes: 0, maxDuringLoadBytes: 0, maxBytes: 0, samples: 0 }
  const timeline: Array<MillionResult['timeline'][number]> = []
  const aesAccounts = aesCount(accounts)
  try {
    const file = join(dir, 'accounts.json')
    const t = performance.now()
    const accountsFileBytes = writeAccounts(file, plan, seed)
    log(`million: ${accounts.toLocaleString('en-US')} accounts (${aesAccounts.toLocaleString('en-US')} AES-128) written in ${((performance.now() - t) / 1000).toFixed(1)} s, ${mib(accountsFileBytes)}; importing`)
    const imp = await runCli(['accounts', 'import', '--data', data, file], importTimeoutMs)
    rmSync(file, { force: true })
    log(`million: import ${imp.seconds === undefined ? `did not finish within ${importTimeoutMs / 1000} s` : `took ${imp.seconds.toFixed(1)} s`} (exit ${imp.exitCode}): ${imp.output.slice(0, 200)}`)
    const base = { plan, aesAccounts, accountsFileBytes, import: { seconds: imp.seconds, exitCode: imp.exitCode, output: imp.output.slice(0, 1000) } }
    if (imp.seconds === undefined || imp.exitCode !== 0) {
      const r = { ...base, firstAck: undefined, load: undefined, rss, timeline, longestStallSeconds: 0, supervision: undefined, dataBytes: dirBytes(data), receiverLog: undefined }
      return { ...r, targets: verdicts(r) }
    }
    // The frame-rate limits out of the way (every panel here shares one address); the rest as shipped.
    writeFileSync(join(dir, 'limits.json'), JSON.stringify({ ...RATE_LIMITS_OUT_OF_THE_WAY }))
    writeFileSync(join(dir, 'pepper'), randomBytes(32), { mode: 0o600 })
    const port = await freePort()
    const logFile = join(dir, 'receiver.log')
    const logFd = openSync(logFile, 'a')
    const t0 = performance.now()
    const spawnedAt = Date.now()
    const profile = opts.profileDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', opts.profileDir]
    receiver = spawn(process.execPath, [...profile, CLI, 'serve', '--data', data, '--port', String(port), '--api-port', '0', '--config', join(dir, 'limits.json'), '--pepper-file', join(dir, 'pepper')], { stdio: ['ignore', logFd, logFd] })
    closeSync(logFd)
    running.add(receiver)
    const pid = receiver.pid!
    let stopping = false
    let receiverExit: MillionResult['receiverExit']
    receiver.once('exit', (code, signal) => { if (!stopping) receiverExit = { code, signal, seconds: (performance.now() - t0) / 1000 } })
    let inLoad = false
    sampler = setInterval(() => {
      const b = rssOf(pid)
      rss.samples++
      rss.maxBytes = Math.max(rss.maxBytes, b)
      if (inLoad) rss.maxDuringLoadBytes = Math.max(rss.maxDuringLoadBytes, b)
      const st = panels?.stats
      const answered = st === undefined ? 0 : st.acknowledged + st.nak + st.duh + st.flawed
      timeline.push([Math.round((performance.now() - t0) / 1000), Math.round(b / 2 ** 20), answered, panels?.waiting ?? 0, inLoad ? 1 : 0])
    }, 1000)
    panels = new UdpPanels(port, ackTimeoutMs)
    // Account 0: plain, long interval, neither reporting nor silent.
    const firstAck = await waitForFirstAck({ port, panels, index: 0, key: undefined, t0, timeoutMs: startTimeoutMs, child: receiver })
    rss.atFirstAckBytes = rssOf(pid)
    rss.maxBytes = Math.max(rss.maxBytes, rss.atFirstAckBytes)
    log(`million: serve ${firstAck.seconds === undefined ? `did not answer: ${firstAck.reason}` : `answered ${firstAck.seconds.toFixed(1)} s after its start`} (listening after ${secs(firstAck.listeningSeconds)}); RSS ${mib(rss.atFirstAckBytes)}`)
    let load: MillionResult['load']
    let supervision: SupervisionResult | undefined
    const reported = new Set<string>()
    if (firstAck.seconds !== undefined) {
      const sends = schedule(plan)
      const keys = new Map<number, AesKey>()
      const keyFor = (i: number): AesKey | undefined => {
        if (!isAes(i)) return undefined
        let k = keys.get(i)
        if (k === undefined) {
          const p = parseKey(keyOf(seed, accountAt(i)), 'hex', aesEngine('node'))
          if (!p.ok) throw new Error(p.reason)
          k = p.value
          keys.set(i, k)
        }
        return k
      }
      const everyMs = plan.reportEverySeconds * 1000
      const statsBefore = { ...panels.stats, latencyMs: [] }
      panels.stats.latencyMs.length = 0
      inLoad = true
      const loadStart = performance.now()
      let lastLog = loadStart
      for (let next = 0; next < sends.length;) {
        const now = performance.now() - loadStart
        for (; next < sends.length && sends[next]!.at <= now; next++) {
          const s = sends[next]!
          const key = keyFor(s.index)
          const sent = panels.send(panelFrame(s.index, s.kind, 1 + (Math.floor(s.at / everyMs) % 9999), key), key, s.silent ? 3 : 1)
          if (s.silent) void sent.then((a) => { if (a === 'ACK') reported.add(accountAt(s.index)) })
        }
        if (performance.now() - lastLog >= 10_000) {
          lastLog = performance.now()
          log(`million: ${(now / 1000).toFixed(0)} s: ${panels.stats.acknowledged.toLocaleString('en-US')} acknowledged, ${panels.waiting} waiting, ${panels.stats.unanswered} unanswered; RSS ${mib(rssOf(pid))}`)
        }
        await sleep(5)
      }
      // Answers still on their way: at most every retry's wait.
      for (const end = performance.now() + ackTimeoutMs * 4 + 1000; panels.waiting > 0 && performance.now() < end;) await sleep(100)
      const seconds = (performance.now() - loadStart) / 1000
      inLoad = false
      const st = panels.stats
      const count = (k: keyof Omit<PanelStats, 'latencyMs'>) => st[k] - statsBefore[k]
      load = {
        sent: count('sent'), acknowledged: count('acknowledged'), nak: count('nak'), duh: count('duh'), flawed: count('flawed'),
        unanswered: count('unanswered'), retries: count('retries'), stray: count('stray'),
        seconds, framesPerSecond: Math.round(count('acknowledged') / seconds), latencyMs: quantiles(st.latencyMs),
      }
      log(`million: load ${seconds.toFixed(0)} s (longest stall without an answer ${longestStall(timeline)} s): ${load.acknowledged.toLocaleString('en-US')} acknowledged (${load.framesPerSecond}/s), ${load.unanswered} unanswered, ${load.nak} NAK; ` +
        `latency p50 ${load.latencyMs.p50.toFixed(1)} ms, p99 ${load.latencyMs.p99.toFixed(1)} ms; RSS at most ${mib(rss.maxDuringLoadBytes)}`)
      // The last silent report's failure is due one interval after it (its retries included): wait
      // for it and a little more, bounded.
      const lastDue = loadStart + (plan.silentSpreadSeconds + plan.silentIntervalSeconds) * 1000 + 3 * ackTimeoutMs + 2000
      while (performance.now() < lastDue && receiver.exitCode === null) await sleep(250)
    }
    stopping = true
    await stopChild(receiver, 20_000)
    running.delete(receiver)
    clearInterval(sampler)
    if (firstAck.seconds !== undefined) {
      supervision = await supervisionLateness(join(data, 'journal'), plan, reported)
      const q = supervision.latenessMs
      log(`million: supervision: ${supervision.fired} of ${supervision.reported} silent accounts failed; lateness p50 ${q.p50} ms, p99 ${q.p99} ms, max ${q.max} ms; ${supervision.unexpected} unexpected failures; ${supervision.beforeReport} failures before the report (the pipeline's start + the interval came first)`)
    }
    const receiverLog = summarizeLog(readFileSync(logFile, 'utf8'), spawnedAt)
    if (receiverExit !== undefined) log(`million: the receiver exited by itself ${receiverExit.seconds.toFixed(0)} s after its start (code ${receiverExit.code}, signal ${receiverExit.signal})`)
    const r = { ...base, receiverExit, firstAck, load, rss, timeline, longestStallSeconds: longestStall(timeline), supervision, dataBytes: dirBytes(data), receiverLog }
    const targets = verdicts(r)
    for (const v of targets) log(`million: ${v.target}: ${v.value}: ${v.verdict}`)
    return { ...r, targets }
  } finally {
    if (sampler !== undefined) clearInterval(sampler)
    await panels?.close()
    if (receiver !== undefined) await stopChild(receiver, 20_000)
    for (const c of running) await stopChild(c, 5000)
    running.clear()
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    rmSync(dir, { recursive: true, force: true })
  }
}
