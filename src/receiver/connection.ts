/**
 * One TCP connection (or any Duplex: tests use duplex pairs). Frames are split from the byte
 * stream, each handled by the Receiver, and the answers written in the order the frames came,
 * on the same connection, which stays open for more frames (Ajax hubs take a close after the
 * ACK for a failed receiver) until it idles out.
 *
 * Bounded: reading pauses while too many frames wait for their commit; a started frame must be
 * completed in time; a peer that does not read its answers is dropped.
 */
import type { Duplex } from 'node:stream'
import { FrameSplitter, reject } from '../protocol/index.js'
import type { Logger } from './log.js'
import type { ReceiverOptions } from './options.js'
import type { FrameMeta, Receiver } from './receiver.js'

/** Why a connection ended, for the close log line. */
export type CloseReason = 'peer' | 'idle' | 'slow-frame' | 'drain' | 'error' | 'shutdown' | 'limit'

export class Connection {
  readonly meta: FrameMeta
  readonly #io: Duplex
  readonly #receiver: Receiver
  readonly #opts: ReceiverOptions
  readonly #log: Logger
  readonly #splitter: FrameSplitter
  /** The answers so far are written once this settles: keeps them in frame order. */
  #tail: Promise<void> = Promise.resolve()
  #inFlight = 0
  #paused = false
  #closing = false
  #closed = false
  #idle: NodeJS.Timeout
  #frameTimer: NodeJS.Timeout | undefined
  #drainTimer: NodeJS.Timeout | undefined
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
    return this.#inFlight
  }

  #data (chunk: Buffer): void {
    this.#idle.refresh()
    this.#splitter.push(chunk)
    // A started frame must be finished in time; the timer runs while bytes wait for the rest.
    if (this.#splitter.buffered > 0) {
      this.#frameTimer ??= setTimeout(() => this.#slowFrame(), this.#opts.frameTimeoutMs)
    } else if (this.#frameTimer !== undefined) {
      clearTimeout(this.#frameTimer)
      this.#frameTimer = undefined
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
    this.#inFlight++
    if (this.#inFlight >= this.#opts.maxInFlightPerConnection && !this.#paused) {
      // Read only as fast as the journal commits (STYLE rule 10).
      this.#paused = true
      this.#io.pause()
    }
    this.#enqueue(this.#receiver.handleFrame(bytes, this.meta).finally(() => {
      this.#inFlight--
      if (this.#paused && this.#inFlight < this.#opts.maxInFlightPerConnection && !this.#closing) {
        this.#paused = false
        this.#io.resume()
      }
    }))
  }

  #enqueue (answer: Promise<Buffer | null>): void {
    this.#tail = this.#tail.then(() => answer).then((bytes) => {
      this.frames++
      if (bytes !== null) this.#write(bytes)
    }, (err: unknown) => {
      // handleFrame resolves for every expected outcome; this is a bug, logged, never swallowed silently.
      this.#log.error({ peer: this.meta.peer, err: (err as Error).message }, 'bug: a frame could not be handled')
    })
  }

  #write (bytes: Buffer): void {
    if (this.#closed || this.#io.destroyed || this.#io.writableEnded) return
    if (!this.#io.write(bytes) && this.#drainTimer === undefined) {
      // The peer is not reading: give it a while, then let go of it (STYLE rule 11).
      this.#drainTimer = setTimeout(() => {
        this.#receiver.logLimited(this.meta, 'drainTimeoutMs', 'info', { limitMs: this.#opts.drainTimeoutMs }, 'peer does not read its answers; closing')
        this.#destroy('drain')
      }, this.#opts.drainTimeoutMs)
    }
  }

  #drained (): void {
    if (this.#drainTimer !== undefined) {
      clearTimeout(this.#drainTimer)
      this.#drainTimer = undefined
    }
  }

  /** Stops reading, answers what is in flight, then closes: for the idle timeout, shutdown, and a peer's end. */
  #end (reason: CloseReason): void {
    if (this.#closing) return
    this.#closing = true
    this.#reason = reason
    clearTimeout(this.#idle)
    this.#io.pause()
    if (reason === 'peer') this.#splitter.end()
    void this.#tail.then(() => {
      if (!this.#io.destroyed) this.#io.end()
    })
  }

  /** Graceful close for shutdown: resolves once every answer is written. */
  async shutdown (): Promise<void> {
    this.#end('shutdown')
    await this.#tail
  }

  /** Drops the connection now (shutdown, after its answers are out). */
  destroy (): void {
    this.#destroy('shutdown')
  }

  #destroy (reason: CloseReason): void {
    this.#reason = this.#closing ? this.#reason : reason
    this.#closing = true
    this.#io.destroy()
  }

  #finish (): void {
    if (this.#closed) return
    this.#closed = true
    clearTimeout(this.#idle)
    if (this.#frameTimer !== undefined) clearTimeout(this.#frameTimer)
    this.#drained()
    this.#onClosed(this.#reason)
  }
}

