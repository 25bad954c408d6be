/**
 * Every limit of the receiver, with why it exists. A receiver faces the internet:
 * each input is bounded, and each limit has a test that trips it.
 */
import { MAX_BODY_BYTES, MAX_SIA_EVENTS } from '../protocol/index.js'

export type UnknownAccountPolicy = 'nak' | 'duh' | 'quarantine'

export interface ReceiverOptions {
  /**
   * Open TCP connections in all: bounds file descriptors and memory. 100,000 idle panels (a link
   * test a minute each) fit one receiver in about 1 GiB; each is also an open file, so the limit on
   * open files must allow them (a warning at start says when it does not).
   */
  readonly maxConnections: number
  /** Open TCP connections from one address: one host cannot take every slot (carrier NAT puts many panels behind one address, hence generous). */
  readonly maxConnectionsPerAddress: number
  /** Largest body a frame's length field may declare: the 0LLL field's own maximum. */
  readonly maxBodyBytes: number
  /** Events in one SIA block; a block with more is NAKed: no panel sends more than a few dozen, and each costs the journal and the pipeline. */
  readonly maxEventsPerBlock: number
  /** Bytes held for one unfinished frame: one whole frame, never more. */
  readonly maxBufferedBytes: number
  /** A TCP connection that sends nothing this long is closed (panels reconnect; their link tests keep a live one open). */
  readonly idleTimeoutMs: number
  /** A started frame must be complete this soon: slow senders hold a slot and memory. */
  readonly frameTimeoutMs: number
  /** Frames read but not yet answered on one connection; reading pauses above it (read only as fast as the journal commits). */
  readonly maxInFlightPerConnection: number
  /** A peer that does not read its answers for this long is dropped. */
  readonly drainTimeoutMs: number
  /** After the receiver closes its side (idle, slow frame, shutdown), a peer that keeps its side open is dropped after this. */
  readonly closeGraceMs: number
  /** Datagrams being committed at once; more are dropped (the panel retries): bounds memory when the disk is slow. */
  readonly maxUdpInFlight: number
  /** NAK/DUH answers per second to one address over UDP: source addresses are not authenticated (reflection). */
  readonly udpRejectionsPerSecond: number
  /** Largest UDP datagram taken: one frame and some slack; anything larger is not DC-09. */
  readonly udpMaxDatagram: number
  /** A tripped limit or a rejection is logged once per peer per window, with a count. */
  readonly logWindowMs: number
  /** Retransmissions of one event (same account, sequence, content) within this window are journaled once. */
  readonly duplicateWindowMs: number
  /** Entries the duplicate window may hold: its memory bound. */
  readonly maxDuplicateEntries: number
  /** What an unregistered account gets: NAK, DUH, or its events journaled in quarantine (commissioning). */
  readonly unknownAccounts: UnknownAccountPolicy
  /** Answer unreadable frames (bad CRC, length, framing) with NAK; false: stay silent. */
  readonly nakUnreadable: boolean
  /** How long shutdown waits for in-flight frames to commit and be answered. */
  readonly shutdownTimeoutMs: number
  /** How often account changes by other processes are picked up. */
  readonly accountRefreshMs: number
  /** Accounts, and unknown numbers, the receiver keeps in memory (least recently used out first); others are read from the file when they send. */
  readonly accountCacheEntries: number
  /**
   * Frames one account may send at once; past them, framesPerSecondPerAccount. A panel sends a
   * burst of tens of events, then goes quiet; one back from an outage sends its buffer of a few
   * hundred, at the pace of its ACKs. Frames over it are NAKed (the panel sends them again later).
   */
  readonly frameBurstPerAccount: number
  /** Frames a second one account may keep sending: a panel sends a few a minute, tens in an alarm storm. */
  readonly framesPerSecondPerAccount: number
  /** Frames one address may send at once: many panels can share one behind NAT (as many as maxConnectionsPerAddress), each with its burst. */
  readonly frameBurstPerAddress: number
  /** Frames a second one address may keep sending: a few a second for each of maxConnectionsPerAddress panels. */
  readonly framesPerSecondPerAddress: number
  /** Accounts, and addresses, whose frame rates are followed at once: the limiter's memory bound (an idle one is forgotten). */
  readonly maxRateLimitKeys: number
}

export const defaultOptions: ReceiverOptions = Object.freeze({
  maxConnections: 100_000,
  maxConnectionsPerAddress: 512,
  maxBodyBytes: MAX_BODY_BYTES,
  maxEventsPerBlock: MAX_SIA_EVENTS,
  maxBufferedBytes: MAX_BODY_BYTES + 10,
  idleTimeoutMs: 180_000,
  frameTimeoutMs: 10_000,
  maxInFlightPerConnection: 32,
  drainTimeoutMs: 10_000,
  closeGraceMs: 5_000,
  maxUdpInFlight: 4_096,
  udpRejectionsPerSecond: 20,
  udpMaxDatagram: 8192,
  logWindowMs: 60_000,
  duplicateWindowMs: 600_000,
  maxDuplicateEntries: 500_000,
  unknownAccounts: 'nak',
  nakUnreadable: true,
  shutdownTimeoutMs: 15_000,
  accountRefreshMs: 1_000,
  // Sized for 100k hot accounts: about 4.4 KB each with the AES key expanded, some 450 MB.
  accountCacheEntries: 100_000,
  frameBurstPerAccount: 300,
  framesPerSecondPerAccount: 30,
  frameBurstPerAddress: 10_000,
  framesPerSecondPerAddress: 2_000,
  maxRateLimitKeys: 100_000,
})

/** The smallest sensible value of each numeric limit: below it the receiver would refuse or drop everything. */
const MINIMUM: Readonly<Partial<Record<keyof ReceiverOptions, number>>> = {
  maxConnections: 1,
  maxConnectionsPerAddress: 1,
  maxBodyBytes: 20,
  maxEventsPerBlock: 1,
  maxBufferedBytes: 30,
  idleTimeoutMs: 1_000,
  frameTimeoutMs: 100,
  maxInFlightPerConnection: 1,
  drainTimeoutMs: 100,
  closeGraceMs: 0,
  maxUdpInFlight: 1,
  udpRejectionsPerSecond: 0,
  udpMaxDatagram: 64,
  logWindowMs: 1_000,
  duplicateWindowMs: 0,
  maxDuplicateEntries: 1_000,
  shutdownTimeoutMs: 100,
  accountRefreshMs: 50,
  accountCacheEntries: 100,
  frameBurstPerAccount: 1,
  framesPerSecondPerAccount: 1,
  frameBurstPerAddress: 1,
  framesPerSecondPerAddress: 1,
  maxRateLimitKeys: 100,
}

/** Checks limits given by a user (the `--config` file): known names, right types, sensible values. */
export function validateOptions (input: Record<string, unknown>): { ok: true, value: Partial<ReceiverOptions> } | { ok: false, reason: string } {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(input)) {
    const d = (defaultOptions as unknown as Record<string, unknown>)[k]
    if (d === undefined) return { ok: false, reason: `unknown setting ${JSON.stringify(k)}` }
    if (typeof d === 'number') {
      const min = MINIMUM[k as keyof ReceiverOptions] ?? 0
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) return { ok: false, reason: `${k} must be a whole number, at least ${min}` }
      if (k === 'maxBodyBytes' && v > 0xfff) return { ok: false, reason: 'maxBodyBytes is at most 4095 (the length field\'s maximum)' }
    } else if (typeof v !== typeof d) {
      return { ok: false, reason: `${k} must be a ${typeof d}` }
    }
    if (k === 'unknownAccounts' && !['nak', 'duh', 'quarantine'].includes(v as string)) return { ok: false, reason: 'unknownAccounts is "nak", "duh" or "quarantine"' }
    out[k] = v
  }
  return { ok: true, value: out as Partial<ReceiverOptions> }
}
