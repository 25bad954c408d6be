/**
 * `dc09 send`: sends frames to a receiver and shows each answer, checked as a panel checks it.
 * Lines on stdin are either whole frames (C-escaped, as `dc09 decode` reads them) or, with
 * `--account`, events to frame now: `ADM-CID 1130 01 015`, `SIA-DCS Nri1/BA01`, `NULL`.
 * Built frames carry the current time, the next sequence number, and are encrypted when a key
 * is given. For one panel by hand; `dc09 simulate` drives many.
 */
import { createSocket } from 'node:dgram'
import { createInterface } from 'node:readline'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { connect, isIPv6, type Socket } from 'node:net'
import {
  FrameSplitter, checkAnswer, decodeFrame, parseFrame, serializeFrame, wholeFrame,
  type AesKey, type FrameHeader, type KeyFormat,
} from '../../protocol/index.js'
import { dedupeKey } from '../../receiver/dedupe.js'
import type { CliDeps } from '../deps.js'
import { escapeFrame, unescapeFrame } from '../escape.js'
import { loadKey, parseCount, parsePort } from '../options.js'

export interface SendOptions {
  readonly host: string
  readonly port: number
  readonly udp: boolean
  readonly timeoutMs: number
  readonly account?: string | undefined
  readonly key?: AesKey | undefined
  readonly prefix?: string | undefined
  readonly receiver?: string | undefined
  readonly seq: number
  /** The numbers follow the clock (no --seq given): see nextSeq. */
  readonly followClock?: boolean | undefined
}

/**
 * The default first sequence number: tenths of a second since 1970, modulo 9999, plus one. It
 * is never 0000 (link tests), and comes round again only after 16 min 40 s, longer than a
 * receiver's duplicate window (10 minutes by default): an event sent again in a later run is
 * taken as a new event, not as a retransmission of the earlier one.
 */
export function clockSeq (now: number): number {
  return Math.floor(now / 100) % 9999 + 1
}

/**
 * The number after `prev`. Following the clock, it is the clock's number when that is ahead of
 * `prev` (within half the cycle), else `prev + 1`: a run that sends faster than ten frames a
 * second counts on past the clock, and a later run starts from the clock again, so it does not
 * reuse the numbers of an earlier run's last frames (unless that run outran the clock by more
 * than the time between the two runs).
 */
export function nextSeq (prev: number, followClock: boolean, now: number): number {
  const next = prev >= 9999 ? 1 : prev + 1
  if (!followClock) return next
  const clock = clockSeq(now)
  const ahead = (clock - prev + 9999) % 9999
  return ahead > 0 && ahead < 5000 ? clock : next
}

/** An ACK is the same for a new event and for a copy the receiver journaled before. */
const REPEAT_NOTE = 'a receiver acknowledges a copy it took within its duplicate window without journaling it again, and its ACK does not say which'

/** What a receiver takes for the same event (see its duplicate window); undefined for link tests. */
function eventIdentity (frame: Buffer, key: AesKey | undefined): string | undefined {
  const d = decodeFrame(frame, { profile: { key, requireEncryption: false, window: null } })
  if (d.ok) return dedupeKey(d.value)
  // Unreadable here (encrypted, no key): the same bytes are the same event.
  return frame.toString('latin1')
}

type Built = { readonly ok: true, readonly frame: Buffer, readonly header: FrameHeader } | { readonly ok: false, readonly reason: string }

/** One input line to the frame to send. */
export function buildLine (line: string, o: SendOptions, seq: number, now: number): Built {
  let frame: Buffer
  if (o.account === undefined) {
    const u = unescapeFrame(line)
    if (!u.ok) return { ok: false, reason: u.reason }
    const w = wholeFrame(u.value[0] === 0x0a ? u.value : Buffer.concat([Buffer.from([0x0a]), u.value, Buffer.from([0x0d])]))
    if (!w.ok) return { ok: false, reason: `${w.code}: ${w.reason}` }
    frame = w.value
  } else {
    const m = /^\s*(ADM-CID|SIA-DCS|NULL)\s*(.*)$/i.exec(line)
    if (m === null) return { ok: false, reason: 'expected ADM-CID <QEEE GG CCC>, SIA-DCS <block>, or NULL' }
    const token = m[1]!.toUpperCase()
    const body = m[2]!.trim()
    const data = token === 'NULL' ? '' : `#${o.account}|${body}`
    frame = serializeFrame({
      token, encrypted: o.key !== undefined, seq, rcvr: o.receiver, lpref: o.prefix, acct: o.account, data, timestamp: now,
    }, { key: o.key })
  }
  const p = parseFrame(frame)
  if (!p.ok) return { ok: false, reason: `${p.code}: ${p.reason}` }
  return { ok: true, frame, header: p.value }
}

/** Sends each line's frame and waits for its answer; resolves with whether every frame was acknowledged. */
export async function runSend (lines: AsyncIterable<string>, o: SendOptions, write: (s: string) => void): Promise<boolean> {
  // Take the iterator before awaiting anything: readline's buffers only from then on, and
  // lines read while the connection opens would be lost.
  const input = lines[Symbol.asyncIterator]()
  const link = o.udp ? udpLink(o) : await tcpLink(o)
  let seq = o.seq
  let allAcked = true
  // Each event sent in this run, with the input line it came from.
  const sent = new Map<string, number>()
  let lineNo = 0
  try {
    for (let next = await input.next(); next.done !== true; next = await input.next()) {
      const line = next.value
      lineNo++
      if (line.trim() === '') continue
      const built = buildLine(line.replace(/[\r\n]+$/, ''), o, seq, Date.now())
      if (!built.ok) {
        write(JSON.stringify({ ok: false, error: built.reason, line }) + '\n')
        allAcked = false
        continue
      }
      seq = nextSeq(seq, o.followClock === true, Date.now())
      const identity = eventIdentity(built.frame, o.key)
      const repeatOf = identity === undefined ? undefined : sent.get(identity)
      if (identity !== undefined && repeatOf === undefined) sent.set(identity, lineNo)
      const repeat = repeatOf === undefined ? {} : { repeatOf, note: `the same event and sequence number as line ${repeatOf}: ${REPEAT_NOTE}` }
      const t0 = performance.now()
      const answer = await link.exchange(built.frame, o.timeoutMs)
      const ms = Math.round((performance.now() - t0) * 10) / 10
      if (answer === null) {
        write(JSON.stringify({ ok: false, sent: escapeFrame(built.frame), error: `no answer within ${o.timeoutMs} ms` }) + '\n')
        allAcked = false
        continue
      }
      const c = checkAnswer(answer, built.header, o.key)
      const ok = c.token === 'ACK' && c.problems.length === 0
      allAcked &&= ok
      write(JSON.stringify({
        ok, sent: escapeFrame(built.frame), answer: escapeFrame(answer), token: c.token, problems: c.problems,
        ...(c.receiverTime === undefined ? {} : { receiverTime: new Date(c.receiverTime).toISOString() }), ms, ...repeat,
      }) + '\n')
    }
  } finally {
    link.close()
  }
  return allAcked
}

interface Link {
  exchange (frame: Buffer, timeoutMs: number): Promise<Buffer | null>
  close (): void
}

async function tcpLink (o: SendOptions): Promise<Link> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host: o.host, port: o.port, noDelay: true }, () => { s.off('error', reject); resolve(s) })
    s.once('error', reject)
  })
  const answers: Buffer[] = []
  let waiter: (() => void) | undefined
  const splitter = new FrameSplitter({ frame: (f) => { answers.push(f); waiter?.() }, error: () => {} })
  socket.on('data', (chunk: Buffer) => splitter.push(chunk))
  socket.on('error', () => {})
  return {
    async exchange (frame, timeoutMs) {
      answers.length = 0
      socket.write(frame)
      if (answers.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs)
          waiter = () => { clearTimeout(timer); resolve() }
        })
        waiter = undefined
      }
      return answers.shift() ?? null
    },
    close () { socket.end() },
  }
}

function udpLink (o: SendOptions): Link {
  const socket = createSocket(isIPv6(o.host) ? 'udp6' : 'udp4')
  let pending: ((b: Buffer) => void) | undefined
  socket.on('message', (msg) => pending?.(msg))
  return {
    exchange (frame, timeoutMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => { pending = undefined; resolve(null) }, timeoutMs)
        pending = (b) => { clearTimeout(timer); pending = undefined; resolve(b) }
        socket.send(frame, o.port, o.host)
      })
    },
    close () { socket.close() },
  }
}

function parseSeq (text: string): number {
  const n = parseCount(text)
  if (n > 9999) throw new InvalidArgumentError('expected a sequence number from 0 to 9999')
  return n
}

const SEND_HELP = `
Sequence numbers: built frames are numbered from --seq on, one per line (9999
is followed by 0001). Without --seq the numbers follow the clock: tenths of a
second since 1970, modulo 9999, plus 1 (never 0000, which link tests use), or
the previous number plus 1 when frames go faster than ten a second. They come
round again only after 16 min 40 s, longer than a receiver's duplicate window
(10 minutes by default), so running the same send again is taken as new
events, not as retransmissions (unless a run outpaced the clock by more than
the time until the next run).

An ACK does not say whether the receiver journaled the event: it acknowledges
a copy of an event it took within its duplicate window (same account, sequence
number and content) without journaling it again. Whole frames from stdin keep
their own sequence numbers, so sending the same file twice within the window
journals its events once. When a line repeats an event this run already sent,
its output says so ("repeatOf": the earlier line).`

export function register (program: Command, deps: CliDeps): void {
  program.command('send')
    .description('send frames (C-escaped lines, or events with --account) to a receiver and check each answer')
    .option('--host <address>', 'receiver address', '127.0.0.1')
    .option('--port <port>', 'receiver port', parsePort, 9000)
    .option('--udp', 'send over UDP instead of TCP')
    .option('--timeout <ms>', 'how long to wait for each answer', parseCount, 5000)
    .option('--account <number>', 'build frames for this account from lines like "ADM-CID 1130 01 015", "SIA-DCS Nri1/BA01", "NULL"')
    .option('--key-file <file>', 'AES key to encrypt with (else the DC09_KEY environment variable)')
    .addOption(new Option('--key-format <format>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--prefix <hex>', 'account prefix (L) of built frames', '0')
    .option('--receiver <hex>', 'receiver number (R) of built frames')
    .addOption(new Option('--seq <n>', 'first sequence number of built frames, 0-9999').argParser(parseSeq).default(clockSeq(Date.now()), 'from the clock, see below'))
    .addHelpText('after', SEND_HELP)
    .action(async (o: { host: string, port: number, udp?: boolean, timeout: number, account?: string, keyFile?: string, keyFormat: KeyFormat, prefix: string, receiver?: string, seq: number }, cmd: Command) => {
      let key: AesKey | undefined
      try {
        key = o.account === undefined ? undefined : loadKey(o.keyFile, o.keyFormat, 'node')
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      const lines = createInterface({ input: deps.stdin, crlfDelay: Infinity })
      try {
        const ok = await runSend(lines, { host: o.host, port: o.port, udp: o.udp === true, timeoutMs: o.timeout, account: o.account, key, prefix: o.prefix, receiver: o.receiver, seq: o.seq, followClock: cmd.getOptionValueSource('seq') === 'default' }, deps.out)
        process.exitCode = ok ? 0 : 1
      } catch (err) {
        deps.err(`dc09 send: ${(err as Error).message}\n`)
        process.exitCode = 1
      }
    })
}
