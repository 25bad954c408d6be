/**
 * Every store seam's conformance suite against the cluster backends, on one real nats-server
 * (R1) started for this file: the journal on a stream, and the accounts (with users, codes and
 * tokens), audit trail and pipeline state as replicas of the state stream. Each store a suite
 * opens gets a scope of its own (a fresh state); its `peer` and `reopen` are other replicas of
 * that scope: another node, and the same node after a restart.
 */
import { afterAll, beforeAll, describe } from 'vitest'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { AccountStore } from '../../src/accounts/account-store.js'
import { connectCluster } from '../../src/cluster/nats.js'
import { initCluster } from '../../src/cluster/layout.js'
import { JetStreamJournal } from '../../src/cluster/journal.js'
import { SharedState } from '../../src/cluster/shared-state.js'
import { SyncBridge } from '../../src/cluster/sync-bridge.js'
import { openAccounts, openAudit, openPipelineStore } from '../../src/cluster/parts.js'
import { journalSuite, type Rec } from '../conformance/journal.suite.js'
import { accountStoreSuite } from '../conformance/account-store.suite.js'
import { verificationStoreSuite } from '../conformance/verification-store.suite.js'
import { tokenStoreSuite } from '../conformance/token-store.suite.js'
import { auditTrailSuite } from '../conformance/audit-trail.suite.js'
import { pipelineStoreSuite } from '../conformance/pipeline-store.suite.js'
import { natsServerPath, startCluster, type NatsCluster } from './nats.js'

const have = natsServerPath() !== undefined

let cluster: NatsCluster | undefined
/** One bridge (thread and connection) for every replica of the file, as a process with several would have. */
let bridge: SyncBridge | undefined
let nc: NatsConnection | undefined
const states: SharedState[] = []
let n = 0

beforeAll(async () => {
  if (!have) return
  cluster = await startCluster({ nodes: 1 })
  nc = await connectCluster(cluster.urls, { name: 'conformance' })
  await initCluster(nc, { replicas: 1, duplicateWindowMs: 60_000, maxBytes: 0 })
  bridge = new SyncBridge(cluster.urls, 'conformance')
}, 30_000)

afterAll(async () => {
  for (const s of states) s.close()
  bridge?.close()
  await nc?.close()
  await cluster?.stopAll()
})

/** A replica of the scope, closed at the end of the file. */
function replica (scope: string): SharedState {
  const s = new SharedState({ servers: cluster!.urls, name: `conformance ${scope}`, scope, bridge })
  states.push(s)
  return s
}

function scoped<T> (open: (s: SharedState) => T): { store: T, reopen: () => T, peer: () => T } {
  const scope = `c${process.pid}x${++n}`
  return { store: open(replica(scope)), reopen: () => open(replica(scope)), peer: () => open(replica(scope)) }
}

describe.skipIf(!have)('cluster backends', () => {
  journalSuite('JetStreamJournal', async () => {
    const k = ++n
    const jsm = await jetstreamManager(nc!)
    await jsm.streams.add({ name: `TJ${k}`, subjects: [`tj${k}.>`], num_replicas: 1 })
    const codec = { stream: `TJ${k}`, subject: () => `tj${k}.x`, messageId: () => undefined, encode: (r: Rec) => JSON.stringify(r) }
    const journal = await JetStreamJournal.openStream<Rec>(nc!, codec)
    return { journal, reopen: async () => await JetStreamJournal.openStream<Rec>(nc!, codec) }
  })

  accountStoreSuite('cluster AccountStore (replica of the state stream)', (opts) => {
    // The suite asks once, while tests are being collected, whether the backend keeps records beside accounts (not here).
    if (cluster === undefined) return { store: { close: () => undefined } as unknown as AccountStore }
    const { store } = scoped((s) => openAccounts(s, opts).accounts)
    return { store }
  })

  verificationStoreSuite('cluster VerificationStore (replica of the state stream)', () => scoped((s) => openAccounts(s).verification))

  tokenStoreSuite('cluster TokenStore (replica of the state stream)', () => {
    const { store, reopen } = scoped((s) => openAccounts(s).tokens)
    return { store, reopen }
  })

  auditTrailSuite('cluster AuditTrail (replica of the state stream)', () => {
    const { store, reopen } = scoped(openAudit)
    return { trail: store, reopen }
  })

  pipelineStoreSuite('cluster PipelineStore (replica of the state stream)', () => {
    const { store, reopen } = scoped((s) => openPipelineStore(s))
    return { store, reopen }
  })
})
