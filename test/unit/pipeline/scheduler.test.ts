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
