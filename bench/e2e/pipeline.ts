/**
 * The pipeline case: how fast the pipeline runner works through a journal the receiver wrote.
 * Frames of a realistic mix (Contact ID 70%, SIA-DCS 20%, link tests 10%, alarms among them that
 * open cases) from a few thousand supervised accounts go through a real `Receiver` into a
 * FileJournal (group commit) in a temp directory, as `dc09 serve` would journal them. Then a
 * `PipelineRunner` with the default pipeline (classify, supervision, cases, jsonl) runs over them
 * from the start, in this process, and we report events run per second, CPU microseconds per
 * event and the process's RSS. Derived events (cases opened, ...) are journaled and run too:
 * they count as events.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { SqliteAccountStore } from '../../src/accounts/sqlite-store.js'
import { FileJournal } from '../../src/journal/file-journal.js'
import { DEFAULT_PIPELINE, loadPipeline } from '../../src/pipeline/loader.js'
import { PipelineRunner } from '../../src/pipeline/runner.js'
import { PipelineStore } from '../../src/pipeline/store.js'
import { serializeFrame } from '../../src/protocol/index.js'
import { defaultOptions } from '../../src/receiver/options.js'
import { Receiver } from '../../src/receiver/receiver.js'
import { journalJson, type JournalRecord } from '../../src/journal/record.js'
import { parseMix, randomEvent } from '../../src/sim/traffic.js'
import { RATE_LIMITS_OUT_OF_THE_WAY } from './receiver.js'

export interface PipelineResult {
  readonly accounts: number
  /** Frames the receiver journaled. */
  readonly frames: number
  /** Events the runner ran (frames and the events stages made). */
  readonly events: number
  readonly seconds: number
  /** The runner's start (before the first event): reading the journal for what a crash may have left, the stages' starts. */
  readonly startSeconds: number
  readonly eventsPerSecond: number
  /** CPU time (user + system) of the process per event run. */
  readonly cpuMicrosPerEvent: number
  readonly rssBytes: number
  readonly heapUsedBytes: number
  /** Cases opened, escalations, ... : what the stages journaled. */
  readonly derived: number
}

const FIRST = 300000

/** Journals `frames` frames of the mix through a Receiver, `concurrency` at a time (so that they commit in groups). */
async function writeFrames (dir: string, accounts: SqliteAccountStore, count: number, frames: number): Promise<number> {
  const journal = await FileJournal.open<JournalRecord>(join(dir, 'journal'), { toJson: journalJson as (r: never) => string })
  const receiver = new Receiver({ journal, accounts, logger: pino({ level: 'silent' }), options: { ...defaultOptions, ...RATE_LIMITS_OUT_OF_THE_WAY } })
  const mix = parseMix('cid=70,sia=20,null=10')
  const seqs = new Uint16Array(count)
  const meta = { transport: 'tcp', address: '127.0.0.1', peer: '127.0.0.1:40000' } as const
  let acked = 0
  const one = async (i: number): Promise<void> => {
    const a = i % count
    const ev = randomEvent(mix)
    seqs[a] = seqs[a]! >= 9999 ? 1 : seqs[a]! + 1
    const acct = String(FIRST + a)
    const bytes = serializeFrame({
      token: ev.token, encrypted: false, seq: ev.token === 'NULL' ? 0 : seqs[a]!, rcvr: undefined, lpref: '0', acct,
      data: ev.token === 'NULL' ? '' : `#${acct}|${ev.body}`, timestamp: Date.now(),
    })
    const answer = await receiver.handleFrame(bytes, meta)
    if (answer !== null && answer.includes('"ACK"')) acked++
  }
  for (let i = 0; i < frames; i += 500) {
    const wave: Array<Promise<void>> = []
    for (let j = i; j < Math.min(frames, i + 500); j++) wave.push(one(j))
    await Promise.all(wave)
  }
  await journal.close()
  return acked
}

export async function runPipelineBench (o: { quick: boolean, log: (s: string) => void, frames?: number, accounts?: number, keep?: string }): Promise<PipelineResult> {
  const dir = o.keep ?? mkdtempSync(join(tmpdir(), 'dc09-bench-pipeline-'))
  const count = o.accounts ?? (o.quick ? 500 : 2000)
  const frames = o.frames ?? (o.quick ? 5_000 : 200_000)
  try {
    const accounts = new SqliteAccountStore(join(dir, 'accounts'))
    for (let i = 0; i < count; i += 1000) {
      const chunk = Array.from({ length: Math.min(1000, count - i) }, (_, j) => ({ account: String(FIRST + i + j), prefix: '0', supervisionSeconds: 3600 }))
      const r = accounts.import(chunk)
      if (!r.ok) throw new Error(r.reason)
    }
    o.log(`pipeline: journaling ${frames} frames from ${count} accounts`)
    const acked = await writeFrames(dir, accounts, count, frames)
    if (acked !== frames) throw new Error(`only ${acked} of ${frames} frames were acknowledged`)

    const log = pino({ level: 'silent' })
    const journal = await FileJournal.open<JournalRecord>(join(dir, 'journal'), { toJson: journalJson as (r: never) => string })
    const store = new PipelineStore(join(dir, 'pipeline'))
    const stages = await loadPipeline(DEFAULT_PIPELINE, { accounts, isUser: () => true, dataDir: join(dir, 'pipeline'), log })
    const runner = new PipelineRunner({ journal, store, stages, log })
    o.log('pipeline: running')
    const s0 = performance.now()
    await runner.start()
    const startSeconds = (performance.now() - s0) / 1000
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    let rss = 0
    while (runner.cursor < journal.lastId) {
      await new Promise((r) => setTimeout(r, 50))
      rss = Math.max(rss, process.memoryUsage.rss())
    }
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    const events = runner.processed
    await runner.stop()
    const heapUsedBytes = process.memoryUsage().heapUsed
    store.close()
    await journal.close()
    accounts.close()
    return {
      accounts: count,
      frames,
      events,
      seconds: Math.round(seconds * 100) / 100,
      startSeconds: Math.round(startSeconds * 100) / 100,
      eventsPerSecond: Math.round(events / seconds),
      cpuMicrosPerEvent: Math.round(((cpu.user + cpu.system) / events) * 10) / 10,
      rssBytes: rss,
      heapUsedBytes,
      derived: events - frames,
    }
  } finally {
    if (o.keep === undefined) rmSync(dir, { recursive: true, force: true })
  }
}
