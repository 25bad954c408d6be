import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  buildSlots, DEFAULT_CODE_RULES, HASH_BYTES, hashCode, matchSlots, MAX_USERS, SLOT_BYTES, SLOTS, SlotKind, weakCode,
  type EnrolledCode,
} from '../../../src/verification/codes.js'
import { COMMON_CODES } from '../../../src/verification/common-codes.js'

// A tiny scrypt cost keeps these tests fast; the cost is a parameter, not part of the rules.
const N = 16

/** A slot blob built by hand: random dummies, and the given entries at the given positions. */
function slotsWith (entries: ReadonlyArray<{ index: number, hash: Buffer, kind: number, user: number }>): Buffer {
  const slots = randomBytes(SLOTS * SLOT_BYTES)
  for (let i = 0; i < SLOTS; i++) slots.fill(0, i * SLOT_BYTES + HASH_BYTES, (i + 1) * SLOT_BYTES)
  for (const e of entries) {
    const off = e.index * SLOT_BYTES
    e.hash.copy(slots, off)
    slots[off + HASH_BYTES] = e.kind
    slots.writeUInt16BE(e.user, off + HASH_BYTES + 1)
  }
  return slots
}

describe('hashCode', () => {
  const pepper = randomBytes(32)
  const salt = randomBytes(16)

  it('gives the same 32 bytes for the same pepper, salt, code and cost', async () => {
    const a = await hashCode(pepper, salt, '739164', N)
    const b = await hashCode(Buffer.from(pepper), Buffer.from(salt), '739164', N)
    expect(a).toHaveLength(HASH_BYTES)
    expect(a.equals(b)).toBe(true)
  })

  it('differs when the pepper, the salt, the code or the cost differs', async () => {
    const base = await hashCode(pepper, salt, '739164', N)
    const variants = await Promise.all([
      hashCode(randomBytes(32), salt, '739164', N),
      hashCode(pepper, randomBytes(16), '739164', N),
      hashCode(pepper, salt, '739165', N),
      hashCode(pepper, salt, '7391640', N),
      hashCode(pepper, salt, '739164', N * 2),
    ])
    for (const v of variants) expect(v.equals(base)).toBe(false)
  })
})

describe('weakCode', () => {
  it('accepts ordinary codes', () => {
    for (const code of ['739164', '582047', '135790', '402917', '7391645820471234']) {
      expect(weakCode(code), code).toBeUndefined()
    }
  })

  it('rejects codes shorter than minLength (6 by default)', () => {
    expect(DEFAULT_CODE_RULES.minLength).toBe(6)
    expect(weakCode('73916')).toBeDefined()
    expect(weakCode('739164')).toBeUndefined()
    expect(weakCode('7391640', { minLength: 8 })).toBeDefined()
    expect(weakCode('73916402', { minLength: 8 })).toBeUndefined()
    expect(weakCode('7391', { minLength: 4 })).toBeUndefined()
  })

  it('rejects codes longer than 16 digits', () => {
    expect(weakCode('7391645820471234')).toBeUndefined()
    expect(weakCode('73916458204712345')).toBeDefined()
  })

  it('rejects anything but ASCII digits', () => {
    for (const code of ['', '73916a', ' 739164', '739164 ', '739164\n', '7391-64', '٧٣٩١٦٤', '+739164']) {
      expect(weakCode(code), JSON.stringify(code)).toBeDefined()
    }
  })

  it('rejects one digit repeated', () => {
    for (const code of ['111111', '000000', '99999999']) expect(weakCode(code), code).toBeDefined()
  })

  it('rejects straight runs, ascending and descending', () => {
    for (const code of ['123456', '987654', '456789', '0123456789', '654321']) expect(weakCode(code), code).toBeDefined()
  })

  it('rejects the codes people choose most often, six digits and four', () => {
    // The top of the published PIN-frequency rankings: none is trivial by rule.
    for (const code of ['123123', '121212', '112233', '159753', '102030', '696969', '520520', '101010', '147258', '789456', '123321', '000001']) {
      expect(weakCode(code), code).toMatch(/most often/)
    }
    for (const code of ['1212', '1004', '2000', '6969', '2580', '1998', '1122']) {
      expect(weakCode(code, { minLength: 4 }), code).toMatch(/most often/)
    }
    // Longer favourites too.
    for (const code of ['5201314', '12341234', '11223344']) expect(weakCode(code), code).toBeDefined()
  })

  it('lists at least the 100 most common six-digit codes, each of them refused', () => {
    const six = COMMON_CODES.filter((c) => c.length === 6)
    expect(new Set(six).size).toBeGreaterThanOrEqual(100)
    expect(COMMON_CODES.length).toBe(new Set(COMMON_CODES).size)
    for (const code of COMMON_CODES) {
      expect(code, code).toMatch(/^\d{4,16}$/)
      expect(weakCode(code, { minLength: 4 }), code).toBeDefined()
    }
  })

  it('never repeats the code in its reason', () => {
    for (const code of ['73916', '111111', '123456', '121212', '73916458204712345']) {
      const reason = weakCode(code)
      expect(reason).toBeDefined()
      expect(reason).not.toContain(code)
    }
  })
})

describe('buildSlots', () => {
  const code = (user: number, kind: 1 | 2): EnrolledCode => ({ user, kind, hash: randomBytes(HASH_BYTES) })
  const realSlots = (slots: Buffer): number => {
    let n = 0
    for (let i = 0; i < SLOTS; i++) if (slots[i * SLOT_BYTES + HASH_BYTES] !== SlotKind.DUMMY) n++
    return n
  }

  it('always gives 64 slots, whatever the number of codes', () => {
    expect(SLOTS).toBe(64)
    for (const count of [0, 1, 7, SLOTS]) {
      const codes = Array.from({ length: count }, (_, i) => code(i + 1, 1))
      const slots = buildSlots(codes)
      expect(slots).toHaveLength(SLOTS * SLOT_BYTES)
      expect(realSlots(slots)).toBe(count)
    }
  })

  it('holds a code and a duress code for each of MAX_USERS users', () => {
    expect(MAX_USERS * 2).toBe(SLOTS)
    const codes = Array.from({ length: MAX_USERS }, (_, i) => [code(i + 1, 1), code(i + 1, 2)]).flat()
    expect(realSlots(buildSlots(codes))).toBe(SLOTS)
  })

  it('rejects more codes than slots', () => {
    const codes = Array.from({ length: SLOTS + 1 }, (_, i) => code(i + 1, 1))
    expect(() => buildSlots(codes)).toThrow(RangeError)
  })
})

describe('matchSlots', () => {
  it('finds the user and the duress flag of each code in built slots', () => {
    const codes: EnrolledCode[] = [
      { user: 1, kind: 1, hash: randomBytes(HASH_BYTES) },
      { user: 1, kind: 2, hash: randomBytes(HASH_BYTES) },
      { user: 42, kind: 1, hash: randomBytes(HASH_BYTES) },
      { user: 9999, kind: 2, hash: randomBytes(HASH_BYTES) },
    ]
    const slots = buildSlots(codes)
    for (const c of codes) {
      expect(matchSlots(c.hash, slots)).toEqual({ found: 1, duress: c.kind === 2 ? 1 : 0, user: c.user })
    }
  })

  it('finds nothing for a hash that is not enrolled', () => {
    const slots = buildSlots([{ user: 1, kind: 1, hash: randomBytes(HASH_BYTES) }])
    expect(matchSlots(randomBytes(HASH_BYTES), slots)).toEqual({ found: 0, duress: 0, user: 0 })
    expect(matchSlots(randomBytes(HASH_BYTES), buildSlots([]))).toEqual({ found: 0, duress: 0, user: 0 })
  })

  it('scans every slot: a match at any position, the last included, is found', () => {
    const hash = randomBytes(HASH_BYTES)
    for (let index = 0; index < SLOTS; index++) {
      const slots = slotsWith([{ index, hash, kind: SlotKind.CODE, user: 7 }])
      expect(matchSlots(hash, slots), `slot ${index}`).toEqual({ found: 1, duress: 0, user: 7 })
    }
    const last = slotsWith([{ index: SLOTS - 1, hash, kind: SlotKind.DURESS, user: 3 }])
    expect(matchSlots(hash, last)).toEqual({ found: 1, duress: 1, user: 3 })
  })

  it('never matches a dummy slot, even one holding the same hash', () => {
    const hash = randomBytes(HASH_BYTES)
    const slots = slotsWith([{ index: 5, hash, kind: SlotKind.DUMMY, user: 0 }])
    expect(matchSlots(hash, slots).found).toBe(0)
  })

  it('picks the matching slot among other real codes', () => {
    const hash = randomBytes(HASH_BYTES)
    const slots = slotsWith([
      { index: 0, hash: randomBytes(HASH_BYTES), kind: SlotKind.CODE, user: 1 },
      { index: 30, hash, kind: SlotKind.CODE, user: 2 },
      { index: SLOTS - 1, hash: randomBytes(HASH_BYTES), kind: SlotKind.DURESS, user: 3 },
    ])
    expect(matchSlots(hash, slots)).toEqual({ found: 1, duress: 0, user: 2 })
  })
})
