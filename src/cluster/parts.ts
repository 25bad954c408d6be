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
import type { PipelineStore } from '../pipeline/pipeline-store.js'
import { SqliteVerificationStore } from '../verification/sqlite-store.js'
import type { VerificationStore } from '../verification/verification-store.js'
import type { PartSpec, SharedState } from './shared-state.js'

export function accountsPart (opts: Omit<SqliteStoreOptions, 'now'> = {}): PartSpec {
  return {
    part: 'accounts',
    open: (env) => ({
      accounts: new SqliteAccountStore(env.dir, { ...opts, now: env.now }),
      verification: new SqliteVerificationStore(env.dir, { salt: (account) => env.random(`salt ${account}`) }),
      // Tokens and tenants share the accounts' database (a tenant lists its accounts' count).
      tokens: new SqliteTokenStore(env.dir),
    }),
    writes: {
      accounts: { add: [], update: [], remove: [], import: [], purge: [] },
      verification: { pepperCheck: [], setPolicy: [], addUser: [], removeUser: [], salt: [], setCost: [], setCode: [1], resetAll: [], updateLimits: [1] },
      tokens: { addToken: [], revoke: [], touch: [], addTenant: [] },
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
    open: (env) => ({ pipeline: new SqlitePipelineStore(env.dir, opts) }),
    writes: { pipeline: { commit: [] } },
  }
}

/** The accounts, their users and codes, and the interface's tokens and tenants: one part, as they are one database on a single node. */
export function openAccounts (state: SharedState, opts: Omit<SqliteStoreOptions, 'now'> = {}): { accounts: AccountStore, verification: VerificationStore, tokens: TokenStore } {
  return state.open(accountsPart(opts))
}

export function openAudit (state: SharedState): AuditTrail {
  return state.open<{ audit: AuditTrail }>(auditPart).audit
}

export function openPipelineStore (state: SharedState, opts: PipelineStoreOptions = {}): PipelineStore {
  return state.open<{ pipeline: PipelineStore }>(pipelinePart(opts)).pipeline
}
