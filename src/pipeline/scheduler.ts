/**
 * One timer for every deadline of every stage: a binary heap of due times and a single
 * setTimeout for the earliest (thousands of accounts must not mean thousands of timers).
 * Rescheduling a key replaces its entry (the old one is skipped when it surfaces).
 */
interface Entry { at: number, stage: string, key: string, live: boolean }

export class Scheduler {
  readonly #heap: Entry[] = []
  readonly #byKey = new Map<string, Entry>()
  #timer: NodeJS.Timeout | undefined
  #timerAt = Infinity
  readonly #wake: () => void
  readonly #clock: () => number

  /** `wake` is called when something is due. */
  constructor (wake: () => void, clock: () => number = Date.now) {
    this.#wake = wake
    this.#clock = clock
  }

  get size (): number {
    return this.#byKey.size
  }

  schedule (stage: string, key: string, at: number): void {
    const id = `${stage}\x00${key}`
    const old = this.#byKey.get(id)
    if (old !== undefined) old.live = false
    const e = { at, stage, key, live: true }
    this.#byKey.set(id, e)
    this.#push(e)
    this.#arm()
  }

  has (stage: string, key: string): boolean {
    return this.#byKey.has(`${stage}\x00${key}`)
  }

  cancel (stage: string, key: string): void {
    const id = `${stage}\x00${key}`
    const old = this.#byKey.get(id)
    if (old !== undefined) old.live = false
    this.#byKey.delete(id)
  }

  /** Removes and returns everything due at `now`, earliest first. */
  due (now: number): Array<{ at: number, stage: string, key: string }> {
    const out: Array<{ at: number, stage: string, key: string }> = []
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) {
      const e = this.#pop()
      if (!e.live) continue
      this.#byKey.delete(`${e.stage}\x00${e.key}`)
      out.push({ at: e.at, stage: e.stage, key: e.key })
    }
    this.#arm()
    return out
  }

  /** The earliest live deadline, or Infinity. */
  next (): number {
    while (this.#heap.length > 0 && !this.#heap[0]!.live) this.#pop()
    return this.#heap[0]?.at ?? Infinity
  }

  stop (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  #arm (): void {
    const at = this.next()
    if (at === this.#timerAt) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = at
    if (at === Infinity) return
    // Long delays are re-armed in steps: setTimeout holds at most about 24.8 days.
    const delay = Math.max(0, Math.min(at - this.#clock(), 2 ** 31 - 1))
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#timerAt = Infinity
      if (this.next() <= this.#clock()) this.#wake()
      else this.#arm()
    }, delay)
    this.#timer.unref()
  }

  #push (e: Entry): void {
    const h = this.#heap
    h.push(e)
    for (let i = h.length - 1; i > 0;) {
      const p = (i - 1) >> 1
      if (h[p]!.at <= h[i]!.at) break
      ;[h[p], h[i]] = [h[i]!, h[p]!]
      i = p
    }
  }

  #pop (): Entry {
    const h = this.#heap
    const top = h[0]!
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      for (let i = 0; ;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && h[l]!.at < h[m]!.at) m = l
        if (r < h.length && h[r]!.at < h[m]!.at) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i]!, h[m]!]
        i = m
      }
    }
    return top
  }
}
