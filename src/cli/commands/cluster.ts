/**
 * `dc09 cluster init|status`: the cluster's streams and lease bucket, made once, and what they
 * hold: each stream's size, leader and followers, and which node runs the pipeline and how far
 * behind the events it is.
 */
import { Kvm } from '@nats-io/kv'
import type { NatsConnection } from '@nats-io/transport-node'
import { InvalidArgumentError, Option, type Command } from 'commander'
import { initCluster, LayoutError, streamStatus, type StreamStatus } from '../../cluster/layout.js'
import { EVENTS_STREAM, LEASE_BUCKET, natsFrom, STATE_STREAM } from '../../cluster/nats.js'
import { ClusterUnavailableError } from '../../cluster/sync-bridge.js'
import type { CliDeps } from '../deps.js'
import { parseCount } from '../options.js'
import { printable } from '../escape.js'
import { connectCommand, connectPlace, pipelineStore, type ClusterPlace } from '../stores.js'

const NATS_HELP = 'the cluster\'s NATS servers, comma-separated (else DC09_NATS)'

export type Out = (s: string) => void

export interface InitFlags {
  readonly replicas: number
  /** Seconds. */
  readonly duplicateWindow: number
  readonly maxBytes?: number | undefined
}

/** Creates what is missing; says what it created and what was there already (left as it is). */
export async function init (servers: readonly string[], f: InitFlags, out: Out): Promise<number> {
  const nc = await connectCommand(servers)
  try {
    const r = await initCluster(nc, { replicas: f.replicas, duplicateWindowMs: f.duplicateWindow * 1000, maxBytes: f.maxBytes ?? 0 })
    if (r.created.length > 0) out(`created: ${r.created.join(', ')}\n`)
    if (r.existing.length > 0) out(`existing (unchanged): ${r.existing.join(', ')}\n`)
    return 0
  } catch (err) {
    if (err instanceof LayoutError) throw err
    throw new ClusterUnavailableError(`the cluster did not make its streams: ${(err as Error).message}`)
  } finally {
    await nc.close().catch(() => undefined)
  }
}

/** Who holds the pipeline's lease, as the lease keeps it; current while `until` is ahead. */
export interface Holder {
  readonly node: string
  readonly until: number
  readonly current: boolean
}

export interface ClusterStatus {
  /** `leader` is null where the server is not clustered (one server has no stream leader). */
  readonly streams: Array<Pick<StreamStatus, 'name' | 'messages' | 'bytes' | 'lastSeq'> & { leader: string | null, followers: Array<{ name: string, current: boolean, lag: number }> }>
  readonly pipeline: { holder: Holder | null, cursor: number, lag: number }
}

async function holder (nc: NatsConnection, now: number): Promise<Holder | null> {
  const kv = await new Kvm(nc).open(LEASE_BUCKET)
  const e = await kv.get('pipeline')
  if (e === null || e.operation !== 'PUT' || e.length === 0) return null
  try {
    const v = e.json<{ node?: unknown, until?: unknown }>()
    if (typeof v.node !== 'string' || typeof v.until !== 'number') return null
    return { node: v.node, until: v.until, current: v.until > now }
  } catch {
    return null
  }
}

export async function collect (place: ClusterPlace, now = Date.now()): Promise<ClusterStatus> {
  const nc = await connectPlace(place)
  try {
    const streams: ClusterStatus['streams'] = []
    for (const name of [EVENTS_STREAM, STATE_STREAM]) {
      const s = await streamStatus(nc, name)
      if (s === undefined) throw new LayoutError(`the cluster has no ${name}: run \`dc09 cluster init --nats ...\` once first`)
      streams.push({ name, messages: s.messages, bytes: s.bytes, lastSeq: s.lastSeq, leader: s.leader ?? null, followers: s.followers.map((f) => ({ name: f.name, current: f.current, lag: f.lag })) })
    }
    const cursor = pipelineStore(place)?.cursor() ?? 0
    return { streams, pipeline: { holder: await holder(nc, now), cursor, lag: Math.max(0, streams[0]!.lastSeq - cursor) } }
  } catch (err) {
    if (err instanceof LayoutError || err instanceof ClusterUnavailableError) throw err
    throw new ClusterUnavailableError(`cannot read the cluster's status: ${(err as Error).message}`)
  } finally {
    await nc.close().catch(() => undefined)
  }
}

/** A few lines: each stream and its followers, then the pipeline. */
export function render (s: ClusterStatus): string {
  const lines: string[] = []
  for (const x of s.streams) {
    lines.push(`${x.name}: ${x.messages} message(s), ${x.bytes} bytes, last sequence ${x.lastSeq}, leader ${printable(x.leader ?? '(none)')}`)
    for (const f of x.followers) lines.push(`  follower ${printable(f.name)}: ${f.current ? 'current' : 'not current'}, ${f.lag} behind`)
  }
  const h = s.pipeline.holder
  const who = h === null ? 'no holder' : `held by ${printable(h.node)} ${h.current ? 'until' : 'expired at'} ${new Date(h.until).toISOString()}`
  lines.push(`pipeline: ${who}; ${s.pipeline.lag} event(s) behind (cursor ${s.pipeline.cursor} of ${s.streams[0]?.lastSeq ?? 0})`)
  return lines.join('\n') + '\n'
}

export async function status (place: ClusterPlace, json: boolean, out: Out): Promise<number> {
  const s = await collect(place)
  out(json ? JSON.stringify(s) + '\n' : render(s))
  return 0
}

function parseReplicas (v: string): number {
  if (!/^[1-5]$/.test(v)) throw new InvalidArgumentError('expected 1 to 5 (3 survives the loss of any one server)')
  return Number(v)
}

function parseWindowSeconds (v: string): number {
  const n = parseCount(v)
  if (n < 1 || n > 86_400) throw new InvalidArgumentError('expected 1 to 86400 seconds')
  return n
}

/** The servers from --nats or DC09_NATS; refused as commander refuses a missing required option. */
function serversOf (cmd: Command, flag: string | undefined): readonly string[] {
  let servers: readonly string[] | undefined
  try {
    servers = natsFrom(flag)
  } catch (err) {
    return cmd.error(`error: option '--nats <urls>' argument is invalid. ${(err as Error).message}`)
  }
  return servers ?? cmd.error('error: required option \'--nats <urls>\' not specified (or DC09_NATS)')
}

export function register (program: Command, deps: CliDeps): void {
  const cluster = program.command('cluster').description('the NATS JetStream cluster several receivers share (streams, leaders, the pipeline\'s holder)')
  cluster.command('init').description('make the streams and the lease bucket the cluster needs; what exists is left as it is (a different replication is refused)')
    .option('--nats <urls>', NATS_HELP)
    .addOption(new Option('--replicas <n>', 'copies of each stream (3 survives the loss of any one server)').argParser(parseReplicas).default(3))
    .addOption(new Option('--duplicate-window <seconds>', 'how long an event\'s id is remembered: a retransmission through any receiver within it is stored once').argParser(parseWindowSeconds).default(600))
    .option('--max-bytes <n>', 'the most bytes of events kept; beyond it events are refused (not acknowledged) rather than old ones dropped', parseCount)
    .action(async (o: { nats?: string, replicas: number, duplicateWindow: number, maxBytes?: number }, cmd: Command) => {
      process.exitCode = await init(serversOf(cmd, o.nats), o, deps.out)
    })
  cluster.command('status').description('each stream\'s messages, bytes, last sequence, leader and followers; who runs the pipeline and how far behind it is')
    .option('--nats <urls>', NATS_HELP).option('--json', 'as JSON')
    .action(async (o: { nats?: string, json?: boolean }, cmd: Command) => {
      process.exitCode = await status({ nats: serversOf(cmd, o.nats) }, o.json === true, deps.out)
    })
}
