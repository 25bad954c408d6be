/**
 * Every stable `DC09_ERR_*` code of dc09 in one table: the area it comes from, what it means,
 * what the outside world gets (the answer to the panel, the HTTP status, the CLI's exit, or a
 * refused start), and what to do about it. docs/errors.md is written from this table, and a
 * test keeps the table, the code and that page in step.
 *
 * The protocol core stays usable alone: its codes and their answers are defined in
 * src/protocol/errors.ts and imported here, never the other way round. Other areas' codes are
 * tied in by type only (`import type`), so loading this table loads nothing but the protocol's
 * code list: no database, no HTTP server.
 */
import type { AccountErrorCode } from './accounts/account.js'
import type { AccessError } from './api/access.js'
import { ErrorCode, REPLY_FOR, type Reply } from './protocol/errors.js'

export type ErrorArea = 'protocol' | 'receiver' | 'accounts' | 'verification' | 'api' | 'journal' | 'pipeline' | 'outputs' | 'cluster' | 'cli'

type AccessErrorCode = typeof AccessError[keyof typeof AccessError]

/** Codes that are written as plain literals where they are raised (thrown errors, verifier results). */
type LiteralCode =
  | 'DC09_ERR_BUSY' | 'DC09_ERR_LIMIT' | 'DC09_ERR_PEPPER' | 'DC09_ERR_PEPPER_MISMATCH' | 'DC09_ERR_POLICY_INVALID'
  | 'DC09_ERR_ACCOUNT_CHANGED' | 'DC09_ERR_USER_INVALID' | 'DC09_ERR_USER_EXISTS' | 'DC09_ERR_USER_NOT_FOUND'
  | 'DC09_ERR_CODE_WEAK' | 'DC09_ERR_CODE_TAKEN'
  | 'DC09_ERR_JOURNAL_CORRUPT' | 'DC09_ERR_JOURNAL_CLOSED' | 'DC09_ERR_LOCKED'
  | 'DC09_ERR_PIPELINE_CONFIG' | 'DC09_ERR_OUTPUT_CONFIG' | 'DC09_ERR_INPUT'
  | 'DC09_ERR_CLUSTER_UNAVAILABLE' | 'DC09_ERR_CLUSTER_LAYOUT' | 'DC09_ERR_PIPELINE_FENCED'

export type Dc09ErrorCode = ErrorCode | AccountErrorCode | AccessErrorCode | LiteralCode

export interface ErrorInfo {
  readonly area: ErrorArea
  /** What went wrong, in one sentence. */
  readonly meaning: string
  /** What the outside sees: the answer to the panel, the HTTP status, the CLI's exit, a refused start. */
  readonly answer: string
  /** What the operator (or the panel's installer) should do. */
  readonly action: string
  /** Frame codes only: the protocol's answer, as the receiver sends it. */
  readonly reply?: Reply
}

const REPLY_TEXT: Readonly<Record<Reply, string>> = {
  NAK: 'NAK with the receiver\'s time: the panel sends the frame again (and may set its clock from the NAK)',
  DUH: 'DUH: the frame is intact but not processed; the panel does not repeat it',
  none: 'no answer',
}

/** A frame code's entry: its answer is the one the protocol's table gives it. */
function frame (code: ErrorCode, area: 'protocol' | 'receiver', meaning: string, action: string, answer = REPLY_TEXT[REPLY_FOR[code]]): ErrorInfo {
  return { area, meaning, answer, action, reply: REPLY_FOR[code] }
}

const START_REFUSED = 'thrown at start-up: `dc09 serve` prints the reason to stderr and exits 1 (the receiver does not start)'

export const ERRORS: { readonly [C in Dc09ErrorCode]: ErrorInfo } = {
  // ------------------------------------------------------------------ protocol (one frame)
  [ErrorCode.NOISE]: frame(ErrorCode.NOISE, 'protocol',
    'Bytes arrived outside any frame (before the LF that starts one, or with no DC-09 header at all).',
    'Usually nothing: line noise, a port scan or a keep-alive. Many on one connection mean a sender that does not speak DC-09 on this port.'),
  [ErrorCode.FRAMING]: frame(ErrorCode.FRAMING, 'protocol',
    'An LF was found but what follows is not a DC-09 header, or the frame has no closing CR.',
    'Check that the panel or transmitter is set to SIA DC-09 (not SIA over a serial protocol or another format) and that nothing between it and the receiver cuts frames.'),
  [ErrorCode.FRAME_TOO_LARGE]: frame(ErrorCode.FRAME_TOO_LARGE, 'protocol',
    'The length field declares a body larger than the configured frame cap.',
    'Raise the maxBodyBytes limit only if a known panel really sends such frames; otherwise the sender is faulty or hostile.'),
  [ErrorCode.BUFFER_LIMIT]: frame(ErrorCode.BUFFER_LIMIT, 'protocol',
    'More bytes were buffered for one unfinished frame than the limit allows.',
    'A sender that never finishes its frame (the maxBufferedBytes limit): check the link (a proxy or modem that splits or stalls) or the sender.'),
  [ErrorCode.LENGTH]: frame(ErrorCode.LENGTH, 'protocol',
    'The length field does not match the bytes between it and the CR.',
    'The panel retries; a steady stream of these means a sender that computes the length wrongly or a link that alters bytes.'),
  [ErrorCode.CRC]: frame(ErrorCode.CRC, 'protocol',
    'The CRC-16 over the body does not match the CRC field.',
    'The panel retries; many CRC errors point at a noisy or altering link, or a sender using another CRC form.'),
  [ErrorCode.FORMAT]: frame(ErrorCode.FORMAT, 'protocol',
    'The header or body does not follow the DC-09 layout (ID token, sequence, receiver, prefix, account, data block).',
    'Compare the logged frame with the panel\'s settings (account number, receiver and prefix fields); report the frame if a known panel sends it.'),
  [ErrorCode.UNSUPPORTED_TOKEN]: frame(ErrorCode.UNSUPPORTED_TOKEN, 'protocol',
    'An intact frame carries an ID token this receiver does not process (only SIA-DCS, ADM-CID and NULL are).',
    'Set the panel to send SIA-DCS or ADM-CID (Contact ID) events.'),
  [ErrorCode.NO_KEY]: frame(ErrorCode.NO_KEY, 'protocol',
    'An encrypted frame arrived for an account that has no AES key.',
    'Give the account the panel\'s key (dc09 accounts update --key-file or --key-stdin, or the HTTP interface), or turn encryption off on the panel.'),
  [ErrorCode.ENCRYPTION_REQUIRED]: frame(ErrorCode.ENCRYPTION_REQUIRED, 'protocol',
    'A plain frame arrived for an account that must encrypt (a possible downgrade attack).',
    'Turn encryption on at the panel; if the account really sends plain frames, clear its encryption requirement. Unexpected ones are a security event.'),
  [ErrorCode.WRONG_KEY]: frame(ErrorCode.WRONG_KEY, 'protocol',
    'Decryption gave no well-formed tail: the key is wrong, or the ciphertext was corrupted or tampered with.',
    'Check that the account\'s key and key format (hex or ASCII) match the panel\'s. If they do, treat it as a security event.'),
  [ErrorCode.CIPHERTEXT]: frame(ErrorCode.CIPHERTEXT, 'protocol',
    'The encrypted part is not hex, or not whole 16-byte AES blocks.',
    'The sender does not encrypt as DC-09 asks; check its encryption settings or firmware.'),
  [ErrorCode.TIMESTAMP_MISSING]: frame(ErrorCode.TIMESTAMP_MISSING, 'protocol',
    'An encrypted frame carries no timestamp, which encrypted frames must have.',
    'Turn the timestamp on at the panel (DC-09 requires it whenever encryption is used).'),
  [ErrorCode.TIMESTAMP_FORMAT]: frame(ErrorCode.TIMESTAMP_FORMAT, 'protocol',
    'The timestamp is not _HH:MM:SS,MM-DD-YYYY with valid values.',
    'Set the panel\'s clock (an unset clock gives impossible dates); plain frames with a bad timestamp are accepted and flagged instead.'),
  [ErrorCode.TIMESTAMP_WINDOW]: frame(ErrorCode.TIMESTAMP_WINDOW, 'protocol',
    'The panel\'s time is outside the account\'s window around the receiver\'s clock.',
    'Check both clocks; a panel on local time needs the account\'s time zone or clock offset. The NAK carries the receiver\'s time, from which many panels set theirs.'),
  [ErrorCode.DATA]: frame(ErrorCode.DATA, 'protocol',
    'The data block cannot be read as the token\'s format (Contact ID or SIA).',
    'Report the logged frame: the panel sends a dialect that is not understood, so its events are not delivered.'),
  [ErrorCode.TOO_MANY_EVENTS]: frame(ErrorCode.TOO_MANY_EVENTS, 'protocol',
    'A SIA block holds more events than the configured cap (64 by default).',
    'Raise the maxEventsPerBlock limit only for a panel known to batch that many; otherwise the sender is faulty.'),
  [ErrorCode.KEY_FORMAT]: frame(ErrorCode.KEY_FORMAT, 'protocol',
    'A configured AES key is not 16, 24 or 32 bytes in its stated format (hex or ASCII).',
    'Write the key as 32, 48 or 64 hex digits, or 16, 24 or 32 ASCII characters, with the matching key format.',
    'never about a frame: the key is refused where it is given (accounts: DC09_ERR_ACCOUNT_INVALID, HTTP 400, CLI exit 1; a --key-file: the CLI exits 2)'),
  // ------------------------------------------------------------------ receiver (decisions on a frame)
  [ErrorCode.UNKNOWN_ACCOUNT]: frame(ErrorCode.UNKNOWN_ACCOUNT, 'receiver',
    'The frame names an account that is not registered.',
    'Add the account (dc09 accounts add), or correct the account number at the panel.',
    'NAK by default; the unknownAccounts setting makes it DUH, or quarantine (the event is journaled, flagged, and acknowledged)'),
  [ErrorCode.ACCOUNT_MISMATCH]: frame(ErrorCode.ACCOUNT_MISMATCH, 'receiver',
    'The frame\'s receiver number or prefix is not the one the account is registered with.',
    'Correct the receiver or prefix at the panel or on the account; an unexpected one may be a spoofed route (a security event).'),
  [ErrorCode.COMMIT]: frame(ErrorCode.COMMIT, 'receiver',
    'The journal could not durably store the event, so nothing is acknowledged.',
    'The panel retries. Check the data directory\'s disk (space, errors); the receiver\'s health reports the journal as unhealthy meanwhile.'),
  [ErrorCode.RATE_LIMIT]: frame(ErrorCode.RATE_LIMIT, 'receiver',
    'The account or address sent frames faster than its limit; the frame is not journaled.',
    'The panel retries later. A panel stuck in a loop needs attention; raise the limit only for a known busy sender.'),
  // ------------------------------------------------------------------ accounts
  DC09_ERR_ACCOUNT_INVALID: {
    area: 'accounts',
    meaning: 'An account change has a field out of range or of the wrong type (number, key, window, tenant...), or a verification names an impossible account number.',
    answer: 'HTTP 400 with the reason; dc09 accounts prints it and exits 1',
    action: 'Correct the field the reason names.',
  },
  DC09_ERR_ACCOUNT_EXISTS: {
    area: 'accounts',
    meaning: 'The account number is already registered.',
    answer: 'HTTP 409 (the body does not say whose it is); dc09 accounts add prints it and exits 1',
    action: 'Update the existing account instead, or choose another number.',
  },
  DC09_ERR_ACCOUNT_NOT_FOUND: {
    area: 'accounts',
    meaning: 'No account has this number (or, for an installer, none in its tenant).',
    answer: 'HTTP 404; the CLI prints it and exits 1',
    action: 'Check the number, or add the account first.',
  },
  DC09_ERR_ACCOUNT_LEFTOVERS: {
    area: 'accounts',
    meaning: 'Users or codes of an earlier holder of the number remain, so the number cannot be taken again yet.',
    answer: 'HTTP 409; dc09 accounts add prints it and exits 1',
    action: 'Purge the leftovers (dc09 accounts purge --account N) before the number is given out again.',
  },
  // ------------------------------------------------------------------ verification (users, disarm codes)
  DC09_ERR_BUSY: {
    area: 'verification',
    meaning: 'Too many codes are being hashed or waiting to be; the request was refused at once.',
    answer: 'HTTP 503 with Retry-After: 1; a verification call answers busy',
    action: 'Retry shortly. Many of these mean the hash limits (hashConcurrency, hashQueue) are too low for the load.',
  },
  DC09_ERR_LIMIT: {
    area: 'verification',
    meaning: 'A code-hashing limit (hashConcurrency, hashQueue) is unknown or out of range.',
    answer: 'at start-up: `dc09 serve --config` prints the reason and exits 2 (the receiver does not start)',
    action: 'Fix the verification section of the limits file.',
  },
  DC09_ERR_PEPPER: {
    area: 'verification',
    meaning: 'The pepper that keys disarm-code hashes is missing or shorter than 32 bytes.',
    answer: 'thrown: a pepper under 32 bytes stops `dc09 serve` at start-up (stderr, exit 1) and dc09 codes (exit 2); enrolling or verifying with no pepper is refused the same way',
    action: 'Give a pepper file of at least 32 random bytes (--pepper-file or DC09_PEPPER_FILE), kept outside the data directory.',
  },
  DC09_ERR_PEPPER_MISMATCH: {
    area: 'verification',
    meaning: 'The pepper is not the one the codes in this data directory were enrolled with.',
    answer: `${START_REFUSED}; dc09 codes prints it and exits 2`,
    action: 'Use the right pepper file. If it is lost: dc09 codes reset-all, then enrol every code again.',
  },
  DC09_ERR_POLICY_INVALID: {
    area: 'verification',
    meaning: 'A code policy setting is unknown or out of range.',
    answer: 'dc09 codes policy prints it and exits 1',
    action: 'Use a setting and value from the reason.',
  },
  DC09_ERR_ACCOUNT_CHANGED: {
    area: 'verification',
    meaning: 'The account changed while a code was being set (codes reset, moved to another tenant, or removed and added again); nothing was set.',
    answer: 'HTTP 409; the CLI prints it and exits 1',
    action: 'Set the code again.',
  },
  DC09_ERR_USER_INVALID: {
    area: 'verification',
    meaning: 'A user number is not 1 to 9999, a name is not printable, or the account has its maximum of users.',
    answer: 'HTTP 400 with the reason; the CLI prints it and exits 1',
    action: 'Correct the user number or name, or remove users no longer needed.',
  },
  DC09_ERR_USER_EXISTS: {
    area: 'verification',
    meaning: 'The account already has a user with this number.',
    answer: 'HTTP 409; the CLI prints it and exits 1',
    action: 'Use another user number, or change the existing user.',
  },
  DC09_ERR_USER_NOT_FOUND: {
    area: 'verification',
    meaning: 'The account has no user with this number.',
    answer: 'HTTP 404; the CLI prints it and exits 1',
    action: 'Add the user first (dc09 users add), or check the number.',
  },
  DC09_ERR_CODE_WEAK: {
    area: 'verification',
    meaning: 'The disarm code is refused by the code policy (too short, repeated or sequential digits, and so on).',
    answer: 'HTTP 400 with the reason; the CLI prints it and exits 1',
    action: 'Choose a stronger code; the reason says what is wrong.',
  },
  DC09_ERR_CODE_TAKEN: {
    area: 'verification',
    meaning: 'Another user of the account already has this code.',
    answer: 'HTTP 409 with the reason; the CLI prints it and exits 1',
    action: 'Choose another code.',
  },
  // ------------------------------------------------------------------ api (tokens, tenants)
  DC09_ERR_ACCESS_INVALID: {
    area: 'api',
    meaning: 'A token or tenant request is malformed (role, tenant name, token name or expiry).',
    answer: 'HTTP 400 with the reason; dc09 tokens create prints it and exits 2',
    action: 'Correct the field the reason names.',
  },
  DC09_ERR_ACCESS_NOT_FOUND: {
    area: 'api',
    meaning: 'No API token has this id.',
    answer: 'HTTP 404; dc09 tokens revoke prints it and exits 1',
    action: 'List the tokens (dc09 tokens list) and use an existing id.',
  },
  DC09_ERR_ACCESS_EXISTS: {
    area: 'api',
    meaning: 'The tenant already exists.',
    answer: 'HTTP 409',
    action: 'Use the existing tenant, or choose another name.',
  },
  // ------------------------------------------------------------------ journal
  DC09_ERR_JOURNAL_CORRUPT: {
    area: 'journal',
    meaning: 'A journal segment has a damaged record with records after it (not a torn tail, which is cut and recovered on its own).',
    answer: START_REFUSED,
    action: 'Run dc09 journal verify on the data directory and restore the segment from a backup; do not delete segments by hand.',
  },
  DC09_ERR_LOCKED: {
    area: 'journal',
    meaning: 'Another process holds the data directory (a receiver is already running on it).',
    answer: `${START_REFUSED}; the message names the process that holds it, and dc09 verify goes through that running receiver instead`,
    action: 'Stop the other process first, or use another --data directory.',
  },
  DC09_ERR_JOURNAL_CLOSED: {
    area: 'journal',
    meaning: 'An append reached the journal after it was closed (the receiver is stopping).',
    answer: 'the append is refused: a frame in flight gets NAK (DC09_ERR_COMMIT) and the panel sends it again',
    action: 'Nothing: it happens only during shutdown, and nothing refused was acknowledged.',
  },
  // ------------------------------------------------------------------ pipeline
  DC09_ERR_PIPELINE_CONFIG: {
    area: 'pipeline',
    meaning: 'The pipeline file is missing, not JSON, or names a stage that cannot be loaded or is not a stage.',
    answer: START_REFUSED,
    action: 'Fix the file given to --pipeline; the reason names the stage and what is wrong.',
  },
  // ------------------------------------------------------------------ outputs
  DC09_ERR_OUTPUT_CONFIG: {
    area: 'outputs',
    meaning: 'An output\'s configuration cannot work: an unknown or malformed option, a file it names that cannot be read, or a URL that carries a user name or password.',
    answer: START_REFUSED,
    action: 'Fix the output\'s options; the reason names the option (never a secret). Give credentials in files or the environment, never in a URL.',
  },
  // ------------------------------------------------------------------ cluster
  DC09_ERR_CLUSTER_UNAVAILABLE: {
    area: 'cluster',
    meaning: 'The NATS servers of the cluster did not answer in time, refused the connection, or have no quorum for the stream (a leader election, or a majority of servers down).',
    answer: 'a dc09 command given --nats (or DC09_NATS) prints the reason in one line and exits 1; a change that was not acknowledged was not made',
    action: 'Check the addresses given to --nats or DC09_NATS, that the servers run, and that a majority of them can reach each other; a leader election ends within seconds, so try again.',
  },
  DC09_ERR_CLUSTER_LAYOUT: {
    area: 'cluster',
    meaning: 'The cluster lacks the streams dc09 needs (it was never initialised), or dc09 cluster init was asked for another replication than the existing streams have.',
    answer: 'the command prints the reason in one line and exits 1; nothing is created or changed',
    action: 'Run dc09 cluster init --nats ... once for a new cluster; to keep existing streams, give their replication to --replicas (a change of replication is made with the NATS tools).',
  },
  DC09_ERR_PIPELINE_FENCED: {
    area: 'cluster',
    meaning: 'A node that ran the pipeline tried to commit after another node had taken over and moved the pipeline\'s cursor (it was paused past its lease, or cut off from the cluster).',
    answer: 'the commit is refused and changes nothing; the node\'s pipeline logs the error and stops when it sees it lost the lease',
    action: 'Nothing: the node that holds the lease runs the pipeline on. Many of these mean paused nodes or clocks that disagree: run NTP on every node.',
  },
  // ------------------------------------------------------------------ cli
  DC09_ERR_INPUT: {
    area: 'cli',
    meaning: 'A line given to dc09 decode or dc09 send is not a frame as written (a bad escape, or not hex bytes with --hex).',
    answer: 'dc09 decode writes {"ok":false,"code":"DC09_ERR_INPUT",...} for that line and goes on (exit 0); dc09 send writes {"ok":false,"error":...} for it, goes on, and exits 1 at the end',
    action: 'Write the frame with C-style escapes (\\n, \\r, \\xHH) or as hex with --hex.',
  },
}

/** The entry for a code, or undefined for a string that is not one. */
export function errorInfo (code: string): ErrorInfo | undefined {
  return Object.hasOwn(ERRORS, code) ? ERRORS[code as Dc09ErrorCode] : undefined
}
