/**
 * The flood case: what one plain account (its number is its only credential) can make the
 * receiver keep. Thousands of plain SIA-DCS frames of about 1.7 KB, each a block of 64 events
 * whose modifiers change from event to event, go to one account over a few TCP connections to
 * 127.0.0.1, with the frame-rate limits raised out of the way (this measures the byte bounds of
 * memory and journal, not the limiter). Reported: the receiver's RSS growth, and journal bytes
 * per wire byte; then the journal bytes per frame for ordinary Contact ID frames.
 */
import { randomBytes } from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteAccountStore } from '../../src/accounts/sqlite-store.js'
import { formatSia, FrameSplitter, serializeFrame } from '../../src/protocol/index.js'
import { freePort, RATE_LIMITS_OUT_OF_THE_WAY, waitForPort } from './receiver.js'

const CLI = new URL('../../src/cli/main.js', import.meta.url).pathname

export interface FloodResult {
  readonly frames: number
  readonly acknowledged: number
  /** Frames answered otherwise (NAK) or not at all. */
  readonly refused: number
  readonly seconds: number
  readonly frameBytes: number
  readonly wireBytes: number
  readonly idleRssBytes: number
  readonly peakRssBytes: number
  readonly journalBytes: number
  readonly cidFrames: number
  readonly cidJournalBytesPerFrame: number
  readonly cidWireBytesPerFrame: number
}

const ACCOUNT = '7777'
const CID_ACCOUNT = '7778'
const EVENTS_PER_BLOCK = 64
const CODES = ['BA', 'BR', 'TA', 'TR', 'FA', 'FR', 'PA', 'OP', 'CL', 'YT']

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** A block of 64 events, each with its own area, user and time modifiers and a zone text: about 1.7 KB on the wire. */
export function floodFrame (seq: number, account = ACCOUNT): Buffer {
  const events = Array.from({ length: EVENTS_PER_BLOCK }, (_, i) => ({
    modifiers: { ri: String(1 + (i % 8)).padStart(2, '0'), id: String((seq * 7 + i) % 1000).padStart(3, '0') },
    code: CODES[i % CODES.length]!,
    number: String(1 + i).padStart(3, '0'),
    text: `Zone ${String(i).padStart(2, '0')}`,
  }))
  return serializeFrame({ token: 'SIA-DCS', seq: (seq % 9999) + 1, lpref: '0', acct: account, data: formatSia({ account, events }) })
}

function cidFrame (seq: number): Buffer {
  return serializeFrame({ token: 'ADM-CID', seq: (seq % 9999) + 1, lpref: '0', acct: CID_ACCOUNT, data: `#${CID_ACCOUNT}|1130 01 ${String(seq % 1000).padStart(3, '0')}` })
}

function rss (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? 0 : Number(m[1]) * 1024
}

function journalBytes (data: string): number {
  const dir = join(data, 'journal')
  let n = 0
  for (const f of readdirSync(dir)) if (f.endsWith('.log')) n += statSync(join(dir, f)).size
  return n
}

/**
 * Sends `count` frames made by `make` over `connections` TCP connections, each keeping up to
 * `window` frames unanswered; gives up after `timeoutMs`. Resolves with the answers counted.
 */
async function send (port: number, count: number, make: (i: number) => Buffer, connections: number, window: number, timeoutMs: number): Promise<{ acked: number, other: number, wire: number }> {
  let next = 0
  let acked = 0
  let other = 0
  let wire = 0
  const deadline = Date.now() + timeoutMs
  const one = (): Promise<void> => new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true })
    let inFlight = 0
    const timer = setTimeout(() => s.destroy(), Math.max(1, deadline - Date.now()))
    const fill = (): void => {
      while (inFlight < window && next < count) {
        const f = make(next++)
        wire += f.length
        inFlight++
        s.write(f)
      }
      if (inFlight === 0) s.end()
    }
    const splitter = new FrameSplitter({
      frame: (a) => {
        if (a.includes('"ACK"')) acked++
        else other++
        inFlight--
        fill()
      },
      error: () => {},
    })
    s.on('connect', fill)
    s.on('data', (c: Buffer) => splitter.push(c))
    s.on('error', () => {})
    s.on('close', () => { clearTimeout(timer); resolve() })
  })
  await Promise.all(Array.from({ length: connections }, one))
  return { acked, other: other + (count - acked - other), wire }
}

/** `accounts`: spread the flood over that many accounts (default one: the case as reported), to see the recent-events budget at work. */
export async function runFlood (opts: { quick: boolean, log: (s: string) => void, frames?: number, accounts?: number }): Promise<FloodResult> {
  const frames = opts.frames ?? (opts.quick ? 2_000 : 9_000)
  const cidFrames = opts.quick ? 500 : 2_000
  const dir = mkdtempSync(join(tmpdir(), 'dc09-flood-'))
  const data = join(dir, 'data')
  let child: ChildProcess | undefined
  try {
    const store = new SqliteAccountStore(data)
    const accounts = Array.from({ length: opts.accounts ?? 1 }, (_, i) => i === 0 ? ACCOUNT : (100000 + i).toString())
    for (const account of accounts) store.add({ account })
    store.add({ account: CID_ACCOUNT })
    store.close()
    // The frame-rate limits out of the way: this case measures what is kept, not the limiter.
    writeFileSync(join(dir, 'limits.json'), JSON.stringify({ ...RATE_LIMITS_OUT_OF_THE_WAY }))
    writeFileSync(join(dir, 'pepper'), randomBytes(32), { mode: 0o600 })
    const port = await freePort()
    const logFd = openSync(join(dir, 'receiver.log'), 'a')
    child = spawn(process.execPath, [CLI, 'serve', '--data', data, '--port', String(port), '--api-port', '0', '--config', join(dir, 'limits.json'), '--pepper-file', join(dir, 'pepper')], { stdio: ['ignore', logFd, logFd] })
    await waitForPort(port, child)
    await sleep(1000)
    const pid = child.pid!
    const idle = rss(pid)
    const journalBefore = journalBytes(data)
    let peak = idle
    const sampler = setInterval(() => { peak = Math.max(peak, rss(pid)) }, 100)
    const t0 = performance.now()
    const r = await send(port, frames, (i) => floodFrame(i, accounts[i % accounts.length]), 4, 16, 120_000)
    const seconds = (performance.now() - t0) / 1000
    // The pipeline catches up after the last ACK: keep sampling a moment longer.
    await sleep(2000)
    clearInterval(sampler)
    peak = Math.max(peak, rss(pid))
    const journal = journalBytes(data) - journalBefore
    const beforeCid = journalBytes(data)
    const c = await send(port, cidFrames, cidFrame, 2, 8, 60_000)
    const cidJournal = journalBytes(data) - beforeCid
    const result: FloodResult = {
      frames,
      acknowledged: r.acked,
      refused: r.other,
      seconds,
      frameBytes: Math.round(r.wire / frames),
      wireBytes: r.wire,
      idleRssBytes: idle,
      peakRssBytes: peak,
      journalBytes: journal,
      cidFrames: c.acked,
      cidJournalBytesPerFrame: c.acked === 0 ? 0 : Math.round(cidJournal / c.acked),
      cidWireBytesPerFrame: Math.round(c.wire / cidFrames),
    }
    opts.log(`flood: ${frames} frames of ${result.frameBytes} B to ${accounts.length === 1 ? 'one account' : `${accounts.length} accounts`} in ${seconds.toFixed(1)} s (${r.acked} acknowledged); ` +
      `receiver RSS ${(idle / 2 ** 20).toFixed(0)} -> ${(peak / 2 ** 20).toFixed(0)} MiB (+${((peak - idle) / 2 ** 20).toFixed(0)}); ` +
      `journal ${(journal / 2 ** 20).toFixed(1)} MiB for ${(r.wire / 2 ** 20).toFixed(1)} MiB on the wire (${(journal / r.wire).toFixed(2)}x); ` +
      `Contact ID: ${result.cidJournalBytesPerFrame} journal bytes per frame of ${result.cidWireBytesPerFrame} B`)
    return result
  } finally {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise<void>((r) => child!.once('exit', () => r()))
      child.kill('SIGTERM')
      await Promise.race([exited, sleep(20_000).then(() => { child!.kill('SIGKILL') })])
    }
    rmSync(dir, { recursive: true, force: true })
  }
}
