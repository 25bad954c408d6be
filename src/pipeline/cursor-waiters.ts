/**
 * Waits for the pipeline's cursor to reach a journal id: each wait is resolved when a commit
 * moves the cursor to or past its id (true), or when its time is up (false), whichever comes
 * first; its timer is cleared either way, so nothing is left behind. Waits are bounded in
 * number: past the bound a wait ends at once, as if its time were up.
 */

interface Waiter {
  readonly id: number
  readonly resolve: (reached: boolean) => void
  readonly timer: ReturnType<typeof setTimeout>
}

/** Waits at once, by default: each holds a timer and a promise until it ends. */
export const DEFAULT_MAX_WAITERS = 1000

export class CursorWaiters {
  readonly #waiters = new Set<Waiter>()
  readonly #max: number

  constructor (max = DEFAULT_MAX_WAITERS) {
    this.#max = max
  }

  /** Waits in progress. */
  get size (): number {
    return this.#waiters.size
  }

  /**
   * Resolves true once `advance` is called with `id` or more (at once when `cursor` already is),
   * false after `timeoutMs`, or at once when `max` waits are already in progress.
   */
  wait (cursor: number, id: number, timeoutMs: number): Promise<boolean> {
    if (cursor >= id) return Promise.resolve(true)
    if (timeoutMs <= 0 || this.#waiters.size >= this.#max) return Promise.resolve(false)
    return new Promise<boolean>((resolve) => {
      const waiter: Waiter = {
        id,
        resolve,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter)
          resolve(false)
        }, timeoutMs),
      }
      this.#waiters.add(waiter)
    })
  }

  /** The cursor moved to `cursor`: every wait for it or an earlier id ends, true. */
  advance (cursor: number): void {
    for (const w of this.#waiters) {
      if (w.id > cursor) continue
      this.#waiters.delete(w)
      clearTimeout(w.timer)
      w.resolve(true)
    }
  }
}
