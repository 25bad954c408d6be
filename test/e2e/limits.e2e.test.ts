/** Every receiver limit, tripped. */
import { Duplex } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../src/accounts/memory-store.js'
import type { Journal, Stored } from '../../src/journal/journal.js'
import { MemoryJournal } from '../../src/journal/memory-journal.js'
import { serializeFrame } from '../../src/protocol/index.js'
import { Connection } from '../../src/receiver/connection.js'
import { createLogger } from '../../src/log.js'
import { defaultOptions } from '../../src/receiver/options.js'
import { Receiver } from '../../src/receiver/receiver.js'
import type { FrameRecord, JournalRecord } from '../../src/journal/record.js'
import { cidFrame, receivers, sleep, TcpPanel, text, udpExchange } from './helpers.js'

const receiver = receivers()
const frame = cidFrame

/** A journal whose commits wait until released. */
class GatedJournal extends MemoryJournal<JournalRecord> {
  #gate: Promise<void> = new Promise(() => {})
  #open: () => void = () => {}
  constructor () {
    super()
    this.close_()
  }

  close_ (): void {
    this.#gate = new Promise((resolve) => { this.#open = resolve })
  }

  release (): void {
    this.#open()
  }

  override async append (r: FrameRecord): Promise<number> {
    await this.#gate
    return super.append(r)
  }
}

describe('connection limits', () => {
  it('maxConnections: connections over the limit are closed at once', async () => {
    const h = await receiver({ options: { maxConnections: 2 } })
    const a = await TcpPanel.connect(h.port)
    const b = await TcpPanel.connect(h.port)
    const c = await TcpPanel.connect(h.port)
    expect(await c.whenClosed(1000)).toBe(true)
    expect(a.closed || b.closed).toBe(false)
    expect(h.logs.filter((l) => l.msg === 'connection limit reached; refused')).toHaveLength(1)
    a.end(); b.end()
  })

  it('maxConnectionsPerAddress: refused past the limit, and logged once per window, not per attempt', async () => {
    const h = await receiver({ options: { maxConnectionsPerAddress: 2 } })
    const keep = [await TcpPanel.connect(h.port), await TcpPanel.connect(h.port)]
    for (let i = 0; i < 5; i++) expect(await (await TcpPanel.connect(h.port)).whenClosed(1000)).toBe(true)
    expect(h.logs.filter((l) => l.msg === 'too many connections from one address; refused')).toHaveLength(1)
    keep[0]!.end()
    await keep[0]!.whenClosed()
    await sleep(50)
    const again = await TcpPanel.connect(h.port)
    again.write(frame())
    expect(text(await again.answer())).toContain('"ACK"')
    for (const p of [...keep, again]) p.end()
  })

  it('idleTimeoutMs: a connection that sends nothing is closed; one that keeps sending stays', async () => {
    const h = await receiver({ options: { idleTimeoutMs: 300 } })
    const idle = await TcpPanel.connect(h.port)
    const busy = await TcpPanel.connect(h.port)
    for (let i = 0; i < 5; i++) {
      busy.write(frame())
      await busy.answer()
      await sleep(100)
    }
    expect(idle.closed).toBe(true)
    expect(busy.closed).toBe(false)
    busy.end()
  })

  it('frameTimeoutMs: a frame not completed in time is answered NAK and the connection closed, logged once per peer', async () => {
    const h = await receiver({ options: { frameTimeoutMs: 200 } })
    const slow = await Promise.all([1, 2, 3].map(() => TcpPanel.connect(h.port)))
    for (const p of slow) p.write(frame().subarray(0, 25))
    for (const p of slow) {
      expect(text(await p.answer(1000))).toContain('"NAK"')
      expect(await p.whenClosed(1000)).toBe(true)
    }
    expect(h.logs.filter((l) => l.msg === 'a frame was not completed in time; closing')).toHaveLength(1)
  })
})

describe('size limits', () => {
  it('maxBodyBytes: a declared length over the cap is refused before its body is read', async () => {
    // The frame's body is 39 bytes.
    const h = await receiver({ options: { maxBodyBytes: 30, maxBufferedBytes: 50 } })
    const p = await TcpPanel.connect(h.port)
    p.write(frame())
    expect(text(await p.answer())).toContain('"NAK"')
    expect(h.server.receiver.stats.rejected.DC09_ERR_FRAME_TOO_LARGE).toBe(1)
  })

  it('maxBufferedBytes: a frame larger than the buffer is refused', async () => {
    const h = await receiver({ options: { maxBufferedBytes: 40 } })
    const p = await TcpPanel.connect(h.port)
    p.write(frame())
    expect(text(await p.answer())).toContain('"NAK"')
    expect(h.server.receiver.stats.rejected.DC09_ERR_BUFFER_LIMIT).toBe(1)
  })

  it('maxEventsPerBlock: a SIA block of 65 events gets DUH (intact, not processable: the panel does not retry it for ever), logged with its code and not journaled; 64 pass', async () => {
    const h = await receiver()
    const block = (seq: number, n: number) => serializeFrame({ token: 'SIA-DCS', seq, lpref: '0', acct: '1234', data: '#1234|Nri1' + '/BA01'.repeat(n) })
    const p = await TcpPanel.connect(h.port)
    p.write(block(1, 65))
    expect(text(await p.answer())).toContain('"DUH"0001L0#1234[]')
    expect(text(await udpExchange(h.port, block(2, 65)))).toContain('"DUH"0002L0#1234[]')
    expect(h.server.receiver.stats.rejected.DC09_ERR_TOO_MANY_EVENTS).toBe(2)
    expect(h.logs.some((l) => l.code === 'DC09_ERR_TOO_MANY_EVENTS' && l.msg === 'frame refused' && l.account === '1234')).toBe(true)
    expect(await h.records()).toHaveLength(0)
    p.write(block(3, 64))
    expect(text(await p.answer())).toContain('"ACK"0003L0#1234[]')
    expect(await h.records()).toMatchObject([{ seq: '0003' }])
    expect((await h.records())[0]!.events).toHaveLength(64)
  })

  it('maxEventsPerBlock is configurable', async () => {
    const h = await receiver({ options: { maxEventsPerBlock: 100 } })
    const f = serializeFrame({ token: 'SIA-DCS', seq: 4, lpref: '0', acct: '1234', data: '#1234|Nri1' + '/BA01'.repeat(100) })
    expect(text(await udpExchange(h.port, f))).toContain('"ACK"')
    const g = serializeFrame({ token: 'SIA-DCS', seq: 5, lpref: '0', acct: '1234', data: '#1234|Nri1' + '/BA01'.repeat(101) })
    expect(text(await udpExchange(h.port, g))).toContain('"DUH"')
  })

  it('udpMaxDatagram: a larger datagram is dropped without an answer', async () => {
    const h = await receiver({ options: { udpMaxDatagram: 40 } })
    expect(await udpExchange(h.port, frame(), 300)).toBeNull()
    expect(h.logs.some((l) => l.msg === 'datagram too large; dropped')).toBe(true)
  })

  it('logWindowMs: a flood of noise is logged once per window', async () => {
    const h = await receiver()
    const p = await TcpPanel.connect(h.port)
    for (let i = 0; i < 50; i++) {
      p.write(`garbage ${i}\n`)
      p.write(frame())
      await p.answer()
    }
    expect(h.logs.filter((l) => l.code === 'DC09_ERR_NOISE')).toHaveLength(1)
    expect(h.server.receiver.stats.rejected.DC09_ERR_NOISE).toBe(50)
  })
})

describe('frame-rate limits', () => {
  it('frameBurstPerAccount, framesPerSecondPerAccount: frames past them are NAKed over TCP and UDP and not journaled; the ones under are ACKed', async () => {
    const h = await receiver({ options: { frameBurstPerAccount: 5, framesPerSecondPerAccount: 1 }, setup: (a) => { a.add({ account: '5678' }) } })
    const p = await TcpPanel.connect(h.port)
    const answers: string[] = []
    for (let i = 0; i < 8; i++) {
      p.write(frame('1234'))
      answers.push(text(await p.answer()))
    }
    expect(answers.slice(0, 5).every((a) => a.includes('"ACK"'))).toBe(true)
    expect(answers.slice(5).every((a) => a.includes('"NAK"'))).toBe(true)
    expect(text(await udpExchange(h.port, frame('1234')))).toContain('"NAK"')
    // Another account is not held back by this one.
    p.write(frame('5678'))
    expect(text(await p.answer())).toContain('"ACK"')
    p.end()
    const records = await h.records()
    expect(records.filter((r) => r.account === '1234')).toHaveLength(5)
    expect(h.server.receiver.stats.rateLimited.account).toBe(4)
    expect(h.logs.filter((l) => l.code === 'DC09_ERR_RATE_LIMIT' && l.account === '1234')).toHaveLength(1)
  })

  it('frameBurstPerAddress, framesPerSecondPerAddress: one address past them is NAKed, whichever accounts it sends for', async () => {
    const accounts = ['1234', '2001', '2002', '2003']
    const h = await receiver({ options: { frameBurstPerAddress: 6, framesPerSecondPerAddress: 1 }, setup: (a) => { for (const x of accounts.slice(1)) a.add({ account: x }) } })
    const p = await TcpPanel.connect(h.port)
    const answers: string[] = []
    for (let i = 0; i < 8; i++) {
      p.write(frame(accounts[i % 4]))
      answers.push(text(await p.answer()))
    }
    expect(answers.map((a) => /"([A-Z]+)"/.exec(a)?.[1])).toEqual(['ACK', 'ACK', 'ACK', 'ACK', 'ACK', 'ACK', 'NAK', 'NAK'])
    p.end()
    expect(await h.records()).toHaveLength(6)
    expect(h.server.receiver.stats.rateLimited.address).toBe(2)
  })
})

describe('back-pressure', () => {
  it('maxInFlightPerConnection: reading pauses while that many frames wait for their commit', async () => {
    const journal = new GatedJournal()
    const h = await receiver({ journal: async () => journal, options: { maxInFlightPerConnection: 2 } })
    const p = await TcpPanel.connect(h.port)
    for (let i = 0; i < 6; i++) {
      p.write(frame())
      await sleep(40)
    }
    expect(h.server.receiver.stats.frames).toBe(2)
    journal.release()
    const answers = await p.answers(6)
    expect(answers.every((a) => text(a).includes('"ACK"'))).toBe(true)
    expect(h.server.receiver.stats.frames).toBe(6)
  })

  it('drainTimeoutMs: a peer that does not read its answers is dropped', async () => {
    const logger = createLogger({ level: 'silent' })
    const accounts = new MemoryAccountStore()
    accounts.add({ account: '1234' })
    const journal: Journal<JournalRecord> = new MemoryJournal<JournalRecord>()
    const options = { ...defaultOptions, drainTimeoutMs: 150 }
    const receiver = new Receiver({ journal, accounts, logger, options })
    // A peer whose receive window is full: every write is refused, and it never drains.
    const io = new Duplex({ read () {}, write (_c, _e, _cb) { /* never done */ }, highWaterMark: 1 })
    let reason = ''
    const conn = new Connection(io, { transport: 'tcp', address: 'test', peer: 'test:1' }, receiver, options, logger, (r) => { reason = r })
    io.push(frame())
    await sleep(400)
    expect(io.destroyed).toBe(true)
    expect(reason).toBe('drain')
    void conn
    const stored: Array<Stored<JournalRecord>> = []
    for await (const r of journal.read()) stored.push(r)
    expect(stored).toHaveLength(1)
  })
})
