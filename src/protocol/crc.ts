/**
 * CRC-16/ARC: polynomial 0x8005 processed reflected (0xA001), init 0, no final XOR.
 * Check value CRC("123456789") = 0xBB3D. The table is generated here rather
 * than copied: the table printed in DC-09-2007 has a misprint at entry 101 (NLQA).
 */
const TABLE = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  let c = i
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1
  TABLE[i] = c
}

// Slice-by-2: the CRC is linear, so after xoring two input bytes into the 16-bit register,
// two more steps give LOW[low byte] ^ HIGH[high byte]. Half the iterations of the byte loop.
const LOW = new Uint16Array(256)
const HIGH = new Uint16Array(256)
for (let i = 0; i < 256; i++) {
  LOW[i] = (TABLE[i]! >>> 8) ^ TABLE[TABLE[i]! & 0xff]!
  HIGH[i] = TABLE[i]!
}

/** CRC-16/ARC of `buf[start, end)`. */
export function crc16 (buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0
  let i = start
  for (; i + 1 < end; i += 2) {
    const x = crc ^ buf[i]! ^ (buf[i + 1]! << 8)
    crc = LOW[x & 0xff]! ^ HIGH[x >>> 8]!
  }
  if (i < end) crc = (crc >>> 8) ^ TABLE[(crc ^ buf[i]!) & 0xff]!
  return crc
}
