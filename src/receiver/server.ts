/**
 * `dc09 serve`'s listeners: TCP and UDP on the same port (a receiver that supports both tells
 * them apart by itself), the connection limits, the account refresh, and a
 * graceful shutdown that stops accepting, then commits and answers what is in flight.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram'
import { createServer, isIPv6, type Server, type Socket } from 'node:net'
import type { AccountStore } from '../accounts/account-store.js'
import type { Journal } from '../journal/journal.js'
import { readHeader, wholeFrame } from '../protocol/index.js'
import { Connection, type CloseReason } from './connection.js'
import { fileLimitWarning, openFileLimit } from './file-limit.js'
import { RateLimitedLog, type Logger } from '../log.js'
import { defaultOptions, type ReceiverOptions } from './options.js'
import { Receiver, type FrameMeta } from './receiver.js'
import type { JournalRecord } from '../journal/record.js'

export interface ListenOptions {
  readonly host: string
  /** 0: any free port (tests). */
  readonly port: number
  readonly tcp: boolean
  readonly udp: boolean
}

export interface ServerDeps {
  readonly journal: Journal<JournalRecord>
  readonly accounts: AccountStore
  readonly logger: Logger
  readonly options?: Partial<ReceiverOptions> | undefined
  readonly clock?: (() => number) | undefined
}

export class ReceiverServer {
  readonly receiver: Receiver
  readonly options: ReceiverOptions
  #port = 0
  #tcp: Server | undefined
  #udp: UdpSocket | undefined
  readonly #connections = new Set<Connection>()
  readonly #perAddress = new Map<string, number>()
  readonly #udpPending = new Set<Promise<unknown>>()
  readonly #udpBudget: PerSecondBudget
  readonly #log: Logger
  readonly #limitLog: RateLimitedLog
  #refresh: NodeJS.Timeout | undefined
  #closing = false

  private constructor (deps: ServerDeps) {
    this.options = { ...defaultOptions, ...deps.options }
    this.#log = deps.logger
    this.#limitLog = new RateLimitedLog(this.options.logWindowMs)
    this.#udpBudget = new PerSecondBudget(this.options.udpRejectionsPerSecond)
    this.receiver = new Receiver({ ...deps, options: this.options })
  }

  /** Rebuilds the duplicate window, then listens. */
  static async start (deps: ServerDeps, listen: ListenOptions): Promise<ReceiverServer> {
    const s = new ReceiverServer(deps)
    const files = fileLimitWarning(s.options.maxConnections, openFileLimit())
    if (files !== undefined) {
      s.#log.warn(files, `maxConnections is more than this process may keep open files for: past about ${files.connectionsThatFit} connections, accepting fails (EMFILE). Raise the limit on open files (systemd LimitNOFILE=, ulimit -n) or lower maxConnections`)
    }
    const rebuilt = await s.receiver.start()
    if (rebuilt > 0) s.#log.info({ events: rebuilt }, 'duplicate window rebuilt from the journal')
    deps.accounts.refresh()
    await s.#listen(listen)
    s.#refresh = setInterval(() => {
      try {
        const n = deps.accounts.refresh()
        if (n > 0) s.#log.info({ accounts: n }, 'account changes picked up')
      } catch (err) {
        s.#log.error({ err: (err as Error).message }, 'could not read account changes; will retry')
      }
    }, s.options.accountRefreshMs)
    s.#refresh.unref()
    return s
  }

  get port (): number {
    return this.#port
  }

  get connections (): number {
    return this.#connections.size
  }

  async #listen (l: ListenOptions): Promise<void> {
    if (!l.tcp && !l.udp) throw new Error('nothing to listen on: enable TCP, UDP or both')
    let port = l.port
    if (l.tcp) {
      // allowHalfOpen: a panel that shuts down its sending side after a frame still gets the answer;
      // each connection ends its own side once its answers are written.
      const tcp = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000, allowHalfOpen: true }, (socket) => this.#accept(socket))
      tcp.maxConnections = this.options.maxConnections
      tcp.on('drop', (d?: { remoteAddress?: string }) => {
        const t = this.#limitLog.take(`${d?.remoteAddress ?? '?'}|maxConnections`, Date.now())
        if (t.log) this.#log.warn({ peer: d?.remoteAddress, limit: this.options.maxConnections, ...(t.suppressed > 0 ? { suppressedSinceLast: t.suppressed } : {}) }, 'connection limit reached; refused')
      })
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject)
        tcp.listen(port, l.host, () => { tcp.off('error', reject); resolve() })
      })
      tcp.on('error', (err) => this.#log.error({ err: err.message }, 'TCP listener error'))
      port = (tcp.address() as { port: number }).port
      this.#tcp = tcp
    }
    if (l.udp) {
      const udp = createSocket({ type: isIPv6(l.host) ? 'udp6' : 'udp4', reuseAddr: false })
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject)
        udp.bind(port, l.host, () => { udp.off('error', reject); resolve() })
      })
      udp.on('error', (err) => this.#log.error({ err: err.message }, 'UDP socket error'))
      udp.on('message', (msg, rinfo) => this.#datagram(msg, rinfo))
      port = udp.address().port
      this.#udp = udp
    }
    this.#port = port
    this.#log.info({ host: l.host, port, tcp: l.tcp, udp: l.udp }, 'listening')
  }

  #accept (socket: Socket): void {
    const address = socket.remoteAddress ?? 'unknown'
    const peer = `${address}:${socket.remotePort ?? 0}`
    const fromHere = this.#perAddress.get(address) ?? 0
    if (this.#closing || fromHere >= this.options.maxConnectionsPerAddress) {
      const t = this.#limitLog.take(`${address}|maxConnectionsPerAddress`, Date.now())
      if (t.log && !this.#closing) this.#log.warn({ peer, limit: this.options.maxConnectionsPerAddress, ...(t.suppressed > 0 ? { suppressedSinceLast: t.suppressed } : {}) }, 'too many connections from one address; refused')
      socket.destroy()
      return
    }
    this.#perAddress.set(address, fromHere + 1)
    const conn = new Connection(socket, { transport: 'tcp', address, peer }, this.receiver, this.options, this.#log, this.#closed)
    this.#connections.add(conn)
    this.#log.info({ peer, connections: this.#connections.size }, 'connection opened')
  }

  /** One function for every connection's close (a closure each would cost every idle connection). */
  readonly #closed = (reason: CloseReason, conn: Connection): void => {
    const { address, peer } = conn.meta
    this.#connections.delete(conn)
    const left = (this.#perAddress.get(address) ?? 1) - 1
    if (left === 0) this.#perAddress.delete(address)
    else this.#perAddress.set(address, left)
    this.#log.info({ peer, reason, frames: conn.frames }, 'connection closed')
  }

  /** One frame per datagram; the answer goes to the datagram's source address and port. */
  #datagram (msg: Buffer, rinfo: RemoteInfo): void {
    // Port 0 cannot be answered (and is a spoofing favourite): nothing to do for it.
    if (this.#closing || rinfo.port === 0) return
    const meta = { transport: 'udp' as const, address: rinfo.address, peer: `${rinfo.address}:${rinfo.port}` }
    if (msg.length > this.options.udpMaxDatagram) {
      this.receiver.logLimited(meta, 'udpMaxDatagram', 'info', { bytes: msg.length, limit: this.options.udpMaxDatagram }, 'datagram too large; dropped')
      return
    }
    if (this.#udpPending.size >= this.options.maxUdpInFlight) {
      this.receiver.logLimited(meta, 'maxUdpInFlight', 'warn', { limit: this.options.maxUdpInFlight }, 'too many datagrams waiting for their commit; dropped (the panel retries)')
      return
    }
    const whole = wholeFrame(msg, { maxBodyBytes: this.options.maxBodyBytes, maxBufferedBytes: this.options.maxBufferedBytes })
    const answer = whole.ok ? this.receiver.handleFrame(whole.value, meta) : Promise.resolve(this.receiver.reject(whole, meta))
    const sent: Promise<void> = answer.then((bytes) => {
      if (bytes === null || this.#udp === undefined) return
      if (!isAck(bytes) && !this.#answerRefusal(msg, bytes, rinfo, meta)) return
      try {
        this.#udp.send(bytes, rinfo.port, rinfo.address, (err) => {
          if (err !== null && err !== undefined) this.receiver.logLimited(meta, 'udpSend', 'info', { err: err.message }, 'could not send an answer')
        })
      } catch (err) {
        this.receiver.logLimited(meta, 'udpSend', 'info', { err: (err as Error).message }, 'could not send an answer')
      }
    }).catch((err: unknown) => {
      this.#log.error({ peer: meta.peer, err: (err as Error).message }, 'bug: a datagram could not be handled')
    }).finally(() => this.#udpPending.delete(sent))
    this.#udpPending.add(sent)
  }

  /**
   * Whether a refusal (NAK, DUH) goes back over UDP, whose source addresses anyone can forge.
   * The refusal is already counted and logged; this only decides whether to answer it.
   * - No readable DC-09 header (noise, a foreign protocol, no `0LLL`, a CRC field that is not
   *   hex, a token, sequence or account that cannot be read): silence. Nothing shows a panel is
   *   there, and answering would let anyone aim the receiver at a forged source address.
   * - A readable header whose frame failed later (bad CRC or length, unknown account, wrong
   *   key, timestamp window, too many events...): the NAK or DUH the protocol asks for, since a
   *   panel that gets one retries at once (and a NAK sets its clock). Even then, never more
   *   bytes back than came in (no amplification), and at most udpRejectionsPerSecond to one
   *   address (a reflector at worst at the speed of a trickle).
   * ACKs are not held back by any of this: they answer a frame that passed every check.
   */
  #answerRefusal (msg: Buffer, answer: Buffer, rinfo: RemoteInfo, meta: FrameMeta): boolean {
    if (readHeader(msg) === undefined || answer.length > msg.length) {
      this.receiver.logLimited(meta, 'udpSilence', 'debug', { bytes: msg.length }, 'refusal not answered over UDP: no readable header, or the answer would be larger than the datagram')
      return false
    }
    return this.#udpBudget.take(rinfo.address, Date.now())
  }

  /**
   * Stops accepting, lets every frame already read be committed and answered, then closes.
   * Gives up waiting after the shutdown timeout (frames still uncommitted are not acknowledged:
   * the panels retry them).
   */
  async close (): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    if (this.#refresh !== undefined) clearInterval(this.#refresh)
    const tcpClosed = this.#tcp === undefined ? Promise.resolve() : new Promise<void>((resolve) => this.#tcp!.close(() => resolve()))
    const drained = Promise.all([...[...this.#connections].map((c) => c.shutdown()), ...this.#udpPending])
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.options.shutdownTimeoutMs) })
    if (await Promise.race([drained.then(() => 'done' as const), timedOut]) === 'timeout') {
      this.#log.warn({ connections: this.#connections.size }, 'shutdown timed out waiting for in-flight frames')
    }
    clearTimeout(timer)
    // Every connection has ended its side after its answers; give the sockets a moment to flush
    // and close, then drop peers that keep theirs open.
    const grace = Date.now() + 2_000
    while (this.#connections.size > 0 && Date.now() < grace) await new Promise((r) => setTimeout(r, 20))
    for (const c of this.#connections) c.destroy()
    await tcpClosed
    if (this.#udp !== undefined) await new Promise<void>((resolve) => this.#udp!.close(() => resolve()))
    this.#log.info({ stats: this.receiver.stats }, 'receiver stopped')
  }
}

/** Whether an answer is an ACK (`"ACK"` or `"*ACK"` right after the CRC and length). */
function isAck (bytes: Buffer): boolean {
  const q = bytes.indexOf(0x22)
  return q > 0 && (bytes[q + 1] === 0x41 || (bytes[q + 1] === 0x2a && bytes[q + 2] === 0x41)) && bytes.indexOf('ACK"', q) <= q + 2
}

/** At most `perSecond` per key per second, with a bounded number of keys. */
class PerSecondBudget {
  readonly #perSecond: number
  readonly #used = new Map<string, { second: number, n: number }>()

  constructor (perSecond: number) {
    this.#perSecond = perSecond
  }

  take (key: string, now: number): boolean {
    const second = Math.floor(now / 1000)
    const e = this.#used.get(key)
    if (e === undefined || e.second !== second) {
      if (this.#used.size >= 10_000) this.#used.clear()
      this.#used.set(key, { second, n: 1 })
      return true
    }
    return ++e.n <= this.#perSecond
  }
}
