/**
 * Code hashing waits its turn here. scrypt runs on libuv's thread pool (four threads unless
 * UV_THREADPOOL_SIZE says otherwise), which the journal's writes and fdatasyncs share: left
 * alone, a burst of verifications or enrolments would take every thread for tens of milliseconds
 * each, and panels' ACKs would wait behind them. So at most `concurrency` hashes run at once, at
 * most `queue` more wait, and beyond that a request is refused at once (memory stays bounded,
 * and the caller can say "busy, try again").
 */

/** Thrown when the queue is full; `code` is the stable error code. */
export class HashQueueFull extends Error {
  readonly code = 'DC09_ERR_BUSY'
  constructor () {
    super('too many codes are being checked or set right now; try again shortly')
  }
}

export class HashQueue {
  readonly #concurrency: number
  readonly #queue: number
  #running = 0
  readonly #waiting: Array<() => void> = []

  constructor (concurrency: number, queue: number) {
    this.#concurrency = concurrency
    this.#queue = queue
  }

  /** Runs `fn` when a turn is free; rejects with HashQueueFull, without running it, when too many wait. */
  async run<T> (fn: () => Promise<T>): Promise<T> {
    if (this.#running < this.#concurrency) {
      this.#running++
    } else {
      if (this.#waiting.length >= this.#queue) throw new HashQueueFull()
      // The turn is handed over by the one that finishes (`#running` stays as it is).
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    }
    try {
      return await fn()
    } finally {
      const next = this.#waiting.shift()
      if (next === undefined) this.#running--
      else next()
    }
  }
}
