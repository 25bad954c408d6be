import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import { serializeFrame } from '../../../src/protocol/index.js'
import { DuplicateWindow } from '../../../src/receiver/dedupe.js'
import { defaultOptions } from '../../../src/receiver/options.js'
import { Receiver } from '../../../src/receiver/receiver.js'
import type { JournalRecord } from '../../../src/journal/record.js'

describe('DuplicateWindow', () => {
  it('forgets the oldest plain entries first over its bound, so plain frames cannot push out encrypted ones', () => {
    const w = new DuplicateWindow(600_000, 4)
    w.set('sealed-1', 1, 0, true)
    w.set('sealed-2', 2, 1, true)
    for (let i = 0; i < 100; i++) expect(w.set(`plain-${i}`, 10 + i, 2 + i)).toBe(i < 2 ? 0 : 1)
    expect(w.size).toBe(4)
    expect(w.get('sealed-1', 200)).toBe(1)
    expect(w.get('sealed-2', 200)).toBe(2)
    expect(w.get('plain-99', 200)).toBe(109)
    expect(w.get('plain-0', 200)).toBeUndefined()
  })

  it('forgets the oldest encrypted entries once there are only encrypted ones, and reports each forgotten early', () => {
    const w = new DuplicateWindow(600_000, 2)
    w.set('a', 1, 0, true)
    w.set('b', 2, 1, true)
    expect(w.set('c', 3, 2, true)).toBe(1)
    expect(w.get('a', 3)).toBeUndefined()
    expect(w.get('c', 3)).toBe(3)
  })

  it('expires both kinds after the window, and deletes a failed commit of either kind', () => {
    const w = new DuplicateWindow(1000, 100)
    w.set('s', 1, 0, true)
    w.set('p', 2, 0)
    w.delete('p', 2)
    expect(w.get('p', 10)).toBeUndefined()
    expect(w.get('s', 1000)).toBe(1)
    expect(w.get('s', 1001)).toBeUndefined()
    expect(w.size).toBe(0)
  })
})

describe('the receiver under a flood of forged plain frames', () => {
  it('still recognises a replayed encrypted frame: the flood evicts only plain entries', async () => {
    const KEY = '0123456789ABCDEF0123456789ABCDEF'
    const accounts = new MemoryAccountStore()
    accounts.add({ account: '5678', key: KEY, keyFormat: 'hex' })
    accounts.add({ account: '1234' })
    const journal = new MemoryJournal<JournalRecord>()
    const now = Date.UTC(2026, 11, 1, 12)
    const receiver = new Receiver({
      journal, accounts, logger: pino({ level: 'silent' }), clock: () => now,
      options: { ...defaultOptions, maxDuplicateEntries: 1000, frameBurstPerAccount: 1_000_000, framesPerSecondPerAccount: 1_000_000, frameBurstPerAddress: 1_000_000, framesPerSecondPerAddress: 1_000_000 },
    })
    const meta = { transport: 'udp' as const, address: '10.0.0.1', peer: '10.0.0.1:4000' }
    const key = accounts.receiverAccount('5678')!.key!
    const captured = serializeFrame({ token: 'ADM-CID', seq: 7, lpref: '0', acct: '5678', data: '#5678|1401 01 003', encrypted: true, timestamp: now }, { key })
    expect((await receiver.handleFrame(captured, meta))!.toString('latin1')).toContain('"*ACK"')
    // Anyone can write plain frames for a plain account: 3,000 different events, three times the bound.
    for (let i = 1; i <= 3000; i++) {
      const f = serializeFrame({ token: 'ADM-CID', seq: i % 9999 + 1, lpref: '0', acct: '1234', data: `#1234|1130 01 ${String(i % 1000).padStart(3, '0')}` })
      await receiver.handleFrame(f, meta)
    }
    expect((await receiver.handleFrame(captured, meta))!.toString('latin1')).toContain('"*ACK"')
    expect(receiver.stats.duplicates).toBeGreaterThanOrEqual(1)
    const sealed: unknown[] = []
    for await (const r of journal.read()) if (r.type === 'frame' && r.account === '5678') sealed.push(r)
    expect(sealed).toHaveLength(1)
  })
})
