import type { Err } from '../result.js'

/**
 * Stable rejection codes of the protocol core. Match on `code`, never on `reason` text.
 * Each code carries the answer the protocol asks for:
 * `NAK` (with the receiver's time), `DUH`, or `none` (say nothing).
 * The table of every dc09 code (src/errors.ts) builds on these; this file imports nothing from it,
 * so the protocol core stays usable alone.
 */
export const ErrorCode = {
  /** Bytes outside any frame (before an LF that starts a frame). */
  NOISE: 'DC09_ERR_NOISE',
  /** An LF was found but what follows is not a DC-09 header, or the CR is missing. */
  FRAMING: 'DC09_ERR_FRAMING',
  /** The declared length is larger than the configured frame cap. */
  FRAME_TOO_LARGE: 'DC09_ERR_FRAME_TOO_LARGE',
  /** More bytes were buffered for one unfinished frame than allowed. */
  BUFFER_LIMIT: 'DC09_ERR_BUFFER_LIMIT',
  /** The length field does not match the bytes between it and the CR. */
  LENGTH: 'DC09_ERR_LENGTH',
  /** CRC-16/ARC over the body does not match the CRC field. */
  CRC: 'DC09_ERR_CRC',
  /** The header or body does not follow the DC-09 layout. */
  FORMAT: 'DC09_ERR_FORMAT',
  /** An intact frame with an ID token this receiver does not process. */
  UNSUPPORTED_TOKEN: 'DC09_ERR_UNSUPPORTED_TOKEN',
  /** An encrypted frame for an account that has no key. */
  NO_KEY: 'DC09_ERR_NO_KEY',
  /** A plain frame for an account that must encrypt (a downgrade). */
  ENCRYPTION_REQUIRED: 'DC09_ERR_ENCRYPTION_REQUIRED',
  /** Decryption gave no well-formed tail: wrong key, or corrupted ciphertext. */
  WRONG_KEY: 'DC09_ERR_WRONG_KEY',
  /** The encrypted part is not hex, or not whole AES blocks. */
  CIPHERTEXT: 'DC09_ERR_CIPHERTEXT',
  /** An encrypted frame without the mandatory timestamp. */
  TIMESTAMP_MISSING: 'DC09_ERR_TIMESTAMP_MISSING',
  /** The timestamp is not `_HH:MM:SS,MM-DD-YYYY` with valid values. */
  TIMESTAMP_FORMAT: 'DC09_ERR_TIMESTAMP_FORMAT',
  /** The timestamp is outside the account's window around the receiver's clock. */
  TIMESTAMP_WINDOW: 'DC09_ERR_TIMESTAMP_WINDOW',
  /** The data block cannot be read as the token's format (Contact ID or SIA). */
  DATA: 'DC09_ERR_DATA',
  /** A SIA block holds more events than the configured cap (64 by default). */
  TOO_MANY_EVENTS: 'DC09_ERR_TOO_MANY_EVENTS',
  /** A configured AES key is not 16/24/32 bytes in the given format. */
  KEY_FORMAT: 'DC09_ERR_KEY_FORMAT',
  // The receiver's own decisions (src/receiver/decide.ts), in the same table so codes stay unique.
  /** The account is not registered (answer per the unknown-account policy; NAK by default). */
  UNKNOWN_ACCOUNT: 'DC09_ERR_UNKNOWN_ACCOUNT',
  /** The frame's receiver number or prefix is not the one the account must arrive with. */
  ACCOUNT_MISMATCH: 'DC09_ERR_ACCOUNT_MISMATCH',
  /** The journal could not commit the event: nothing is acknowledged, the panel retries. */
  COMMIT: 'DC09_ERR_COMMIT',
  /** The account or address sent frames faster than its limit: not journaled, the panel retries later. */
  RATE_LIMIT: 'DC09_ERR_RATE_LIMIT',
} as const

// The object and the union of its values share the name on purpose: `ErrorCode.CRC` and `: ErrorCode`.

export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode]

/** What to send back for a rejected frame. */
export type Reply = 'NAK' | 'DUH' | 'none'

/** The protocol's answer for each code. */
export const REPLY_FOR: Readonly<Record<ErrorCode, Reply>> = {
  DC09_ERR_NOISE: 'none',
  DC09_ERR_FRAMING: 'NAK',
  DC09_ERR_FRAME_TOO_LARGE: 'NAK',
  DC09_ERR_BUFFER_LIMIT: 'NAK',
  DC09_ERR_LENGTH: 'NAK',
  DC09_ERR_CRC: 'NAK',
  DC09_ERR_FORMAT: 'NAK',
  DC09_ERR_UNSUPPORTED_TOKEN: 'DUH',
  DC09_ERR_NO_KEY: 'NAK',
  DC09_ERR_ENCRYPTION_REQUIRED: 'NAK',
  DC09_ERR_WRONG_KEY: 'NAK',
  DC09_ERR_CIPHERTEXT: 'NAK',
  DC09_ERR_TIMESTAMP_MISSING: 'NAK',
  DC09_ERR_TIMESTAMP_FORMAT: 'NAK',
  DC09_ERR_TIMESTAMP_WINDOW: 'NAK',
  DC09_ERR_DATA: 'DUH',
  DC09_ERR_TOO_MANY_EVENTS: 'DUH',
  DC09_ERR_KEY_FORMAT: 'none',
  DC09_ERR_UNKNOWN_ACCOUNT: 'NAK',
  DC09_ERR_ACCOUNT_MISMATCH: 'NAK',
  DC09_ERR_COMMIT: 'NAK',
  DC09_ERR_RATE_LIMIT: 'NAK',
}

/** A failure as a value. `reason` is for logs and never holds key material. */
export type Failure = Err<ErrorCode>
