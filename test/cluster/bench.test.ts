/** The cluster benchmark, short (`--case cluster --quick`): it runs end to end on a real cluster and reports every figure. */
import { spawnSync } from 'node:child_process'
import { expect, it } from 'vitest'
import { natsServerPath } from './nats.js'

const have = natsServerPath() !== undefined

it.skipIf(!have)('runs the cluster case and reports throughput, CPU per frame and the estimate', () => {
  const r = spawnSync(process.execPath, [new URL('../../dist/bench/run.js', import.meta.url).pathname, '--case', 'cluster', '--quick'], { encoding: 'utf8', timeout: 280_000 })
  expect(r.status, r.stderr.slice(-2000)).toBe(0)
  const { result } = JSON.parse(r.stdout) as { result: Record<string, any> }
  expect(result.cluster.framesPerSecond).toBeGreaterThan(0)
  expect(result.cluster.runs).toHaveLength(2)
  expect(result.cluster.nodes.filter((n: { leader: boolean }) => n.leader)).toHaveLength(1)
  expect(result.cluster.receiverCpuUsPerFrame).toBeGreaterThan(0)
  expect(result.cluster.natsCpuUsPerFrame).toBeGreaterThan(0)
  expect(result.baseline.framesPerSecond).toBeGreaterThan(0)
  expect(result.singleNode.case.name).toBe('TCP, 100 panels, AES-128')
  expect(result.publishUsPerFrame).toBeCloseTo(result.cluster.receiverCpuUsPerFrame - result.singleNode.receiver.serverCpuUsPerFrame, 0)
  // The quick case makes no failover runs (the fault suite does): the full bench does three of each.
  expect(result.failover.leader).toHaveLength(0)
  expect(result.failover.receiver).toHaveLength(0)
  expect(result.estimate.total).toBe(Math.min(3 * result.estimate.perReceiver, result.estimate.leaderLimit))
  // The section the full run writes, printed for the reader.
  expect(r.stderr).toMatch(/## Cluster \(NATS JetStream\)[\s\S]*Throughput ratio to the baseline: \d\.\d\d \(aim at least 0\.30 on this machine: (met|\*\*not met\*\*)\)/)
  expect(r.stderr).toMatch(/three machines: about \*\*[\d,]+ frames\/s\*\*, bound by the (receivers|stream leader)/)
}, 300_000)
