/**
 * The cluster's streams and bucket: created once by `dc09 cluster init` (again: nothing changes),
 * checked by every process that joins, and described by `dc09 cluster status`.
 */
import { jetstreamManager, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo } from '@nats-io/jetstream'
import { Kvm } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { EVENTS_STREAM, EVENTS_SUBJECTS, LEASE_BUCKET, retryable, STATE_STREAM, STATE_SUBJECTS } from './nats.js'

const NS_PER_MS = 1_000_000

export interface LayoutOptions {
  /** Copies of every stream: 3 (the default) survives the loss of any one server; 1 is for a single test server. */
  readonly replicas: number
  /** How long a message id is remembered, in ms: a retransmission within it, through any receiver, is stored once. */
  readonly duplicateWindowMs: number
  /** The most bytes of events kept; beyond it publishes are refused (no ACK) rather than old events dropped. 0: no limit. */
  readonly maxBytes: number
}

export const defaultLayout: LayoutOptions = Object.freeze({ replicas: 3, duplicateWindowMs: 10 * 60_000, maxBytes: 0 })

function eventsConfig (o: LayoutOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: EVENTS_STREAM,
    subjects: [EVENTS_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    num_replicas: o.replicas,
    duplicate_window: o.duplicateWindowMs * NS_PER_MS,
    // Full means refused, never an acknowledged event silently dropped.
    discard: DiscardPolicy.New,
    max_bytes: o.maxBytes > 0 ? o.maxBytes : -1,
    deny_delete: true,
    deny_purge: true,
  }
}

function stateConfig (o: LayoutOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: STATE_STREAM,
    subjects: [STATE_SUBJECTS],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    num_replicas: o.replicas,
    // Long enough for a writer to retry a change whose answer it lost.
    duplicate_window: 2 * 60_000 * NS_PER_MS,
    discard: DiscardPolicy.New,
    deny_delete: true,
    deny_purge: true,
  }
}

export interface InitResult {
  /** What was created (empty when everything existed already). */
  readonly created: string[]
  readonly existing: string[]
}

/** A refusal: the streams exist with another replication, or the servers have no JetStream. */
export class LayoutError extends Error {
  readonly code = 'DC09_ERR_CLUSTER_LAYOUT'
}

async function ensureStream (jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }, out: { created: string[], existing: string[] }): Promise<void> {
  const name = cfg.name
  const info = await streamInfo(jsm, name)
  if (info === undefined) {
    await jsm.streams.add(cfg)
    out.created.push(name)
    return
  }
  if (info.config.num_replicas !== cfg.num_replicas) {
    throw new LayoutError(`stream ${name} exists with ${info.config.num_replicas} replicas, not ${cfg.num_replicas}: refusing to change its replication silently (change it with the NATS tools, or pass --replicas ${info.config.num_replicas})`)
  }
  out.existing.push(name)
}

async function streamInfo (jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name)
  } catch (err) {
    if ((err as { name?: string }).name === 'StreamNotFoundError') return undefined
    throw err
  }
}

/**
 * Creates the streams and the lease bucket that are missing; refuses to change the replication of
 * existing ones. Servers that have just started have no JetStream until they have elected their
 * leaders: tried again for up to `waitMs`.
 */
export async function initCluster (nc: NatsConnection, o: LayoutOptions = defaultLayout, waitMs = 20_000): Promise<InitResult> {
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      return await initOnce(nc, o)
    } catch (err) {
      if (err instanceof LayoutError || !retryable(err) || Date.now() + 250 >= deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
}

async function initOnce (nc: NatsConnection, o: LayoutOptions): Promise<InitResult> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 })
  const out = { created: [] as string[], existing: [] as string[] }
  await ensureStream(jsm, eventsConfig(o), out)
  await ensureStream(jsm, stateConfig(o), out)
  const kvStream = `KV_${LEASE_BUCKET}`
  const info = await streamInfo(jsm, kvStream)
  if (info !== undefined && info.config.num_replicas !== o.replicas) {
    throw new LayoutError(`bucket ${LEASE_BUCKET} exists with ${info.config.num_replicas} replicas, not ${o.replicas}: refusing to change its replication silently`)
  }
  await new Kvm(nc).create(LEASE_BUCKET, { replicas: o.replicas, history: 1 })
  ;(info === undefined ? out.created : out.existing).push(LEASE_BUCKET)
  return out
}

/** Checks that the streams a receiver needs exist; the reason when not (run `dc09 cluster init`). */
export async function checkLayout (nc: NatsConnection): Promise<string | undefined> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 })
  for (const name of [EVENTS_STREAM, STATE_STREAM, `KV_${LEASE_BUCKET}`]) {
    if (await streamInfo(jsm, name) === undefined) return `the cluster has no ${name}: run \`dc09 cluster init --nats ...\` once first`
  }
  return undefined
}

export interface StreamStatus {
  readonly name: string
  readonly messages: number
  readonly bytes: number
  readonly firstSeq: number
  readonly lastSeq: number
  readonly replicas: number
  readonly leader: string | undefined
  /** Each replica but the leader: whether it is current, and how many operations it is behind. */
  readonly followers: ReadonlyArray<{ readonly name: string, readonly current: boolean, readonly lag: number, readonly activeMs: number }>
}

/** The state of one stream as its leader reports it. */
export async function streamStatus (nc: NatsConnection, name: string): Promise<StreamStatus | undefined> {
  const jsm = await jetstreamManager(nc, { timeout: 10_000 })
  const info = await streamInfo(jsm, name)
  if (info === undefined) return undefined
  return {
    name,
    messages: info.state.messages,
    bytes: info.state.bytes,
    firstSeq: info.state.first_seq,
    lastSeq: info.state.last_seq,
    replicas: info.config.num_replicas,
    leader: info.cluster?.leader,
    followers: (info.cluster?.replicas ?? []).map((r) => ({ name: r.name, current: r.current, lag: r.lag ?? 0, activeMs: Math.round((r.active ?? 0) / NS_PER_MS) })),
  }
}
