/**
 * Prometheus metrics (prom-client), served at `GET /metrics`. Labels are message types, answers,
 * rejection codes, outcomes and route patterns: never an account number, a peer address or any
 * personal data, so a scrape says how the receiver is doing and nothing about whom it watches.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** What the metrics read when scraped; every part is optional (the API alone has no receiver). */
export interface MetricSources {
  /** Receiver counters: `type answer` -> frames, and rejection code -> count. */
  readonly receiverStats?: (() => {
    readonly answered: Readonly<Record<string, number>>
    readonly rejected: Readonly<Record<string, number>>
    readonly rateLimited?: Readonly<Record<string, number>> | undefined
  }) | undefined
  readonly connections?: (() => number) | undefined
  readonly pipelineLag?: (() => number) | undefined
  /** Seconds since the oldest event the pipeline has not run yet was received (0 when caught up). */
  readonly pipelineLagSeconds?: (() => number) | undefined
  readonly deadLetters?: (() => number) | undefined
  /** Each output's state (this node's outputs; none where another node runs them). */
  readonly outputs?: (() => ReadonlyArray<{ readonly name: string, readonly lag: number, readonly delivered: number, readonly retried: number, readonly parked: number, readonly waiting: number, readonly connected: number, readonly state: string }>) | undefined
  /**
   * More metrics text, made elsewhere (the receiver's thread, when the interface runs in a worker),
   * added to this one's at each scrape.
   */
  readonly more?: (() => Promise<string>) | undefined
}

/**
 * Which metrics a registry holds. `receiver`: the process and the panels' side (frames, answers,
 * rejections, connections, commits), on the receiver's thread; `interface`: the pipeline's and
 * the HTTP interface's, on theirs; `all`: both, in one thread.
 */
export type MetricParts = 'all' | 'receiver' | 'interface'

export class Metrics {
  readonly registry = new Registry()
  readonly commitSeconds: Histogram<string>
  readonly verifications: Counter<'outcome'>
  readonly requests: Counter<'method' | 'route' | 'status'>
  readonly securityEvents: Counter<'reason'>
  #sources: MetricSources = {}
  /** Metrics read at scrape time (`collect`): registered by their constructor, held here. */
  readonly #collected: Array<Counter<string> | Gauge<string>> = []

  constructor (parts: MetricParts = 'all') {
    // A metric of the other part is made all the same (its owner may count into it) but not registered.
    const mine = parts !== 'interface' ? [this.registry] : []
    const theirs = parts !== 'receiver' ? [this.registry] : []
    let registers = mine
    if (parts !== 'interface') collectDefaultMetrics({ register: this.registry, prefix: 'dc09_process_' })
    // Counters the receiver keeps are copied in at scrape time: the hot path pays nothing for them.
    const seen = new Map<string, number>()
    const sync = (counter: Counter<string>, prefix: string, values: Readonly<Record<string, number>>, labels: (k: string) => Record<string, string>): void => {
      for (const [k, v] of Object.entries(values)) {
        const before = seen.get(prefix + k) ?? 0
        if (v > before) counter.inc(labels(k), v - before)
        seen.set(prefix + k, v)
      }
    }
    const sources = (): MetricSources => this.#sources
    this.#collected.push(new Counter({
      name: 'dc09_frames_total',
      help: 'DC-09 frames received, by message type (* = encrypted) and the answer sent',
      labelNames: ['type', 'answer'],
      registers,
      collect () {
        const s = sources().receiverStats?.()
        if (s !== undefined) sync(this, 'f:', s.answered, (k) => { const [type, answer] = k.split(' '); return { type: type!, answer: answer! } })
      },
    }))
    this.#collected.push(new Counter({
      name: 'dc09_rejections_total',
      help: 'frames refused, by error code (DC09_ERR_...)',
      labelNames: ['code'],
      registers,
      collect () {
        const s = sources().receiverStats?.()
        if (s !== undefined) sync(this, 'r:', s.rejected, (code) => ({ code }))
      },
    }))
    this.#collected.push(new Counter({
      name: 'dc09_rate_limited_frames_total',
      help: 'frames NAKed (not journaled) for going over a frame-rate limit, by which limit: account or address',
      labelNames: ['limit'],
      registers,
      collect () {
        const s = sources().receiverStats?.()
        if (s?.rateLimited !== undefined) sync(this, 'l:', s.rateLimited, (limit) => ({ limit }))
      },
    }))
    this.#collected.push(new Gauge({ name: 'dc09_connections', help: 'open panel TCP connections', registers, collect () { this.set(sources().connections?.() ?? 0) } }))
    this.commitSeconds = new Histogram({
      name: 'dc09_journal_commit_seconds',
      help: 'time from handing a record to the journal to its durable commit',
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    })
    registers = theirs
    this.#collected.push(new Gauge({ name: 'dc09_pipeline_lag_events', help: 'journaled events the pipeline has not run yet', registers, collect () { this.set(sources().pipelineLag?.() ?? 0) } }))
    this.#collected.push(new Gauge({ name: 'dc09_pipeline_lag_seconds', help: 'seconds since the oldest event the pipeline has not run yet was received (0 when caught up)', registers, collect () { this.set(sources().pipelineLagSeconds?.() ?? 0) } }))
    this.#collected.push(new Gauge({ name: 'dc09_pipeline_dead_letters', help: 'events and timers a stage failed on after its retries', registers, collect () { this.set(sources().deadLetters?.() ?? 0) } }))
    // Per output, by its name (a configured name, never an account or an address).
    const perOutput = (name: string, help: string, value: (o: NonNullable<ReturnType<NonNullable<MetricSources['outputs']>>>[number]) => number, counter = false): void => {
      const collect = function (this: Gauge<'output'>): void {
        this.reset()
        for (const o of sources().outputs?.() ?? []) this.set({ output: o.name }, value(o))
      }
      // Totals kept across restarts in the output's state: exposed as gauges named _total, read as counters.
      this.#collected.push(new Gauge({ name, help: counter ? `${help} (since the output was first run)` : help, labelNames: ['output'], registers, collect }))
    }
    perOutput('dc09_output_lag_events', 'journaled events an output has not finished yet', (o) => o.lag)
    perOutput('dc09_output_delivered_total', 'events an output delivered', (o) => o.delivered, true)
    perOutput('dc09_output_retries_total', 'delivery attempts an output had to make again', (o) => o.retried, true)
    perOutput('dc09_output_parked_total', 'events an output gave up on and parked in its dead letters', (o) => o.parked, true)
    perOutput('dc09_output_dead_letters', 'events in an output\'s dead letters now', (o) => o.waiting)
    perOutput('dc09_output_connected', 'clients connected to an output (Sur-Gard automation) or its connection (1/0)', (o) => o.connected)
    perOutput('dc09_output_up', 'whether an output can deliver (1) or not (0: no connection, or its link failed)', (o) => (o.state === 'up' ? 1 : 0))
    this.verifications = new Counter({
      name: 'dc09_verifications_total',
      // A duress code answers valid here too: whoever scrapes must not learn of one.
      help: 'disarm-code verifications through the HTTP interface, by the answer given (valid, invalid, locked)',
      labelNames: ['outcome'],
      registers,
    })
    this.requests = new Counter({ name: 'dc09_api_requests_total', help: 'HTTP interface requests, by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers })
    this.securityEvents = new Counter({ name: 'dc09_api_security_events_total', help: 'security events the HTTP interface raised (bulk reads, code probing)', labelNames: ['reason'], registers })
  }

  #cached: { at: number, text: string } | undefined

  /**
   * The metrics text, made at most once a second: /metrics needs no token, so however often it is
   * asked, the receiver's loop does the work of one scrape a second.
   */
  async scrape (now: number): Promise<string> {
    if (this.#cached === undefined || now - this.#cached.at >= 1000 || now < this.#cached.at) {
      const more = this.#sources.more
      const [own, other] = await Promise.all([this.registry.metrics(), more === undefined ? '' : more().catch(() => '')])
      this.#cached = { at: now, text: own + (other === '' || own.endsWith('\n') ? '' : '\n') + other }
    }
    return this.#cached.text
  }

  /** Where scrape-time values come from (set once the receiver and pipeline run). */
  setSources (s: MetricSources): void {
    this.#sources = s
  }
}
