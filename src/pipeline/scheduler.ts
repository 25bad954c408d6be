/**
 * One timer for every deadline of every stage: a binary heap of due times and a single
 * setTimeout for the earliest (thousands of accounts must not mean thousands of timers).
 *
 * Compact, for a million supervised accounts: the live deadline of each key is a number in a
 * map per stage (key -> due time), and the heap is three parallel arrays (due time, key, stage
 * number), with no object per entry. Rescheduling or cancelling a key only changes its map
 * entry; the heap entry it leaves behind is skipped when it surfaces (its time no longer matches
 * the map's), and the heap is rebuilt from the maps when such stale entries outnumber live ones.
 */
export interface Due { readonly at: number, readonly stage: string, readonly key: string }

/** Below this many heap entries, stale ones are not worth a rebuild. */
const COMPACT_MIN = 1024

export class Scheduler {
  /** Stage name -> (key -> due time): the live deadlines. */
  readonly #live = new Map<string, Map<string, number>>()
  readonly #stages: string[] = []
  readonly #stageNo = new Map<string, number>()
  #size = 0
  // The heap, as parallel arrays.
  #at: number[] = []
  #key: string[] = []
  #stage: number[] = []
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
    return this.#size
  }

  /** Heap entries, live and stale (status and tests: stays within twice the live ones, or COMPACT_MIN). */
  get heapEntries (): number {
    return this.#at.length
  }

  schedule (stage: string, key: string, at: number): void {
    let no = this.#stageNo.get(stage)
    if (no === undefined) {
      no = this.#stages.push(stage) - 1
      this.#stageNo.set(stage, no)
      this.#live.set(stage, new Map())
    }
    const live = this.#live.get(stage)!
    const old = live.get(key)
    if (old === undefined) this.#size++
    live.set(key, at)
    // Moving a deadline later leaves the earlier heap entry to be skipped; the same time needs none.
    if (old !== at) {
      this.#push(at, key, no)
      this.#compact()
    }
    this.#arm()
  }

  has (stage: string, key: string): boolean {
    return this.#live.get(stage)?.has(key) === true
  }

  cancel (stage: string, key: string): void {
    if (this.#live.get(stage)?.delete(key) === true) this.#size--
  }

  /** Removes and returns what is due at `now` (at most `max`), earliest first. */
  due (now: number, max = Infinity): Due[] {
    const out: Due[] = []
    while (out.length < max && this.#at.length > 0 && this.#at[0]! <= now) {
      const at = this.#at[0]!
      const key = this.#key[0]!
      const stage = this.#stages[this.#stage[0]!]!
      this.#pop()
      const live = this.#live.get(stage)!
      if (live.get(key) !== at) continue
      live.delete(key)
      this.#size--
      out.push({ at, stage, key })
    }
    this.#compact()
    this.#arm()
    return out
  }

  /** The earliest live deadline, or Infinity. */
  next (): number {
    while (this.#at.length > 0 && !this.#isLive(0)) this.#pop()
    return this.#at[0] ?? Infinity
  }

  stop (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#timerAt = Infinity
  }

  #isLive (i: number): boolean {
    return this.#live.get(this.#stages[this.#stage[i]!]!)!.get(this.#key[i]!) === this.#at[i]
  }

  /** Rebuilds the heap from the live deadlines once stale entries outnumber them. */
  #compact (): void {
    if (this.#at.length <= COMPACT_MIN || this.#at.length <= 2 * this.#size) return
    this.#at = []
    this.#key = []
    this.#stage = []
    for (const [no, name] of this.#stages.entries()) {
      for (const [key, at] of this.#live.get(name)!) this.#push(at, key, no)
    }
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

  #swap (i: number, j: number): void {
    const a = this.#at; const k = this.#key; const s = this.#stage
    const at = a[i]!; a[i] = a[j]!; a[j] = at
    const key = k[i]!; k[i] = k[j]!; k[j] = key
    const st = s[i]!; s[i] = s[j]!; s[j] = st
  }

  #push (at: number, key: string, stage: number): void {
    const a = this.#at
    a.push(at)
    this.#key.push(key)
    this.#stage.push(stage)
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1
      if (a[p]! <= a[i]!) break
      this.#swap(p, i)
      i = p
    }
  }

  #pop (): void {
    const a = this.#at
    const n = a.length - 1
    if (n > 0) this.#swap(0, n)
    a.pop()
    this.#key.pop()
    this.#stage.pop()
    for (let i = 0; ;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < n && a[l]! < a[m]!) m = l
      if (r < n && a[r]! < a[m]!) m = r
      if (m === i) break
      this.#swap(m, i)
      i = m
    }
  }
}
