/**
 * The journal on the cluster's events stream: every receiver appends to the same replicated
 * stream, and the stream's sequence is the journal id. An append resolves once the stream has
 * acknowledged the record (on a majority of the servers); only then is the panel acknowledged.
 *
 * Each frame is published with a message id made from the event itself (account, sequence number,
 * and a digest of the holder and of the receiver's retransmission key, which leaves out the pad
 * and the timestamp of an encrypted frame). A retransmission that reaches another receiver within
 * the stream's duplicate window is therefore answered "duplicate" with the first copy's sequence,
 * and stored once. Never in the id: the receiver, the connection or the arrival time.
 */
import { createHash } from 'node:crypto'
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { JournalClosedError, type Journal, type JournalReader, type Stored } from '../journal/journal.js'
import { journalJson, type JournalRecord } from '../journal/record.js'
import { EVENTS_STREAM, retryable } from './nats.js'

export interface JetStreamJournalOptions {
  /** One publish's wait for its acknowledgement, ms. */
  readonly publishTimeoutMs: number
  /**
   * How long an append keeps trying (same message id) before it gives up, ms: less than a panel
   * waits for its ACK, so that a panel that gets no ACK retransmits, perhaps to another receiver.
   */
  readonly appendTimeoutMs: number
  /** Records a follower holds read ahead of the pipeline. */
  readonly readAhead: number
}

/** How records map onto the stream: its name, each record's subject, message id and bytes. */
export interface StreamCodec<T extends object> {
  readonly stream: string
  readonly subject: (r: T) => string
  readonly messageId: (r: T) => string | undefined
  readonly encode: (r: T) => string
}

export const defaultJetStreamJournalOptions: JetStreamJournalOptions = Object.freeze({ publishTimeoutMs: 1000, appendTimeoutMs: 3000, readAhead: 1000 })

const RETRY_MS = 50
const BACKWARDS_CHUNK = 1000
/** How long a read of a range waits for the consumer's next record before it gives up. */
const RANGE_IDLE_MS = 10_000

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** A subject token: letters, digits, `_` and `-` only (a `.`, `*` or `>` would change the subject's meaning). */
function token (s: string | undefined): string {
  if (s === undefined || s === '') return '_'
  return s.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64)
}

/** The stream subject of a record: `dc09.ev.<f|d>.<account>`. */
export function eventSubject (r: JournalRecord): string {
  return `dc09.ev.${r.type === 'frame' ? 'f' : 'd'}.${token(r.account)}`
}

/**
 * The message id of a record, or undefined when every copy is a new event (a link test proves the
 * panel is alive each time). A frame: account, sequence, and a 128-bit digest of its holder and
 * retransmission key. A derived event: the stage, the event that caused it and its position among
 * that stage's events from it, which is what a replay of the pipeline makes again.
 */
export function messageId (r: JournalRecord): string | undefined {
  if (r.type === 'frame') {
    if (r.dedupe === undefined) return undefined
    const h = createHash('sha256').update(r.holder ?? '').update('\x00').update(r.dedupe).digest('hex').slice(0, 32)
    return `f:${token(r.account)}:${r.seq}:${h}`
  }
  if (r.causedBy <= 0) return undefined
  return `d:${token(r.stage)}:${r.causedBy}:${r.n}:${token(r.kind)}`
}

/** The events stream of the cluster, holding the journal's records. */
export const eventsCodec: StreamCodec<JournalRecord> = Object.freeze({ stream: EVENTS_STREAM, subject: eventSubject, messageId, encode: journalJson })

function parse<T extends object> (m: { seq: number, string: () => string }): Stored<T> {
  return { ...(JSON.parse(m.string()) as T), id: m.seq }
}

export class JetStreamJournal<T extends object = JournalRecord> implements Journal<T> {
  readonly #js: JetStreamClient
  readonly #jsm: JetStreamManager
  readonly #opts: JetStreamJournalOptions
  readonly #codec: StreamCodec<T>
  readonly #readers = new Set<JetStreamReader<T>>()
  #last: number
  #healthy = true
  /** No new appends; those in flight still finish. */
  #closing = false
  #closed = false
  readonly #inflight = new Set<Promise<number>>()

  private constructor (js: JetStreamClient, jsm: JetStreamManager, codec: StreamCodec<T>, last: number, opts: JetStreamJournalOptions) {
    this.#js = js
    this.#codec = codec
    this.#jsm = jsm
    this.#last = last
    this.#opts = opts
  }

  /** Binds to the events stream (which `dc09 cluster init` made); fails when it is missing. */
  static async open (nc: NatsConnection, opts: Partial<JetStreamJournalOptions> = {}): Promise<JetStreamJournal> {
    return await JetStreamJournal.openStream(nc, eventsCodec, opts)
  }

  /** A journal on any stream (tests give each their own). */
  static async openStream<R extends object> (nc: NatsConnection, codec: StreamCodec<R>, opts: Partial<JetStreamJournalOptions> = {}): Promise<JetStreamJournal<R>> {
    const jsm = await jetstreamManager(nc, { timeout: 10_000 })
    const info = await jsm.streams.info(codec.stream)
    return new JetStreamJournal<R>(jetstream(nc, { timeout: 10_000 }), jsm, codec, info.state.last_seq, { ...defaultJetStreamJournalOptions, ...opts })
  }

  #turn: Promise<void> | undefined

  /**
   * Resolves at the next turn of the event loop, the same promise for every append made before
   * it: their publishes then go out together, and the client writes them to its socket at once
   * (one write, one wake-up of the server, instead of one per event: a group, as the file journal
   * commits groups).
   */
  #nextTurn (): Promise<void> {
    this.#turn ??= new Promise((resolve) => setImmediate(() => { this.#turn = undefined; resolve() }))
    return this.#turn
  }

  append (record: T): Promise<number> {
    if (this.#closing) return Promise.reject(new JournalClosedError())
    const p = this.#append(record)
    this.#inflight.add(p)
    const done = (): void => { this.#inflight.delete(p) }
    p.then(done, done)
    return p
  }

  async #append (record: T): Promise<number> {
    const subject = this.#codec.subject(record)
    const data = this.#codec.encode(record)
    const msgID = this.#codec.messageId(record)
    const stream = this.#codec.stream
    const deadline = Date.now() + this.#opts.appendTimeoutMs
    await this.#nextTurn()
    for (;;) {
      if (this.#closed) throw new JournalClosedError()
      const timeout = Math.max(100, Math.min(this.#opts.publishTimeoutMs, deadline - Date.now()))
      try {
        const ack = await this.#js.publish(subject, data, { ...(msgID === undefined ? {} : { msgID }), expect: { streamName: stream }, timeout })
        if (ack.seq > this.#last) this.#last = ack.seq
        this.#healthy = true
        return ack.seq
      } catch (err) {
        if (!retryable(err) || Date.now() + RETRY_MS >= deadline) {
          this.#healthy = false
          throw new Error(`the events stream did not acknowledge the record: ${(err as Error).message}`, { cause: err })
        }
        await sleep(RETRY_MS)
      }
    }
  }

  /** The stream's last sequence now (asked of the stream's leader). */
  async lastSequence (): Promise<number> {
    const info = await this.#jsm.streams.info(this.#codec.stream)
    if (info.state.last_seq > this.#last) this.#last = info.state.last_seq
    return info.state.last_seq
  }

  async * read (fromId = 1): AsyncIterable<Stored<T>> {
    const end = await this.lastSequence()
    yield * this.#range(Math.max(1, fromId), end, true)
  }

  /** Records fromId..toId, in order (an ordered consumer: no state kept on the servers after it). */
  /**
   * Records fromId..toId, in order (an ordered consumer: no state kept on the servers after it).
   * Read to `toId`, not to where the consumer first says nothing is pending: after a leader change
   * it may say so early. A consumer that delivers nothing for RANGE_IDLE_MS ends the read: with an
   * error when `strict` (an export must not end short in silence), else quietly (rebuilding the
   * duplicate window or the recent events, which may do with less).
   */
  async * #range (fromId: number, toId: number, strict: boolean): AsyncIterable<Stored<T>> {
    if (toId < fromId) return
    const c = await this.#js.consumers.get(this.#codec.stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromId })
    const it = await c.consume({ max_messages: Math.min(1000, toId - fromId + 1), expires: 5000 })
    let idle: NodeJS.Timeout | undefined
    let stalled = false
    const arm = (): void => { idle = setTimeout(() => { stalled = true; void it.close().catch(() => undefined) }, RANGE_IDLE_MS) }
    let last = fromId - 1
    try {
      arm()
      for await (const m of it) {
        clearTimeout(idle)
        if (m.seq > toId) break
        last = m.seq
        yield parse<T>(m)
        if (m.seq >= toId) break
        arm()
      }
    } finally {
      clearTimeout(idle)
      await it.close().catch(() => undefined)
    }
    if (stalled && strict && last < toId) throw new Error(`the events stream stopped delivering at ${last} of ${toId}: try again`)
  }

  async * readBackwards (): AsyncIterable<Stored<T>> {
    let end = await this.lastSequence()
    while (end >= 1) {
      const start = Math.max(1, end - BACKWARDS_CHUNK + 1)
      const chunk: Array<Stored<T>> = []
      for await (const r of this.#range(start, end, false)) chunk.push(r)
      for (let i = chunk.length - 1; i >= 0; i--) yield chunk[i]!
      end = start - 1
    }
  }

  reader (fromId: number): JournalReader<T> {
    const r = new JetStreamReader<T>(this.#js, this.#codec.stream, Math.max(1, fromId), this.#opts.readAhead, {
      seen: (seq) => { if (seq > this.#last) this.#last = seq },
      last: () => this.#last,
      latest: () => this.lastSequence(),
      closed: () => this.#readers.delete(r),
    })
    this.#readers.add(r)
    return r
  }

  get lastId (): number {
    return this.#last
  }

  get healthy (): boolean {
    return this.#healthy
  }

  /** Refuses new appends, lets those in flight finish (or fail), then stops the readers. */
  async close (): Promise<void> {
    this.#closing = true
    await Promise.allSettled([...this.#inflight])
    this.#closed = true
    for (const r of [...this.#readers]) await r.close()
  }
}

/** How long `next` waits for a record the stream is known to hold but the consumer has not delivered yet. */
const DELIVERY_WAIT_MS = 2000
/**
 * Each pull of a following consumer lasts this long; the server sends heartbeats at half of it,
 * and two missed ones (about this long without a word) make the reader start a new consumer.
 */
const CONSUME_EXPIRES_MS = 5000
/** A following consumer that delivered nothing for this long while the stream holds more is replaced. */
const STALL_MS = 5000

/**
 * Follows the stream from a sequence: an ordered consumer reads ahead into a bounded buffer, and
 * `next` takes from it: at once when it holds records, none when the reader has reached the last
 * sequence known; in between (a record this process appended, not yet delivered) it waits for it.
 */
interface ReaderHooks {
  /** The stream holds at least this sequence. */
  readonly seen: (seq: number) => void
  /** The last sequence the journal knows the stream holds. */
  readonly last: () => number
  /** The stream's last sequence now (asked of the servers). */
  readonly latest: () => Promise<number>
  readonly closed: () => void
}

class JetStreamReader<T extends object> implements JournalReader<T> {
  readonly #buffer: Array<Stored<T>> = []
  readonly #max: number
  readonly #hooks: ReaderHooks
  #drained: (() => void) | undefined
  #arrived: (() => void) | undefined
  /** The sequence the next record will have. */
  #next: number
  #stop: (() => Promise<void>) | undefined
  #done = false
  #error: Error | undefined

  readonly #stream: string

  constructor (js: JetStreamClient, stream: string, fromId: number, max: number, hooks: ReaderHooks) {
    this.#stream = stream
    this.#max = Math.max(1, max)
    this.#hooks = hooks
    this.#next = fromId
    void this.#run(js, fromId)
  }

  async #run (js: JetStreamClient, fromId: number): Promise<void> {
    let next = fromId
    while (!this.#done) {
      let watch: NodeJS.Timeout | undefined
      try {
        const c = await js.consumers.get(this.#stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: next })
        const it = await c.consume({ max_messages: Math.min(this.#max, 500), expires: CONSUME_EXPIRES_MS })
        this.#stop = async () => { await it.close().catch(() => undefined) }
        if (this.#done) await this.#stop()
        // After the stream's leader died, the client's ordered consumer may go on pulling from a
        // consumer that still answers its info but never delivers again (it does not recreate
        // it on missed heartbeats, only on a gap or when the consumer is gone): the pipeline
        // then stalled for good, silently. Missed heartbeats end this consumer instead; the loop
        // makes a new one from the next sequence.
        void (async () => {
          for await (const s of it.status()) {
            if (s.type === 'heartbeats_missed') {
              await it.close().catch(() => undefined)
              break
            }
          }
        })().catch(() => undefined)
        // Nor are heartbeats watched while the client is reconnecting and asking a consumer that
        // lived on the dead server for its info: when nothing came for a while, ask the stream
        // for its last sequence, and start a new consumer if it holds records not delivered.
        let delivered = Date.now()
        let checking = false
        watch = setInterval(() => {
          if (checking || this.#done || this.#buffer.length >= this.#max || Date.now() - delivered < STALL_MS) return
          checking = true
          this.#hooks.latest()
            .then(async (last) => { if (last >= next) await it.close() })
            .catch(() => undefined)
            .finally(() => { checking = false; delivered = Date.now() })
        }, STALL_MS / 2)
        for await (const m of it as AsyncIterable<JsMsg>) {
          delivered = Date.now()
          if (m.seq < next) continue
          this.#buffer.push(parse<T>(m))
          next = m.seq + 1
          this.#hooks.seen(m.seq + m.info.pending)
          this.#arrived?.()
          while (this.#buffer.length >= this.#max && !this.#done) await new Promise<void>((resolve) => { this.#drained = resolve })
          delivered = Date.now()
          if (this.#done) break
        }
      } catch (err) {
        this.#error = err as Error
      } finally {
        clearInterval(watch)
      }
      if (!this.#done) await sleep(200)
    }
  }

  async next (max: number): Promise<Array<Stored<T>>> {
    // Records the stream is known to hold, up to `max`: wait for the consumer to deliver them (bounded).
    const want = Math.min(this.#hooks.last(), this.#next + Math.max(0, max) - 1)
    const deadline = Date.now() + DELIVERY_WAIT_MS
    while (!this.#done && this.#buffered() < want && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadline - Date.now())
        this.#arrived = () => { clearTimeout(t); this.#arrived = undefined; resolve() }
      })
    }
    const out = this.#buffer.splice(0, Math.max(0, max))
    if (out.length > 0) {
      this.#next = out[out.length - 1]!.id + 1
      this.#error = undefined
      this.#drained?.()
      this.#drained = undefined
    }
    return out
  }

  /** The sequence of the last record held (the one before the next to return when none is). */
  #buffered (): number {
    return this.#buffer.length === 0 ? this.#next - 1 : this.#buffer[this.#buffer.length - 1]!.id
  }

  /** The last error the consumer met (it is recreated after each), for status. */
  get error (): Error | undefined {
    return this.#error
  }

  async close (): Promise<void> {
    this.#done = true
    this.#drained?.()
    this.#arrived?.()
    await this.#stop?.()
    this.#hooks.closed()
  }
}
