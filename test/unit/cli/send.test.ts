/**
 * `dc09 send`: a default sequence number that does not repeat between runs, and an output that
 * says when an answer came for an event this run already sent (an ACK does not say it).
 */
import { createServer, type Server } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clockSeq, nextSeq, runSend } from '../../../src/cli/commands/send.js'
import { FrameSplitter, decodeFrame, serializeAck } from '../../../src/protocol/index.js'

describe('nextSeq', () => {
  const t = Date.UTC(2026, 11, 2, 12, 0, 0)
  it('with --seq counts on one by one, 9999 then 0001', () => {
    expect(nextSeq(41, false, t + 60_000)).toBe(42)
    expect(nextSeq(9999, false, t)).toBe(1)
  })

  it('following the clock, a later run does not reuse the numbers of an earlier fast run', () => {
    // Run 1: 300 frames within one tenth of a second count on past the clock.
    let seq = clockSeq(t)
    const first = new Set<number>([seq])
    for (let i = 1; i < 300; i++) { seq = nextSeq(seq, true, t + 50); first.add(seq) }
    expect(first.size).toBe(300)
    // Run 2, 40 s later: starts from the clock, 400 numbers on, and keeps following it.
    let seq2 = clockSeq(t + 40_000)
    const second = [seq2]
    for (let i = 1; i < 300; i++) { seq2 = nextSeq(seq2, true, t + 40_000 + i * 100); second.push(seq2) }
    expect(second.filter((n) => first.has(n))).toEqual([])
  })

  it('following the clock, a run faster than the clock never repeats a number or goes back', () => {
    let seq = clockSeq(t)
    for (let i = 0; i < 50; i++) {
      const next = nextSeq(seq, true, t + i * 10)
      expect((next - seq + 9999) % 9999).toBeGreaterThan(0)
      seq = next
    }
  })
})

describe('clockSeq', () => {
  it('is 1 to 9999, never 0000 (link tests), and moves on every tenth of a second', () => {
    const t = Date.UTC(2026, 11, 2, 12, 0, 0)
    const seen = new Set<number>()
    for (let i = 0; i < 9999; i++) {
      const s = clockSeq(t + i * 100)
      expect(s).toBeGreaterThanOrEqual(1)
      expect(s).toBeLessThanOrEqual(9999)
      seen.add(s)
    }
    // Every number once in 16 min 40 s: longer than a receiver's duplicate window (10 minutes).
    expect(seen.size).toBe(9999)
    expect(clockSeq(t + 9999 * 100)).toBe(clockSeq(t))
    expect(clockSeq(t + 99)).toBe(clockSeq(t))
  })
})

describe('runSend', () => {
  let server: Server
  let port: number
  beforeAll(async () => {
    // Answers ACK to every frame, as a receiver does (to a repeat too).
    server = createServer((socket) => {
      const splitter = new FrameSplitter({
        frame: (f) => {
          const d = decodeFrame(f, { profile: { requireEncryption: false, window: null } })
          if (d.ok) socket.write(serializeAck(d.value))
        },
        error: () => {},
      })
      socket.on('data', (c: Buffer) => splitter.push(c))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })
  afterAll(() => { server.close() })

  async function send (lines: string[], extra: { account?: string, seq?: number } = {}): Promise<Array<Record<string, unknown>>> {
    const out: string[] = []
    async function * input () { yield * lines }
    await runSend(input(), { host: '127.0.0.1', port, udp: false, timeoutMs: 2000, prefix: '0', seq: 1, ...extra }, (s) => out.push(s))
    return out.map((s) => JSON.parse(s) as Record<string, unknown>)
  }

  const FRAME = '\\nE0CA003B"ADM-CID"0002L0#1234[#1234|1130 01 015]_12:00:00,01-15-2024\\r'
  const NOTE = 'the same event and sequence number as line 1: a receiver acknowledges a copy it took within its duplicate window without journaling it again, and its ACK does not say which'

  it('says when an answer is for an event this run already sent', async () => {
    const out = await send([FRAME, '\\nB49C0029"NULL"0000R0L0#1234[]_12:00:00,01-15-2024\\r', FRAME])
    expect(out.map((o) => o.token)).toEqual(['ACK', 'ACK', 'ACK'])
    expect(out[0]).not.toHaveProperty('repeatOf')
    expect(out[1]).not.toHaveProperty('repeatOf')
    expect(out[2]).toMatchObject({ ok: true, repeatOf: 1, note: NOTE })
  })

  it('does not call a link test or a new sequence number a repeat', async () => {
    const out = await send(['NULL', 'NULL', 'ADM-CID 1130 01 015', 'ADM-CID 1130 01 015'], { account: '1234' })
    expect(out.map((o) => o.token)).toEqual(['ACK', 'ACK', 'ACK', 'ACK'])
    expect(out.filter((o) => 'repeatOf' in o)).toEqual([])
  })

  it('names the repeated line by its number in the input, blank lines counted', async () => {
    const out = await send(['', FRAME, '', FRAME])
    expect(out[1]).toMatchObject({ repeatOf: 2, note: NOTE.replace('line 1', 'line 2') })
  })
})
