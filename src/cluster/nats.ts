/**
 * The cluster's names and connections: which NATS servers, which streams, and how a process
 * connects to them. Every receiver connects to every server it is given and keeps reconnecting,
 * so that the loss of the server it talks to costs a reconnect (about 0.1 s), not the receiver.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node'

/** The events stream: the journal of every receiver of the cluster. Its sequence is the journal id. */
export const EVENTS_STREAM = 'DC09_EVENTS'
export const EVENTS_SUBJECTS = 'dc09.ev.>'
/** The shared state (accounts with users, codes and tokens; the audit trail; the pipeline's state): one ordered log of changes per part. */
export const STATE_STREAM = 'DC09_STATE'
export const STATE_SUBJECTS = 'dc09.state.>'
/** Leases (which node runs the pipeline). */
export const LEASE_BUCKET = 'DC09_LEASES'

/** The parts of the shared state, each an ordered log of its own (`dc09.state.<part>`). */
export const STATE_PARTS = ['accounts', 'audit', 'pipeline'] as const
export type StatePart = typeof STATE_PARTS[number]

export const stateSubject = (part: StatePart): string => `dc09.state.${part}`

/** `nats://a:4222,nats://b:4222` or `a:4222,b:4222` into the list of servers; undefined when empty. */
export function parseNatsUrls (text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined
  const urls = text.split(',').map((s) => s.trim()).filter((s) => s !== '')
  if (urls.length === 0) return undefined
  for (const u of urls) {
    const hostPort = u.replace(/^(nats|tls):\/\//, '')
    if (!/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(hostPort)) throw new Error(`not a NATS server address (host:port or nats://host:port): ${JSON.stringify(u)}`)
  }
  return urls
}

/** The server list from `--nats` or, when the option is absent, from DC09_NATS. */
export function natsFrom (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] | undefined {
  return parseNatsUrls(flag ?? env.DC09_NATS)
}

export interface ConnectOptions {
  /** Shown in the servers' connection lists: the node and what it is (`n1 receiver`). */
  readonly name: string
  /** How long to keep trying the first connection, in ms. */
  readonly timeoutMs?: number
}

/**
 * Connects to the cluster: fails (within `timeoutMs`) when no server answers at first, so that a
 * command says so instead of hanging; once connected, reconnects forever, 100 ms apart, to any of
 * the servers: a receiver must come back by itself when the servers do.
 */
export async function connectCluster (servers: readonly string[], opts: ConnectOptions): Promise<NatsConnection> {
  return await connect({
    servers: [...servers],
    name: `dc09 ${opts.name}`,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    reconnectJitter: 50,
    timeout: opts.timeoutMs ?? 5000,
    waitOnFirstConnect: false,
    // Not an Error (with its stack) made for every request in case it fails: a publish per event.
    noAsyncTraces: true,
  })
}

/**
 * Whether a failed JetStream request may succeed if tried again: a timeout, no responders (the
 * stream has no leader during an election; the client then says "jetstream is not enabled"), or a
 * lost connection. Anything else (a refused expectation, a missing stream) is an answer.
 */
export function retryable (err: unknown): boolean {
  const e = err as { name?: string, message?: string, code?: string | number } | undefined
  const msg = String(e?.message ?? '').toLowerCase()
  const name = String(e?.name ?? '')
  return name === 'TimeoutError' || name === 'NoResponders' || name === 'RequestError' || name === 'JetStreamNotEnabled' || name === 'ConnectionError' ||
    name === 'DrainingConnectionError' || name === 'JetStreamStatusError' ||
    msg.includes('timeout') || msg.includes('no responders') || msg.includes('jetstream is not enabled') || msg.includes('503') ||
    msg.includes('disconnect') || msg.includes('connection closed') || msg.includes('closed connection') || msg.includes('no quorum') ||
    msg.includes('jetstream not in clustered mode') || msg.includes('stream is offline')
}

/** Whether an error is the refusal of an expected last sequence (another writer got there first). */
export function wrongSequence (err: unknown): boolean {
  const e = err as { name?: string, message?: string, code?: number } | undefined
  return (e?.name === 'JetStreamApiError' && e.code === 10071) || String(e?.message ?? '').includes('wrong last sequence')
}
