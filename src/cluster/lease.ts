/**
 * A lease in the cluster's key-value bucket: which one node runs something that must run once
 * (the pipeline). The holder writes `{ node, until }` and renews it well before `until`, each
 * write conditional on the revision it last wrote (so two nodes can never both think they took
 * it); another node takes it only once `until` has passed by its own clock. A holder that cannot
 * renew stops acting `marginMs` before `until`, so that two holders never act at once as long as
 * the nodes' clocks agree within that margin (run NTP). A holder that stops releases the lease,
 * and another takes it at its next look.
 */
import { randomBytes } from 'node:crypto'
import type { KV } from '@nats-io/kv'

export interface LeaseOptions {
  /** How long a written lease holds, ms. */
  readonly ttlMs: number
  /** How often the holder renews it, ms. */
  readonly renewMs: number
  /** How often a node that does not hold it looks whether it is free, ms. */
  readonly checkMs: number
  /** The holder stops acting this long before its lease runs out when it could not renew, ms. */
  readonly marginMs: number
}

export const defaultLeaseOptions: LeaseOptions = Object.freeze({ ttlMs: 6000, renewMs: 1500, checkMs: 1000, marginMs: 1500 })

export interface LeaseValue {
  readonly node: string
  /** The process (two receivers may run under one node name by mistake: each is its own holder). */
  readonly instance?: string
  /** Epoch ms. */
  readonly until: number
}

export interface LeaseEvents {
  /** This node holds the lease now: start acting. */
  readonly acquired: () => Promise<void> | void
  /** It does not any more (taken over, or not renewed in time): stop acting. */
  readonly lost: (reason: string) => Promise<void> | void
  readonly error?: (err: Error) => void
}

export function parseLease (text: string): LeaseValue | undefined {
  try {
    const v = JSON.parse(text) as Partial<LeaseValue>
    return typeof v.node === 'string' && typeof v.until === 'number' ? { node: v.node, until: v.until, ...(typeof v.instance === 'string' ? { instance: v.instance } : {}) } : undefined
  } catch {
    return undefined
  }
}

export class Lease {
  readonly #kv: KV
  readonly #key: string
  readonly #node: string
  readonly #opts: LeaseOptions
  readonly #clock: () => number
  #revision = 0
  #until = 0
  #held = false
  #stopped = false
  #timer: NodeJS.Timeout | undefined
  /** Fires `marginMs` before the lease runs out: stops acting even while a renewal hangs. */
  #deadline: NodeJS.Timeout | undefined
  readonly #instance = randomBytes(8).toString('hex')
  #events: LeaseEvents | undefined
  #busy: Promise<void> = Promise.resolve()

  constructor (kv: KV, key: string, node: string, opts: Partial<LeaseOptions> = {}, clock: () => number = Date.now) {
    this.#kv = kv
    this.#key = key
    this.#node = node
    this.#opts = { ...defaultLeaseOptions, ...opts }
    this.#clock = clock
  }

  get held (): boolean {
    return this.#held
  }

  /** Starts looking for (and then renewing) the lease. */
  start (events: LeaseEvents): void {
    this.#events = events
    this.#schedule(0)
  }

  #schedule (ms: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#busy = this.#tick().finally(() => this.#schedule(this.#held ? this.#opts.renewMs : this.#opts.checkMs))
    }, ms)
  }

  #value (): string {
    return JSON.stringify({ node: this.#node, instance: this.#instance, until: this.#clock() + this.#opts.ttlMs })
  }

  /** Held until `until`: acting stops `marginMs` before, whatever the renewals are doing. */
  #holdUntil (until: number): void {
    this.#until = until
    clearTimeout(this.#deadline)
    // Not queued behind the renewal in progress: that one may be what hangs.
    this.#deadline = setTimeout(() => {
      if (this.#held && this.#clock() >= this.#until - this.#opts.marginMs) void this.#lose('the lease could not be renewed in time')
    }, Math.max(0, until - this.#opts.marginMs - this.#clock()))
  }

  async #tick (): Promise<void> {
    try {
      if (this.#held) await this.#renew()
      else await this.#tryTake()
    } catch (err) {
      this.#events?.error?.(err as Error)
    }
    // Could not renew in time: stop acting before anyone else may start.
    if (this.#held && this.#clock() >= this.#until - this.#opts.marginMs) await this.#lose('the lease could not be renewed in time')
  }

  async #renew (): Promise<void> {
    const until = this.#clock() + this.#opts.ttlMs
    try {
      // No longer than a renewal period: a renewal that hangs (an election) must not outlast the lease.
      this.#revision = await this.#kv.update(this.#key, this.#value(), this.#revision, this.#opts.renewMs)
      if (this.#held) this.#holdUntil(until)
    } catch (err) {
      if (/wrong last sequence/i.test((err as Error).message)) await this.#lose('another node took the lease')
      else throw err
    }
  }

  async #tryTake (): Promise<void> {
    const e = await this.#kv.get(this.#key)
    const current = e === null || e.operation !== 'PUT' ? undefined : parseLease(e.string())
    if (current !== undefined && current.instance !== this.#instance && current.until > this.#clock()) return
    const until = this.#clock() + this.#opts.ttlMs
    try {
      this.#revision = e === null ? await this.#kv.create(this.#key, this.#value()) : await this.#kv.update(this.#key, this.#value(), e.revision)
    } catch (err) {
      // Another node took it first.
      if (/wrong last sequence|key exists/i.test((err as Error).message)) return
      throw err
    }
    this.#held = true
    this.#holdUntil(until)
    // Started beside the renewals, not before them: a start that takes longer than the lease
    // (a pipeline rebuilding its state) must not let the lease run out meanwhile.
    const events = this.#events
    void (async () => {
      try {
        await events?.acquired()
      } catch (err) {
        // It could not start acting (the cluster went away meanwhile). Holding the lease anyway
        // would keep every node from acting, for as long as this one ran: give it back instead,
        // so that this node or another tries again at its next look.
        events?.error?.(err as Error)
        this.#busy = this.#busy.then(async () => {
          if (!this.#held) return
          this.#held = false
          clearTimeout(this.#deadline)
          await this.#release()
        })
      }
    })()
  }

  /** Writes the lease as run out (conditional on our revision); the caller no longer holds it. */
  async #release (): Promise<void> {
    try {
      await this.#kv.update(this.#key, JSON.stringify({ node: this.#node, until: 0 }), this.#revision)
    } catch {
      // Taken over meanwhile, or the cluster is away: the lease runs out by itself.
    }
  }

  async #lose (reason: string): Promise<void> {
    if (!this.#held) return
    this.#held = false
    clearTimeout(this.#deadline)
    await this.#events?.lost(reason)
  }

  /** Stops looking; a held lease is released (after `beforeRelease`, the caller's stop) so another node takes it at once. */
  async stop (beforeRelease?: () => Promise<void>): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    clearTimeout(this.#deadline)
    await this.#busy
    const held = this.#held
    this.#held = false
    await beforeRelease?.()
    if (held) await this.#release()
  }
}
