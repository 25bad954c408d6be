/**
 * The outputs benchmark, short (`--case outputs --quick`): a receiver with each output and its far
 * end, driven end to end, so that the case cannot rot when the serve options or an output change.
 * No figure is judged, only that each was measured.
 */
import { spawnSync } from 'node:child_process'
import { expect, it } from 'vitest'
import type { OutputsResult } from '../../bench/e2e/outputs.js'

it('runs the outputs case: every output delivers all the events it was given, and the section reports each', () => {
  const r = spawnSync(process.execPath, [new URL('../../dist/bench/run.js', import.meta.url).pathname, '--case', 'outputs', '--quick', '--seconds', '1'], { encoding: 'utf8', timeout: 110_000 })
  expect(r.status, r.stderr.slice(-2000)).toBe(0)
  const { result } = JSON.parse(r.stdout) as { result: OutputsResult }
  expect(result.outputs.map((o) => o.output)).toEqual(['none', 'surgard', 'mqtt', 'webhook'])
  for (const o of result.outputs) {
    expect(o.framesPerSecond, o.output).toBeGreaterThan(0)
    expect(o.failed, o.output).toBe(0)
    if (o.output === 'none') continue
    const d = o.rounds[0]!.delivery!
    // Everything the receiver acknowledged reached the far end within the wait, nothing parked.
    expect(d.arrived, o.output).toBeGreaterThanOrEqual(d.expected)
    expect(d.drainSeconds, o.output).toBeDefined()
    expect(d.status?.lag, o.output).toBe(0)
    expect(d.status?.parked, o.output).toBe(0)
  }
  expect(r.stderr).toMatch(/## Outputs[\s\S]*\| Sur-Gard automation \| [\d,]+ \| [\d,]+ \| \d\.\d\d\d \|.*\| \d\.\d\d\d: (met|\*\*not met\*\*) \| \d\.\d\d\d \| [\d,]+ \|/)
}, 120_000)
