import { readFileSync } from 'node:fs'
import pino from 'pino'
import { Writable } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { MemoryJournal } from '../../../src/journal/memory-journal.js'
import { serializeFrame } from '../../../src/protocol/index.js'
import { defaultOptions, validateOptions, type ReceiverOptions } from '../../../src/receiver/options.js'
import { TokenBuckets } from '../../../src/receiver/rate.js'
import { Receiver } from '../../../src/receiver/receiver.js'
import type { JournalRecord } from '../../../src/journal/record.js'

describe('TokenBuckets', () => {
  it('lets a burst through at once, then the rate, per key', () => {
    const b = new TokenBuckets({ burst: 5, perSecond: 2, maxKeys: 100 })
    const taken = (key: string, n: number, at: number): number => Array.from({ length: n }, () => b.take(key, at)).filter(Boolean).length
    expect(taken('a', 10, 0)).toBe(5)
    expect(taken('b', 10, 0)).toBe(5)
    // 2 a second: one more after 500 ms, none before.
    expect(taken('a', 1, 400)).toBe(0)
    expect(taken('a', 1, 500)).toBe(1)
    expect(taken('a', 10, 3000)).toBe(5)
    // Never more than the burst, however long it waited.
    expect(taken('b', 10, 3_600_000)).toBe(5)
  })

  it('follows at most maxKeys keys, forgetting the least recently used', () => {
    const b = new TokenBuckets({ burst: 1, perSecond: 1, maxKeys: 3 })
    for (const k of ['a', 'b', 'c']) expect(b.take(k, 0)).toBe(true)
    expect(b.take('a', 0)).toBe(false)
    expect(b.take('d', 0)).toBe(true)
    expect(b.size).toBe(3)
    // b was the least recently used: forgotten, so it starts again with a full bucket; a, used since, is still followed.
    expect(b.take('b', 0)).toBe(true)
    expect(b.take('a', 0)).toBe(false)
    expect(b.size).toBe(3)
  })

  it('forgets keys idle long enough for their bucket to be full again', () => {
    const b = new TokenBuckets({ burst: 10, perSecond: 10, maxKeys: 1000 })
    for (let i = 0; i < 500; i++) b.take(`k${i}`, 0)
    expect(b.size).toBe(500)
    b.take('late', 1000)
    expect(b.size).toBe(1)
  })

  it('takes a clock that goes back as no time passed', () => {
    const b = new TokenBuckets({ burst: 1, perSecond: 1, maxKeys: 10 })
    expect(b.take('a', 5000)).toBe(true)
    expect(b.take('a', 1000)).toBe(false)
  })
})

const silentLines = (lines: Array<Record<string, unknown>>) => pino({ level: 'info' }, new Writable({
  write (c: Buffer, _e, cb) { for (const l of c.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>); cb() },
}))

function setup (options: Partial<ReceiverOptions>) {
  const accounts = new MemoryAccountStore()
  for (const a of ['1234', '5678', '9999']) accounts.add({ account: a })
  const journal = new MemoryJournal<JournalRecord>()
  const lines: Array<Record<string, unknown>> = []
  let now = Date.UTC(2026, 11, 1, 12)
  const receiver = new Receiver({ journal, accounts, logger: silentLines(lines), options: { ...defaultOptions, ...options }, clock: () => now })
  let seq = 0
  const send = async (account: string, address = '10.0.0.1'): Promise<string> => {
    seq = seq % 9999 + 1
    const f = serializeFrame({ token: 'ADM-CID', seq, lpref: '0', acct: account, data: `#${account}|1130 01 ${String(seq % 1000).padStart(3, '0')}` })
    const a = await receiver.handleFrame(f, { transport: 'tcp', address, peer: `${address}:4000` })
    return a === null ? 'none' : /"(\*?[A-Z]+)"/.exec(a.toString('latin1'))![1]!
  }
  return { receiver, journal, lines, send, advance: (ms: number) => { now += ms } }
}

describe('receiver frame-rate limits', () => {
  it('frameBurstPerAccount, framesPerSecondPerAccount: past them an account\'s frames are NAKed and not journaled; others go on', async () => {
    const { receiver, journal, lines, send, advance } = setup({ frameBurstPerAccount: 5, framesPerSecondPerAccount: 2 })
    const answers: string[] = []
    for (let i = 0; i < 8; i++) answers.push(await send('1234'))
    expect(answers).toEqual(['ACK', 'ACK', 'ACK', 'ACK', 'ACK', 'NAK', 'NAK', 'NAK'])
    expect(journal.lastId).toBe(5)
    expect(await send('5678')).toBe('ACK')
    advance(500)
    expect(await send('1234')).toBe('ACK')
    expect(await send('1234')).toBe('NAK')
    expect(journal.lastId).toBe(7)
    expect(receiver.stats.rateLimited).toEqual({ account: 4, address: 0 })
    expect(receiver.stats.rejected.DC09_ERR_RATE_LIMIT).toBe(4)
    expect(receiver.stats.answered['ADM-CID NAK']).toBe(4)
    // Logged once a minute per account, with what was held back since.
    const logged = lines.filter((l) => l.code === 'DC09_ERR_RATE_LIMIT')
    expect(logged).toHaveLength(1)
    expect(logged[0]).toMatchObject({ account: '1234', limit: 'account' })
    advance(60_000)
    expect(await send('1234')).toBe('ACK')
    for (let i = 0; i < 10; i++) await send('1234')
    expect(lines.filter((l) => l.code === 'DC09_ERR_RATE_LIMIT')).toHaveLength(2)
    expect(lines.filter((l) => l.code === 'DC09_ERR_RATE_LIMIT')[1]).toMatchObject({ suppressedSinceLast: 3 })
  })

  it('frameBurstPerAddress, framesPerSecondPerAddress: past them an address\'s frames are NAKed, whatever their account', async () => {
    const { receiver, journal, send, advance } = setup({ frameBurstPerAddress: 4, framesPerSecondPerAddress: 1 })
    const answers = []
    for (const a of ['1234', '5678', '9999', '1234', '5678', '9999']) answers.push(await send(a))
    expect(answers).toEqual(['ACK', 'ACK', 'ACK', 'ACK', 'NAK', 'NAK'])
    expect(await send('5678', '10.0.0.2')).toBe('ACK')
    advance(1000)
    expect(await send('9999')).toBe('ACK')
    expect(journal.lastId).toBe(6)
    expect(receiver.stats.rateLimited).toEqual({ account: 0, address: 2 })
  })

  it('are spent only by frames that pass every other check (damaged or forged frames cannot use up an account\'s budget)', async () => {
    const { receiver, send } = setup({ frameBurstPerAccount: 2, framesPerSecondPerAccount: 1 })
    const bad = Buffer.from('\n0000001B"ADM-CID"0001L0#1234[]\r', 'latin1')
    for (let i = 0; i < 5; i++) await receiver.handleFrame(bad, { transport: 'tcp', address: '10.0.0.9', peer: '10.0.0.9:1' })
    expect(await send('1234')).toBe('ACK')
    expect(await send('1234')).toBe('ACK')
    expect(await send('1234')).toBe('NAK')
  })

  it('are settings with sensible minimums', () => {
    expect(validateOptions({ framesPerSecondPerAccount: 0 }).ok).toBe(false)
    expect(validateOptions({ frameBurstPerAddress: 0 }).ok).toBe(false)
    expect(validateOptions({ maxRateLimitKeys: 10 }).ok).toBe(false)
    expect(validateOptions({ frameBurstPerAccount: 1000, framesPerSecondPerAddress: 50_000, maxRateLimitKeys: 1000 })).toEqual({ ok: true, value: { frameBurstPerAccount: 1000, framesPerSecondPerAddress: 50_000, maxRateLimitKeys: 1000 } })
  })

  it('are raised out of a load test\'s way by the example the docs give for dc09 simulate', () => {
    const example = JSON.parse(readFileSync(new URL('../../../examples/load-test.json', import.meta.url), 'utf8')) as Record<string, unknown>
    const v = validateOptions(example)
    expect(v.ok).toBe(true)
    const raised = { ...defaultOptions, ...(v.ok ? v.value : {}) }
    // A simulator on one address, ping-pong, reaches tens of thousands of frames a second.
    expect(raised.framesPerSecondPerAccount).toBeGreaterThanOrEqual(100_000)
    expect(raised.framesPerSecondPerAddress).toBeGreaterThanOrEqual(100_000)
  })

  it('have defaults far above what panels send', () => {
    expect(defaultOptions.frameBurstPerAccount).toBeGreaterThanOrEqual(100)
    expect(defaultOptions.framesPerSecondPerAccount).toBeGreaterThanOrEqual(10)
    expect(defaultOptions.frameBurstPerAddress).toBeGreaterThan(defaultOptions.frameBurstPerAccount)
    expect(defaultOptions.framesPerSecondPerAddress).toBeGreaterThan(defaultOptions.framesPerSecondPerAccount)
  })
})
