/**
 * The keep-up case: does the pipeline keep up with the receiver? 100 AES-128 panels in ping-pong
 * (the receiver's ACK path sets the rate: as fast as it acknowledges), every other frame of a panel
 * a burglary alarm that opens a case and the next one a cancel that closes it again. Meanwhile
 * `GET /metrics` is read every 250 ms, from the first frame sent until the pipeline has caught up
 * after the last: its lag in journaled events (and in seconds, when the receiver reports it). The
 * HTTP interface listens on a port picked free beforehand. Afterwards the
 * journal gives the alarm-to-case latency: each `case-opened` record's time minus the time of the
 * frame that caused it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readJournal } from '../../src/journal/file-journal.js'
import type { JournalRecord } from '../../src/journal/record.js'
import { makeFleet } from '../../src/sim/fleet.js'
import { freePort, runClient, startReceiver, stop, type E2eRun } from './receiver.js'

export interface LagFigures {
  readonly p99: number
  readonly max: number
}

export interface KeepUpResult {
  readonly seconds: number
  readonly load: E2eRun
  /** Lag sampled from the first frame until caught up (or the wait is over), in events; in seconds when the receiver reports it. */
  readonly lagEvents: LagFigures
  readonly lagSeconds: LagFigures | undefined
  readonly samples: number
  /** From the end of the load until the lag was 0; undefined if not within the wait. */
  readonly catchUpSeconds: number | undefined
  readonly waitedSeconds: number
  readonly alarms: number
  readonly casesOpened: number
  /** Alarm frame received to its `case-opened` journaled, ms. */
  readonly alarmToCaseMs: { readonly p50: number, readonly p99: number, readonly max: number } | undefined
}

const PANELS = 100
/**
 * Every other frame an alarm (and the next its cancel): a case opened and closed per two frames,
 * as when panels flush their buffers after an outage. The pipeline makes two events for every two
 * frames, the heaviest load for it.
 */
const ALARM_EVERY = 2
const SAMPLE_MS = 250

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export interface LagSample { readonly events: number, readonly seconds: number | undefined }

/** The pipeline's lag in a Prometheus text: in events, and in seconds when the receiver reports it. */
export function readLag (text: string): LagSample | undefined {
  const gauge = (name: string): number | undefined => {
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
    return m === null ? undefined : Number(m[1])
  }
  const events = gauge('dc09_pipeline_lag_events')
  return events === undefined ? undefined : { events, seconds: gauge('dc09_pipeline_lag_seconds') }
}

async function scrape (apiPort: number): Promise<LagSample | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/metrics`, { signal: AbortSignal.timeout(5000) })
    return readLag(await res.text())
  } catch {
    return undefined
  }
}

/** The p-th percentile (0-100) of the values, nearest rank. */
function percentile (xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0
}

function lag (xs: readonly number[]): LagFigures {
  return { p99: percentile(xs, 99), max: xs.reduce((m, x) => Math.max(m, x), 0) }
}

export async function runKeepUp (opts: { quick: boolean, log: (s: string) => void, seconds?: number, cli?: string | undefined }): Promise<KeepUpResult> {
  const seconds = opts.seconds ?? (opts.quick ? 2 : 60)
  const waitSeconds = opts.quick ? 20 : 120
  const dir = mkdtempSync(join(tmpdir(), 'dc09-keepup-'))
  try {
    const fleet = makeFleet(PANELS, 'hex', 200000)
    writeFileSync(join(dir, 'aes.json'), JSON.stringify(fleet))
    const apiPort = await freePort()
    const receiver = await startReceiver(dir, [fleet], 'receiver.log', { apiPort, cli: opts.cli })
    let load: E2eRun
    // From the first frame sent until the pipeline has caught up after the last.
    const samples: LagSample[] = []
    let catchUpSeconds: number | undefined
    let waited = 0
    try {
      let loading = true
      let sampler: Promise<void> | undefined
      const sample = async () => {
        for (let next = performance.now(); loading; next += SAMPLE_MS) {
          const s = await scrape(apiPort)
          if (s !== undefined && loading) samples.push(s)
          await sleep(Math.max(0, next + SAMPLE_MS - performance.now()))
        }
      }
      try {
        load = await runClient(['--proto', 'tcp', '--panels', String(PANELS), '--accounts', join(dir, 'aes.json'), '--duration', String(seconds), '--ack-timeout', '5000', '--alarm-every', String(ALARM_EVERY), '--port', String(receiver.port)], receiver.child, () => { sampler = sample() })
      } finally {
        loading = false
        await sampler
      }
      // After the load: until the pipeline has run every journaled event.
      const end = performance.now()
      for (let next = end; (waited = (performance.now() - end) / 1000) < waitSeconds; next += SAMPLE_MS) {
        const s = await scrape(apiPort)
        if (s !== undefined) samples.push(s)
        if (s?.events === 0) {
          catchUpSeconds = waited
          break
        }
        await sleep(Math.max(0, next + SAMPLE_MS - performance.now()))
      }
    } finally {
      await stop(receiver.child)
    }
    const latencies = await alarmToCase(join(dir, 'data', 'journal'))
    const secs = samples.map((s) => s.seconds).filter((s): s is number => s !== undefined)
    const result: KeepUpResult = {
      seconds,
      load,
      lagEvents: lag(samples.map((s) => s.events)),
      lagSeconds: secs.length === 0 ? undefined : lag(secs),
      samples: samples.length,
      catchUpSeconds: catchUpSeconds === undefined ? undefined : Math.round(catchUpSeconds * 100) / 100,
      waitedSeconds: Math.round(waited * 10) / 10,
      alarms: load.alarms,
      casesOpened: latencies.length,
      alarmToCaseMs: latencies.length === 0 ? undefined : { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: lag(latencies).max },
    }
    opts.log(`keep-up: ${load.framesPerSecond}/s (failed ${load.failed}); lag p99 ${result.lagEvents.p99} events` +
      `${result.lagSeconds === undefined ? '' : ` / ${result.lagSeconds.p99} s`}, max ${result.lagEvents.max}; caught up ` +
      `${result.catchUpSeconds === undefined ? `not within ${result.waitedSeconds} s` : `in ${result.catchUpSeconds} s`}; ` +
      `${result.casesOpened} cases for ${result.alarms} alarms, alarm to case p50 ${result.alarmToCaseMs?.p50} ms, p99 ${result.alarmToCaseMs?.p99} ms`)
    return result
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** For each `case-opened` in the journal, its time minus that of the frame that caused it (ms). */
export async function alarmToCase (journal: string): Promise<number[]> {
  const received = new Map<number, number>()
  const out: number[] = []
  for await (const r of readJournal<JournalRecord>(journal)) {
    if (r.type === 'frame') received.set(r.id, r.receivedAt)
    else if (r.kind === 'case-opened') {
      const at = received.get(r.causedBy)
      if (at !== undefined) out.push(r.receivedAt - at)
    }
  }
  return out
}
