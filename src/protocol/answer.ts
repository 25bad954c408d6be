/**
 * The panel's side of an answer: is it a well-formed ACK, NAK or DUH for the frame that was
 * sent? Checks the CRC and length, that ACK/DUH echo the sequence, receiver, prefix and account
 * exactly, that an `*ACK` decrypts with the account's key to `pad|]` and a timestamp, and reads
 * the receiver time a NAK carries (the panel sets its clock from it).
 */
import type { AesKey } from './cipher.js'
import type { FrameHeader } from './frame.js'
import { openPayload, parseFrame, readContent } from './frame-parse.js'

export interface CheckedAnswer {
  /** `ACK`, `NAK`, `DUH` (or whatever token came). */
  readonly token: string
  readonly encrypted: boolean
  /** The receiver's time carried by a NAK or `*ACK` (epoch ms, UTC). */
  readonly receiverTime: number | undefined
  /** Why the answer is flawed; empty when it is a correct answer to `sent`. */
  readonly problems: readonly string[]
}

/** Checks `bytes` (one whole answer frame) against the header of the frame that was sent. */
export function checkAnswer (bytes: Buffer, sent: FrameHeader, key?: AesKey): CheckedAnswer {
  const p = parseFrame(bytes)
  if (!p.ok) return { token: '', encrypted: false, receiverTime: undefined, problems: [`${p.code}: ${p.reason}`] }
  const a = p.value
  const problems: string[] = []
  let receiverTime: number | undefined
  if (a.token !== 'ACK' && a.token !== 'NAK' && a.token !== 'DUH') problems.push(`unexpected answer token ${a.token}`)
  if (a.crcForm !== sent.crcForm) problems.push(`answer in the ${a.crcForm} CRC form to a ${sent.crcForm} frame`)
  if (a.token === 'NAK') {
    // NAK: the fixed header and the receiver's time, never encrypted.
    if (a.encrypted) problems.push('an encrypted NAK')
    if (a.seq !== '0000' || a.rcvr !== '0' || a.lpref !== '0' || a.acct !== '0') problems.push('a NAK header other than 0000R0L0A0')
    const c = readContent(a.payload, 0)
    if (c.ok && c.value.panelTime !== undefined) receiverTime = c.value.panelTime
    else problems.push('a NAK without the receiver time')
    return { token: a.token, encrypted: a.encrypted, receiverTime, problems }
  }
  if (a.seq !== sent.seq) problems.push(`sequence ${a.seq}, sent ${sent.seq}`)
  if (a.rcvr !== sent.rcvr) problems.push(`receiver ${a.rcvr ?? '(none)'}, sent ${sent.rcvr ?? '(none)'}`)
  if (a.lpref !== sent.lpref) problems.push(`prefix ${a.lpref ?? '(none)'}, sent ${sent.lpref ?? '(none)'}`)
  if (a.acct !== sent.acct) problems.push(`account ${a.acct}, sent ${sent.acct}`)
  if (a.token === 'ACK' && a.encrypted !== sent.encrypted) problems.push(sent.encrypted ? 'a plain ACK to an encrypted frame' : 'an encrypted ACK to a plain frame')
  if (a.token === 'DUH' && a.encrypted) problems.push('an encrypted DUH')
  if (a.encrypted) {
    if (key === undefined) problems.push('an encrypted answer, and no key to check it')
    else {
      const c = openPayload(a, key)
      if (!c.ok) problems.push(`the *ACK does not decrypt: ${c.code}`)
      else {
        receiverTime = c.value.panelTime
        if (c.value.data.length !== 0) problems.push('the *ACK carries data')
        if (c.value.padWithoutPipe) problems.push('the *ACK pad has no |')
      }
    }
  } else if (a.payload.length !== 1 && !(a.payload.length === 21 && a.payload[0] === 0x5d)) {
    // `[]`, or `[]` + timestamp.
    const c = readContent(a.payload, 0)
    if (!c.ok || c.value.data.length !== 0) problems.push('an answer with data in its block')
  }
  return { token: a.token, encrypted: a.encrypted, receiverTime, problems }
}
