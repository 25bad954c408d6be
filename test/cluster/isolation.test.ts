/**
 * Tenant isolation in cluster mode: the same suite as test/api/isolation.test.ts (every route,
 * generated from the route table), with the interface on a cluster node's stores: replicas of the
 * shared state on a real nats-server.
 */
import { afterAll, describe, it } from 'vitest'
import { connectCluster } from '../../src/cluster/nats.js'
import { initCluster } from '../../src/cluster/layout.js'
import { useCluster } from '../api/harness.js'
import { natsServerPath, startCluster, type NatsCluster } from './nats.js'

let cluster: NatsCluster | undefined
// Without nats-server this file has no tests (the suite's setup says why, once).
if (natsServerPath() !== undefined) {
  cluster = await startCluster({ nodes: 1 })
  const nc = await connectCluster(cluster.urls, { name: 'isolation' })
  await initCluster(nc, { replicas: 1, duplicateWindowMs: 60_000, maxBytes: 0 })
  await nc.close()
  useCluster(cluster.urls)
  // The suite's tests and hooks are registered in this file, over the cluster's stores.
  await import('../api/isolation.test.js')
}

// A file without a test fails: without nats-server, one skipped test stands for the suite.
describe.skipIf(cluster === undefined)('tenant isolation in cluster mode', () => {
  it('runs the isolation suite over the cluster\'s stores', () => {})
})

afterAll(async () => {
  await cluster?.stopAll()
})
