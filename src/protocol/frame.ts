/**
 * The shapes of one whole DC-09 frame, shared by the parser (frame-parse.ts) and the builder
 * (frame-build.ts): the envelope (CRC, length, ID token, sequence, receiver, prefix, account)
 * and the content inside the data bracket (data, extended data, timestamp).
 *
 *   <LF> CRC 0LLL "ID" SSSS [Rrcvr] [Lpref] #acct [data] [x-data]... [_HH:MM:SS,MM-DD-YYYY] <CR>
 */
import type { Result } from '../result.js'
import type { AesKey } from './cipher.js'
import { ErrorCode, REPLY_FOR, type Failure, type Reply } from './errors.js'

/** `hex`: 4 ASCII hex CRC characters (the standard). `binary`: 2 raw CRC bytes (Lupusec, Trikdis "DC-09 2007" mode). */
export type CrcForm = 'hex' | 'binary'

/** The length field is `0LLL`: at most 0xFFF body bytes. */
export const MAX_BODY_BYTES = 0xfff
/** Longest ID token accepted between the quotes (the longest known, `*SIA-DCS`, has 8). */
export const MAX_TOKEN_BYTES = 16

/** The clear-text header of a frame, echoed in answers exactly as received. */
export interface FrameHeader {
  /** ID token without the encryption mark, e.g. `SIA-DCS`, `ADM-CID`, `NULL`, `ACK`. */
  readonly token: string
  /** A `*` before the token: the content after `[` is AES ciphertext in hex. */
  readonly encrypted: boolean
  /** Four decimal digits, as received. */
  readonly seq: string
  /** Receiver number after `R` (1-6 hex), absent when the panel sent none. */
  readonly rcvr: string | undefined
  /** Account prefix after `L` (1-6 hex), absent when the panel sent none. */
  readonly lpref: string | undefined
  /**
   * Account after `#`: 3-16 hex digits by the standard, letters seen too (Focus `#foc7688`).
   * For NAK, the value after `A`. Empty when the header carries none (some panels put it only
   * in the data block: `"SIA-DCS"0001L[#9999|NBA2]`).
   */
  readonly acct: string
  readonly crcForm: CrcForm
}

/**
 * Deviations from the standard that were tolerated, for the log:
 * `crc-includes-cr`: the CRC (and maybe the length) counts the final CR (Eldes: Cheaterdev/sia-ha #3,
 * pysiaalarm #17/#28); `pad-without-pipe`: the pad of an encrypted frame has no `|` (Hikvision hub, FIO);
 * `junk-after-data`: bytes after the blocks that belong to none (comxline, pysiaalarm #34);
 * `bad-timestamp`: a plain frame's timestamp is not a valid date (an unset panel clock), ignored;
 * `no-events`: an event token whose data block holds no event.
 */
export type Quirk = 'crc-includes-cr' | 'pad-without-pipe' | 'junk-after-data' | 'bad-timestamp' | 'no-events'

/** A frame whose envelope is checked; the content is still raw (and maybe encrypted). */
export interface RawFrame extends FrameHeader {
  /** Bytes after the `[` that opens the data block, up to the CR: hex ciphertext when encrypted. */
  readonly payload: Buffer
  readonly quirks: readonly Quirk[]
}

/** One extended-data block `[Ivalue]`, kept in order. */
export interface XData {
  readonly id: string
  readonly value: Buffer
}

/** What the data bracket holds once decrypted. */
export interface FrameContent {
  /** Between `[` and its `]`; for encrypted frames, after the pad and its `|`. */
  readonly data: Buffer
  readonly xdata: readonly XData[]
  /** The panel's clock reading as epoch ms read as UTC (see `panelTimeToUtc`), if sent. */
  readonly panelTime: number | undefined
  /** Bytes between the blocks and the timestamp that belong to no block (tolerated). */
  readonly junk: Buffer | undefined
  /** Encrypted frames: the pad that preceded the data (needed to rebuild the same bytes). */
  readonly pad: Buffer | undefined
  /** Encrypted frames whose pad had no `|` (the data is then empty). */
  readonly padWithoutPipe: boolean
  /** A timestamp was there but is not a valid date (tolerated for plain frames only). */
  readonly badTimestamp: boolean
}

/** A rejected frame: a stable code, a reason for the log, the answer to send, and the header when it was readable. */
export interface Rejection extends Failure {
  readonly reply: Reply
  readonly header: FrameHeader | undefined
  /** The CRC form of the frame, when it got that far: a NAK goes back in the same form. */
  readonly crcForm: CrcForm | undefined
}

/** A frame whose envelope passed its checks, or why it did not. */
export type FrameResult = Result<RawFrame, Rejection>
/** The content of a frame's data bracket, or why it could not be read. */
export type ContentResult = Result<FrameContent, Rejection>

export function reject (code: ErrorCode, reason: string, header?: FrameHeader, crcForm?: CrcForm): Rejection {
  return { ok: false, code, reason, reply: REPLY_FOR[code], header, crcForm: header?.crcForm ?? crcForm }
}

/** Everything needed to build a frame; panels' frames and the receiver's answers alike. */
export interface FrameFields {
  readonly token: string
  readonly encrypted?: boolean | undefined
  readonly seq: string | number
  readonly rcvr?: string | undefined
  readonly lpref?: string | undefined
  readonly acct: string
  /** `A` only in NAK's fixed header; otherwise `#`. */
  readonly acctMarker?: '#' | 'A' | undefined
  readonly data?: string | Uint8Array | undefined
  readonly xdata?: ReadonlyArray<{ readonly id: string, readonly value: string | Uint8Array }> | undefined
  /** Epoch ms (formatted as UTC) or a ready `_HH:MM:SS,MM-DD-YYYY` string. */
  readonly timestamp?: number | string | undefined
  readonly crcForm?: CrcForm | undefined
}

export interface SerializeOptions {
  /** Required for encrypted frames. */
  readonly key?: AesKey | undefined
  /** A fixed pad (tests, fixtures). Default: fresh random bytes for every frame. */
  readonly pad?: Uint8Array | undefined
}
