/** What the journal holds: frames the receiver accepted, and events stages and commands derived from them. */
import type { Stored } from './journal.js'
import type { DecodedEvent, Quirk } from '../protocol/index.js'
import { compactJson, expandEvents, type CompactEvents } from './compact.js'

/** What a frame record holds besides its events. */
export interface FrameFields {
  readonly type: 'frame'
  /** Receiver clock, epoch ms. */
  readonly receivedAt: number
  readonly transport: 'tcp' | 'udp'
  /** `address:port` of the sender. */
  readonly peer: string
  readonly account: string
  /**
   * The holder of the account number when the frame was received: the account's `createdAt`.
   * Absent for a frame of an unregistered account (quarantine), and in records written before
   * frames named their holder.
   */
  readonly holder?: string | undefined
  readonly rcvr: string | undefined
  readonly lpref: string | undefined
  readonly seq: string
  readonly token: string
  readonly encrypted: boolean
  readonly xdata: ReadonlyArray<{ readonly id: string, readonly value: string }>
  readonly text: string | undefined
  /** The panel's time (UTC ms after the account's clock correction), if it sent one. */
  readonly panelTime: number | undefined
  readonly flags: {
    /** A NULL link test: proof the panel is alive (supervision). */
    readonly linkTest?: true
    /** At least one event code is not in the code tables. */
    readonly unknownCode?: true
    /** The account is not registered; accepted under the quarantine policy. */
    readonly quarantine?: true
  }
  readonly quirks: readonly Quirk[]
  /** The retransmission key: the same key within the window is the same event. */
  readonly dedupe: string | undefined
  /** The frame exactly as received, base64 (an encrypted payload stays encrypted). */
  readonly raw: string
}

/**
 * A frame as the journal keeps it: its events in compact form (`ev`, absent when it has none).
 * Journals written before the compact form hold them decoded in full (`events`), and so does a
 * record whose events do not fit the compact form; `frameEvents` reads either.
 */
export interface JournalFrame extends FrameFields {
  readonly ev?: CompactEvents | null | undefined
  readonly events?: readonly DecodedEvent[] | undefined
}

/** A frame with its events decoded in full: what stages, exports and the interface see. */
export interface FrameRecord extends FrameFields {
  readonly events: readonly DecodedEvent[]
}

/** The events of a journaled frame, in full (rebuilt from the compact form, or as stored by older versions). */
export function frameEvents (r: JournalFrame): readonly DecodedEvent[] {
  return r.events ?? expandEvents(r.ev)
}

/** A journaled frame with its events in full, its fields in the order the journal had them before the compact form. */
export function expandFrame<R extends JournalFrame> (r: R): R extends { readonly id: number } ? Stored<FrameRecord> : FrameRecord
export function expandFrame (r: JournalFrame & { readonly id?: number }): FrameRecord & { readonly id?: number } {
  const events = frameEvents(r)
  const out = {
    type: r.type, receivedAt: r.receivedAt, transport: r.transport, peer: r.peer, account: r.account, ...(r.holder === undefined ? {} : { holder: r.holder }), rcvr: r.rcvr, lpref: r.lpref, seq: r.seq, token: r.token,
    encrypted: r.encrypted, events, xdata: r.xdata, text: r.text, panelTime: r.panelTime, flags: r.flags, quirks: r.quirks, dedupe: r.dedupe, raw: r.raw,
  }
  return r.id === undefined ? out : { id: r.id, ...out }
}

/** Any journaled record, with a frame's events in full. */
export function expandRecord (r: Stored<JournalRecord>): Stored<EventRecord> {
  return r.type === 'frame' ? expandFrame(r) : r
}

const str = (v: string | undefined): string => (v === undefined ? 'null' : JSON.stringify(v))

/**
 * The record as JSON, the same text JSON.stringify would give (undefined fields as null, except
 * `holder`, `ev` and `events`, left out when absent), written out field by field: about twice as fast
 * for this fixed shape, on the path every event takes.
 */
export function recordJson (r: JournalFrame): string {
  const events = r.ev !== undefined ? ',"ev":' + (r.ev === null ? 'null' : compactJson(r.ev)) : r.events !== undefined ? ',"events":' + JSON.stringify(r.events) : ''
  return '{"type":"frame","receivedAt":' + r.receivedAt +
    ',"transport":' + str(r.transport) + ',"peer":' + str(r.peer) + ',"account":' + str(r.account) +
    (r.holder === undefined ? '' : ',"holder":' + JSON.stringify(r.holder)) + ',"rcvr":' + str(r.rcvr) + ',"lpref":' + str(r.lpref) + ',"seq":' + str(r.seq) + ',"token":' + str(r.token) +
    ',"encrypted":' + r.encrypted + events + ',"xdata":' + JSON.stringify(r.xdata) +
    ',"text":' + str(r.text) + ',"panelTime":' + (r.panelTime === undefined ? 'null' : r.panelTime) +
    ',"flags":' + JSON.stringify(r.flags) + ',"quirks":' + JSON.stringify(r.quirks) +
    ',"dedupe":' + str(r.dedupe) + ',"raw":"' + r.raw + '"}'
}

/**
 * An event made by a pipeline stage or a command (a supervision failure, a case opened, a
 * verification, a duress), journaled so the journal stays the one ordered history.
 */
export interface DerivedRecord {
  readonly type: 'derived'
  /** Receiver clock, epoch ms. */
  readonly receivedAt: number
  /** What happened: `supervision-failure`, `case-opened`, `verification`, `duress`, ... */
  readonly kind: string
  readonly account: string
  /**
   * The holder of the account number it was made for: the account's `createdAt` (a stage's event
   * inherits the holder of the event that caused it). Absent for events of no account, and in
   * records written before events named their holder.
   */
  readonly holder?: string | undefined
  /** The stage (or command, e.g. `verify`) that made it. */
  readonly stage: string
  /** The journal id of the event that caused it (0: none, e.g. a code presented by an operator). */
  readonly causedBy: number
  /** The position among the events its stage made from that cause: with causedBy and stage, what makes a replay recognisable. */
  readonly n: number
  readonly data: Readonly<Record<string, unknown>>
}

/** What the journal holds. */
export type JournalRecord = JournalFrame | DerivedRecord

/** What readers see: a frame's events in full. */
export type EventRecord = FrameRecord | DerivedRecord

/** JSON for any record: the fast writer for frames, JSON.stringify for the rest. */
export function journalJson (r: JournalRecord): string {
  return r.type === 'frame' ? recordJson(r) : JSON.stringify(r)
}
