/**
 * Outputs: where journaled events go for other software (Sur-Gard automation, MQTT, webhooks).
 *
 * Each output is a consumer of the journal with its own durable position, run by an
 * OutputRunner: the runner reads the journal in order, keeps what the output's filter lets
 * through, turns each record into an OutputEvent (the one outward form: no keys, codes, tokens
 * or VIP marker; personal data only when the output is configured to carry it) and hands it to
 * the output. The output owns its protocol (framing, acknowledgements, its own retries) and
 * answers, for each event, delivered or given up (parked, with the reason); the runner commits
 * its position over the delivered prefix, keeps what was parked in the output's dead letters,
 * and journals a trouble event for each.
 */
import type { Logger } from '../log.js'

/** One event of a frame, as outputs carry it. */
export type OutputEventItem = ContactIdItem | SiaItem

export interface ContactIdItem {
  readonly format: 'ADM-CID'
  /** Qualifier digit as sent: `1` new (or opening), `3` restore (or closing), `6` previous. */
  readonly qualifier: string
  /** Three-digit event code as sent (`131`). */
  readonly code: string
  /** GG as sent (two characters). */
  readonly group: string
  /** CCC as sent (three characters). */
  readonly number: string
  readonly class: string
  readonly name?: string | undefined
  readonly zone?: number | undefined
  readonly user?: number | undefined
}

export interface SiaItem {
  readonly format: 'SIA-DCS'
  /** `N` new, `O` old. */
  readonly block: 'N' | 'O'
  /** Two-letter code (`BA`). */
  readonly code: string
  /** The number after the code as sent (`01`), if any. */
  readonly number?: string | undefined
  readonly class: string
  readonly name?: string | undefined
  readonly zone?: number | undefined
  readonly user?: number | undefined
  readonly area?: number | undefined
  /** Modifiers in force for the event (`ri`, `id`, `ti`...). */
  readonly modifiers?: Readonly<Record<string, string>> | undefined
  readonly text?: string | undefined
}

/** The holder's site, only for outputs configured to carry personal data. */
export interface OutputSite {
  readonly name?: string | undefined
  readonly address?: string | undefined
  readonly keyholders?: ReadonlyArray<{ readonly name: string, readonly phone: string, readonly order: number }> | undefined
}

/**
 * An event as every output sees it (and as MQTT and webhooks send it, as JSON). `type` is
 * `frame` for what a panel sent, else the kind of event the receiver made
 * (`supervision-failure`, `supervision-restore`, `output-link-failed`, `output-link-restored`,
 * `output-parked`, `case-opened`, ...).
 */
export interface OutputEvent {
  /** The journal id: unique, in journal order; the idempotency key of a delivery. */
  readonly id: number
  /** Receive time, ISO 8601 UTC. */
  readonly at: string
  /** The account's installer company, when the account is known (and this is its holder's event). */
  readonly tenant: string | null
  readonly account: string
  readonly type: string
  /** What the event is, for filters and displays (see `kindOf`): alarm, restore, trouble, opening, ... */
  readonly class: string
  /** Frames: the DC-09 token (`ADM-CID`, `SIA-DCS`, `NULL`). */
  readonly protocol?: string | undefined
  /** Frames: the DC-09 receiver (`R`) and line/prefix (`L`) fields, when the frame had them. */
  readonly receiver?: string | undefined
  readonly line?: string | undefined
  /** Frames: the DC-09 sequence number. */
  readonly seq?: string | undefined
  /** Frames: their events. */
  readonly events?: readonly OutputEventItem[] | undefined
  /** Frames: text the panel sent with them. */
  readonly text?: string | undefined
  /** Receiver-made events: which part made it, what caused it (a journal id, 0 none), its details. */
  readonly by?: string | undefined
  readonly causedBy?: number | undefined
  readonly data?: Readonly<Record<string, unknown>> | undefined
  /** Only for outputs that include personal data. */
  readonly site?: OutputSite | undefined
}

/** What an output answers for one event. */
export type Delivery =
  | { readonly ok: true }
  /** Given up on after the output's own retries: parked in its dead letters, never dropped. */
  | { readonly ok: false, readonly error: string, readonly attempts: number }

/** The connection state an output reports (status, metrics). */
export interface OutputStatus {
  /** `up`: delivering; `down`: cannot deliver (no client, broker or server reached); `failed`: its link is failed (Sur-Gard). */
  readonly state: 'up' | 'down' | 'failed'
  /** Connected clients (Sur-Gard automation connections) or connections (1/0 for MQTT and webhooks). */
  readonly connected: number
}

/** Kinds of event an output itself journals. */
export type OutputTroubleKind = 'output-link-failed' | 'output-link-restored'

/** What the runner gives an output. */
export interface OutputContext {
  readonly log: Logger
  /** Time, epoch ms (tests pass their own). */
  readonly clock: () => number
  /**
   * The output's link failed or came back (a Sur-Gard automation that stopped answering): the
   * runner journals it as a receiver event (`output-link-failed` / `output-link-restored`, with
   * `data.output` the output's name and `detail`), which reaches the other outputs and the pipeline.
   */
  trouble (kind: OutputTroubleKind, detail: string): void
  /** An attempt that failed and will be made again (counted in status and metrics). */
  retried (): void
}

export interface Output {
  readonly name: string
  /** `surgard`, `mqtt`, `webhook`. */
  readonly type: string
  /**
   * How many deliveries may be in flight at once: the runner calls `deliver` again only while
   * fewer are pending. Read before each call (a Sur-Gard output with two clients takes two).
   */
  readonly window: number
  /** Listens or connects. Rejects only on a configuration that cannot work (a port in use). */
  start (ctx: OutputContext): Promise<void>
  /**
   * Sends one event. Called in journal order; an output delivers in the order it was called
   * (over one connection; several Sur-Gard clients each take the next free record). Resolves
   * once the far end has it (`ok`), or when the output gives up on it. Never rejects while open;
   * after `close` every pending delivery rejects (it was not delivered and will be again).
   */
  deliver (event: OutputEvent): Promise<Delivery>
  status (): OutputStatus
  /** Stops: closes listeners and connections; pending deliveries reject. */
  close (): Promise<void>
}

/** What an output's configuration may set for the runner (besides its own options). */
export type EventKind = 'alarm' | 'trouble' | 'opening-closing' | 'supervision' | 'test' | 'status' | 'link-test' | 'receiver' | 'pipeline' | 'duress'

export const EVENT_KINDS: readonly EventKind[] = ['alarm', 'trouble', 'opening-closing', 'supervision', 'test', 'status', 'link-test', 'receiver', 'pipeline', 'duress']

/**
 * Every kind but link tests (a panel's polls, every few minutes from every panel) and duress: a
 * duress code answers "valid" so that whoever forced it learns nothing, and its events go only
 * where the centre asks for them by name (never, say, to a display in the house).
 */
export const DEFAULT_KINDS: readonly EventKind[] = EVENT_KINDS.filter((k) => k !== 'link-test' && k !== 'duress')

/** Kinds of receiver-made event that are about the receiver itself (its outputs). */
const RECEIVER_KINDS = new Set(['output-link-failed', 'output-link-restored', 'output-parked'])

/** The filter kind of one event class. */
function kindOfClass (cls: string): EventKind {
  switch (cls) {
    case 'alarm': case 'restore': return 'alarm'
    case 'trouble': case 'trouble_restore': case 'bypass': case 'unbypass': case 'supervisory': return 'trouble'
    case 'opening': case 'closing': case 'access': return 'opening-closing'
    case 'test': return 'test'
    case 'link-test': return 'link-test'
    default: return 'status'
  }
}

/**
 * The filter kinds of an event: one per event of a frame (a frame passes a filter when any of its
 * events does), one for a receiver-made event.
 */
export function kindsOf (e: Pick<OutputEvent, 'type' | 'class' | 'events' | 'protocol' | 'data'>): EventKind[] {
  if (e.type !== 'frame') {
    if (e.type === 'supervision-failure' || e.type === 'supervision-restore') return ['supervision']
    if (RECEIVER_KINDS.has(e.type)) return ['receiver']
    if (e.type === 'duress' || e.type === 'case-duress' || e.data?.duress === true) return ['duress']
    return ['pipeline']
  }
  if (e.protocol === 'NULL' || e.class === 'link-test') return ['link-test']
  if (e.events === undefined || e.events.length === 0) return [kindOfClass(e.class)]
  return e.events.map((x) => kindOfClass(x.class))
}
