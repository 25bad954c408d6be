/**
 * The receiver over real sockets on 127.0.0.1: every row of the answer table, TCP and UDP,
 * ack after commit, retransmissions, commit failures, shutdown, live account changes, logs.
 */
import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { unescapeFrame } from '../../src/cli/escape.js'
import { MemoryJournal } from '../../src/journal/memory-journal.js'
import {
  checkAnswer, nodeAes, parseFrame, serializeFrame, type FrameFields, type FrameHeader,
} from '../../src/protocol/index.js'
import type { JournalRecord } from '../../src/journal/record.js'
import { startReceiver, TcpPanel, text, udpExchange, type Harness } from './helpers.js'

const KEY = '0123456789ABCDEF0123456789ABCDEF'
const key = nodeAes.importKey(Buffer.from(KEY, 'hex'))
const harnesses: Harness[] = []
afterEach(async () => { for (const h of harnesses.splice(0)) await h.stop() })

async function receiver (opts: Parameters<typeof startReceiver>[0] = {}): Promise<Harness> {
  const h = await startReceiver({
    ...opts,
    setup: (a) => {
      a.add({ account: '1234', prefix: '0' })
      a.add({ account: '5678', key: KEY, keyFormat: 'hex' })
      opts.setup?.(a)
    },
  })
  harnesses.push(h)
  return h
}

let seq = 0
function frame (f: Partial<FrameFields> & { acct?: string } = {}): Buffer {
  const encrypted = f.encrypted ?? false
  return serializeFrame({
    token: 'ADM-CID', seq: f.seq ?? ++seq % 9999 + 1, lpref: '0', acct: '1234', data: `#${f.acct ?? '1234'}|1130 01 015`,
    timestamp: Date.now(), ...f,
  }, { key: encrypted ? key : undefined })
}
const header = (b: Buffer): FrameHeader => { const p = parseFrame(b); if (!p.ok) throw new Error(p.reason); return p.value }

function expectAck (answer: Buffer | null, sent: Buffer): void {
  expect(answer, 'an answer').not.toBeNull()
  const c = checkAnswer(answer!, header(sent), key)
  expect({ token: c.token, problems: c.problems }).toEqual({ token: 'ACK', problems: [] })
}

describe('answers over TCP', () => {
  it('acknowledges a valid event after it is journaled, and keeps the connection open for more', async () => {
    const h = await receiver()
    const p = await TcpPanel.connect(h.port)
    const f = frame()
    p.write(f)
    const a = await p.answer()
    expectAck(a, f)
    // The record is in the journal by the time the ACK arrives.
    const recs = await h.records()
    expect(recs).toHaveLength(1)
    expect(recs[0]).toMatchObject({ type: 'frame', transport: 'tcp', account: '1234', seq: header(f).seq, token: 'ADM-CID', events: [{ code: '130', zone: 15 }] })
    expect(Buffer.from(recs[0]!.raw, 'base64').equals(f)).toBe(true)
    const g = frame()
    p.write(g)
    expectAck(await p.answer(), g)
    expect(p.closed).toBe(false)
    p.end()
  })

  it('answers frames split anywhere and merged in one write, in order', async () => {
    const h = await receiver()
    const p = await TcpPanel.connect(h.port)
    const frames = [frame(), frame({ encrypted: true, acct: '5678' }), frame({ token: 'SIA-DCS', data: '#1234|Nri1/BA01/BA02' }), frame({ token: 'NULL', data: '' })]
    const stream = Buffer.concat(frames)
    for (let i = 0; i < stream.length; i += 7) p.write(stream.subarray(i, i + 7))
    p.write(Buffer.concat(frames.slice(0, 2).map(() => frame())))
    const answers = await p.answers(6)
    answers.slice(0, 4).forEach((a, i) => expectAck(a, frames[i]!))
    expect(answers.slice(4).every((a) => text(a).includes('"ACK"'))).toBe(true)
    const recs = await h.records()
    expect(recs.find((r) => r.token === 'NULL')).toMatchObject({ flags: { linkTest: true } })
    expect(recs.find((r) => r.token === 'SIA-DCS')?.events).toHaveLength(2)
  })

  it('NAKs a bad CRC and journals nothing; stays silent when so configured', async () => {
    const h = await receiver()
    const bad = frame()
    bad[1] = bad[1] === 0x30 ? 0x31 : 0x30
    const p = await TcpPanel.connect(h.port)
    p.write(bad)
    expect(text(await p.answer())).toMatch(/"NAK"0000R0L0A0\[\]_/)
    expect(await h.records()).toHaveLength(0)
    expect(h.server.receiver.stats.rejected.DC09_ERR_CRC).toBe(1)
    const quiet = await receiver({ options: { nakUnreadable: false } })
    const q = await TcpPanel.connect(quiet.port)
    q.write(bad)
    expect(await q.answer(300)).toBeNull()
  })

  it('answers an unknown account by policy: NAK, DUH, or quarantine (journaled, flagged)', async () => {
    const unknown = frame({ acct: '9999' })
    const nak = await receiver()
    expect(text(await udpExchange(nak.port, unknown))).toContain('"NAK"')
    expect(await nak.records()).toHaveLength(0)
    const duh = await receiver({ options: { unknownAccounts: 'duh' } })
    expect(text(await udpExchange(duh.port, unknown))).toContain(`"DUH"${header(unknown).seq}L0#9999[]`)
    const q = await receiver({ options: { unknownAccounts: 'quarantine' } })
    expectAck(await udpExchange(q.port, unknown), unknown)
    expect(await q.records()).toMatchObject([{ account: '9999', flags: { quarantine: true } }])
    // An encrypted frame from an unknown account cannot be read, even in quarantine.
    expect(text(await udpExchange(q.port, frame({ acct: '9998', encrypted: true })))).toContain('"NAK"')
  })

  it('NAKs a plain frame for an account that requires encryption, and a wrong key, as security events', async () => {
    const h = await receiver()
    expect(text(await udpExchange(h.port, frame({ acct: '5678' })))).toContain('"NAK"')
    const wrong = serializeFrame({ token: 'ADM-CID', encrypted: true, seq: 5, lpref: '0', acct: '5678', data: '#5678|1130 01 015', timestamp: Date.now() }, { key: nodeAes.importKey(Buffer.alloc(16, 7)) })
    expect(text(await udpExchange(h.port, wrong))).toContain('"NAK"')
    expect(await h.records()).toHaveLength(0)
    const security = h.logs.filter((l) => l.security === true).map((l) => l.code)
    expect(security).toEqual(['DC09_ERR_ENCRYPTION_REQUIRED', 'DC09_ERR_WRONG_KEY'])
  })

  it('NAKs a frame outside its window with the receiver time, so the panel can set its clock', async () => {
    const h = await receiver()
    const late = frame({ acct: '5678', encrypted: true, timestamp: Date.now() - 3_600_000 })
    const a = await udpExchange(h.port, late)
    const c = checkAnswer(a!, header(late), key)
    expect(c.token).toBe('NAK')
    expect(Math.abs(c.receiverTime! - Date.now())).toBeLessThan(3000)
  })

  it('answers an unsupported token with DUH, echoing the header', async () => {
    const h = await receiver()
    const xyz = serializeFrame({ token: 'XYZ', seq: 42, lpref: '0', acct: '1234', data: '' })
    expect(text(await udpExchange(h.port, xyz))).toContain('"DUH"0042L0#1234[]')
  })

  it('acknowledges an unknown event code and flags it', async () => {
    const h = await receiver()
    const f = frame({ data: '#1234|1088 01 001' })
    expectAck(await udpExchange(h.port, f), f)
    expect(await h.records()).toMatchObject([{ flags: { unknownCode: true }, events: [{ code: '088', known: false }] }])
  })

  it('checks the receiver number and prefix an account is registered with', async () => {
    const h = await receiver({ setup: (a) => { a.add({ account: '4444', receiver: '12', prefix: '3' }) } })
    const right = frame({ acct: '4444', rcvr: '12', lpref: '3' })
    expectAck(await udpExchange(h.port, right), right)
    expect(text(await udpExchange(h.port, frame({ acct: '4444', rcvr: '13', lpref: '3' })))).toContain('"NAK"')
    expect(text(await udpExchange(h.port, frame({ acct: '4444', lpref: '3' })))).toContain('"NAK"')
  })
})

describe('UDP', () => {
  it('answers each datagram to its source address and port, *ACK for encrypted frames', async () => {
    const h = await receiver()
    const f = frame({ acct: '5678', encrypted: true })
    const a = await udpExchange(h.port, f)
    expectAck(a, f)
    expect(text(a)).toContain('"*ACK"')
    expect(await h.records()).toMatchObject([{ transport: 'udp', encrypted: true }])
  })

  it('says nothing to a datagram that holds no frame (no reflection)', async () => {
    const h = await receiver()
    expect(await udpExchange(h.port, Buffer.from('hello\r\n'), 300)).toBeNull()
  })
})

describe('every pad length real senders make (fixtures hand-aes128-pad-00 to spt-aes128-pad-17)', () => {
  const names = ['hand-aes128-pad-00', 'standard-aes128-pad-01', ...Array.from({ length: 16 }, (_, i) => `spt-aes128-pad-${String(i + 2).padStart(2, '0')}`)]
  const fixture = (name: string): Buffer => {
    const u = unescapeFrame(readFileSync(new URL(`../../fixtures/frames/${name}.txt`, import.meta.url), 'utf8').replace(/\n$/, ''))
    if (!u.ok) throw new Error(u.reason)
    return u.value
  }
  const SPT_KEY = '2B7E151628AED2A6ABF7158809CF4F3C'
  const sptKey = nodeAes.importKey(Buffer.from(SPT_KEY, 'hex'))

  it('acknowledges each over UDP, and its retransmission over TCP, and journals it exactly once', async () => {
    // The fixtures' panel time, so that the timestamp window holds.
    const h = await receiver({ clock: () => Date.UTC(2024, 0, 15, 12), setup: (a) => a.add({ account: '12345', key: SPT_KEY, keyFormat: 'hex' }) })
    const p = await TcpPanel.connect(h.port)
    for (const name of names) {
      const f = fixture(name)
      const viaUdp = await udpExchange(h.port, f)
      p.write(f)
      const viaTcp = await p.answer()
      for (const a of [viaUdp, viaTcp]) {
        expect(a, name).not.toBeNull()
        const c = checkAnswer(a!, header(f), sptKey)
        expect({ name, token: c.token, encrypted: c.encrypted, problems: c.problems }).toEqual({ name, token: 'ACK', encrypted: true, problems: [] })
      }
    }
    p.end()
    const recs = await h.records()
    expect(recs.map((r) => r.seq)).toEqual(names.map((_, n) => String(100 + n).padStart(4, '0')))
    expect(recs.every((r) => r.transport === 'udp' && r.account === '12345' && r.events.length === 1 && r.events[0]!.code === 'BA')).toBe(true)
    expect(h.server.receiver.stats.duplicates).toBe(names.length)
  })
})

describe('retransmissions', () => {
  it('acknowledges a retransmission again but journals the event once', async () => {
    const h = await receiver()
    const first = frame({ acct: '5678', encrypted: true, seq: 77 })
    // The same event, retransmitted with a new pad and timestamp (as panels do).
    const again = frame({ acct: '5678', encrypted: true, seq: 77 })
    expect(first.equals(again)).toBe(false)
    expectAck(await udpExchange(h.port, first), first)
    expectAck(await udpExchange(h.port, again), again)
    const p = await TcpPanel.connect(h.port)
    p.write(again)
    expectAck(await p.answer(), again)
    expect(await h.records()).toHaveLength(1)
    expect(h.server.receiver.stats.duplicates).toBe(2)
    // Same sequence, different content: a different event.
    const other = frame({ acct: '5678', encrypted: true, seq: 77, data: '#5678|3130 01 015' })
    expectAck(await udpExchange(h.port, other), other)
    expect(await h.records()).toHaveLength(2)
  })

  it('journals a copy that arrives while the first is still being committed only once', async () => {
    const h = await receiver()
    const f = frame({ seq: 501 })
    const p = await TcpPanel.connect(h.port)
    p.write(Buffer.concat([f, f, f]))
    for (const a of await p.answers(3)) expectAck(a, f)
    expect(await h.records()).toHaveLength(1)
  })

  it('journals every link test: each one proves the panel is alive', async () => {
    const h = await receiver()
    const n = frame({ token: 'NULL', data: '', seq: 0 })
    await udpExchange(h.port, n)
    await udpExchange(h.port, n)
    expect((await h.records()).filter((r) => r.flags.linkTest)).toHaveLength(2)
  })
})

describe('journal failures', () => {
  it('acknowledges nothing it could not commit, reports unhealthy, and recovers when the journal does', async () => {
    const memory = new MemoryJournal<JournalRecord>()
    const h = await receiver({ journal: async () => memory })
    memory.failWith = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' })
    const f = frame({ seq: 900 })
    expect(text(await udpExchange(h.port, f))).toContain('"NAK"')
    expect(h.server.receiver.healthy).toBe(false)
    expect(await h.records()).toHaveLength(0)
    expect(h.logs.some((l) => l.msg === 'the journal could not commit an event; not acknowledged')).toBe(true)
    memory.failWith = undefined
    // The panel retries the same event: now it is committed (not mistaken for a duplicate).
    expectAck(await udpExchange(h.port, f), f)
    expect(await h.records()).toHaveLength(1)
    expect(h.server.receiver.healthy).toBe(true)
  })
})

describe('accounts', () => {
  it('takes account changes made by another process without a restart', async () => {
    const h = await receiver()
    const f = frame({ acct: '7777' })
    expect(text(await udpExchange(h.port, f))).toContain('"NAK"')
    const { SqliteAccountStore } = await import('../../src/accounts/sqlite-store.js')
    const cli = new SqliteAccountStore(h.dir)
    cli.add({ account: '7777' })
    cli.close()
    await new Promise((r) => setTimeout(r, 200))
    expectAck(await udpExchange(h.port, f), f)
  })
})

describe('shutdown', () => {
  it('stops accepting, then commits and answers what is in flight', async () => {
    const memory = new MemoryJournal<JournalRecord>()
    const h = await receiver({ journal: async () => memory })
    const p = await TcpPanel.connect(h.port)
    const frames = Array.from({ length: 20 }, () => frame())
    p.write(Buffer.concat(frames))
    await new Promise((r) => setTimeout(r, 20))
    const stopping = h.server.close()
    const answers = await p.answers(20)
    await stopping
    answers.forEach((a, i) => expectAck(a, frames[i]!))
    expect(await h.records()).toHaveLength(20)
    expect(await p.whenClosed()).toBe(true)
    await expect(TcpPanel.connect(h.port)).rejects.toThrow()
  })
})

describe('logs', () => {
  it('hold no key after a whole session with encrypted panels, good and bad', async () => {
    const h = await receiver()
    const p = await TcpPanel.connect(h.port)
    for (let i = 0; i < 5; i++) {
      const f = frame({ acct: '5678', encrypted: true })
      p.write(f)
      expectAck(await p.answer(), f)
    }
    await udpExchange(h.port, frame({ acct: '5678' }))
    await udpExchange(h.port, frame({ acct: '5678', encrypted: true, timestamp: Date.now() - 999_999 }))
    p.end()
    await p.whenClosed()
    await h.stop()
    const log = h.logText()
    expect(log.length).toBeGreaterThan(200)
    for (const secret of [KEY, KEY.toLowerCase(), Buffer.from(KEY, 'hex').toString('base64'), Buffer.from(KEY, 'hex').toString('latin1')]) {
      expect(log).not.toContain(secret)
    }
  })
})

describe('latency (reported, not asserted: the machines are shared)', () => {
  it('acknowledges ping-pong frames after a real fdatasync each', async () => {
    const h = await receiver()
    const p = await TcpPanel.connect(h.port)
    const ms: number[] = []
    for (let i = 0; i < 200; i++) {
      const f = frame({ acct: i % 2 === 0 ? '1234' : '5678', encrypted: i % 2 === 1 })
      const t0 = performance.now()
      p.write(f)
      expectAck(await p.answer(), f)
      ms.push(performance.now() - t0)
    }
    ms.sort((a, b) => a - b)
    const pct = (q: number) => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))]!.toFixed(2)
    console.info(`ACK latency over TCP, one panel, file journal (fdatasync per group): p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms, max ${ms.at(-1)!.toFixed(2)} ms`)
    expect(await h.records()).toHaveLength(200)
  })
})

describe('half-closed connections', () => {
  it('answers a panel that shuts down its sending side right after its frame', async () => {
    const h = await receiver()
    const p = await TcpPanel.connect(h.port)
    const f = frame()
    p.socket.end(f)
    expectAck(await p.answer(), f)
    expect(await p.whenClosed()).toBe(true)
  })
})
