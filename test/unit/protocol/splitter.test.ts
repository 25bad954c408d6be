import { describe, expect, it } from 'vitest'
import { ErrorCode } from '../../../src/protocol/errors.js'
import { serializeFrame } from '../../../src/protocol/frame-build.js'
import { FrameSplitter, splitAll, wholeFrame } from '../../../src/protocol/splitter.js'

const A = Buffer.from('\nB2220037"SIA-DCS"0001L0#1234[#1234|NFA0001]_03:04:05,01-02-2024\r', 'latin1')
const B = Buffer.from('\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r', 'latin1')
const NUL = Buffer.from('\n189F0029"NULL"0000R1L1#9413[]_17:01:50,09-07-2023\r', 'latin1')

type Item = { frame: string } | { code: string, dropped: number }

function collect (opts?: ConstructorParameters<typeof FrameSplitter>[1]) {
  const items: Item[] = []
  const s = new FrameSplitter({
    frame: (f) => { items.push({ frame: f.toString('latin1') }) },
    error: (code, _reason, dropped) => { items.push({ code, dropped }) },
  }, opts)
  return { s, items }
}

const frames = (items: Item[]) => items.filter((i): i is { frame: string } => 'frame' in i).map((i) => i.frame)

describe('FrameSplitter', () => {
  it('splits several frames in one chunk (Dahua sends seven in one read)', () => {
    const { s, items } = collect()
    s.push(Buffer.concat([A, B, NUL, A]))
    expect(frames(items)).toEqual([A, B, NUL, A].map((b) => b.toString('latin1')))
    expect(items.length).toBe(4)
  })

  it('reassembles a frame split at every offset', () => {
    const stream = Buffer.concat([A, B])
    for (let cut = 1; cut < stream.length; cut++) {
      const { s, items } = collect()
      s.push(stream.subarray(0, cut))
      s.push(stream.subarray(cut))
      expect(frames(items), `cut at ${cut}`).toEqual([A.toString('latin1'), B.toString('latin1')])
      expect(s.buffered).toBe(0)
    }
  })

  it('reassembles frames arriving one byte at a time', () => {
    const { s, items } = collect()
    for (const b of Buffer.concat([A, NUL])) s.push(Buffer.from([b]))
    expect(frames(items)).toEqual([A.toString('latin1'), NUL.toString('latin1')])
  })

  it('skips noise between frames and reports it once per run, not per byte', () => {
    const { s, items } = collect()
    for (const b of Buffer.from('hello, world')) s.push(Buffer.from([b]))
    s.push(A)
    // The space is benign; the other 11 bytes are noise, reported once.
    expect(items).toEqual([{ code: ErrorCode.NOISE, dropped: 11 }, { frame: A.toString('latin1') }])
  })

  it('ignores trailing NULs, CR/LF and spaces between frames silently', () => {
    const { s, items } = collect()
    s.push(Buffer.concat([A, Buffer.from([0, 0, 0, 0x0d, 0x0a, 0x20]), B, Buffer.alloc(8)]))
    s.end()
    expect(items).toEqual([{ frame: A.toString('latin1') }, { frame: B.toString('latin1') }])
  })

  it('drops a frame whose CR is missing and resynchronises on the next LF', () => {
    const noCr = A.subarray(0, A.length - 1)
    const { s, items } = collect()
    s.push(Buffer.concat([noCr, B]))
    expect(items[0]).toEqual({ code: ErrorCode.FRAMING, dropped: 1 })
    expect(frames(items)).toEqual([B.toString('latin1')])
  })

  it('finds a frame after an LF that starts no header', () => {
    const { s, items } = collect()
    s.push(Buffer.concat([Buffer.from('\nnot a frame\n'), A]))
    expect(frames(items)).toEqual([A.toString('latin1')])
    expect(items[0]).toMatchObject({ code: ErrorCode.NOISE })
  })

  it('detects the binary CRC form and does not mistake CRC bytes 0x0A/0x0D for LF/CR', () => {
    // Build binary-CRC frames until both CRC bytes cover LF and CR somewhere.
    const seen = new Set<number>()
    for (let seq = 0; seq < 3000 && seen.size < 2; seq++) {
      const f = serializeFrame({ token: 'NULL', seq, lpref: '0', acct: '1234', crcForm: 'binary' })
      if (f[1] !== 0x0a && f[2] !== 0x0a && f[1] !== 0x0d && f[2] !== 0x0d) continue
      seen.add(f[1] === 0x0a || f[2] === 0x0a ? 0x0a : 0x0d)
      for (let cut = 1; cut < f.length; cut++) {
        const { s, items } = collect()
        s.push(Buffer.concat([B, f.subarray(0, cut)]))
        s.push(Buffer.concat([f.subarray(cut), A]))
        expect(frames(items)).toEqual([B, f, A].map((b) => b.toString('latin1')))
      }
    }
    expect(seen.size).toBe(2)
  })

  it('takes the Eldes form, whose length counts the CR, without waiting for a byte that never comes', () => {
    // Cheaterdev/sia-ha #3: length 0x2B = 42 body bytes + CR.
    const eldes = Buffer.from('\nF19A002B"ADM-CID"0056L9999#9999[#9999|1900 00 001]\r', 'latin1')
    const { s, items } = collect()
    s.push(eldes.subarray(0, 20))
    s.push(eldes.subarray(20))
    expect(frames(items)).toEqual([eldes.toString('latin1')])
    s.push(A)
    expect(frames(items).length).toBe(2)
  })

  it('trips maxBodyBytes on the declared length before buffering the body', () => {
    const { s, items } = collect({ maxBodyBytes: 45 })
    s.push(Buffer.from('\nB2220FFF"SIA-DCS"', 'latin1'))
    expect(items[0]).toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE })
    expect(s.buffered).toBe(0)
    s.push(NUL)
    expect(frames(items)).toEqual([NUL.toString('latin1')])
    // NULL's body is 0x29 = 41 bytes; frame a's 0x37 = 55 bytes is over the cap.
    const before = items.length
    s.push(A)
    expect(items[before]).toMatchObject({ code: ErrorCode.FRAME_TOO_LARGE })
    expect(frames(items).length).toBe(1)
  })

  it('refuses a frame larger than maxBufferedBytes when its header is read, holding nothing', () => {
    const { s, items } = collect({ maxBufferedBytes: 64 })
    s.push(Buffer.from('\nB2220FFF"SIA-DCS"0001', 'latin1'))
    expect(items).toEqual([{ code: ErrorCode.BUFFER_LIMIT, dropped: 1 }])
    expect(s.buffered).toBe(0)
    s.push(B)
    expect(frames(items)).toEqual([B.toString('latin1')])
  })

  it('holds an unfinished frame only up to its declared size', () => {
    const { s } = collect()
    s.push(A.subarray(0, 40))
    expect(s.buffered).toBe(40)
    s.push(Buffer.concat([A.subarray(40), B.subarray(0, 5)]))
    expect(s.buffered).toBe(5)
  })

  it('caps the whole frame at the protocol limit of 0xFFF body bytes by default', () => {
    const { s, items } = collect({ maxBodyBytes: 1_000_000 })
    const big = serializeFrame({ token: 'SIA-DCS', seq: 1, lpref: '0', acct: '1234', data: '#1234|N' + 'x'.repeat(4000) })
    s.push(big)
    expect(frames(items).length).toBe(1)
  })

  it('reports a frame cut off by the end of the stream', () => {
    const { s, items } = collect()
    s.push(A.subarray(0, 30))
    s.end()
    expect(items).toEqual([{ code: ErrorCode.FRAMING, dropped: 30 }])
    expect(s.buffered).toBe(0)
  })
})

describe('wholeFrame (datagrams and text lines)', () => {
  it('returns the one frame, without trailing NULs', () => {
    const r = wholeFrame(Buffer.concat([A, Buffer.alloc(3)]))
    expect(r.ok && r.value.equals(A)).toBe(true)
  })

  it('names a wrong length field precisely', () => {
    const bad = Buffer.from(A.toString('latin1').replace('0037', '0036'), 'latin1')
    const r = wholeFrame(bad)
    expect(r.ok).toBe(false)
    expect(!r.ok && r.code).toBe(ErrorCode.LENGTH)
  })

  it('refuses two frames where one is expected', () => {
    const r = wholeFrame(Buffer.concat([A, B]))
    expect(!r.ok && r.code).toBe(ErrorCode.FRAMING)
  })

  it('splitAll gives frames and errors in order', () => {
    expect(splitAll(Buffer.concat([Buffer.from('zz'), A])).map((i) => ('frame' in i ? 'frame' : i.code)))
      .toEqual([ErrorCode.NOISE, 'frame'])
  })
})

describe('FrameSplitter pause and resume', () => {
  it('stops emitting at a frame boundary inside a chunk, and goes on from there on resume', () => {
    const out: string[] = []
    const s = new FrameSplitter({
      frame: (f) => { out.push(f.toString('latin1')); if (out.length === 2) s.pause() },
      error: () => {},
    })
    s.push(Buffer.concat([A, B, NUL, A]))
    expect(out).toEqual([A, B].map((b) => b.toString('latin1')))
    s.push(B)
    expect(out.length).toBe(2)
    s.resume()
    expect(out).toEqual([A, B, NUL, A, B].map((b) => b.toString('latin1')))
  })

  it('gives the same frames, paused after every frame, as unpaused, for any chunking', () => {
    const stream = Buffer.concat([A, Buffer.from('junk'), B, NUL, A.subarray(0, 9)])
    for (let cut = 1; cut < stream.length; cut += 3) {
      const out: string[] = []
      const s: FrameSplitter = new FrameSplitter({ frame: (f) => { out.push(f.toString('latin1')); s.pause() }, error: () => {} })
      s.push(stream.subarray(0, cut))
      s.push(stream.subarray(cut))
      while (s.paused) s.resume()
      expect(out).toEqual([A, B, NUL].map((b) => b.toString('latin1')))
      expect(s.buffered).toBe(9)
    }
  })
})
