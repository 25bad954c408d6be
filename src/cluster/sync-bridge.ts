/**
 * Synchronous calls to the cluster, for the stores: their interfaces are synchronous (a SQLite
 * transaction is), and a store of the cluster's state answers from a local replica but must write
 * through the stream. A worker thread owns the NATS connection; the caller posts a request and
 * waits on shared memory for the answer (Atomics.wait), its event loop paused for that time, as
 * it would be for a SQLite write. Only changes wait for the network: reads of the replica look at
 * the last sequences the thread keeps in shared memory, which costs an atomic load.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { CTL_DONE, CTL_ID, CTL_IDLE, CTL_LEN, CTL_STATE, HEAD_SLOTS, type BridgeData, type BridgeRequest, type BridgeResponse } from './bridge-protocol.js'

/** The largest answer (a page of changes to replay). */
const OUT_BYTES = 8 * 1024 * 1024

/** The cluster did not answer in time, or has no quorum: nothing was changed (or, if it was, replay will show it). */
export class ClusterUnavailableError extends Error {
  readonly code = 'DC09_ERR_CLUSTER_UNAVAILABLE'
}

type Without<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never

/** The thread's file: next to this one when built; from the build when this runs from the sources (tests). */
function workerFile (): URL {
  const here = new URL('./bridge-worker.js', import.meta.url)
  if (existsSync(fileURLToPath(here))) return here
  return new URL('../../dist/src/cluster/bridge-worker.js', import.meta.url)
}

export class SyncBridge {
  readonly #worker: Worker
  readonly #ctl: Int32Array
  readonly #heads: BigInt64Array
  readonly #out: Uint8Array
  readonly #slots = new Map<string, number>()
  readonly #timeoutMs: number
  readonly #decoder = new TextDecoder()
  #id = 0
  #closed = false

  /** Starts the thread and waits (blocking) until it is connected; throws ClusterUnavailableError when it cannot. */
  constructor (servers: readonly string[], name: string, timeoutMs = 5000) {
    this.#timeoutMs = timeoutMs
    const data: BridgeData = {
      servers, name, timeoutMs,
      ctl: new SharedArrayBuffer(4 * 4),
      heads: new SharedArrayBuffer(8 * HEAD_SLOTS),
      out: new SharedArrayBuffer(OUT_BYTES),
    }
    this.#ctl = new Int32Array(data.ctl)
    this.#heads = new BigInt64Array(data.heads)
    this.#out = new Uint8Array(data.out)
    this.#worker = new Worker(workerFile(), { workerData: data })
    this.#worker.unref()
    const first = this.#wait(0, timeoutMs + 10_000)
    if (!first.ok) {
      void this.#worker.terminate()
      throw new ClusterUnavailableError(`cannot reach the cluster (${servers.join(',')}): ${first.message}`)
    }
  }

  /** Follows the last sequence of a subject from now on (head), and answers it now. */
  watch (subject: string): number {
    const res = this.call({ op: 'watch', subject })
    if (!res.ok) throw new ClusterUnavailableError(`cannot follow ${subject}: ${res.message}`)
    this.#slots.set(subject, res.slot!)
    return res.seq ?? 0
  }

  /** The last sequence the stream is known to hold for a watched subject (0: none yet). */
  head (subject: string): number {
    const i = this.#slots.get(subject)
    return i === undefined ? 0 : Number(Atomics.load(this.#heads, i))
  }

  /** Sends a request and waits for its answer. */
  call (req: Without<BridgeRequest, 'id'>): BridgeResponse {
    if (this.#closed) return { ok: false, kind: 'error', message: 'the bridge is closed' }
    const id = ++this.#id
    this.#worker.postMessage({ ...req, id })
    // The thread retries for timeoutMs itself; allow it that, and its last attempt.
    return this.#wait(id, this.#timeoutMs * 2 + 2000)
  }

  #wait (id: number, timeoutMs: number): BridgeResponse {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const left = deadline - Date.now()
      if (left <= 0) return { ok: false, kind: 'unavailable', message: `no answer from the cluster within ${timeoutMs} ms` }
      Atomics.wait(this.#ctl, CTL_STATE, CTL_IDLE, left)
      if (Atomics.load(this.#ctl, CTL_STATE) !== CTL_DONE) continue
      const answered = Atomics.load(this.#ctl, CTL_ID)
      const len = Atomics.load(this.#ctl, CTL_LEN)
      const text = answered === id ? this.#decoder.decode(this.#out.slice(0, len)) : undefined
      Atomics.store(this.#ctl, CTL_STATE, CTL_IDLE)
      Atomics.notify(this.#ctl, CTL_STATE)
      // An answer to an earlier request that timed out: dropped, and this one waited for.
      if (text !== undefined) return JSON.parse(text) as BridgeResponse
    }
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    this.#worker.postMessage({ op: 'close' })
    setTimeout(() => { void this.#worker.terminate() }, 2000).unref()
  }
}
