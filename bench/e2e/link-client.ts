/**
 * A light client for the connections benchmark: many idle TCP panel connections from one
 * process, far cheaper than the simulator's (one socket and a few numbers each, one shared data
 * handler, one timer for all). Connection `i` comes from its own source address in 127.0.0.0/8
 * (one address has only about 28k ephemeral ports) on account `first + i`, sends a plain NULL
 * link test at once and then every `intervalMs` (spread over the interval), and checks each
 * answer by its first bytes (`"ACK"` after the CRC and length).
 *
 * Run as `node link-client.js JSON`, with JSON `{ port, count, first, intervalMs, concurrency }`.
 * Prints one JSON line when every connection is open (or failed) and its first link test is
 * answered (or `answerTimeoutMs` passed), and another for each `status` line read on stdin.
 */
import { connect, type Socket } from 'node:net'
import { createInterface } from 'node:readline'
import { serializeFrame } from '../../src/protocol/index.js'

export interface ClientConfig {
  readonly port: number
  readonly count: number
  readonly first: number
  readonly intervalMs: number
  /** Connections being opened at once. */
  readonly concurrency: number
  /** How long the first round of link tests may wait for its answers. */
  readonly answerTimeoutMs: number
}

export interface ClientStatus {
  /** Connections open now. */
  readonly open: number
  /** Connections that could not be opened. */
  readonly failed: number
  /** Connections closed after they were open (by the receiver or an error). */
  readonly closed: number
  /** Connections whose first link test was acknowledged. */
  readonly acknowledged: number
  /** Link tests sent, and answers that were ACKs and answers that were not. */
  readonly sent: number
  readonly acks: number
  readonly otherAnswers: number
  /** From the first connect to the last connection open (or failed). */
  readonly connectMs: number
  /** The first error seen, if any (e.g. EMFILE when the file limit is too low). */
  readonly firstError: string | undefined
  /** The process's own memory, for the record. */
  readonly rssBytes: number
}

/** One connection: its socket, account and state, nothing else. */
interface Line {
  socket: Socket | undefined
  readonly account: string
  acknowledged: boolean
}

const QUOTE = 0x22
const ACK = Buffer.from('"ACK"', 'latin1')

/** Connection `i`'s source address: 127.1.0.1 upward, one each, never an address ending in 0 or 255. */
export function sourceAddress (i: number): string {
  const hosts = 254
  const n = Math.floor(i / hosts)
  return `127.${1 + ((n >> 8) & 0x7f)}.${n & 0xff}.${1 + (i % hosts)}`
}

/** Whether an answer is a plain ACK: LF, 4 CRC and 4 length characters, then `"ACK"`. */
export function isAck (chunk: Buffer): boolean {
  return chunk.length >= 14 && chunk[0] === 0x0a && chunk[9] === QUOTE && chunk.compare(ACK, 0, 5, 9, 14) === 0
}

function linkTest (account: string): Buffer {
  return serializeFrame({ token: 'NULL', seq: 0, lpref: '0', acct: account, data: '', timestamp: Date.now() })
}

export async function runClient (cfg: ClientConfig, report: (s: ClientStatus) => void, statusRequests: AsyncIterable<string>): Promise<void> {
  const lines: Line[] = Array.from({ length: cfg.count }, (_, i) => ({ socket: undefined, account: String(cfg.first + i), acknowledged: false }))
  let open = 0
  let failed = 0
  let closed = 0
  let sent = 0
  let acks = 0
  let other = 0
  let acknowledged = 0
  let firstError: string | undefined
  let connectMs = 0
  const t0 = performance.now()
  const status = (): ClientStatus => ({ open, failed, closed, acknowledged, sent, acks, otherAnswers: other, connectMs, firstError, rssBytes: process.memoryUsage.rss() })

  // One handler for all: a link test's answer comes in one segment on loopback.
  function onData (this: Socket & { line?: Line }, chunk: Buffer): void {
    if (!isAck(chunk)) { other++; return }
    acks++
    const line = this.line
    if (line !== undefined && !line.acknowledged) {
      line.acknowledged = true
      acknowledged++
    }
  }
  function send (line: Line): void {
    if (line.socket === undefined || line.socket.destroyed) return
    line.socket.write(linkTest(line.account))
    sent++
  }

  // Opens them `concurrency` at a time.
  let next = 0
  await new Promise<void>((resolve) => {
    let active = 0
    const start = (): void => {
      while (active < cfg.concurrency && next < cfg.count) {
        const i = next++
        const line = lines[i]!
        active++
        const s = connect({ host: '127.0.0.1', port: cfg.port, localAddress: sourceAddress(i), noDelay: true }) as Socket & { line?: Line }
        s.line = line
        let up = false
        s.on('error', (err) => {
          firstError ??= err.message
          if (!up) { failed++; active--; done() }
        })
        s.on('close', () => {
          line.socket = undefined
          if (up) { open--; closed++ }
        })
        s.once('connect', () => {
          up = true
          open++
          active--
          line.socket = s
          s.on('data', onData)
          send(line)
          done()
        })
      }
    }
    const done = (): void => {
      if (next >= cfg.count && active === 0) {
        connectMs = performance.now() - t0
        resolve()
      } else {
        start()
      }
    }
    start()
    if (cfg.count === 0) done()
  })

  // Every connection sends its next link test intervalMs after the last, spread over the interval.
  const tickMs = 100
  const perTick = Math.max(1, Math.ceil(cfg.count / (cfg.intervalMs / tickMs)))
  let turn = 0
  if (cfg.count > 0) {
    // The round starts an interval after the first connection: each sends about an interval after its first.
    setTimeout(() => setInterval(() => {
      for (let k = 0; k < perTick; k++) {
        send(lines[turn]!)
        turn = (turn + 1) % cfg.count
      }
    }, tickMs), Math.max(0, cfg.intervalMs - (performance.now() - t0)))
  }

  const deadline = Date.now() + cfg.answerTimeoutMs
  while (acknowledged < open && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  report(status())
  for await (const l of statusRequests) if (l.trim() === 'status') report(status())
  process.exit(0)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ClientConfig
  await runClient(cfg, (s) => process.stdout.write(JSON.stringify(s) + '\n'), createInterface({ input: process.stdin }))
}
