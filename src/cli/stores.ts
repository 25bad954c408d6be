/**
 * Where a command finds the state it reads and changes: the SQLite stores of a data directory, or,
 * with `--nats` (or DC09_NATS), the cluster's shared state. In the cluster, this process holds a
 * replica of the parts it uses for as long as it runs (one connection for all of them; closed, and
 * the replica removed, when the process exits), and a command's event goes to the events stream.
 *
 * The stores handed out have the same interfaces either way. A caller closes what it was given:
 * for the cluster's stores that does nothing, the process's state is closed on exit. The NATS
 * client is loaded only when a command uses the cluster: without it a command starts as before.
 */
import { existsSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import type { Command } from 'commander'
import type { NatsConnection } from '@nats-io/transport-node'
import type { AccountStore } from '../accounts/account-store.js'
import { SqliteAccountStore } from '../accounts/sqlite-store.js'
import { AccessStore } from '../api/access.js'
import type { AuditTrail } from '../audit/audit-trail.js'
import type { TokenStore } from '../access/token-store.js'
import type { JetStreamJournal } from '../cluster/journal.js'
import type { SharedState } from '../cluster/shared-state.js'
import type { DerivedRecord } from '../journal/record.js'
import { appendForCommand } from '../pipeline/control.js'
import type { PipelineStore } from '../pipeline/pipeline-store.js'
import { SqlitePipelineStore } from '../pipeline/store.js'
import type { VerificationStore } from '../verification/verification-store.js'
import { Verifier, type VerifierOptions } from '../verification/verifier.js'

/** The cluster: its servers, and the node-local data directory when one was given (the demo's pepper). */
export interface ClusterPlace {
  readonly nats: readonly string[]
  readonly data?: string | undefined
}

/** A data directory, or the cluster. */
export type Place = string | ClusterPlace

/** How long a command waits for the cluster's first answer, ms. */
const CONNECT_TIMEOUT_MS = 4000

export const DATA_HELP = 'data directory (required without --nats)'
export const NATS_HELP = 'the cluster\'s NATS servers, comma-separated (else DC09_NATS): use the cluster\'s shared state instead of a data directory'

async function loadCluster () {
  const [nats, layout, journal, parts, shared, bridge, transport] = await Promise.all([
    import('../cluster/nats.js'), import('../cluster/layout.js'), import('../cluster/journal.js'), import('../cluster/parts.js'),
    import('../cluster/shared-state.js'), import('../cluster/sync-bridge.js'), import('@nats-io/transport-node'),
  ])
  return { ...nats, ...layout, ...journal, ...parts, ...shared, ...bridge, connect: transport.connect }
}

type ClusterModules = Awaited<ReturnType<typeof loadCluster>>
let modules: ClusterModules | undefined

/** The cluster's code, loaded once by the first command that uses the cluster. */
export async function clusterModules (): Promise<ClusterModules> {
  modules ??= await loadCluster()
  return modules
}

function loaded (): ClusterModules {
  if (modules === undefined) throw new Error('the cluster\'s code is not loaded (placeOptions loads it before the action)')
  return modules
}

/** Whether the options name a cluster (--nats, else DC09_NATS), before any address is checked. */
function namesCluster (flag: string | undefined): boolean {
  return (flag ?? process.env.DC09_NATS ?? '').trim() !== ''
}

/**
 * Adds `--data` and `--nats` to a command: one of them is needed (DC09_NATS stands for --nats),
 * and without a cluster a missing --data is refused as commander refuses a required option.
 * With a cluster, it is reached (and its streams checked) before the command starts.
 */
export function placeOptions (c: Command, dataHelp = DATA_HELP): Command {
  return c.option('--data <dir>', dataHelp)
    .option('--nats <urls>', NATS_HELP)
    .hook('preAction', async (_this, cmd) => {
      const o = cmd.opts<{ data?: string, nats?: string }>()
      if (!namesCluster(o.nats)) {
        if (o.data === undefined) cmd.error('error: required option \'--data <dir>\' not specified (or --nats <urls> for a cluster)')
        return
      }
      const m = await clusterModules()
      let nats: readonly string[] | undefined
      try {
        nats = m.natsFrom(o.nats)
      } catch (err) {
        cmd.error(`error: option '--nats <urls>' argument is invalid. ${(err as Error).message}`)
      }
      // A cluster that cannot be reached, or has no streams yet, is said before anything starts.
      if (nats !== undefined) await (await connectPlace({ nats })).close()
    })
}

/** Where the options of a command (checked by placeOptions) say the state is. */
export function placeOf (o: { data?: string | undefined, nats?: string | undefined }): Place {
  const nats = namesCluster(o.nats) ? loaded().natsFrom(o.nats) : undefined
  if (nats !== undefined) return { nats, data: o.data }
  if (o.data === undefined) throw new Error('no data directory')
  return o.data
}

/** The data directory, when there is one (in the cluster: only if given, for node-local files). */
export function dataDirOf (place: Place): string | undefined {
  return typeof place === 'string' ? place : place.data
}

/** The option that names the place, to repeat in a hint (`--data DIR` or `--nats URLS`). */
export function placeFlag (place: Place): string {
  return typeof place === 'string' ? `--data ${place}` : `--nats ${place.nats.join(',')}`
}

interface Shared {
  readonly key: string
  readonly state: SharedState
  accounts?: { accounts: AccountStore, verification: VerificationStore, tokens: TokenStore }
  audit?: AuditTrail
  pipeline?: PipelineStore
}

let shared: Shared | undefined

function processName (): string {
  return `${hostname()} cli`
}

/** The process's replica of the cluster's state, made on first use and closed when the process exits. */
function stateOf (place: ClusterPlace): Shared {
  const key = place.nats.join(',')
  if (shared !== undefined) {
    if (shared.key !== key) throw new Error('one cluster per process')
    return shared
  }
  const state = new (loaded().SharedState)({ servers: place.nats, name: processName(), timeoutMs: CONNECT_TIMEOUT_MS })
  shared = { key, state }
  process.once('exit', closeShared)
  return shared
}

/** Closes the process's replica (removing its directory); the next use makes a new one. */
export function closeShared (): void {
  const s = shared
  shared = undefined
  s?.state.close()
}

/** A part opened for the first time, with a missing stream said as the layout's refusal. */
function opened<T> (open: () => T): T {
  const m = loaded()
  try {
    return open()
  } catch (err) {
    if (err instanceof m.ClusterUnavailableError && /stream not found/i.test(err.message)) {
      throw new m.LayoutError(`the cluster has no ${m.STATE_STREAM}: run \`dc09 cluster init --nats ...\` once first`)
    }
    throw err
  }
}

function accountsPart (place: ClusterPlace): NonNullable<Shared['accounts']> {
  const s = stateOf(place)
  s.accounts ??= opened(() => loaded().openAccounts(s.state))
  return s.accounts
}

function auditPart (place: ClusterPlace): AuditTrail {
  const s = stateOf(place)
  s.audit ??= opened(() => loaded().openAudit(s.state))
  return s.audit
}

/** The accounts (the caller closes it). */
export function accountStore (place: Place): AccountStore {
  return typeof place === 'string' ? new SqliteAccountStore(place) : accountsPart(place).accounts
}

/** A verifier over the accounts given (the caller closes it): users, codes and the audit trail. */
export function verifierFor (place: Place, accounts: AccountStore, options: VerifierOptions): Verifier {
  if (typeof place === 'string') return new Verifier(place, accounts, options)
  return new Verifier({ store: accountsPart(place).verification, audit: auditPart(place) }, accounts, options)
}

/** The interface's tokens and tenants (the caller closes it). */
export function accessStore (place: Place): AccessStore {
  return new AccessStore(typeof place === 'string' ? place : accountsPart(place).tokens)
}

/** The pipeline's state, or undefined when a data directory has none yet (the caller closes it). */
export function pipelineStore (place: Place): PipelineStore | undefined {
  if (typeof place === 'string') return existsSync(join(place, 'pipeline.db')) ? new SqlitePipelineStore(place) : undefined
  const s = stateOf(place)
  s.pipeline ??= opened(() => loaded().openPipelineStore(s.state))
  return s.pipeline
}

/** Runs `fn` with the pipeline's store, closed afterwards; undefined when there is none yet. */
export function withPipelineStore<T> (place: Place, fn: (s: PipelineStore) => T): T | undefined {
  const store = pipelineStore(place)
  if (store === undefined) return undefined
  try {
    return fn(store)
  } finally {
    store.close()
  }
}

/** Any failure to reach the cluster, as the error a command reports. */
function unavailable (m: ClusterModules, servers: readonly string[], err: unknown): Error {
  if (err instanceof m.LayoutError || err instanceof m.ClusterUnavailableError) return err
  return new m.ClusterUnavailableError(`cannot reach the cluster (${servers.join(',')}): ${(err as Error).message}`)
}

/**
 * A connection for a command: the first attempt goes to each server once and fails when none
 * answers (a command says so at once; a receiver's connection waits for the servers instead);
 * once connected, it reconnects for a while. The caller closes it.
 */
export async function connectCommand (servers: readonly string[]): Promise<NatsConnection> {
  const m = await clusterModules()
  try {
    return await m.connect({
      servers: [...servers],
      name: `dc09 ${processName()}`,
      timeout: CONNECT_TIMEOUT_MS,
      reconnect: true,
      maxReconnectAttempts: 50,
      reconnectTimeWait: 100,
      noAsyncTraces: true,
    })
  } catch (err) {
    throw unavailable(m, servers, err)
  }
}

/** A connection to the cluster whose streams exist (checked); the caller closes it. */
export async function connectPlace (place: ClusterPlace): Promise<NatsConnection> {
  const m = await clusterModules()
  const nc = await connectCommand(place.nats)
  try {
    const missing = await m.checkLayout(nc)
    if (missing !== undefined) throw new m.LayoutError(missing)
  } catch (err) {
    await nc.close().catch(() => undefined)
    throw unavailable(m, place.nats, err)
  }
  return nc
}

/** Runs `fn` with the cluster's events stream as a journal, closed afterwards. */
export async function withClusterJournal<T> (place: ClusterPlace, fn: (j: JetStreamJournal) => Promise<T>): Promise<T> {
  const m = await clusterModules()
  const nc = await connectPlace(place)
  try {
    let journal: JetStreamJournal
    try {
      journal = await m.JetStreamJournal.open(nc)
    } catch (err) {
      throw unavailable(m, place.nats, err)
    }
    try {
      return await fn(journal)
    } finally {
      await journal.close()
    }
  } finally {
    await nc.close().catch(() => undefined)
  }
}

/**
 * Journals a command's event before the command answers: in a data directory directly or through
 * its running receiver; in the cluster, on the events stream (acknowledged by a majority).
 */
export async function appendEvent (place: Place, record: DerivedRecord): Promise<number> {
  if (typeof place === 'string') return await appendForCommand(place, record)
  return await withClusterJournal(place, async (j) => await j.append(record))
}
