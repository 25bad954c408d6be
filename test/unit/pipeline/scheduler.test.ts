/**
 * The scheduler: one heap of deadlines for every stage and a single timer for the earliest.
 * Pure ordering is tested with due(now); waking is tested with fake timers and an injected clock
 * moved in step with them.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { Scheduler } from '../../../src/pipeline/scheduler.js'

const keys = (due: Array<{ stage: string, key: string }>) => due.map((d) => `${d.stage}/${d.key}`)

describe('Scheduler: deadlines', () => {
  const noWake = () => {}

  it('due(now) returns and removes what is due, earliest first', () => {
    const s = new Scheduler(noWake, () => 0)
    s.schedule('a', 'k300', 300)
    s.schedule('a', 'k100', 100)
    s.schedule('b', 'k200', 200)
    s.schedule('a', 'k400', 400)
    expect(s.due(250)).toEqual([{ at: 100, stage: 'a', key: 'k100' }, { at: 200, stage: 'b', key: 'k200' }])
    expect(s.size).toBe(2)
    expect(s.due(250)).toEqual([])
    expect(keys(s.due(400))).toEqual(['a/k300', 'a/k400'])
    expect(s.size).toBe(0)
    s.stop()
  })

  it('rescheduling a key later replaces its entry: the old time no longer fires', () => {
    const s = new Scheduler(noWake, () => 0)
    s.schedule('a', 'k', 100)
    s.schedule('a', 'k', 500)
    expect(s.size).toBe(1)
    expect(s.due(200)).toEqual([])
    expect(s.has('a', 'k')).toBe(true)
    expect(s.due(500)).toEqual([{ at: 500, stage: 'a', key: 'k' }])
    s.stop()
  })

  it('rescheduling a key earlier fires it once, at the new time', () => {
    const s = new Scheduler(noWake, () => 0)
    s.schedule('a', 'k', 500)
    s.schedule('a', 'k', 100)
    expect(s.due(100)).toEqual([{ at: 100, stage: 'a', key: 'k' }])
    expect(s.due(1000)).toEqual([])
    s.stop()
  })

  it('cancel removes a key; has() and size follow', () => {
    const s = new Scheduler(noWake, () => 0)
    s.schedule('a', 'x', 100)
    s.schedule('a', 'y', 200)
    expect(s.has('a', 'x')).toBe(true)
    s.cancel('a', 'x')
    s.cancel('a', 'never-set')
    expect(s.has('a', 'x')).toBe(false)
    expect(s.has('a', 'y')).toBe(true)
    expect(s.size).toBe(1)
    expect(keys(s.due(1000))).toEqual(['a/y'])
    expect(s.has('a', 'y')).toBe(false)
    expect(s.size).toBe(0)
    s.stop()
  })

  it('next() is the earliest live deadline, or Infinity', () => {
    const s = new Scheduler(noWake, () => 0)
    expect(s.next()).toBe(Infinity)
    s.schedule('a', 'x', 200)
    s.schedule('a', 'y', 100)
    expect(s.next()).toBe(100)
    s.cancel('a', 'y')
    expect(s.next()).toBe(200)
    s.schedule('a', 'x', 50)
    expect(s.next()).toBe(50)
    s.due(50)
    expect(s.next()).toBe(Infinity)
    s.stop()
  })

  it('the same key under two stages is two deadlines', () => {
    const s = new Scheduler(noWake, () => 0)
    s.schedule('a', 'k', 100)
    s.schedule('b', 'k', 200)
    expect(s.size).toBe(2)
    s.schedule('a', 'k', 300) // moves a/k only
    s.cancel('a', 'k')
    expect(s.has('a', 'k')).toBe(false)
    expect(s.has('b', 'k')).toBe(true)
    expect(s.due(1000)).toEqual([{ at: 200, stage: 'b', key: 'k' }])
    s.stop()
  })
})

describe('Scheduler: waking', () => {
  let t: number
  let wake: ReturnType<typeof vi.fn<() => void>>
  let s: Scheduler
  const advance = (ms: number) => {
    t += ms
    vi.advanceTimersByTime(ms)
  }

  beforeEach(() => {
    vi.useFakeTimers()
    t = 0
    wake = vi.fn<() => void>()
    s = new Scheduler(wake, () => t)
  })
  afterEach(() => {
    s.stop()
    vi.useRealTimers()
  })

  it('wakes when the earliest deadline passes, not before', () => {
    s.schedule('a', 'x', 1000)
    s.schedule('a', 'y', 2000)
    advance(999)
    expect(wake).not.toHaveBeenCalled()
    advance(1)
    expect(wake).toHaveBeenCalledTimes(1)
    expect(keys(s.due(t))).toEqual(['a/x'])
    advance(1000)
    expect(wake).toHaveBeenCalledTimes(2)
  })

  it('10,000 deadlines use a single timer, and all come out in order', () => {
    const times = Array.from({ length: 10_000 }, (_, i) => 1000 + ((i * 7919) % 10_000)) // a permutation of 1000..10999
    times.forEach((at, i) => s.schedule(`stage${i % 3}`, `acct${i}`, at))
    expect(s.size).toBe(10_000)
    expect(vi.getTimerCount()).toBe(1)
    advance(999)
    expect(wake).not.toHaveBeenCalled()
    // Everything is overdue, but only the one timer fires until due() is called.
    advance(20_000)
    expect(wake).toHaveBeenCalledTimes(1)
    const due = s.due(t)
    expect(due).toHaveLength(10_000)
    expect(due.map((d) => d.at)).toEqual([...times].sort((a, b) => a - b))
  })

  it('rescheduling a key later moves the wake', () => {
    s.schedule('a', 'k', 1000)
    s.schedule('a', 'k', 5000)
    advance(4000)
    expect(wake).not.toHaveBeenCalled()
    advance(1000)
    expect(wake).toHaveBeenCalledTimes(1)
  })

  it('a cancelled deadline does not wake', () => {
    s.schedule('a', 'k', 1000)
    s.cancel('a', 'k')
    advance(2000)
    expect(wake).not.toHaveBeenCalled()
  })

  it('a deadline 30 days away (more than one setTimeout can hold) wakes on time, not before', () => {
    const day = 86_400_000
    s.schedule('a', 'k', 30 * day)
    advance(2 ** 31 - 1) // about 24.8 days: the longest single setTimeout
    expect(wake).not.toHaveBeenCalled()
    advance(30 * day - t - 1)
    expect(wake).not.toHaveBeenCalled()
    advance(1)
    expect(wake).toHaveBeenCalledTimes(1)
  })

  it('stop() clears the timer', () => {
    s.schedule('a', 'k', 1000)
    s.stop()
    advance(2000)
    expect(wake).not.toHaveBeenCalled()
  })
})

describe('Scheduler: many keys', () => {
  const noWake = () => {}

  it('50,000 keys, each moved later 5 times: stale heap entries stay bounded, and each key fires once, at its last time, in order', () => {
    const s = new Scheduler(noWake, () => 0)
    const n = 50_000
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < n; i++) s.schedule(i % 2 === 0 ? 'supervision' : 'cases', `acct${i}`, 1000 + round * 1_000_000 + ((i * 7919) % n))
      expect(s.size).toBe(n)
      expect(s.heapEntries).toBeLessThanOrEqual(2 * n + 1)
    }
    // A few cancelled: they never come out.
    for (let i = 0; i < 1000; i++) s.cancel('cases', `acct${2 * i + 1}`)
    expect(s.size).toBe(n - 1000)
    expect(s.due(4_000_999)).toEqual([])
    const out = s.due(Infinity)
    expect(out).toHaveLength(n - 1000)
    expect(new Set(out.map((d) => `${d.stage}/${d.key}`)).size).toBe(n - 1000)
    let ordered = true
    for (let i = 1; i < out.length; i++) if (out[i]!.at < out[i - 1]!.at) ordered = false
    expect(ordered).toBe(true)
    expect(out.every((d) => d.at >= 4_000_000)).toBe(true)
    expect(s.size).toBe(0)
    expect(s.heapEntries).toBeLessThanOrEqual(1024)
    expect(s.next()).toBe(Infinity)
  })

  it('due(now, max) hands out at most max, the rest on the next call', () => {
    const s = new Scheduler(noWake, () => 0)
    for (let i = 0; i < 5000; i++) s.schedule('supervision', `a${i}`, 100 + i)
    const first = s.due(10_000, 1000)
    expect(first).toHaveLength(1000)
    expect(first.at(-1)!.at).toBe(1099)
    expect(s.due(10_000, 10_000)).toHaveLength(4000)
    expect(s.size).toBe(0)
  })
})
