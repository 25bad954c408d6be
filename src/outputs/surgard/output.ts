/**
 * The Sur-Gard automation output: monitoring software connects to us (the receiver listens, as
 * Sur-Gard receivers do) and takes records one at a time, each answered ACK or NAK.
 *
 * Per connection, stop and wait: one record in flight; ACK sends the next. NAK sends it again at
 * once. No answer within the ACK timeout (bytes other than ACK and NAK are no answer) sends it
 * again, and after 4 unanswered attempts the connection is failed: its record goes back to the
 * front of the queue, and it gets only heartbeats (one per heartbeat interval, each tried up to
 * 4 times) until one is ACKed. NAKs do not fail a connection: a NAK is an answer, so the link is
 * alive; an event NAKed 20 times in all (Sur-Gard drops it there) is given up and parked, never
 * dropped.
 *
 * Several clients share the work: each event goes to the next free, answering connection in
 * turn, and every connection gets heartbeats when idle (any record sent or answer received
 * resets its timer). A connection that closes with an event in flight puts it back at the front
 * of the queue, in order. The link, for troubles, is "at least one client answers": it fails when
 * the last answering connection fails, or when no client has been connected for 4 ACK timeouts
 * while events wait, and it is restored by the next ACK (a heartbeat's or a record's).
 *
 * An event of several records (a long SIA frame) keeps to one connection until all are ACKed.
 * An event with no Sur-Gard form (a link test, a case opened, a verification) has no record and
 * is answered delivered at once: there is nothing for the automation to take. What goes out is
 * bounded by stop and wait: one record, or one heartbeat attempt per ACK timeout, per connection.
 */
import { createServer, type Server, type Socket } from 'node:net'
import type { Delivery, Output, OutputContext, OutputEvent, OutputStatus } from '../output.js'
import { ACK, NAK, encodeEvent, encodeHeartbeat, type SurgardOptions } from './records.js'

/** Timings and limits tests may shorten; not part of the configuration. */
export interface SurgardTuning {
  /** Overrides ackTimeoutSeconds. */
  readonly ackTimeoutMs?: number | undefined
  /** Overrides heartbeatSeconds. */
  readonly heartbeatMs?: number | undefined
  /** Most automation clients at once; more are refused. */
  readonly maxClients?: number | undefined
  /** Most bytes other than answers a client may send between two answers before it is dropped. */
  readonly maxNoiseBytes?: number | undefined
}

export const SURGARD_LIMITS = {
  /** Sur-Gard System 5 licenses up to 4 automation ports; room for a standby package too. */
  maxClients: 8,
  /** A real automation sends only ACK and NAK (5 bytes each with B32); the rest is noise. */
  maxNoiseBytes: 1024,
  /** Attempts without an answer before a connection is failed (Sur-Gard System III/5). */
  attempts: 4,
  /** NAKs after which an event is given up (Sur-Gard drops it; we park it). */
  maxNaks: 20,
} as const

export const NAKED_OUT = `NAKed ${SURGARD_LIMITS.maxNaks} times by the automation`

/** One event waiting or in flight. */
interface Item {
  /** Order of `deliver` calls: an event put back goes in its place. */
  readonly order: number
  readonly records: readonly Buffer[]
  /** The next record to send (those before it were ACKed). */
  next: number
  naks: number
  attempts: number
  readonly resolve: (d: Delivery) => void
  readonly reject: (e: Error) => void
}

/** What a connection has in flight; `tries` counts sends since the last answer (4 unanswered fail the link). */
type InFlight =
  | { readonly kind: 'record', readonly item: Item, tries: number }
  | { readonly kind: 'heartbeat', tries: number }

class Client {
  readonly socket: Socket
  readonly peer: string
  inFlight: InFlight | undefined
  /** Did not answer 4 attempts; takes only heartbeats until one is ACKed. */
  failed = false
  ackTimer: NodeJS.Timeout | undefined
  idleTimer: NodeJS.Timeout | undefined
  /** Bytes since the last answer that were not one. */
  noise = 0
  /** Noise was logged (once per connection). */
  noisy = false
  closed = false

  constructor (socket: Socket) {
    this.socket = socket
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`
  }
}

/** The B32 header before each answer. */
const B32_HEADER_BYTES = 4

/** The output, and where it listens (the configured port, or the one the system chose for port 0). */
export interface SurgardOutput extends Output {
  address (): { port: number } | undefined
}

export function surgardOutput (name: string, options: SurgardOptions, tuning: SurgardTuning = {}): SurgardOutput {
  return new SurgardAutomation(name, options, tuning)
}

class SurgardAutomation implements SurgardOutput {
  readonly name: string
  readonly type = 'surgard'
  readonly #o: SurgardOptions
  readonly #ackMs: number
  readonly #heartbeatMs: number
  readonly #maxClients: number
  readonly #maxNoise: number
  readonly #heartbeat: Buffer
  #ctx: OutputContext | undefined
  #server: Server | undefined
  readonly #clients: Client[] = []
  /** Where the round robin starts next. */
  #turn = 0
  readonly #queue: Item[] = []
  #order = 0
  /** The link trouble was raised and not yet restored. */
  #linkFailed = false
  /** Runs while events wait and no client is connected. */
  #absentTimer: NodeJS.Timeout | undefined
  #closed = false
  /** Clients refused since the last line that said so, and when the next line may be written. */
  #refused = 0
  #refusedLogAt = 0

  constructor (name: string, o: SurgardOptions, t: SurgardTuning) {
    this.name = name
    this.#o = o
    this.#ackMs = t.ackTimeoutMs ?? Math.round(o.ackTimeoutSeconds * 1000)
    this.#heartbeatMs = t.heartbeatMs ?? o.heartbeatSeconds * 1000
    this.#maxClients = t.maxClients ?? SURGARD_LIMITS.maxClients
    this.#maxNoise = t.maxNoiseBytes ?? SURGARD_LIMITS.maxNoiseBytes
    this.#heartbeat = encodeHeartbeat(o)
  }

  get window (): number {
    return Math.max(1, this.#clients.length)
  }

  async start (ctx: OutputContext): Promise<void> {
    this.#ctx = ctx
    const server = createServer((s) => { this.#connected(s) })
    this.#server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#o.port, this.#o.host, () => {
        server.off('error', reject)
        server.on('error', (e) => { ctx.log.error({ output: this.name, err: e.message }, 'automation listener error') })
        resolve()
      })
    })
    ctx.log.info({ output: this.name, host: this.#o.host, port: this.address()?.port }, 'waiting for automation clients')
  }

  /** Where it listens (tests listen on port 0). */
  address (): { port: number } | undefined {
    const a = this.#server?.address()
    return a !== null && typeof a === 'object' ? { port: a.port } : undefined
  }

  async deliver (event: OutputEvent): Promise<Delivery> {
    if (this.#closed) throw new Error('the output is closed')
    const records = encodeEvent(event, this.#o)
    // Nothing with a Sur-Gard form (a link test, a case opened): nothing to send, done.
    if (records.length === 0) return { ok: true }
    return await new Promise<Delivery>((resolve, reject) => {
      this.#queue.push({ order: this.#order++, records, next: 0, naks: 0, attempts: 0, resolve, reject })
      this.#pump()
      this.#watchAbsence()
    })
  }

  status (): OutputStatus {
    const connected = this.#clients.length
    const answering = this.#clients.some((c) => !c.failed)
    const state = this.#linkFailed || (connected > 0 && !answering) ? 'failed' : connected === 0 ? 'down' : 'up'
    return { state, connected }
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#absentTimer !== undefined) clearTimeout(this.#absentTimer)
    const pending: Item[] = [...this.#queue]
    this.#queue.length = 0
    for (const c of [...this.#clients]) {
      if (c.inFlight?.kind === 'record') pending.push(c.inFlight.item)
      c.inFlight = undefined
      this.#drop(c)
    }
    for (const item of pending) item.reject(new Error('the output closed before the automation took the event'))
    const server = this.#server
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => { resolve() }))
  }

  #connected (socket: Socket): void {
    const ctx = this.#ctx
    if (ctx === undefined || this.#closed) { socket.destroy(); return }
    if (this.#clients.length >= this.#maxClients) {
      // One line a minute at most: a peer that keeps connecting must not flood the log.
      this.#refused++
      const now = ctx.clock()
      if (now >= this.#refusedLogAt) {
        this.#refusedLogAt = now + 60_000
        ctx.log.warn({ output: this.name, peer: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, limit: this.#maxClients, refused: this.#refused }, 'automation client refused: too many clients')
        this.#refused = 0
      }
      socket.destroy()
      return
    }
    const c = new Client(socket)
    this.#clients.push(c)
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 10_000)
    socket.on('data', (chunk: Buffer) => { this.#data(c, chunk) })
    socket.on('error', (e) => { ctx.log.info({ output: this.name, peer: c.peer, err: e.message }, 'automation connection error') })
    socket.on('close', () => { this.#gone(c) })
    ctx.log.info({ output: this.name, peer: c.peer, clients: this.#clients.length }, 'automation client connected')
    if (this.#absentTimer !== undefined) { clearTimeout(this.#absentTimer); this.#absentTimer = undefined }
    this.#idle(c)
    this.#pump()
  }

  /**
   * Bytes from a client. ACK or NAK answers what is in flight; anything else (an answer with
   * nothing in flight too) is noise: dropped, logged once per connection, and counted, so a client
   * that sends more than a real automation would between two answers is closed. Nothing is kept,
   * so no client can make this grow. With B32 the answer comes as `00 00 00 05` then the byte:
   * the header counts as noise too (a few bytes, well within the limit), and a bare ACK or NAK
   * is taken as well.
   */
  #data (c: Client, chunk: Buffer): void {
    for (let i = 0; i < chunk.length && !c.closed; i++) {
      const b = chunk[i] as number
      if ((b === ACK || b === NAK) && c.inFlight !== undefined) {
        c.noise = 0
        this.#answer(c, b === ACK)
        continue
      }
      if (++c.noise > this.#maxNoise) {
        this.#ctx?.log.warn({ output: this.name, peer: c.peer, limit: this.#maxNoise }, 'automation client sent too many bytes that are not answers; closing it')
        this.#drop(c)
        return
      }
      if (!c.noisy && !(this.#o.b32 && c.noise <= B32_HEADER_BYTES)) {
        c.noisy = true
        this.#ctx?.log.info({ output: this.name, peer: c.peer, byte: b }, 'automation client sent a byte that answers nothing; ignored (logged once per connection)')
      }
    }
  }

  #answer (c: Client, ack: boolean): void {
    const f = c.inFlight
    const ctx = this.#ctx
    if (f === undefined || ctx === undefined) return
    this.#stopAck(c)
    c.inFlight = undefined
    if (f.kind === 'heartbeat') {
      if (ack) this.#alive(c)
      // A NAKed heartbeat is an answer too, but only an ACK brings a failed connection back.
    } else if (ack) {
      const item = f.item
      item.next++
      this.#alive(c)
      if (item.next < item.records.length) {
        // The event's next record follows on the same connection, so its parts stay in order.
        c.inFlight = { kind: 'record', item, tries: 0 }
        this.#send(c)
        return
      }
      item.resolve({ ok: true })
    } else {
      const item = f.item
      item.naks++
      if (item.naks >= SURGARD_LIMITS.maxNaks) {
        ctx.log.warn({ output: this.name, peer: c.peer, naks: item.naks }, 'automation keeps refusing an event; parking it')
        item.resolve({ ok: false, error: NAKED_OUT, attempts: item.attempts })
      } else {
        ctx.retried()
        // A NAK is an answer: the count towards a failed link starts again.
        f.tries = 0
        c.inFlight = f
        this.#send(c)
        return
      }
    }
    this.#idle(c)
    this.#pump()
  }

  /** An ACK came: the connection answers, and the link is back if it was failed. */
  #alive (c: Client): void {
    const ctx = this.#ctx
    if (c.failed) {
      c.failed = false
      ctx?.log.info({ output: this.name, peer: c.peer }, 'automation client answers again')
    }
    if (this.#linkFailed) {
      this.#linkFailed = false
      ctx?.trouble('output-link-restored', `automation client ${c.peer} answers again`)
    }
  }

  /** Gives free, answering connections the next events, in turn. */
  #pump (): void {
    if (this.#closed) return
    const n = this.#clients.length
    for (let k = 0; k < n && this.#queue.length > 0; k++) {
      const c = this.#clients[(this.#turn + k) % n] as Client
      if (c.inFlight !== undefined || c.failed || c.closed) continue
      const item = this.#queue.shift() as Item
      c.inFlight = { kind: 'record', item, tries: 0 }
      this.#turn = (this.#turn + k + 1) % n
      this.#send(c)
      k = -1 // start the scan again after the connection just used
    }
  }

  /** Writes what is in flight and waits for its answer. */
  #send (c: Client): void {
    const f = c.inFlight
    if (f === undefined) return
    f.tries++
    if (c.idleTimer !== undefined) { clearTimeout(c.idleTimer); c.idleTimer = undefined }
    let bytes: Buffer
    if (f.kind === 'record') {
      f.item.attempts++
      bytes = f.item.records[f.item.next] as Buffer
    } else {
      bytes = this.#heartbeat
    }
    c.socket.write(bytes)
    c.ackTimer = setTimeout(() => { this.#noAnswer(c) }, this.#ackMs)
  }

  #stopAck (c: Client): void {
    if (c.ackTimer !== undefined) { clearTimeout(c.ackTimer); c.ackTimer = undefined }
  }

  /** The ACK timeout ran out. */
  #noAnswer (c: Client): void {
    c.ackTimer = undefined
    const f = c.inFlight
    const ctx = this.#ctx
    if (f === undefined || ctx === undefined || c.closed) return
    if (f.kind === 'record') ctx.retried()
    if (f.tries < SURGARD_LIMITS.attempts) { this.#send(c); return }
    c.inFlight = undefined
    if (f.kind === 'record') this.#putBack(f.item)
    if (!c.failed) {
      c.failed = true
      ctx.log.warn({ output: this.name, peer: c.peer, attempts: f.tries }, 'automation client does not answer; sending it only heartbeats')
      this.#checkLink(`automation client ${c.peer} did not answer ${f.tries} attempts`)
    }
    this.#idle(c)
    this.#pump()
  }

  /** The link trouble, once: no connection answers any more. */
  #checkLink (detail: string): void {
    if (this.#linkFailed || this.#clients.some((c) => !c.failed && !c.closed)) return
    this.#linkFailed = true
    this.#ctx?.trouble('output-link-failed', detail)
  }

  /** Back in the queue, in its `deliver` order, before what came after it. */
  #putBack (item: Item): void {
    let i = 0
    while (i < this.#queue.length && (this.#queue[i] as Item).order < item.order) i++
    this.#queue.splice(i, 0, item)
  }

  /** Heartbeat after the idle time; any record or answer restarts the wait. */
  #idle (c: Client): void {
    if (c.closed || this.#closed) return
    if (c.idleTimer !== undefined) clearTimeout(c.idleTimer)
    c.idleTimer = setTimeout(() => {
      c.idleTimer = undefined
      if (c.inFlight !== undefined || c.closed) return
      c.inFlight = { kind: 'heartbeat', tries: 0 }
      this.#send(c)
    }, this.#heartbeatMs)
  }

  #drop (c: Client): void {
    if (!c.closed) c.socket.destroy()
    this.#gone(c)
  }

  /** A connection ended: what it had in flight goes back to the front of the queue. */
  #gone (c: Client): void {
    if (c.closed) return
    c.closed = true
    this.#stopAck(c)
    if (c.idleTimer !== undefined) { clearTimeout(c.idleTimer); c.idleTimer = undefined }
    const i = this.#clients.indexOf(c)
    if (i >= 0) this.#clients.splice(i, 1)
    if (i >= 0 && this.#turn > i) this.#turn--
    const f = c.inFlight
    c.inFlight = undefined
    if (this.#closed) return
    this.#ctx?.log.info({ output: this.name, peer: c.peer, clients: this.#clients.length }, 'automation client disconnected')
    if (f?.kind === 'record') {
      this.#ctx?.retried()
      this.#putBack(f.item)
    }
    if (this.#clients.length > 0) this.#checkLink(`automation client ${c.peer} disconnected and no other answers`)
    this.#pump()
    this.#watchAbsence()
  }

  /** With events waiting and no client connected for 4 ACK timeouts, the link is failed. */
  #watchAbsence (): void {
    if (this.#closed || this.#clients.length > 0 || this.#queue.length === 0 || this.#linkFailed || this.#absentTimer !== undefined) return
    this.#absentTimer = setTimeout(() => {
      this.#absentTimer = undefined
      if (this.#closed || this.#clients.length > 0 || this.#queue.length === 0 || this.#linkFailed) return
      this.#linkFailed = true
      this.#ctx?.trouble('output-link-failed', 'no automation client is connected')
    }, SURGARD_LIMITS.attempts * this.#ackMs)
  }
}
