import { describe, expect, it } from 'vitest'
import { RateLimitedLog } from '../../src/log.js'

describe('RateLimitedLog', () => {
  it('logs a key once per window, then says how many were held back', () => {
    const r = new RateLimitedLog(1000)
    expect(r.take('a', 0)).toEqual({ log: true, suppressed: 0 })
    expect(r.take('a', 10).log).toBe(false)
    expect(r.take('a', 20).log).toBe(false)
    expect(r.take('b', 30).log).toBe(true)
    expect(r.take('a', 1001)).toEqual({ log: true, suppressed: 2 })
  })

  it('stays fast and bounded with a flood of distinct keys (spoofed addresses)', () => {
    const r = new RateLimitedLog(60_000, 1000)
    const t0 = performance.now()
    let logged = 0
    for (let i = 0; i < 200_000; i++) if (r.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}|CRC`, 5).log) logged++
    // One line per key up to the cap, then one for all the rest per window: not 200,000 lines.
    expect(logged).toBeLessThan(1000 + 10)
    // Generous: a scan of live keys per call would take minutes here.
    expect(performance.now() - t0).toBeLessThan(5000)
  })
})

describe('validateOptions (--config)', async () => {
  const { validateOptions } = await import('../../src/receiver/options.js')
  it('takes known limits with sensible values', () => {
    expect(validateOptions({ idleTimeoutMs: 60_000, unknownAccounts: 'quarantine', nakUnreadable: false })).toEqual({ ok: true, value: { idleTimeoutMs: 60_000, unknownAccounts: 'quarantine', nakUnreadable: false } })
    expect(validateOptions({ maxEventsPerBlock: 100 })).toEqual({ ok: true, value: { maxEventsPerBlock: 100 } })
  })
  it('refuses unknown names, wrong types, and values that would stop the receiver', () => {
    for (const bad of [{ colour: 1 }, { idleTimeoutMs: '60' }, { maxInFlightPerConnection: 0 }, { idleTimeoutMs: 0 }, { maxBufferedBytes: 10 }, { frameTimeoutMs: 1.5 }, { maxBodyBytes: 5000 }, { maxEventsPerBlock: 0 }, { unknownAccounts: 'maybe' }, { nakUnreadable: 'no' }]) {
      expect(validateOptions(bad).ok, JSON.stringify(bad)).toBe(false)
    }
  })
})
