/** The million benchmark's parts: the accounts it writes, the load it sends, its bounded waits and its figures. */
import { createSocket } from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  accountAt, isAes, isSilent, longestStall, makePlan, quantiles, schedule, summarizeLog, supervisionLateness, UdpPanels, verdicts, waitForFirstAck, writeAccounts,
  type MillionResult,
} from '../../../bench/e2e/million.js'
import { validateAccount } from '../../../src/accounts/account.js'
import { FileJournal } from '../../../src/journal/file-journal.js'
import { readHeader, serializeAck } from '../../../src/protocol/index.js'
import type { JournalRecord } from '../../../src/journal/record.js'

const dirs: string[] = []
function tmp (): string {
  const d = mkdtempSync(join(tmpdir(), 'dc09-million-t-'))
  dirs.push(d)
  return d
}
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

const plan = makePlan({ accounts: 1000, loadSeconds: 100, silent: 20, silentIntervalSeconds: 30, silentSpreadSeconds: 40 })

describe('the accounts file', () => {
  it('holds every account once, each valid for import, half AES-128, the silent group on the short interval', () => {
    const file = join(tmp(), 'accounts.json')
    writeAccounts(file, plan, Buffer.alloc(16, 7))
    const entries = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>
    expect(entries).toHaveLength(1000)
    expect(new Set(entries.map((e) => e.account)).size).toBe(1000)
    for (const e of entries) expect(validateAccount(e)).toMatchObject({ ok: true })
    expect(entries.filter((e) => e.key !== undefined)).toHaveLength(500)
    const short = entries.filter((e) => e.supervisionSeconds === 30).map((e) => e.account)
    expect(short).toHaveLength(20)
    expect(short.every((a) => isSilent(Number(a) - 1_000_000, plan))).toBe(true)
    expect(entries.filter((e) => e.supervisionSeconds === 25 * 3600)).toHaveLength(980)
  })
})

describe('the load', () => {
  it('sends every reporting account once per 90 s, evenly, and each silent account once within its spread', () => {
    const sends = schedule(plan)
    const reports = sends.filter((s) => !s.silent)
    // 100 reporters: each at its phase, and again 90 s later if that is within the 100 s.
    expect(new Set(reports.map((s) => s.index)).size).toBe(100)
    expect(reports).toHaveLength(100 + Math.ceil(100 * 10 / 90))
    expect(reports.filter((s) => s.at < 90_000)).toHaveLength(100)
    const silent = sends.filter((s) => s.silent)
    expect(silent).toHaveLength(20)
    expect(new Set(silent.map((s) => s.index)).size).toBe(20)
    expect(silent.every((s) => s.at < 40_000 && isSilent(s.index, plan))).toBe(true)
    // Reporting and silent accounts are apart; both kinds of frame are sent, the AES and plain accounts alike.
    expect(reports.some((s) => isSilent(s.index, plan))).toBe(false)
    expect(new Set(reports.map((s) => s.kind))).toEqual(new Set(['null', 'cid']))
    expect(reports.some((s) => isAes(s.index)) && reports.some((s) => !isAes(s.index))).toBe(true)
    for (let i = 1; i < sends.length; i++) expect(sends[i]!.at).toBeGreaterThanOrEqual(sends[i - 1]!.at)
  })
})

describe('the first ACK', () => {
  it('gives up after its wait with a reason when nothing answers', async () => {
    const silent = createSocket('udp4')
    await new Promise<void>((r) => silent.bind(0, '127.0.0.1', () => r()))
    const port = silent.address().port
    const panels = new UdpPanels(port, 5000)
    try {
      const t0 = performance.now()
      const r = await waitForFirstAck({ port, panels, index: 0, key: undefined, t0, timeoutMs: 1000, everyMs: 100 })
      expect(r.seconds).toBeUndefined()
      expect(r.reason).toBe('no answer within 1 s')
      expect(r.waitedSeconds).toBeGreaterThanOrEqual(1)
      expect(r.waitedSeconds).toBeLessThan(3)
    } finally {
      await panels.close()
      silent.close()
    }
  })

  it('times the first ACK, not the first datagram heard', async () => {
    const server = createSocket('udp4')
    await new Promise<void>((r) => server.bind(0, '127.0.0.1', () => r()))
    const port = server.address().port
    const t0 = performance.now()
    // Ready after 600 ms: datagrams before that go unanswered, as to a receiver still starting.
    server.on('message', (m, from) => {
      if (performance.now() - t0 < 600) return
      server.send(serializeAck(readHeader(m)!), from.port, from.address)
    })
    const panels = new UdpPanels(port, 5000)
    try {
      const r = await waitForFirstAck({ port, panels, index: 0, key: undefined, t0, timeoutMs: 5000, everyMs: 100 })
      expect(r.seconds).toBeGreaterThanOrEqual(0.6)
      expect(r.seconds).toBeLessThan(1.5)
    } finally {
      await panels.close()
      server.close()
    }
  })
})

describe('supervision lateness', () => {
  it('is each failure\'s receive time minus its last report plus the interval, and counts the missing and the unexpected', async () => {
    const dir = tmp()
    const j = await FileJournal.open<JournalRecord>(dir)
    const silent = [accountAt(2), accountAt(12), accountAt(22)]
    const failure = (account: string, receivedAt: number, lastSeen: number | null, interval = 30): JournalRecord => ({
      type: 'derived', receivedAt, kind: 'supervision-failure', account, stage: 'supervision', causedBy: 0, n: 0,
      data: { lastSeen: lastSeen === null ? null : new Date(lastSeen).toISOString(), intervalSeconds: interval },
    })
    const t = Date.parse('2026-01-01T00:00:00Z')
    await j.append(failure(silent[0]!, t + 30_250, t))
    await j.append(failure(silent[1]!, t + 31_000 + 900, t + 1000))
    // Due one interval after the pipeline's start, before its report: not a failure after the report.
    await j.append(failure(silent[2]!, t + 5000, null))
    // Not in the silent group: a failure nobody expected.
    await j.append(failure(accountAt(1), t + 90_000, t))
    await j.close()
    const r = await supervisionLateness(join(dir, 'journal'), plan, new Set(silent))
    expect(r).toMatchObject({ reported: 3, fired: 2, missing: 1, unexpected: 1, beforeReport: 1 })
    expect(r.latenessMs).toMatchObject({ n: 2, min: 250, max: 900 })
  })
})

describe('the verdicts', () => {
  const base: Omit<MillionResult, 'targets'> = {
    plan: makePlan({ accounts: 1_000_000, loadSeconds: 100, silent: 1000, silentIntervalSeconds: 30, silentSpreadSeconds: 40 }),
    aesAccounts: 500_000,
    accountsFileBytes: 0,
    import: { seconds: 45, exitCode: 0, output: '' },
    firstAck: { seconds: undefined, listeningSeconds: undefined, waitedSeconds: 180, reason: 'no answer within 180 s' },
    load: undefined,
    rss: { atFirstAckBytes: 0, maxDuringLoadBytes: 0, maxBytes: 3e9, samples: 180 },
    timeline: [],
    longestStallSeconds: 0,
    supervision: undefined,
    dataBytes: 0,
    receiverLog: undefined,
  }

  it('say "not met: no answer within N s" when the receiver never answered, and measure nothing after', () => {
    const v = verdicts(base)
    expect(v.map((x) => x.verdict)).toEqual(['met', 'not met: no answer within 180 s', 'not measured: no answer, so no load', 'not measured: no answer, so no load'])
  })

  it('hold the import of fewer accounts to the target scaled down', () => {
    const small = { ...base, plan: makePlan({ accounts: 100_000, loadSeconds: 100, silent: 1000, silentIntervalSeconds: 30, silentSpreadSeconds: 40 }) }
    expect(verdicts({ ...small, import: { seconds: 5.9, exitCode: 0, output: '' } })[0]!.verdict).toBe('met')
    expect(verdicts({ ...small, import: { seconds: 6.1, exitCode: 0, output: '' } })[0]!.verdict).toBe('not met')
  })

  it('fail the memory target when the receiver ended by itself during the load, whatever its last RSS', () => {
    const load = { sent: 10, acknowledged: 5, nak: 0, duh: 0, flawed: 0, unanswered: 5, retries: 0, stray: 0, seconds: 100, framesPerSecond: 0, latencyMs: { n: 5, min: 1, p50: 1, p99: 1, max: 1 } }
    const ran = { ...base, firstAck: { seconds: 2, listeningSeconds: 1, waitedSeconds: 2 }, load, rss: { atFirstAckBytes: 1e8, maxDuringLoadBytes: 2e8, maxBytes: 2e8, samples: 100 } }
    expect(verdicts(ran)[2]!.verdict).toBe('met, but not every frame was acknowledged')
    expect(verdicts({ ...ran, receiverExit: { code: null, signal: 'SIGABRT', seconds: 61.2 } })[2]!.verdict).toBe('not met: the receiver exited 61 s after its start')
  })

  it('fail the supervision target on a failure that never fired or one that fired early', () => {
    const done = { ...base, firstAck: { seconds: 2, listeningSeconds: 1, waitedSeconds: 2 } }
    const sup = (missing: number, min: number) => ({ accounts: 1000, intervalSeconds: 30, reported: 1000, fired: 1000 - missing, missing, beforeReport: 0, unexpected: 0, latenessMs: { n: 1000, min, p50: 100, p99: 300, max: 400 } })
    expect(verdicts({ ...done, supervision: sup(0, 5) })[3]!.verdict).toBe('met')
    expect(verdicts({ ...done, supervision: sup(3, 5) })[3]!.verdict).toBe('not met: 3 of 1000 never fired')
    expect(verdicts({ ...done, supervision: sup(0, -20) })[3]!.verdict).toBe('not met: fired before due')
  })
})

describe('helpers', () => {
  it('finds the longest stall: load seconds with frames waiting and no new answer', () => {
    expect(longestStall([
      [1, 100, 0, 0, 0], [2, 100, 0, 0, 0], [3, 100, 0, 0, 0], // starting: no load yet
      [4, 100, 10, 2, 1], [5, 100, 10, 5, 1], [6, 100, 10, 9, 1], [7, 100, 20, 1, 1], // 2 s without an answer
      [8, 100, 30, 0, 1], [9, 100, 30, 0, 1], // nothing waiting: no stall
      [10, 100, 30, 4, 1], [11, 100, 31, 4, 1],
    ])).toBe(2)
  })

  it('quantiles by nearest rank', () => {
    expect(quantiles([5, 1, 3, 2, 4])).toEqual({ n: 5, min: 1, p50: 3, p99: 5, max: 5 })
    expect(quantiles([]).n).toBe(0)
  })

  it('sums up the receiver log by level and message, with the time of the first of each', () => {
    const at = Date.parse('2026-01-01T00:00:00Z')
    const s = summarizeLog([
      JSON.stringify({ level: 30, time: '2026-01-01T00:00:02.000Z', msg: 'listening' }),
      JSON.stringify({ level: 40, time: '2026-01-01T00:00:03.000Z', msg: 'slow' }),
      JSON.stringify({ level: 40, time: '2026-01-01T00:00:04.000Z', msg: 'slow' }),
      'FATAL ERROR: Reached heap limit',
    ].join('\n'), at)
    expect(s.byLevel).toEqual({ info: 1, warn: 2 })
    expect(s.messages).toContainEqual({ level: 'warn', msg: 'slow', count: 2, firstMs: 3000 })
    expect(s.other).toEqual(['FATAL ERROR: Reached heap limit'])
  })
})
