/**
 * The receiver's handling of one frame, for TCP and UDP alike: decide, then either answer the
 * rejection, or journal the event and acknowledge it once the journal has committed it
 * (invariant 1). Retransmissions within the duplicate window are acknowledged without being
 * journaled again, also when they arrive while the first copy is still being committed.
 */
import type { AccountStore } from '../accounts/account-store.js'
import type { ReceiverAccount } from '../accounts/account.js'
import type { Journal } from '../journal/journal.js'
import {
  ErrorCode, serializeAck, serializeEncryptedAck, serializeNak, serializeRejection,
  type CrcForm, type DecodedFrame, type Rejection,
} from '../protocol/index.js'
import { decide, SECURITY_CODES, type Decision } from './decide.js'
import { dedupeKey, DuplicateWindow } from './dedupe.js'
import { RateLimitedLog, type Logger } from '../log.js'
import { TokenBuckets } from './rate.js'
import type { ReceiverOptions } from './options.js'
import { compactEvents } from '../journal/compact.js'
import type { JournalFrame, JournalRecord } from '../journal/record.js'

export interface FrameMeta {
  readonly transport: 'tcp' | 'udp'
  /** The sender's address (no port): the key for per-peer limits and log rate limits. */
  readonly address: string
  /** `address:port`. */
  readonly peer: string
}

export interface ReceiverDeps {
  readonly journal: Journal<JournalRecord>
  readonly accounts: AccountStore
  readonly logger: Logger
  readonly options: ReceiverOptions
  /** Epoch ms; tests move time. */
  readonly clock?: (() => number) | undefined
}

/** Counters for logs, health and (later) metrics. */
export interface ReceiverStats {
  frames: number
  accepted: number
  duplicates: number
  commitFailures: number
  rejected: Record<string, number>
  /** Frames by DC-09 message type (`SIA-DCS`, `*ADM-CID`, ..., `other`) and answer (`ACK`, `NAK`, `DUH`, `none`): `type answer` -> count. */
  answered: Record<string, number>
  /** Frames NAKed for going over a frame-rate limit, by which limit. */
  rateLimited: { account: number, address: number }
}

/** What #accept answers when the journal failed and NAKs are configured (the NAK is made by the caller). */
const NAK_MARK = Symbol('nak')

/** Message types counted by name; anything else a sender makes up is `other`, so counters stay few. */
const COUNTED_TYPES: ReadonlySet<string> = new Set(['SIA-DCS', 'ADM-CID', 'NULL', 'ACK', 'NAK', 'DUH', 'RSP'])

function messageType (header: { readonly token: string, readonly encrypted: boolean } | undefined): string {
  if (header === undefined) return 'unreadable'
  return COUNTED_TYPES.has(header.token) ? (header.encrypted ? '*' : '') + header.token : 'other'
}

/** Codes for frames that could not even be read: answered NAK, or nothing when so configured. */
const UNREADABLE: ReadonlySet<string> = new Set([
  ErrorCode.FRAMING, ErrorCode.FRAME_TOO_LARGE, ErrorCode.BUFFER_LIMIT, ErrorCode.LENGTH, ErrorCode.CRC, ErrorCode.FORMAT,
])

export class Receiver {
  readonly stats: ReceiverStats = { frames: 0, accepted: 0, duplicates: 0, commitFailures: 0, rejected: {}, answered: {}, rateLimited: { account: 0, address: 0 } }
  readonly #deps: ReceiverDeps
  readonly #clock: () => number
  readonly #dups: DuplicateWindow
  readonly #logLimit: RateLimitedLog
  readonly #byAccount: TokenBuckets
  readonly #byAddress: TokenBuckets

  constructor (deps: ReceiverDeps) {
    this.#deps = deps
    this.#clock = deps.clock ?? Date.now
    this.#dups = new DuplicateWindow(deps.options.duplicateWindowMs, deps.options.maxDuplicateEntries)
    this.#logLimit = new RateLimitedLog(deps.options.logWindowMs)
    const o = deps.options
    this.#byAccount = new TokenBuckets({ burst: o.frameBurstPerAccount, perSecond: o.framesPerSecondPerAccount, maxKeys: o.maxRateLimitKeys })
    this.#byAddress = new TokenBuckets({ burst: o.frameBurstPerAddress, perSecond: o.framesPerSecondPerAddress, maxKeys: o.maxRateLimitKeys })
  }

  get healthy (): boolean {
    return this.#deps.journal.healthy
  }

  /**
   * Rebuilds the duplicate window from the journal's recent records, so that a frame committed
   * just before a crash, whose ACK never left, is acknowledged and not journaled again when the
   * panel retransmits it after the restart.
   */
  async start (): Promise<number> {
    const since = this.#clock() - this.#deps.options.duplicateWindowMs
    // Newest first, and no further back than the window or than the window can hold: a busy
    // journal has millions of records within ten minutes, and the start must stay quick.
    const recent: Array<{ key: string, id: number, at: number, encrypted: boolean }> = []
    for await (const r of this.#deps.journal.readBackwards()) {
      if (r.receivedAt < since || recent.length >= this.#deps.options.maxDuplicateEntries) break
      if (r.type === 'frame' && r.dedupe !== undefined) recent.push({ key: r.dedupe, id: r.id, at: r.receivedAt, encrypted: r.encrypted })
    }
    for (let i = recent.length - 1; i >= 0; i--) this.#dups.set(recent[i]!.key, Promise.resolve(recent[i]!.id), recent[i]!.at, recent[i]!.encrypted)
    return recent.length
  }

  /** Handles one whole frame; resolves with the answer to send (null: send nothing). */
  async handleFrame (bytes: Buffer, meta: FrameMeta): Promise<Buffer | null> {
    const now = this.#clock()
    this.stats.frames++
    const d = decide(bytes, { accounts: this.#deps.accounts, unknownAccounts: this.#deps.options.unknownAccounts, now, maxEvents: this.#deps.options.maxEventsPerBlock, maxWindowSeconds: this.#deps.options.duplicateWindowMs / 1000 })
    if (d.kind === 'reject') {
      const answer = this.reject(d.rejection, meta, d.account)
      this.#answered(messageType(d.rejection.header), answer === null ? 'none' : d.rejection.reply === 'DUH' && d.rejection.header !== undefined ? 'DUH' : 'NAK')
      return answer
    }
    const f = d.frame
    const type = messageType(f)
    // Only frames that passed every other check spend a budget: damaged or forged ones cannot
    // use up an account's (an encrypted account's needs its key).
    const over = !this.#byAddress.take(meta.address, now) ? 'address' : !this.#byAccount.take(f.account.toUpperCase(), now) ? 'account' : undefined
    if (over !== undefined) {
      this.#rateLimited(over, f, meta, now)
      this.#answered(type, 'NAK')
      return serializeNak(now, f.crcForm)
    }
    const answer = await this.#accept(d, f, dedupeKey(f), meta, now, bytes)
    this.#answered(type, answer === null ? 'none' : answer === NAK_MARK ? 'NAK' : 'ACK')
    return answer === NAK_MARK ? serializeNak(this.#clock(), f.crcForm) : answer
  }

  /** Counts a frame over a rate limit, and logs it once a window per account (or address). */
  #rateLimited (limit: 'account' | 'address', f: DecodedFrame, meta: FrameMeta, now: number): void {
    this.stats.rateLimited[limit]++
    this.#count(ErrorCode.RATE_LIMIT)
    const account = f.account.toUpperCase()
    const t = this.#logLimit.take(limit === 'account' ? `account ${account}|rate` : `${meta.address}|rate`, now)
    if (!t.log) return
    const o = this.#deps.options
    this.#deps.logger.warn({
      peer: meta.peer, transport: meta.transport, code: ErrorCode.RATE_LIMIT, limit, account,
      burst: limit === 'account' ? o.frameBurstPerAccount : o.frameBurstPerAddress,
      perSecond: limit === 'account' ? o.framesPerSecondPerAccount : o.framesPerSecondPerAddress,
      ...(t.suppressed > 0 ? { suppressedSinceLast: t.suppressed } : {}),
    }, limit === 'account' ? 'frames over the account\'s rate limit: NAK, not journaled' : 'frames over the address\'s rate limit: NAK, not journaled')
  }

  #answered (type: string, answer: string): void {
    const k = `${type} ${answer}`
    this.stats.answered[k] = (this.stats.answered[k] ?? 0) + 1
  }

  async #accept (d: Extract<Decision, { kind: 'accept' }>, f: DecodedFrame, key: string | undefined, meta: FrameMeta, now: number, bytes: Buffer): Promise<Buffer | null | typeof NAK_MARK> {
    // An earlier copy within the window, committed or being committed, answers for this one.
    // Looked up again after each failed commit: of several copies waiting on a commit that
    // fails, the first to get here commits in its place and the others wait on that one.
    for (let earlier = key === undefined ? undefined : this.#dups.get(key, now); earlier !== undefined; earlier = this.#dups.get(key!, now)) {
      try {
        const id = await earlier
        this.stats.duplicates++
        this.#deps.logger.debug({ peer: meta.peer, account: f.account, seq: f.seq, duplicateOf: id }, 'retransmission acknowledged again')
        return this.#ack(f, d.account)
      } catch {
        this.#dups.delete(key!, earlier)
      }
    }
    const commit = this.#deps.journal.append(record(f, meta, now, d.quarantine, key, bytes, d.account?.account.createdAt))
    if (key !== undefined && this.#dups.set(key, commit, now, f.encrypted) > 0) {
      this.logLimited(meta, 'maxDuplicateEntries', 'warn', { limit: this.#deps.options.maxDuplicateEntries }, 'duplicate window full: the oldest events in it were forgotten early')
    }
    try {
      await commit
    } catch (err) {
      if (key !== undefined) this.#dups.delete(key, commit)
      this.stats.commitFailures++
      this.#health(false, err)
      this.logLimited(meta, 'commit', 'error', { err: (err as Error).message, account: f.account, seq: f.seq }, 'the journal could not commit an event; not acknowledged')
      this.#count(ErrorCode.COMMIT)
      return this.#deps.options.nakUnreadable ? NAK_MARK : null
    }
    this.#health(true)
    this.stats.accepted++
    if (d.quarantine) this.logLimited(meta, 'quarantine', 'warn', { account: f.account }, 'event from an unregistered account journaled in quarantine')
    return this.#ack(f, d.account)
  }

  #healthy = true

  /** Logs the moment the journal stops committing, and the moment it commits again: once each. */
  #health (ok: boolean, err?: unknown): void {
    if (ok === this.#healthy) return
    this.#healthy = ok
    if (ok) this.#deps.logger.warn({ stats: { commitFailures: this.stats.commitFailures } }, 'healthy again: the journal commits')
    else this.#deps.logger.error({ err: (err as Error | undefined)?.message }, 'unhealthy: the journal cannot commit; events are not acknowledged until it can')
  }

  #ack (f: DecodedFrame, account: ReceiverAccount | undefined): Buffer {
    // Encrypted frames only decode with the account's key, so it is there.
    return f.encrypted && account?.key !== undefined ? serializeEncryptedAck(f, account.key, this.#clock()) : serializeAck(f)
  }

  /**
   * Counts and logs a rejection and returns its answer. Also for what the splitter drops
   * (noise, framing) and for datagrams that hold no frame.
   */
  reject (r: Rejection, meta: FrameMeta, account?: ReceiverAccount, crcForm?: CrcForm): Buffer | null {
    this.#count(r.code)
    const security = SECURITY_CODES.has(r.code)
    const level = r.code === ErrorCode.NOISE ? 'debug' : security ? 'warn' : 'info'
    this.logLimited(meta, r.code, level, {
      code: r.code, reason: r.reason, account: account?.account.account ?? r.header?.acct, ...(security ? { security: true } : {}),
    }, security ? 'security: frame refused' : 'frame refused')
    if (UNREADABLE.has(r.code) && !this.#deps.options.nakUnreadable) return null
    return serializeRejection(crcForm === undefined || r.crcForm !== undefined ? r : { ...r, crcForm }, this.#clock())
  }

  #count (code: string): void {
    this.stats.rejected[code] = (this.stats.rejected[code] ?? 0) + 1
  }

  /** Logs once per peer address and `what` per window, with the count held back since (limits, refusals). */
  logLimited (meta: FrameMeta, what: string, level: 'debug' | 'info' | 'warn' | 'error', fields: object, msg: string): void {
    const t = this.#logLimit.take(`${meta.address}|${what}`, this.#clock())
    if (!t.log) return
    this.#deps.logger[level]({ peer: meta.peer, transport: meta.transport, ...fields, ...(t.suppressed > 0 ? { suppressedSinceLast: t.suppressed } : {}) }, msg)
  }
}

/** The frame as the journal keeps it. `holder`: the account's createdAt, which names the holder of the number it was received for. */
function record (f: DecodedFrame, meta: FrameMeta, now: number, quarantine: boolean, dedupe: string | undefined, bytes: Buffer, holder: string | undefined): JournalFrame {
  const flags: { linkTest?: true, unknownCode?: true, quarantine?: true } = {}
  if (f.token === 'NULL') flags.linkTest = true
  if (f.events.some((e) => !e.known)) flags.unknownCode = true
  if (quarantine) flags.quarantine = true
  // The events in compact form (the code tables give back the rest); in full only if they do not fit it.
  const ev = compactEvents(f.events)
  return {
    type: 'frame',
    receivedAt: now,
    transport: meta.transport,
    peer: meta.peer,
    account: f.account.toUpperCase(),
    holder,
    rcvr: f.rcvr,
    lpref: f.lpref,
    seq: f.seq,
    token: f.token,
    encrypted: f.encrypted,
    ev,
    events: ev === undefined && f.events.length > 0 ? f.events : undefined,
    xdata: f.xdata.map((x) => ({ id: x.id, value: x.value })),
    text: f.text,
    panelTime: f.panelTime,
    flags,
    quirks: f.quirks,
    dedupe,
    raw: bytes.toString('base64'),
  }
}
