/**
 * What the receiver's thread and the services worker (pipeline and HTTP interface) say to each
 * other. The receiver's thread owns the journal's writer; the worker reads the journal's files
 * up to the committed position it is sent, and has its events journaled by asking.
 */
import type { CommittedPosition } from '../journal/file-journal.js'
import type { HashLimits } from '../verification/verifier.js'
import type { ApiOptions } from '../api/server.js'
import type { DerivedRecord } from '../journal/record.js'

/** How the worker is started (its workerData). */
export interface ServicesConfig {
  readonly data: string
  readonly logLevel: string
  /** The pepper of disarm-code hashes: handed over in memory, never written or logged. */
  readonly pepper: Uint8Array
  /** The pipeline's configuration file (default pipeline when undefined), and the directory its relative module paths start from. */
  readonly pipeline?: string | undefined
  readonly cwd: string
  readonly verification?: Partial<HashLimits> | undefined
  readonly api?: { readonly host: string, readonly port: number, readonly options: Partial<ApiOptions> } | undefined
  /** No account's timestamp window may be wider (the receiver's duplicate window, in seconds). */
  readonly maxWindowSeconds: number
  readonly at: CommittedPosition
  readonly healthy: boolean
  /**
   * Cluster mode: the NATS servers and this node's name. The worker then has stores and a
   * journal of its own on the cluster, and runs the pipeline only while it holds the lease.
   */
  readonly nats?: { readonly servers: readonly string[], readonly node: string } | undefined
  /** The outputs, as configured (checked by the receiver's thread before it started the worker). */
  readonly outputs?: readonly unknown[] | undefined
}

export type ToWorker =
  | { readonly t: 'committed', readonly at: CommittedPosition, readonly healthy: boolean }
  | { readonly t: 'appended', readonly req: number, readonly id?: number, readonly error?: string }
  | { readonly t: 'metrics', readonly req: number, readonly text: string }
  | { readonly t: 'stop' }

export type FromWorker =
  /** Configuration loaded, stores open, the interface listening (its port): the pipeline is starting. */
  | { readonly t: 'ready', readonly apiPort?: number | undefined }
  /** It cannot start (a bad pipeline configuration, a port in use): the reason, for the operator. */
  | { readonly t: 'failed', readonly message: string }
  | { readonly t: 'append', readonly req: number, readonly record: DerivedRecord }
  | { readonly t: 'metrics?', readonly req: number }
  /** Accounts were changed through the interface: the receiver picks them up now, not at its next look. */
  | { readonly t: 'accounts-changed' }
  | { readonly t: 'stopped' }
