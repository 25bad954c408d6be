/**
 * The stores of the cluster's shared state: accounts (with users and codes), tokens, the audit
 * trail and the pipeline's state. Each part is an ordered log of changes on the state stream
 * (`dc09.state.<part>`), and each process keeps a replica of the parts it uses: the same SQLite
 * stores as a single node has, in a node-local directory, rebuilt from the log when the process
 * starts.
 *
 * Reads answer from the replica, after replaying any change the stream holds that the replica has
 * not seen (the bridge's thread follows the stream's last sequence per part, so the check costs an
 * atomic load): a change made on any node is visible on every node as soon as the stream has it.
 *
 * A change is made on the replica, brought up to the log's last change first, and then published
 * with that last change's sequence as the expected one: the stream refuses it if another change
 * came in between, so the log is the order in which changes were made on up-to-date replicas, and
 * every replica replaying it ends in the same state. When the publish is refused or fails, the
 * replica (which made a change the log does not have) is rebuilt from the log, and a refused
 * change is made again on the new state.
 *
 * A change records what it depends on besides the replica: its time, a random seed (for salts),
 * and what each callback it was given returned (the checks of setCode and updateLimits run on the
 * writer; replicas get their answers), so that replaying it does exactly what the writer did.
 */
import { createHmac, randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { ClusterUnavailableError, SyncBridge } from './sync-bridge.js'
import { stateSubject, type StatePart } from './nats.js'

/** What a change depends on besides the replica's state: set while it is made and while it is replayed. */
export interface ChangeContext {
  /** The time of the change, epoch ms. */
  at: number
  seed: Buffer
}

/** What a part's stores need to be made deterministic: the clock and randomness of the change being made. */
export interface ReplicaEnv {
  readonly dir: string
  readonly now: () => Date
  /** 16 bytes derived from the change's seed and a label (the same on every replica). */
  readonly random: (label: string) => Buffer
}

/** A part's stores and, for each, its methods that change state with the positions of their callback arguments. */
export interface PartSpec {
  readonly part: StatePart
  readonly open: (env: ReplicaEnv) => Readonly<Record<string, object>>
  readonly writes: Readonly<Record<string, Readonly<Record<string, readonly number[]>>>>
  /**
   * Writes that change nothing in some states (insert if absent), with the test of that state on
   * the up-to-date replica: then the call runs on the replica alone, and nothing is published.
   */
  readonly unchanged?: Readonly<Record<string, Readonly<Record<string, (store: never, args: readonly unknown[]) => boolean>>>>
}

/** A change as the log holds it. */
interface Change {
  /** The store of the part. */
  readonly s: string
  readonly m: string
  readonly a: unknown[]
  readonly at: number
  readonly seed: string
  /** By callback position, what each call of it returned. */
  readonly r: Record<string, unknown[]>
  /** The change's own id (also its message id): how a writer recognises its change after a lost answer. */
  readonly id?: string
}

/** A page of changes: at most a quarter of the bridge's answer buffer (JSON within JSON, escaped). */
const FETCH_BYTES = 2 * 1024 * 1024
const MAX_ATTEMPTS = 8

/** JSON that keeps Buffers, Maps and undefined (the stores' arguments and the callbacks' answers have them). */
export function encodeValue (v: unknown): string {
  return JSON.stringify(v, function (this: Record<string, unknown>, k: string, val: unknown) {
    const raw = this[k]
    if (Buffer.isBuffer(raw)) return { $b: raw.toString('base64') }
    if (raw instanceof Uint8Array) return { $b: Buffer.from(raw).toString('base64') }
    if (raw instanceof Map) return { $m: [...raw.entries()] }
    if (raw === undefined) return { $u: 1 }
    return val
  })
}

export function decodeValue (text: string): unknown {
  return JSON.parse(text, (_k, val: unknown) => {
    if (val !== null && typeof val === 'object' && !Array.isArray(val)) {
      const o = val as Record<string, unknown>
      if (typeof o.$b === 'string' && Object.keys(o).length === 1) return Buffer.from(o.$b, 'base64')
      if (Array.isArray(o.$m) && Object.keys(o).length === 1) return new Map(o.$m as Array<[unknown, unknown]>)
      if (o.$u === 1 && Object.keys(o).length === 1) return undefined
    }
    return val
  })
}

class Part {
  readonly spec: PartSpec
  readonly subject: string
  readonly dir: string
  readonly ctx: ChangeContext = { at: 0, seed: Buffer.alloc(16) }
  stores: Readonly<Record<string, object>>
  /** The sequence of the last change of this part the replica has. */
  last = 0
  /** Changes replayed since the start (for refresh's answer). */
  applied = 0
  /** A change this process published without an answer: whether a replay met it. */
  awaited: string | undefined
  met = false

  constructor (spec: PartSpec, dir: string, subject: string) {
    this.spec = spec
    this.subject = subject
    this.dir = dir
    this.stores = this.#open()
  }

  #open (): Readonly<Record<string, object>> {
    rmSync(this.dir, { recursive: true, force: true })
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const ctx = this.ctx
    return this.spec.open({
      dir: this.dir,
      now: () => new Date(ctx.at),
      random: (label) => createHmac('sha256', ctx.seed).update(label).digest().subarray(0, 16),
    })
  }

  /** Throws the replica away and starts an empty one (to replay the log from the start). */
  reset (): void {
    this.closeStores()
    this.stores = this.#open()
    this.last = 0
  }

  closeStores (): void {
    for (const s of Object.values(this.stores)) (s as { close?: () => void }).close?.()
  }
}

export interface SharedStateOptions {
  readonly servers: readonly string[]
  /** The node and what it is, shown in the servers' connection lists. */
  readonly name: string
  readonly dir?: string | undefined
  readonly timeoutMs?: number | undefined
  readonly scope?: string | undefined
  /** A bridge to share with other states of this process (not closed with this one). */
  readonly bridge?: SyncBridge | undefined
}

export class SharedState {
  readonly #bridge: SyncBridge
  readonly #ownBridge: boolean
  readonly #parts = new Map<StatePart, Part>()
  readonly #root: string
  #closed = false

  readonly #subject: (part: StatePart) => string

  /**
   * Connects (blocking) to the cluster. `dir`: a node-local directory for the replicas (made
   * empty here, and removed on close); a temporary one when absent. `scope`: a separate state
   * under `dc09.state.<scope>.<part>` (several installations on one cluster; tests).
   */
  constructor (opts: SharedStateOptions) {
    this.#root = opts.dir === undefined ? mkdtempSync(join(process.env.TMPDIR ?? '/tmp', 'dc09-replica-')) : opts.dir
    const scope = opts.scope
    if (scope !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(scope)) throw new Error(`bad state scope ${JSON.stringify(scope)}`)
    this.#subject = (part) => (scope === undefined ? stateSubject(part) : `dc09.state.${scope}.${part}`)
    this.#ownBridge = opts.bridge === undefined
    this.#bridge = opts.bridge ?? new SyncBridge(opts.servers, opts.name, opts.timeoutMs ?? 5000)
  }

  /** The stores of a part, brought up to date with the log: each a proxy with the store's interface. */
  open<T extends Readonly<Record<string, object>>> (spec: PartSpec): T {
    if (this.#parts.has(spec.part)) throw new Error(`part ${spec.part} is open already`)
    const part = new Part(spec, join(this.#root, spec.part), this.#subject(spec.part))
    this.#parts.set(spec.part, part)
    this.#bridge.watch(part.subject)
    this.#catchUp(part)
    const out: Record<string, object> = {}
    for (const name of Object.keys(part.stores)) out[name] = this.#proxy(part, name)
    return out as T
  }

  /**
   * Replays what the log holds beyond the replica; how many changes. Asks the cluster only when
   * its bridge has heard of a change the replica lacks: a caller on a timer (the receiver's, every
   * second) must not wait on the network each time.
   */
  refresh (part: StatePart): number {
    const p = this.#parts.get(part)
    if (p === undefined) return 0
    const before = p.applied
    this.#fresh(p)
    return p.applied - before
  }

  #proxy (part: Part, store: string): object {
    const writes = part.spec.writes[store] ?? {}
    return new Proxy({}, {
      get: (_t, prop) => {
        const target = part.stores[store] as Record<string | symbol, unknown>
        const v = target[prop]
        if (typeof v !== 'function') {
          this.#fresh(part)
          return (part.stores[store] as Record<string | symbol, unknown>)[prop]
        }
        if (prop === 'close') return () => undefined
        if (prop === 'refresh') return () => this.refresh(part.spec.part)
        const callbacks = typeof prop === 'string' ? writes[prop] : undefined
        if (callbacks !== undefined) return (...args: unknown[]) => this.#write(part, store, prop as string, args, callbacks)
        return (...args: unknown[]) => {
          this.#fresh(part)
          const s = part.stores[store] as Record<string | symbol, (...a: unknown[]) => unknown>
          return s[prop]!.apply(s, args)
        }
      },
    })
  }

  /** Replays new changes if the stream is known to hold any. */
  #fresh (part: Part): void {
    if (this.#bridge.head(part.subject) > part.last) this.#catchUp(part)
  }

  #catchUp (part: Part, to?: number): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      const res = this.#bridge.call({ op: 'fetch', subject: part.subject, from: part.last + 1, maxBytes: FETCH_BYTES })
      if (!res.ok) throw new ClusterUnavailableError(`cannot read the cluster's ${part.spec.part}: ${res.message}`)
      const msgs = res.msgs ?? []
      for (const m of msgs) {
        if (m.seq <= part.last) continue
        this.#replay(part, decodeValue(m.data) as Change)
        part.last = m.seq
        part.applied++
      }
      if (msgs.length === 0 || (to !== undefined && part.last >= to)) return
    }
  }

  #replay (part: Part, c: Change): void {
    if (c.id !== undefined && c.id === part.awaited) part.met = true
    part.ctx.at = c.at
    part.ctx.seed = Buffer.from(c.seed, 'base64')
    const args = c.a.map((a, i) => {
      const answers = c.r[String(i)]
      if (answers === undefined) return a
      let n = 0
      return () => answers[Math.min(n++, answers.length - 1)]
    })
    const s = part.stores[c.s] as Record<string, (...a: unknown[]) => unknown> | undefined
    try {
      s?.[c.m]?.apply(s, args)
    } catch {
      // The writer's replica threw the same on this change (it was published only after it
      // returned): a replica that throws here has diverged, and is rebuilt by the next failure.
    }
  }

  #write (part: Part, store: string, method: string, args: unknown[], callbacks: readonly number[]): unknown {
    if (this.#closed) throw new Error('the shared state is closed')
    for (let attempt = 1; ; attempt++) {
      const head = this.#bridge.call({ op: 'last', subject: part.subject })
      if (!head.ok) throw new ClusterUnavailableError(`cannot reach the cluster to change its ${part.spec.part}: ${head.message}`)
      this.#catchUp(part, head.seq)
      const expect = part.last
      const s = part.stores[store] as Record<string, (...a: unknown[]) => unknown>
      const same = part.spec.unchanged?.[store]?.[method]
      if (same !== undefined && same(s as never, args)) return s[method]!.apply(s, args)
      const seed = randomBytes(16)
      part.ctx.at = Date.now()
      part.ctx.seed = seed
      const recorded: Record<string, unknown[]> = {}
      const callArgs = args.map((a, i) => {
        if (!callbacks.includes(i) || typeof a !== 'function') return a
        const answers: unknown[] = (recorded[String(i)] = [])
        return (...cbArgs: unknown[]) => { const r = (a as (...x: unknown[]) => unknown)(...cbArgs); answers.push(r); return r }
      })
      let result: unknown
      try {
        result = s[method]!.apply(s, callArgs)
      } catch (err) {
        this.#rebuild(part)
        throw err
      }
      const id = randomBytes(12).toString('base64url')
      const change: Change = { s: store, m: method, a: args.map((a, i) => (callbacks.includes(i) ? null : a)), at: part.ctx.at, seed: seed.toString('base64'), r: recorded, id }
      const res = this.#bridge.call({ op: 'publish', subject: part.subject, data: encodeValue(change), msgID: id, expect })
      if (res.ok) {
        part.last = res.seq ?? part.last
        return result
      }
      // The replica has a change the log may not have: back to the log's state. A publish whose
      // answer was lost (or whose retry was refused because its first try was stored) may be in
      // the log all the same: then it was made, once, and is not made again.
      part.awaited = id
      part.met = false
      try {
        this.#rebuild(part)
      } finally {
        part.awaited = undefined
      }
      if (part.met) return result
      if (res.kind !== 'conflict' || attempt >= MAX_ATTEMPTS) throw new ClusterUnavailableError(`the cluster did not take the change to its ${part.spec.part}: ${res.message}`)
    }
  }

  #rebuild (part: Part): void {
    part.reset()
    this.#catchUp(part)
  }

  close (): void {
    if (this.#closed) return
    this.#closed = true
    for (const p of this.#parts.values()) p.closeStores()
    if (this.#ownBridge) this.#bridge.close()
    rmSync(this.#root, { recursive: true, force: true })
  }
}
