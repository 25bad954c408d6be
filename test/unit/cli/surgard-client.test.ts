/**
 * `dc09 surgard-client` against a real Sur-Gard output: a record per line, each ACKed; it waits
 * for a receiver that is not up yet, and gives up after its wait when none comes.
 */
import { createServer } from 'node:net'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { describeRecord, runSurgardClient } from '../../../src/cli/commands/surgard-client.js'
import type { OutputContext, OutputEvent } from '../../../src/outputs/output.js'
import { surgardOutput, type SurgardOutput } from '../../../src/outputs/surgard/output.js'
import type { SurgardOptions } from '../../../src/outputs/surgard/records.js'

const ctx: OutputContext = { log: pino({ level: 'silent' }), clock: () => Date.now(), trouble: () => {}, retried: () => {} }
const outputs: SurgardOutput[] = []
afterEach(async () => { await Promise.all(outputs.splice(0).map(async (o) => { await o.close() })) })

function options (port: number, over: Partial<SurgardOptions> = {}): SurgardOptions {
  return { host: '127.0.0.1', port, receiver: '01', line: '001', header: 5, b32: false, heartbeatSeconds: 30, ackTimeoutSeconds: 4, ...over }
}

function event (account: string): OutputEvent {
  return {
    id: 1, at: '2026-12-03T00:00:00.000Z', tenant: null, account, type: 'frame', class: 'alarm', protocol: 'ADM-CID',
    events: [{ format: 'ADM-CID', qualifier: '1', code: '131', group: '01', number: '015', class: 'alarm' }],
  }
}

async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((resolve) => s.close(() => { resolve() }))
  return port
}

describe('describeRecord', () => {
  it('names the fields of each layout', () => {
    expect(describeRecord('101000' + ' '.repeat(11) + '@    ', 5)).toEqual({ type: 'heartbeat', receiver: '01', record: '101000           @    ' })
    expect(describeRecord('501001 181234E13101015', 5)).toMatchObject({ type: 'contact-id', account: '1234', qualifier: 'E', code: '131', group: '01', number: '015' })
    expect(describeRecord('5011 181234E13101015', 3)).toMatchObject({ type: 'contact-id', line: '1', account: '1234' })
    expect(describeRecord('Q01001 580000123456R13101015', 5)).toMatchObject({ type: 'contact-id', account: '0000123456', qualifier: 'R' })
    expect(describeRecord('S01001[#1234|Nri1/BA01]', 5)).toEqual({ type: 'sia', receiver: '01', line: '001', account: '1234', data: 'Nri1/BA01', record: 'S01001[#1234|Nri1/BA01]' })
    expect(describeRecord('hello', 5)).toEqual({ type: 'unknown', record: 'hello' })
  })
})

describe('runSurgardClient', () => {
  it('waits for the receiver, prints each record and ACKs it (so deliveries complete)', async () => {
    const port = await freePort()
    const lines: string[] = []
    const run = runSurgardClient({ host: '127.0.0.1', port, b32: true, header: 5, waitMs: 5000, count: 2 }, (s) => lines.push(s), () => {})
    // The receiver comes up after the client started trying.
    await new Promise((resolve) => setTimeout(resolve, 300))
    const out = surgardOutput('a', options(port, { b32: true }), { heartbeatMs: 60_000 })
    outputs.push(out)
    await out.start(ctx)
    expect(await out.deliver(event('1234'))).toEqual({ ok: true })
    expect(await out.deliver(event('123456'))).toEqual({ ok: true })
    expect(await run).toBe(true)
    expect(lines.map((l) => JSON.parse(l) as Record<string, string>)).toEqual([
      expect.objectContaining({ type: 'contact-id', account: '1234', record: '501001 181234E13101015' }),
      expect.objectContaining({ type: 'contact-id', account: '0000123456' }),
    ])
  })

  it('prints heartbeats as such', async () => {
    const out = surgardOutput('a', options(0), { heartbeatMs: 50 })
    outputs.push(out)
    await out.start(ctx)
    const lines: string[] = []
    const run = runSurgardClient({ host: '127.0.0.1', port: out.address()?.port ?? 0, b32: false, header: 5, waitMs: 1000, count: 1 }, (s) => lines.push(s), () => {})
    while (lines.length === 0) await new Promise((resolve) => setTimeout(resolve, 20))
    expect(await out.deliver(event('1234'))).toEqual({ ok: true })
    expect(await run).toBe(true)
    expect(JSON.parse(lines[0] as string)).toMatchObject({ type: 'heartbeat', receiver: '01' })
    expect(JSON.parse(lines.at(-1) as string)).toMatchObject({ type: 'contact-id' })
  })

  it('gives up when nothing answers within the wait', async () => {
    const port = await freePort()
    const errors: string[] = []
    expect(await runSurgardClient({ host: '127.0.0.1', port, b32: false, header: 5, waitMs: 300 }, () => {}, (s) => errors.push(s))).toBe(false)
    expect(errors.join('')).toMatch(/nothing answers/)
  })
})
