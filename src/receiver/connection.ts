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
import { FrameSplitter, reject } from '../protocol/index.js'
import type { Logger } from './log.js'
import type { ReceiverOptions } from './options.js'
import type { FrameMeta, Receiver } from './receiver.js'

/** Why a connection ended, for the close log line. */
export type CloseReason = 'peer' | 'idle' | 'slow-frame' | 'drain' | 'error' | 'shutdown'

export class Connection {
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
  readonly #onClosed: (reason: CloseReason) => void
  #reason: CloseReason = 'peer'
  /** Frames answered, for the close log line. */
  frames = 0

  constructor (io: Duplex, meta: FrameMeta, receiver: Receiver, opts: ReceiverOptions, log: Logger, onClosed: (reason: CloseReason) => void) {
    this.meta = meta
    this.#io = io
    this.#receiver = receiver
    this.#opts = opts
    this.#log = log
    this.#onClosed = onClosed
    this.#splitter = new FrameSplitter({
      frame: (bytes) => this.#frame(bytes),
      error: (code, reason) => {
        const answer = this.#receiver.reject(reject(code, reason), this.meta)
        if (answer !== null) this.#enqueue(Promise.resolve(answer))
      },
    }, { maxBodyBytes: opts.maxBodyBytes, maxBufferedBytes: opts.maxBufferedBytes })
    this.#idle = setTimeout(() => this.#end('idle'), opts.idleTimeoutMs)
    io.on('data', (chunk: Buffer) => this.#data(chunk))
    io.on('end', () => this.#end('peer'))
    io.on('error', (err) => {
      this.#log.debug({ peer: meta.peer, err: err.message }, 'connection error')
      this.#destroy('error')
    })
    io.on('close', () => this.#finish())
    io.on('drain', () => this.#drained())
  }

  get inFlight (): number {
    return this.#unanswered
  }

  #data (chunk: Buffer): void {
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
      this.#frameTimer = setTimeout(() => this.#slowFrame(), this.#opts.frameTimeoutMs)
    } else if (progress) {
      // Frames completed and a new one is under way: its time starts now.
      this.#frameTimer.refresh()
    }
  }

  #slowFrame (): void {
    this.#frameTimer = undefined
    this.#receiver.logLimited(this.meta, 'frameTimeoutMs', 'info', { buffered: this.#splitter.buffered, limitMs: this.#opts.frameTimeoutMs }, 'a frame was not completed in time; closing')
    // Drops the partial frame (answered NAK), then closes once the answers are out.
    this.#splitter.end()
    this.#end('slow-frame')
  }

  #frame (bytes: Buffer): void {
    // A connection is idle when no frame comes; noise does not keep it open.
    this.#idle.refresh()
    this.#enqueue(this.#receiver.handleFrame(bytes, this.meta))
  }

  /** Answers waiting to be written, in frame order; each is written once it and all before it are ready. */
  readonly #pending: Array<{ done: boolean, bytes: Buffer | null }> = []
  #drainedAll: Array<() => void> = []

  #enqueue (answer: Promise<Buffer | null>): void {
    this.#unanswered++
    const slot = { done: false, bytes: null as Buffer | null }
    this.#pending.push(slot)
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
    let n = 0
    while (n < this.#pending.length && this.#pending[n]!.done) {
      const bytes = this.#pending[n]!.bytes
      this.frames++
      if (bytes !== null) this.#write(bytes)
      n++
    }
    if (n === 0) return
    this.#pending.splice(0, n)
    this.#unanswered -= n
    this.#flow()
    if (this.#pending.length === 0) for (const f of this.#drainedAll.splice(0)) f()
  }

  /** Resolves once every answer so far is written. */
  #answered (): Promise<void> {
    return this.#pending.length === 0 ? Promise.resolve() : new Promise((resolve) => this.#drainedAll.push(resolve))
  }

  /**
   * Read only as fast as the journal commits and the peer takes its answers (STYLE rules 10, 11):
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
      this.#flow()
      this.#drainTimer = setTimeout(() => {
        this.#receiver.logLimited(this.meta, 'drainTimeoutMs', 'info', { limitMs: this.#opts.drainTimeoutMs }, 'peer does not read its answers; closing')
        this.#destroy('drain')
      }, this.#opts.drainTimeoutMs)
    }
  }

  #drained (): void {
    if (this.#drainTimer !== undefined) clearTimeout(this.#drainTimer)
    this.#drainTimer = undefined
    if (this.#blocked) {
      this.#blocked = false
      this.#flow()
    }
  }

  /** Stops reading, answers what is in flight, then closes its side: for the idle timeout, shutdown, and a peer's end. */
  #end (reason: CloseReason): void {
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
    this.#end('shutdown')
    await this.#answered()
  }

  /** Drops the connection now (shutdown, after its answers are out). */
  destroy (): void {
    this.#destroy('shutdown')
  }

  #destroy (reason: CloseReason): void {
    if (!this.#closing) this.#reason = reason
    this.#closing = true
    this.#io.destroy()
  }

  #finish (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#idle)
    for (const t of [this.#frameTimer, this.#drainTimer, this.#graceTimer]) if (t !== undefined) clearTimeout(t)
    this.#onClosed(this.#reason)
  }
}
