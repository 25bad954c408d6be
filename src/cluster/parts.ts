/**
 * The parts of the cluster's shared state: which stores each holds (the single node's SQLite
 * stores, as replicas) and which of their methods change state (with the positions of callback
 * arguments, whose answers a change records). A method missing here would change one replica
 * only: the conformance suites run against these replicas to catch that.
 */
import { SqliteAccountStore, type SqliteStoreOptions } from '../accounts/sqlite-store.js'
import type { AccountStore } from '../accounts/account-store.js'
import { SqliteTokenStore } from '../access/sqlite-token-store.js'
import type { TokenStore } from '../access/token-store.js'
import { SqliteAuditTrail } from '../audit/sqlite-audit-trail.js'
import type { AuditTrail } from '../audit/audit-trail.js'
import { SqlitePipelineStore, type PipelineStoreOptions } from '../pipeline/store.js'
import type { Batch, DeadLetter, PipelineStore, StatePage } from '../pipeline/pipeline-store.js'
import type { StageState } from '../pipeline/stage.js'
import { SqliteVerificationStore } from '../verification/sqlite-store.js'
import type { VerificationStore } from '../verification/verification-store.js'
import type { PartSpec, SharedState } from './shared-state.js'

export function accountsPart (opts: Omit<SqliteStoreOptions, 'now' | 'salt'> = {}): PartSpec {
  return {
    part: 'accounts',
    open: (env) => ({
      accounts: new SqliteAccountStore(env.dir, { ...opts, now: env.now, salt: (account) => env.random(`salt ${account}`) }),
      verification: new SqliteVerificationStore(env.dir, { salt: (account) => env.random(`salt ${account}`) }),
      // Tokens and tenants share the accounts' database (a tenant lists its accounts' count).
      tokens: new SqliteTokenStore(env.dir),
    }),
    writes: {
      accounts: { add: [], update: [], remove: [], import: [], purge: [] },
      verification: { pepperCheck: [], setPolicy: [], addUser: [], removeUser: [], salt: [], setCost: [], setCode: [1], resetAll: [], updateLimits: [1] },
      tokens: { addToken: [], revoke: [], touch: [], addTenant: [] },
    },
    // Every verifier, at its start, makes sure of the row unknown accounts read: once is enough.
    unchanged: {
      verification: {
        salt: (v: VerificationStore, [account]) => v.slots(String(account), String(account)) !== undefined,
        setCost: (v: VerificationStore, [account, n]) => v.slots(String(account), String(account))?.n === n,
      },
    },
  }
}

export const auditPart: PartSpec = {
  part: 'audit',
  open: (env) => ({ audit: new SqliteAuditTrail(env.dir) }),
  writes: { audit: { append: [] } },
}

export function pipelinePart (opts: PipelineStoreOptions = {}): PartSpec {
  return {
    part: 'pipeline',
    open: (env) => ({ pipeline: new ConditionalPipelineStore(new SqlitePipelineStore(env.dir, opts)) }),
    writes: { pipeline: { commit: [] } },
  }
}

/** The pipeline's cursor moved under a holder that thought it ran the pipeline: another node runs it now. */
export class PipelineFencedError extends Error {
  readonly code = 'DC09_ERR_PIPELINE_FENCED'
}

/** A pipeline store over another, every read passed through: what the two below share. */
abstract class PipelineStoreOver<S extends PipelineStore> implements PipelineStore {
  protected readonly inner: S
  constructor (inner: S) { this.inner = inner }
  cursor (name?: string): number { return this.inner.cursor(name) }
  state (stage: string, batches: readonly Batch[]): StageState { return this.inner.state(stage, batches) }
  abstract commit (batch: Batch, cursor: number | undefined, emitted?: number, name?: string): void
  deadLetters (): DeadLetter[] { return this.inner.deadLetters() }
  deadLetterCount (): number { return this.inner.deadLetterCount() }
  read<T> (stage: string, prefix: string): Array<[string, T]> { return this.inner.read<T>(stage, prefix) }
  readOne<T> (stage: string, key: string): T | undefined { return this.inner.readOne<T>(stage, key) }
  page<T> (stage: string, prefix: string, after: string | undefined, limit: number, where?: Readonly<Record<string, string>>, window?: number): StatePage<T> {
    return this.inner.page<T>(stage, prefix, after, limit, where, window)
  }

  close (): void { this.inner.close() }
}

/**
 * The replica's pipeline store: a commit may name the cursor it expects to find (the one its
 * pipeline ran from), and is refused, changing nothing, when the cursor is elsewhere. The check
 * is on the replica's state, so a replay decides what the writer decided.
 */
class ConditionalPipelineStore extends PipelineStoreOver<SqlitePipelineStore> {
  commit (batch: Batch, cursor: number | undefined, emitted?: number, name?: string, expected?: number): void {
    const now = this.inner.cursor(name)
    if (expected !== undefined && now !== expected) throw new PipelineFencedError(`the pipeline's cursor is at ${now}, not ${expected}: another node runs the pipeline now`)
    this.inner.commit(batch, cursor, emitted, name)
  }
}

/**
 * The pipeline store a node's runner uses: every commit expects the cursor where this runner
 * last saw it (read at its start, moved by its own commits). A holder that was paused past its
 * lease, while another node ran the pipeline on, has its next commit refused instead of writing
 * older state over newer.
 */
class FencedPipelineStore extends PipelineStoreOver<ConditionalPipelineStore> {
  readonly #seen = new Map<string, number>()
  override cursor (name = 'main'): number {
    const c = this.inner.cursor(name)
    this.#seen.set(name, c)
    return c
  }

  commit (batch: Batch, cursor: number | undefined, emitted?: number, name = 'main'): void {
    this.inner.commit(batch, cursor, emitted, name, this.#seen.get(name))
    if (cursor !== undefined) this.#seen.set(name, cursor)
  }
}

/** The accounts, their users and codes, and the interface's tokens and tenants: one part, as they are one database on a single node. */
export function openAccounts (state: SharedState, opts: Omit<SqliteStoreOptions, 'now' | 'salt'> = {}): { accounts: AccountStore, verification: VerificationStore, tokens: TokenStore } {
  return state.open(accountsPart(opts))
}

export function openAudit (state: SharedState): AuditTrail {
  return state.open<{ audit: AuditTrail }>(auditPart).audit
}

/** The pipeline's state; every commit is refused once another node has moved the cursor (see FencedPipelineStore). */
export function openPipelineStore (state: SharedState, opts: PipelineStoreOptions = {}): PipelineStore {
  return new FencedPipelineStore(state.open<{ pipeline: ConditionalPipelineStore }>(pipelinePart(opts)).pipeline)
}
