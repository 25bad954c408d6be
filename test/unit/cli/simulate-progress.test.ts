/**
 * `dc09 simulate` says at the start how long it will run, then how it goes: a line every
 * interval when standard error is not a terminal (a log, CI), a redrawn line when it is.
 */
import { describe, expect, it } from 'vitest'
import { describePlan, progressReporter } from '../../../src/cli/progress.js'
import type { SimSummary } from '../../../src/sim/simulator.js'

const at = (durationMs: number, acknowledged = 0, failed = 0): SimSummary => ({
  panels: 2, proto: 'tcp', events: acknowledged + failed, sent: acknowledged, acknowledged, nak: 0, duh: 0, flawed: 0, retries: 0, timeouts: 0,
  failed, expectedFailures: 0, faultsInjected: {}, durationMs, framesPerSecond: 0, latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 }, problems: [],
})

describe('describePlan', () => {
  it('a scenario: how many steps, and that it runs until its last step', () => {
    expect(describePlan({ panels: 2, scenario: { file: 'burglary.json', steps: 4, lastAtSeconds: 600 } }))
      .toBe('2 panel(s) play burglary.json: 4 steps, the last at 600 s, so this runs about 10 min 0 s')
  })

  it('a duration, events at a rate, and events as fast as answered', () => {
    expect(describePlan({ panels: 1, durationMs: 90_000 })).toBe('1 panel(s) for 90 s, so this runs about 1 min 30 s')
    expect(describePlan({ panels: 3, events: 20, rate: 2 })).toBe('3 panel(s), 20 event(s) each at 2/s, so this runs about 10 s')
    expect(describePlan({ panels: 3, events: 20 })).toBe('3 panel(s), 20 event(s) each, each sent when the one before is answered')
  })
})

describe('progressReporter', () => {
  it('not on a terminal: one line per interval, nothing in between', () => {
    const lines: string[] = []
    const report = progressReporter({ tty: false, totalMs: 600_000, everyMs: 30_000, write: (s) => lines.push(s) })
    for (let s = 1; s <= 65; s++) report(at(s * 1000, s))
    expect(lines).toEqual([
      'simulate: 30 s of about 600 s: 30 acknowledged, 0 failed\n',
      'simulate: 60 s of about 600 s: 60 acknowledged, 0 failed\n',
    ])
  })

  it('on a terminal: one line redrawn in place, after the first seconds', () => {
    const lines: string[] = []
    const report = progressReporter({ tty: true, totalMs: undefined, everyMs: 30_000, write: (s) => lines.push(s) })
    report(at(1000, 1))
    report(at(3000, 5, 1))
    expect(lines).toEqual(['\rsimulate: 3 s: 5 acknowledged, 0/s, p99 3 ms, 1 failed   '])
  })
})
