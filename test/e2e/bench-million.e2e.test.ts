/** The million benchmark, small: the real CLI imports, serves, answers the load and fires the supervision failures it waits for. */
import { spawnSync } from 'node:child_process'
import { expect, it } from 'vitest'

it('runs the million case at 1,000 accounts end to end and reports every figure', () => {
  const r = spawnSync(process.execPath, [new URL('../../dist/bench/run.js', import.meta.url).pathname, '--case', 'million', '--accounts', '1000', '--seconds', '3'], { encoding: 'utf8', timeout: 110_000 })
  expect(r.status, r.stderr.slice(-2000)).toBe(0)
  const { result } = JSON.parse(r.stdout) as { result: Record<string, any> }
  expect(result.import.exitCode).toBe(0)
  expect(result.firstAck.seconds).toBeGreaterThan(0)
  expect(result.firstAck.listeningSeconds).toBeLessThanOrEqual(result.firstAck.seconds)
  // 100 reporting panels for 3 s of a 90 s interval, and 100 silent ones once each.
  expect(result.load.acknowledged).toBeGreaterThanOrEqual(100 + 3)
  expect(result.load.unanswered + result.load.nak + result.load.flawed).toBe(0)
  expect(result.rss.maxDuringLoadBytes).toBeGreaterThan(0)
  expect(result.supervision).toMatchObject({ accounts: 100, reported: 100, fired: 100, missing: 0, unexpected: 0 })
  expect(result.supervision.latenessMs.min).toBeGreaterThanOrEqual(0)
  expect(result.targets).toHaveLength(4)
  expect(result.receiverLog.byLevel.info).toBeGreaterThan(0)
}, 120_000)
