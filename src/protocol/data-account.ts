/**
 * The account that may open a data block: `#acct|` (the usual form), `acct|` without `#`
 * (the DC-09-2007 example `12345A|NFA129`), `|` alone, or nothing.
 * It may differ from the header account (SATEL, cloud receivers) and be alphanumeric
 * (Focus FC-7688 sends `#foc7688`).
 */
import { ascii, HASH, HEX_VALUE, PIPE } from './bytes.js'

export interface DataAccount {
  readonly account: string | undefined
  /** Where the event part starts; -1 when `#` is followed by more than 16 account characters. */
  readonly start: number
}

const MAX_ACCOUNT = 16

function isAlnum (b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a)
}

export function readDataAccount (data: Uint8Array): DataAccount {
  if (data[0] === PIPE) return { account: undefined, start: 1 }
  if (data[0] === HASH) {
    let i = 1
    while (i < data.length && i <= MAX_ACCOUNT && isAlnum(data[i]!)) i++
    if (i > MAX_ACCOUNT && i < data.length && isAlnum(data[i]!)) return { account: undefined, start: -1 }
    const account = ascii(data, 1, i)
    return { account, start: data[i] === PIPE ? i + 1 : i }
  }
  // Without `#`, only an all-hex run of 3-16 before a `|` is an account: `NRR|Atest` is not one.
  let i = 0
  while (i < data.length && i <= MAX_ACCOUNT && HEX_VALUE[data[i]!]! >= 0) i++
  if (i >= 3 && i <= MAX_ACCOUNT && data[i] === PIPE) {
    return { account: ascii(data, 0, i), start: i + 1 }
  }
  return { account: undefined, start: 0 }
}
