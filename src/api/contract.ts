/**
 * What the server and the routes share, and nothing else: the services a handler gets, the
 * context it runs in, what it answers (and the answers every resource gives alike), and how a
 * route is declared. The server depends on this and on the route list; a route depends on this,
 * never on the server.
 */
import type { AccountStore } from '../accounts/account-store.js'
import type { Journal } from '../journal/journal.js'
import type { JournalRecord } from '../journal/record.js'
import type { Logger } from '../log.js'
import type { PipelineStore } from '../pipeline/store.js'
import type { Verifier } from '../verification/verifier.js'
import type { AccessStore, Role, TokenInfo } from './access.js'
import type { Metrics } from './metrics.js'
import type { ApiOptions } from './options.js'
import type { RecentEvents } from './recent.js'

/** The pipeline as the interface sees it: its committed state, and a way to wait for it to reach an event. */
export interface PipelineView {
  /** The pipeline's committed state (cases, supervision). */
  readonly store: PipelineStore
  /**
   * Resolves true once the pipeline has run the journal up to `id` (at once if it has), false
   * after `timeoutMs` if it has not by then.
   */
  waitFor (id: number, timeoutMs: number): Promise<boolean>
}

export interface ApiDeps {
  readonly accounts: AccountStore
  readonly verifier: Verifier
  readonly access: AccessStore
  /** Where verifications, duress and case resolutions are journaled (the receiver's journal). */
  readonly journal: Pick<Journal<JournalRecord>, 'append' | 'healthy'>
  readonly recent: RecentEvents
  readonly pipeline: PipelineView
  readonly metrics: Metrics
  readonly log: Logger
  readonly clock?: (() => number) | undefined
}

/** What a handler answers: a status, a body (JSON unless `type` says otherwise), a retry-after, nothing else. */
export interface Answer {
  readonly status: number
  readonly body?: unknown
  readonly type?: string
  /** Seconds, for a 429 or a 503. */
  readonly retryAfter?: number
}

/**
 * How a code set with a place ended: refused as in use on the account, refused as busy (nothing
 * was hashed), or anything else.
 */
export type CodeSetEnd = 'in-use' | 'busy' | 'other'

/** A place to set a code, taken before the code is hashed; `done` says how the set ended. */
export interface CodePlace {
  done (end: CodeSetEnd): void
}

/** What a handler gets: the request's parts, who is asking, and the services. */
export interface ApiContext {
  readonly deps: ApiDeps
  readonly opts: ApiOptions
  /** The token (public routes: a placeholder, an installer of no tenant, that reaches nothing). */
  readonly who: TokenInfo
  /** Who, for the audit trail: `role:token-id`. */
  readonly actor: string
  /** Where from: the client's address (the peer's, unless it is a trusted proxy). */
  readonly source: string
  readonly params: Readonly<Record<string, string | undefined>>
  readonly query: Readonly<Record<string, string | undefined>>
  readonly body: unknown
  /** What the audit row says beyond who, what, when, where and the status. */
  readonly audit: { account?: string | null, user?: number | null, detail?: string | null, outcome?: string }
  /** Counts accounts an installer read (found or not) toward its tenant's bulk-read alarm. */
  countReads (accounts: readonly string[]): void
  /**
   * A place to try a code on this account now (counts the attempt), the seconds until there is
   * one, or `busy` when only sets still in flight hold the places (one is free again shortly).
   */
  codePlace (account: string): CodePlace | number | 'busy'
  /** Seconds until an installer's tenant may add accounts again after probing taken numbers; 0: now. */
  takenNumbersWait (): number
  /** Counts a number an installer was refused as taken by another tenant. */
  numberTaken (): void
  now (): number
  openapi (): Record<string, unknown>
  /** Cases being resolved right now (one resolution of a case at a time). */
  readonly resolving: Set<number>
  /** Resolves true once the pipeline has run the journal up to this id (false after resolveWaitMs). */
  waitForPipeline (id: number): Promise<boolean>
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

export interface RouteDef {
  readonly method: Method
  /** Fastify's form: `/v1/accounts/:account`. */
  readonly path: string
  /** Who may call it; empty: anyone, without a token. */
  readonly roles: readonly Role[]
  readonly summary: string
  /** The audit trail's action name, for routes that read or change accounts, users, codes, keys, cases, tokens. */
  readonly audit?: string
  readonly schema?: { readonly params?: object, readonly querystring?: object, readonly body?: object }
  readonly handler: (c: ApiContext) => Answer | Promise<Answer>
}

// ------------------------------------------------------------ answers

export const ok = (body: unknown, status = 200): Answer => ({ status, body })
export const noContent = (): Answer => ({ status: 204 })
export const NOT_FOUND_BODY = { error: 'not-found', message: 'not found' } as const
export const notFound = (): Answer => ({ status: 404, body: NOT_FOUND_BODY })
export const conflict = (): Answer => ({ status: 409, body: { error: 'conflict', message: 'the request conflicts with the current state' } })
export const invalid = (message: string): Answer => ({ status: 400, body: { error: 'invalid', message } })
/** Seconds a busy answer asks the caller to wait: a hash takes tens of milliseconds, a full queue about two seconds. */
const BUSY_RETRY_SECONDS = 1
/** Too many codes being checked or set at once (the hashing queue is full): nothing was done. */
export const busy = (): Answer => ({ status: 503, retryAfter: BUSY_RETRY_SECONDS, body: { error: 'busy', message: 'too many codes are being checked or set right now; try again shortly' } })
/** The journal did not take what had to be journaled first: nothing was done. */
export const journalFailing = (): Answer => ({ status: 503, body: { error: 'unavailable', message: 'the journal cannot commit; try again' } })
