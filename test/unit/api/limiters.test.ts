/**
 * The interface's limiters on their own, with the time given: what each lets through, when it
 * refuses, and when it lets through again. The API tests show them at work through requests.
 */
import { describe, expect, it } from 'vitest'
import { BulkReads, CodeAttempts, FailedAuths, RateLimiter, scopeOf, TakenNumbers } from '../../../src/api/limiters.js'
import type { TokenInfo } from '../../../src/api/access.js'

const T0 = Date.UTC(2026, 10, 27, 12)
const HOUR = 3_600_000

describe('RateLimiter', () => {
  it('lets a burst through, then answers the seconds until the next, and refills at its rate', () => {
    const rate = new RateLimiter(3, 1)
    expect([rate.take('a', T0), rate.take('a', T0), rate.take('a', T0)]).toEqual([0, 0, 0])
    expect(rate.take('a', T0)).toBe(1)
    // Another key has its own bucket.
    expect(rate.take('b', T0)).toBe(0)
    expect(rate.take('a', T0 + 1000)).toBe(0)
    expect(rate.take('a', T0 + 1000)).toBe(1)
  })
})

describe('FailedAuths', () => {
  it('writes one row a minute per address, saying how many came in the minute before', () => {
    const f = new FailedAuths()
    expect(f.add('10.0.0.1', T0)).toEqual({ before: undefined })
    expect(f.add('10.0.0.1', T0 + 1000)).toBeUndefined()
    expect(f.add('10.0.0.1', T0 + 59_999)).toBeUndefined()
    expect(f.add('10.0.0.2', T0 + 1000)).toEqual({ before: undefined })
    expect(f.add('10.0.0.1', T0 + 60_000)).toEqual({ before: 3 })
  })
})

describe('BulkReads', () => {
  it('raises once when a tenant reads more distinct accounts in a minute than its limit, and again the next minute', () => {
    const bulk = new BulkReads(2)
    expect(bulk.add('t', ['A', 'B', 'A'], T0)).toBeUndefined()
    expect(bulk.add('t', ['C'], T0 + 1000)).toBe(3)
    expect(bulk.add('t', ['D', 'E', 'F'], T0 + 2000)).toBeUndefined()
    expect(bulk.add('t', ['A', 'B', 'C'], T0 + 60_000)).toBe(3)
  })
})

describe('CodeAttempts', () => {
  it('counts refusals as in use toward the hour\'s limit, and answers the seconds left once it is reached', () => {
    const codes = new CodeAttempts(2, 100)
    for (let i = 0; i < 2; i++) {
      const place = codes.take('t', 'A', T0)
      if (typeof place !== 'object') throw new Error('no place')
      expect(place.settle('in-use')).toBe(i + 1)
    }
    expect(codes.take('t', 'A', T0 + 1000)).toBe(3599)
    expect(typeof codes.take('t', 'A', T0 + HOUR)).toBe('object')
  })

  it('answers busy while sets in flight hold the rest of the limit, and frees a place when one ends', () => {
    const codes = new CodeAttempts(2, 100)
    const first = codes.take('t', 'A', T0)
    const second = codes.take('t', 'B', T0)
    expect(codes.take('t', 'C', T0)).toBe('busy')
    if (typeof first !== 'object' || typeof second !== 'object') throw new Error('no place')
    expect(first.settle('other')).toBe(0)
    // Settling twice counts once.
    expect(first.settle('in-use')).toBe(0)
    expect(typeof codes.take('t', 'C', T0)).toBe('object')
  })

  it('limits attempts on one account, and does not count a set refused as busy', () => {
    const codes = new CodeAttempts(100, 2)
    const busy = codes.take('t', 'A', T0)
    if (typeof busy !== 'object') throw new Error('no place')
    busy.settle('busy')
    for (let i = 0; i < 2; i++) {
      const place = codes.take('t', 'A', T0)
      if (typeof place !== 'object') throw new Error('no place')
      place.settle('other')
    }
    expect(codes.take('t', 'A', T0)).toBe(3600)
    expect(typeof codes.take('t', 'B', T0)).toBe('object')
  })
})

describe('TakenNumbers', () => {
  it('stops a tenant for the rest of the hour once it reaches its limit', () => {
    const taken = new TakenNumbers(2)
    expect(taken.wait('t', T0)).toBe(0)
    expect(taken.taken('t', T0)).toBe(1)
    expect(taken.taken('t', T0 + 1000)).toBe(2)
    expect(taken.wait('t', T0 + 1800_000)).toBe(1800)
    expect(taken.wait('other', T0)).toBe(0)
    expect(taken.wait('t', T0 + HOUR)).toBe(0)
  })
})

describe('scopeOf', () => {
  const token = (role: TokenInfo['role'], tenant: string | null): TokenInfo => ({ id: 'abc', role, tenant, name: '', createdAt: '', expiresAt: null, revokedAt: null, lastUsedAt: null })
  it('counts an installer by its tenant, anyone else by the token', () => {
    expect(scopeOf(token('installer', 'acme'))).toBe('tenant:acme')
    expect(scopeOf(token('admin', null))).toBe('token:abc')
  })
})
