/**
 * Waits for the pipeline's cursor: woken by an advance to or past their id, ended by their
 * timeout otherwise, bounded in number, and leaving no timer behind either way.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { CursorWaiters } from '../../../src/pipeline/cursor-waiters.js'

beforeEach(() => { vi.useFakeTimers() })
afterEach(() => { vi.useRealTimers() })

/** Whether a promise has settled yet, and to what. */
function watch (p: Promise<boolean>): { value: boolean | undefined } {
  const seen: { value: boolean | undefined } = { value: undefined }
  p.then((v) => { seen.value = v }, () => {})
  return seen
}

describe('CursorWaiters', () => {
  it('answers at once for an id the cursor has reached, with no timer and no waiter', async () => {
    const w = new CursorWaiters()
    expect(await w.wait(5, 5, 1000)).toBe(true)
    expect(await w.wait(5, 3, 1000)).toBe(true)
    expect(w.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('wakes a wait when the cursor reaches its id, not before, and clears its timer', async () => {
    const w = new CursorWaiters()
    const r = watch(w.wait(0, 3, 1000))
    expect(w.size).toBe(1)
    expect(vi.getTimerCount()).toBe(1)
    w.advance(2)
    await Promise.resolve()
    expect(r.value).toBeUndefined()
    w.advance(4)
    await Promise.resolve()
    expect(r.value).toBe(true)
    expect(w.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('ends a wait false after its timeout, and forgets it', async () => {
    const w = new CursorWaiters()
    const r = watch(w.wait(0, 3, 1000))
    await vi.advanceTimersByTimeAsync(999)
    expect(r.value).toBeUndefined()
    await vi.advanceTimersByTimeAsync(1)
    expect(r.value).toBe(false)
    expect(w.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
    // A later advance finds nothing to wake.
    w.advance(10)
    expect(r.value).toBe(false)
  })

  it('ends a wait with no time to wait at once, false', async () => {
    const w = new CursorWaiters()
    expect(await w.wait(0, 1, 0)).toBe(false)
    expect(w.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('wakes many concurrent waits, each when the cursor reaches its own id', async () => {
    const w = new CursorWaiters()
    const waits = Array.from({ length: 500 }, (_, i) => watch(w.wait(0, i + 1, 10_000)))
    expect(w.size).toBe(500)
    w.advance(250)
    await Promise.resolve()
    expect(waits.filter((r) => r.value === true)).toHaveLength(250)
    expect(waits.slice(250).every((r) => r.value === undefined)).toBe(true)
    expect(w.size).toBe(250)
    expect(vi.getTimerCount()).toBe(250)
    w.advance(500)
    await Promise.resolve()
    expect(waits.every((r) => r.value === true)).toBe(true)
    expect(w.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('holds at most `max` waits: one more ends at once, false, and there is room again once one ends', async () => {
    const w = new CursorWaiters(3)
    const held = [watch(w.wait(0, 1, 1000)), watch(w.wait(0, 2, 1000)), watch(w.wait(0, 3, 1000))]
    expect(await w.wait(0, 4, 1000)).toBe(false)
    expect(w.size).toBe(3)
    expect(vi.getTimerCount()).toBe(3)
    w.advance(1)
    await Promise.resolve()
    expect(held[0]!.value).toBe(true)
    const again = watch(w.wait(1, 4, 1000))
    expect(w.size).toBe(3)
    await vi.advanceTimersByTimeAsync(1000)
    expect([held[1]!.value, held[2]!.value, again.value]).toEqual([false, false, false])
    expect(w.size).toBe(0)
    expect(vi.getTimerCount()).toBe(0)
  })
})
