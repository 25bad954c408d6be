/**
 * The receiver's answers. ACK and DUH echo the sequence, receiver (only when
 * present), prefix and account exactly as received; `*ACK` carries a fresh random pad and the
 * receiver's time; NAK has the fixed header `"NAK"0000R0L0A0[]`, the receiver's time, and is
 * never encrypted. Every answer goes back in the CRC form the panel used.
 */
import type { AesKey } from './cipher.js'
import type { CrcForm, FrameHeader, Rejection } from './frame.js'
import { serializeFrame } from './frame-build.js'

export interface AckOptions {
  /** Append the receiver's time to a plain ACK (FIO does; IOB and PYSIA do not). */
  readonly timestamp?: number | undefined
}

/** `"ACK"seq[Rrcvr]Lpref#acct[]`. */
export function serializeAck (h: FrameHeader, opts: AckOptions = {}): Buffer {
  return serializeFrame({ token: 'ACK', seq: h.seq, rcvr: h.rcvr, lpref: h.lpref, acct: h.acct, crcForm: h.crcForm, timestamp: opts.timestamp })
}

/**
 * `"*ACK"seq[Rrcvr]Lpref#acct[` + hex(AES(pad `|]` `_HH:MM:SS,MM-DD-YYYY`)): the standard's
 * form (STD13-p21; IOB/NRSU), ending in `]` + timestamp as transmitters read it (SPT).
 */
export function serializeEncryptedAck (h: FrameHeader, key: AesKey, now: number, pad?: Uint8Array): Buffer {
  return serializeFrame({ token: 'ACK', encrypted: true, seq: h.seq, rcvr: h.rcvr, lpref: h.lpref, acct: h.acct, crcForm: h.crcForm, timestamp: now }, { key, pad })
}

/** `"NAK"0000R0L0A0[]_HH:MM:SS,MM-DD-YYYY`: the panel sets its clock from it and retries. */
export function serializeNak (now: number, crcForm: CrcForm = 'hex'): Buffer {
  return serializeFrame({ token: 'NAK', seq: '0000', rcvr: '0', lpref: '0', acctMarker: 'A', acct: '0', timestamp: now, crcForm })
}

/** `"DUH"seq[Rrcvr]Lpref#acct[]`: intact, but not something this receiver can process. Always plain. */
export function serializeDuh (h: FrameHeader): Buffer {
  return serializeFrame({ token: 'DUH', seq: h.seq, rcvr: h.rcvr, lpref: h.lpref, acct: h.acct, crcForm: h.crcForm })
}

/**
 * The bytes a rejection asks for: NAK with `now`, DUH (NAK when there is no header to echo),
 * or null for silence.
 */
export function serializeRejection (r: Rejection, now: number): Buffer | null {
  if (r.reply === 'none') return null
  if (r.reply === 'DUH' && r.header !== undefined) return serializeDuh(r.header)
  return serializeNak(now, r.crcForm)
}
