/**
 * One TCP connection (or any Duplex: tests use duplex pairs). Frames are split from the byte
 * stream, each handled by the Receiver, and the answers written in the order the frames came,
 * on the same connection, which stays open for more frames (Ajax hubs take a close after the
 * ACK for a failed receiver) until it idles out.
 *
 * Bounded: reading stops (mid-chunk, at a frame boundary) while too many frames are unanswered,
 * counting answers not yet written, and while the peer does not take its answers; a started
 * frame must be completed in time; a peer that does not read its answers is dropped; a
 * connection the receiver closes is destroyed if the peer does not close its side.
 */
import type { Duplex } from 'node:stream'
import { FrameSplitter, reject, type ErrorCode, type SplitterSink } from '../protocol/index.js'
import type { Logger } from '../log.js'
import type { ReceiverOptions } from './options.js'
import type { FrameMeta, Receiver } from './receiver.js'

/** Why a connection ended, for the close log line. */
export type CloseReason = 'peer' | 'idle' | 'slow-frame' | 'drain' | 'error' | 'shutdown'

/**
 * What an idle connection holds is most of what a receiver with 100,000 panels holds, so the
 * stream's events go to these shared functions, not to closures made for each connection: the
 * stream carries its connection under this key.
 */
const kConnection = Symbol('dc09.connection')
type Carrier = Duplex & { [kConnection]?: Connection }

function onData (this: Carrier, chunk: Buffer): void {
  this[kConnection]?.data(chunk)
}
function onEnd (this: Carrier): void {
  this[kConnection]?.end('peer')
}
function onError (this: Carrier, err: Error): void {
  this[kConnection]?.failed(err)
}
function onClose (this: Carrier): void {
  this[kConnection]?.finish()
}
function onDrain (this: Carrier): void {
  this[kConnection]?.drained()
}
function onIdle (conn: Connection): void {
  conn.end('idle')
}
function onSlowFrame (conn: Connection): void {
  conn.slowFrame()
}

/** Answers waiting to be written, in frame order. */
interface Slot { done: boolean, bytes: Buffer | null }

/**
 * `shutdown`, `destroy`, `inFlight` and `frames` are for its owner; `data`, `end`, `failed`,
 * `finish`, `drained`, `slowFrame` (the stream's events and timers) and `frame`, `error` (the
 * splitter's sink) are public only so that shared functions can call them.
 */
export class Connection implements SplitterSink {
  readonly meta: FrameMeta
  readonly #io: Duplex
  readonly #receiver: Receiver
  readonly #opts: ReceiverOptions
  readonly #log: Logger
  readonly #splitter: FrameSplitter
  /** Frames (and refusals) whose answer is not written yet. */
  #unanswered = 0
  /** Set while the peer's receive window is full. */
  #blocked = false
  #closing = false
  #closed = false
  readonly #idle: NodeJS.Timeout
  #frameTimer: NodeJS.Timeout | undefined
  #drainTimer: NodeJS.Timeout | undefined
  #graceTimer: NodeJS.Timeout | undefined
  readonly #onClosed: (reason: CloseReason, conn: Connection) => void
  #reason: CloseReason = 'peer'
  /** Frames answered, for the close log line. */
  frames = 0

  /** `onClosed`: called once the stream has closed (one function may serve every connection). */
  constructor (io: Duplex, meta: FrameMeta, receiver: Receiver, opts: ReceiverOptions, log: Logger, onClosed: (reason: CloseReason, conn: Connection) => void) {
    this.meta = meta
    this.#io = io
    this.#receiver = receiver
    this.#opts = opts
    this.#log = log
    this.#onClosed = onClosed
    this.#splitter = new FrameSplitter(this, { maxBodyBytes: opts.maxBodyBytes, maxBufferedBytes: opts.maxBufferedBytes })
    this.#idle = setTimeout(onIdle, opts.idleTimeoutMs, this)
    ;(io as Carrier)[kConnection] = this
    io.on('data', onData)
    io.on('end', onEnd)
    io.on('error', onError)
    io.on('close', onClose)
  }

  get inFlight (): number {
    return this.#unanswered
  }

  /** The stream's bytes (through onData). */
  data (chunk: Buffer): void {
    const before = this.frames + this.#unanswered
    this.#splitter.push(chunk)
    this.#armFrameTimer(this.frames + this.#unanswered !== before)
  }

  /** A started frame must be finished in time; the timer runs while bytes wait for the rest of one. */
  #armFrameTimer (progress: boolean): void {
    if (this.#splitter.buffered === 0 || this.#closing) {
      if (this.#frameTimer !== undefined) clearTimeout(this.#frameTimer)
      this.#frameTimer = undefined
    } else if (this.#frameTimer === undefined) {
      this.#frameTimer = setTimeout(onSlowFrame, this.#opts.frameTimeoutMs, this)
    } else if (progress) {
      // Frames completed and a new one is under way: its time starts now.
      this.#frameTimer.refresh()
    }
  }

  /** The frame timer fired (through onSlowFrame). */
  slowFrame (): void {
    this.#frameTimer = undefined
    this.#receiver.logLimited(this.meta, 'frameTimeoutMs', 'info', { buffered: this.#splitter.buffered, limitMs: this.#opts.frameTimeoutMs }, 'a frame was not completed in time; closing')
    // Drops the partial frame (answered NAK), then closes once the answers are out.
    this.#splitter.end()
    this.end('slow-frame')
  }

  /** A whole frame from the splitter (its sink). */
  frame (bytes: Buffer): void {
    // A connection is idle when no frame comes; noise does not keep it open.
    this.#idle.refresh()
    this.#enqueue(this.#receiver.handleFrame(bytes, this.meta))
  }

  /** Bytes the splitter dropped, with why (its sink). */
  error (code: ErrorCode, reason: string): void {
    const answer = this.#receiver.reject(reject(code, reason), this.meta)
    if (answer !== null) this.#enqueue(Promise.resolve(answer))
  }

  /**
   * Answers waiting to be written, in frame order; each is written once it and all before it are
   * ready. Made for the first frame and let go when empty: an idle connection holds none.
   */
  #pending: Slot[] | undefined
  #drainedAll: Array<() => void> | undefined

  #enqueue (answer: Promise<Buffer | null>): void {
    this.#unanswered++
    const slot: Slot = { done: false, bytes: null }
    ;(this.#pending ??= []).push(slot)
    this.#flow()
    answer.then((bytes) => { slot.bytes = bytes }, (err: unknown) => {
      // handleFrame resolves for every expected outcome; this is a bug, logged, never swallowed silently.
      this.#log.error({ peer: this.meta.peer, err: (err as Error).message }, 'bug: a frame could not be handled')
    }).finally(() => {
      slot.done = true
      this.#pump()
    })
  }

  /** Writes every answer that is ready, in order, stopping at the first that is not. */
  #pump (): void {
    const pending = this.#pending
    if (pending === undefined) return
    let n = 0
    while (n < pending.length && pending[n]!.done) {
      const bytes = pending[n]!.bytes
      this.frames++
      if (bytes !== null) this.#write(bytes)
      n++
    }
    if (n === 0) return
    pending.splice(0, n)
    this.#unanswered -= n
    this.#flow()
    if (pending.length === 0 && this.#pending === pending) {
      this.#pending = undefined
      const waiting = this.#drainedAll
      this.#drainedAll = undefined
      if (waiting !== undefined) for (const f of waiting) f()
    }
  }

  /** Resolves once every answer so far is written. */
  #answered (): Promise<void> {
    return this.#pending === undefined ? Promise.resolve() : new Promise((resolve) => (this.#drainedAll ??= []).push(resolve))
  }

  /**
   * Read only as fast as the journal commits and the peer takes its answers:
   * reading stops while too many answers are pending or the peer's window is full.
   */
  #flow (): void {
    const stop = this.#closing || this.#blocked || this.#unanswered >= this.#opts.maxInFlightPerConnection
    if (stop && !this.#splitter.paused) {
      this.#splitter.pause()
      this.#io.pause()
    } else if (!stop && this.#splitter.paused) {
      this.#io.resume()
      this.#splitter.resume()
    }
  }

  #write (bytes: Buffer): void {
    if (this.#closed || this.#io.destroyed || this.#io.writableEnded) return
    if (!this.#io.write(bytes) && !this.#blocked) {
      // The peer is not reading: stop reading its frames, give it a while, then let go of it.
      this.#blocked = true
      this.#io.once('drain', onDrain)
      this.#flow()
      this.#drainTimer = setTimeout(() => {
        this.#receiver.logLimited(this.meta, 'drainTimeoutMs', 'info', { limitMs: this.#opts.drainTimeoutMs }, 'peer does not read its answers; closing')
        this.#destroy('drain')
      }, this.#opts.drainTimeoutMs)
    }
  }

  /** The peer took its answers (through onDrain, listened to only while blocked). */
  drained (): void {
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer)
    this.#drainTimer = undefined
    if (this.#blocked) {
      this.#blocked = false
      this.#flow()
    }
  }

  /** Stops reading, answers what is in flight, then closes its side: for the idle timeout, shutdown, and a peer's end. */
  end (reason: CloseReason): void {
    if (this.#closing) return
    this.#closing = true
    this.#reason = reason
    clearTimeout(this.#idle)
    this.#flow()
    if (reason === 'peer') this.#splitter.end()
    void this.#answered().then(() => {
      if (this.#io.destroyed) return
      this.#io.end()
      // A peer that keeps its side open after ours is closed must not hold the slot.
      if (reason !== 'peer') this.#graceTimer = setTimeout(() => this.#io.destroy(), this.#opts.closeGraceMs)
    })
  }

  /** Graceful close for shutdown: resolves once every answer is written. */
  async shutdown (): Promise<void> {
    this.end('shutdown')
    await this.#answered()
  }

  /** Drops the connection now (shutdown, after its answers are out). */
  destroy (): void {
    this.#destroy('shutdown')
  }

  /** The stream failed (through onError). */
  failed (err: Error): void {
    this.#log.debug({ peer: this.meta.peer, err: err.message }, 'connection error')
    this.#destroy('error')
  }

  #destroy (reason: CloseReason): void {
    if (!this.#closing) this.#reason = reason
    this.#closing = true
    this.#io.destroy()
  }

  /** The stream closed (through onClose). */
  finish (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#idle)
    for (const t of [this.#frameTimer, this.#drainTimer, this.#graceTimer]) if (t !== undefined) clearTimeout(t)
    this.#onClosed(this.#reason, this)
  }
}
