/**
 * Disarm codes are passwords: stored only as scrypt(HMAC-SHA256(pepper, code), salt)
 * with a salt per account and a pepper kept outside the database, never in plain text; matched
 * in constant time. Nothing here logs, and no error carries a code.
 */
import { createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto'
import { COMMON_CODES } from './common-codes.js'

/** scrypt cost: N = 2^15 (r 8, p 1): about 32 MiB and tens of milliseconds per hash. */
export const DEFAULT_SCRYPT_N = 2 ** 15
export const HASH_BYTES = 32
/** Every account's codes sit in this many slots (real ones and dummies), so matching costs the same for every account. */
export const SLOTS = 64
/** Each slot: the hash, then its kind (0 dummy, 1 disarm code, 2 duress code), then the user number (u16). */
export const SLOT_BYTES = HASH_BYTES + 4
export const MAX_USERS = SLOTS / 2

export const SlotKind = { DUMMY: 0, CODE: 1, DURESS: 2 } as const

/** Hashes a presented or enrolled code. The work is the same whatever the code. */
export function hashCode (pepper: Buffer, salt: Buffer, code: string, n: number): Promise<Buffer> {
  const peppered = createHmac('sha256', pepper).update(code, 'utf8').digest()
  return new Promise((resolve, reject) => {
    scrypt(peppered, salt, HASH_BYTES, { N: n, r: 8, p: 1, maxmem: 128 * n * 8 + (1 << 20) }, (err, key) => {
      if (err !== null) reject(err)
      else resolve(key)
    })
  })
}

export interface SlotMatch {
  /** 1 when a real slot matched. */
  readonly found: number
  /** 1 when that slot is a duress code. */
  readonly duress: number
  readonly user: number
}

/**
 * Compares `hash` with every slot: timingSafeEqual on each, no early exit, and the result picked
 * with arithmetic rather than branches, so the time does not depend on which slot matched, or
 * whether any did.
 */
export function matchSlots (hash: Buffer, slots: Buffer): SlotMatch {
  let found = 0
  let duress = 0
  let user = 0
  for (let i = 0; i < SLOTS; i++) {
    const off = i * SLOT_BYTES
    const kind = slots[off + HASH_BYTES]!
    const eq = timingSafeEqual(hash, slots.subarray(off, off + HASH_BYTES)) ? 1 : 0
    // A real slot (kind 1 or 2) that equals: m = 1; dummies never count.
    const m = eq & (((kind | (kind >> 1)) & 1))
    found |= m
    duress |= m & (kind >> 1)
    user += (slots.readUInt16BE(off + HASH_BYTES + 1) - user) * m
  }
  return { found, duress, user }
}

export interface EnrolledCode {
  readonly user: number
  readonly kind: 1 | 2
  readonly hash: Buffer
}

/** The slot blob for an account: its codes at random positions among random dummies. */
export function buildSlots (codes: readonly EnrolledCode[]): Buffer {
  if (codes.length > SLOTS) throw new RangeError(`at most ${SLOTS} codes per account`)
  const slots = randomBytes(SLOTS * SLOT_BYTES)
  // Dummies: random hashes (they cannot be matched), kind 0, user 0.
  for (let i = 0; i < SLOTS; i++) slots.fill(0, i * SLOT_BYTES + HASH_BYTES, (i + 1) * SLOT_BYTES)
  const order = Array.from({ length: SLOTS }, (_, i) => i)
  for (let i = SLOTS - 1; i > 0; i--) {
    const j = randomBytes(4).readUInt32BE(0) % (i + 1)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
  }
  codes.forEach((c, i) => {
    const off = order[i]! * SLOT_BYTES
    c.hash.copy(slots, off)
    slots[off + HASH_BYTES] = c.kind
    slots.writeUInt16BE(c.user, off + HASH_BYTES + 1)
  })
  return slots
}

export interface CodeRules {
  /** Fewest digits a code may have. */
  readonly minLength: number
}

export const DEFAULT_CODE_RULES: CodeRules = Object.freeze({ minLength: 6 })

const COMMON: ReadonlySet<string> = new Set(COMMON_CODES)

/** Why a code cannot be enrolled, or undefined. Never repeats the code. */
export function weakCode (code: string, rules: CodeRules = DEFAULT_CODE_RULES): string | undefined {
  if (!/^\d+$/.test(code)) return 'a code is digits only'
  if (code.length < rules.minLength) return `a code has at least ${rules.minLength} digits`
  if (code.length > 16) return 'a code has at most 16 digits'
  if (/^(\d)\1+$/.test(code)) return 'a code may not be one digit repeated'
  const steps = new Set<number>()
  for (let i = 1; i < code.length; i++) steps.add((code.charCodeAt(i) - code.charCodeAt(i - 1) + 10) % 10)
  if (steps.size === 1 && (steps.has(1) || steps.has(9))) return 'a code may not be a straight run of digits'
  if (COMMON.has(code)) return 'a code may not be one of the codes people choose most often (an attacker tries those first)'
  return undefined
}
