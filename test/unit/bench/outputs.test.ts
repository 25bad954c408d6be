/** The outputs case's far ends count what arrives (and only that), and its section reports every figure and target. */
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { connectAsync } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { Arrivals, connectAutomation, isHeartbeat, startBroker, startWebhookServer } from '../../../bench/e2e/output-sinks.js'
import { outputsSection, type OutputFigures, type OutputsResult } from '../../../bench/e2e/outputs.js'
import type { E2eRun } from '../../../bench/e2e/receiver.js'

const DC4 = '\x14'
const HEARTBEAT = `101000${' '.repeat(11)}@${' '.repeat(4)}`

describe('Arrivals', () => {
  it('counts arrivals before a time, and says when the n-th came', () => {
    const a = new Arrivals()
    for (const t of [10, 20, 20, 30]) a.add(t)
    expect(a.count).toBe(4)
    expect([a.before(5), a.before(20), a.before(21), a.before(99)]).toEqual([0, 1, 3, 4])
    expect([a.timeOf(1), a.timeOf(4), a.timeOf(5)]).toEqual([10, 30, undefined])
  })
})

it('tells a heartbeat from an event record', () => {
  expect(isHeartbeat(Buffer.from(HEARTBEAT))).toBe(true)
  expect(isHeartbeat(Buffer.from('501001 181234E13101015'))).toBe(false)
  expect(isHeartbeat(Buffer.from('S01001[#1234|Nri1/BA01]'))).toBe(false)
})

/** A Sur-Gard output's stand-in: listens, and hands over the automation client's connection. */
async function listener (): Promise<{ port: number, accepted: Promise<Socket>, close: () => Promise<void> }> {
  const server = createServer()
  const accepted = once(server, 'connection').then(([s]) => s as Socket)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { port: (server.address() as { port: number }).port, accepted, close: async () => { server.close(); await once(server, 'close') } }
}

describe('connectAutomation', () => {
  it('answers every record, heartbeats too, with one ACK byte, and counts the events; records may come in pieces', async () => {
    const l = await listener()
    const sink = await connectAutomation(l.port, 2000)
    const s = await l.accepted
    let acks = ''
    s.on('data', (c: Buffer) => { acks += c.toString('latin1') })
    try {
      s.write(HEARTBEAT + DC4)
      s.write('501001 181234E131')
      s.write('01015' + DC4 + 'S01001[#1234|Nri1/BA01]' + DC4)
      await expect.poll(() => acks.length).toBe(3)
      expect(acks).toBe('\x06\x06\x06')
      expect(sink.arrivals.count).toBe(2)
      expect(sink.heartbeats()).toBe(1)
    } finally {
      await sink.close()
      s.destroy()
      await l.close()
    }
  })

  it('drops a stream that runs past the longest record without DC4', async () => {
    const l = await listener()
    const sink = await connectAutomation(l.port, 2000)
    const s = await l.accepted
    try {
      s.write('5'.repeat(1100))
      await once(s, 'close')
      expect(sink.problems()[0]).toMatch(/without DC4/)
      expect(sink.arrivals.count).toBe(0)
    } finally {
      await sink.close()
      await l.close()
    }
  })

  it('gives up when nothing listens within its time', async () => {
    const l = await listener()
    const port = l.port
    await l.close()
    await expect(connectAutomation(port, 200)).rejects.toThrow(/no Sur-Gard output listens/)
  })
})

describe('startBroker', () => {
  it('counts the events published to it, and nothing else', async () => {
    const broker = await startBroker()
    const client = await connectAsync(`mqtt://127.0.0.1:${broker.port}`, { reconnectPeriod: 0 })
    try {
      expect(await broker.connected(2000)).toBe(true)
      await client.publishAsync('dc09/acme/1234/event', '{}', { qos: 1 })
      await client.publishAsync('dc09/acme/1234/status', '{}', { qos: 1 })
      await client.publishAsync('other/event', '{}', { qos: 1 })
      expect(broker.arrivals.count).toBe(1)
    } finally {
      await client.endAsync()
      await broker.close()
    }
  })
})

describe('startWebhookServer', () => {
  it('takes each POST with 204 and counts it; other methods and bodies over its limit are not counted', async () => {
    const server = await startWebhookServer()
    const url = `http://127.0.0.1:${server.port}/`
    try {
      expect((await fetch(url, { method: 'POST', body: '{"id":1}' })).status).toBe(204)
      expect((await fetch(url)).status).toBe(405)
      const big = await fetch(url, { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) }).then((r) => r.status, () => 'reset')
      expect([413, 'reset']).toContain(big)
      expect(server.arrivals.count).toBe(1)
    } finally {
      await server.close()
    }
  })
})

describe('outputsSection', () => {
  const run = (fps: number, p99: number): E2eRun => ({
    panels: 100, proto: 'tcp', encrypted: true, sent: fps * 6, acknowledged: fps * 6, failed: 0, timeouts: 0, alarms: 0, durationMs: 6000,
    framesPerSecond: fps, latencyMs: { p50: p99 / 2, p95: p99, p99, max: p99 }, clientCpuUsPerFrame: 20, problems: [], serverCpuUsPerFrame: 150,
  })
  const figures = (output: OutputFigures['output'], ratio: number, effect: number, delivery?: OutputFigures['delivery']): OutputFigures => {
    const round = { round: 1, receiver: run(ratio * 50_000, 30), baseline: run(50_000, 6), ratio, p99Ratio: 5, effect, fpsEffect: effect - 0.01, delivery: undefined }
    return {
      output, framesPerSecond: ratio * 50_000, baselineFramesPerSecond: 50_000, ratio, p99Ms: 30, baselineP99Ms: 6, p99Ratio: 5,
      serverCpuUsPerFrame: 150, effect, fpsEffect: effect - 0.01, failed: 0, delivery,
      // The second round: the receiver 10% faster, the baseline 20%, so the ratio 8.3% slower.
      rounds: [round, { ...round, receiver: run(ratio * 55_000, 30), baseline: run(60_000, 6), ratio: ratio * 55 / 60 }],
    }
  }
  const delivery = { perSecondDuringLoad: 9000, backlog: 0, drainSeconds: 0, waitedSeconds: 0.1, perSecondDraining: undefined, farEndCpuUsPerEvent: 12, lag: 0, parked: 0 }
  const result: OutputsResult = {
    panels: 100, seconds: 6, rounds: 2, drainCapSeconds: 60, aim: 0.95, quick: false,
    outputs: [
      figures('none', 0.2, 1),
      figures('surgard', 0.19, 0.96, delivery),
      figures('mqtt', 0.18, 0.948, { ...delivery, backlog: 4000, drainSeconds: 2, perSecondDraining: 2000 }),
      figures('webhook', 0.19, 0.97, { ...delivery, backlog: 50_000, drainSeconds: undefined, waitedSeconds: 60, lag: 12_345, parked: 3 }),
    ],
  }

  it('has a row for each output with its effect against the target, its delivery rates, and the noise between rounds', () => {
    const md = outputsSection(result, '')
    expect(md).toContain('## Outputs')
    expect(md).toContain('| none | 10,000 | 50,000 | 0.200 | 30 / 6 | 5.00 | 150 | 1 (reference) | 1 | | | | | |')
    expect(md).toContain('| Sur-Gard automation | 9,500 | 50,000 | 0.190 | 30 / 6 | 5.00 | 150 | 0.960: met | 0.950 | 9,000 | 0 | 0 s |  | 12 |')
    expect(md).toContain('| MQTT (QoS 1) | 9,000 | 50,000 | 0.180 | 30 / 6 | 5.00 | 150 | 0.948: **not met** | 0.938 | 9,000 | 4,000 | 2 s | 2,000 | 12 |')
    expect(md).toContain('| webhook | 9,500 | 50,000 | 0.190 | 30 / 6 | 5.00 | 150 | 0.970: met | 0.960 | 9,000 | 50,000 | **not within 60 s** (lag 12,345) |')
    expect(md).toContain('Without outputs, from round to round, the receiver\'s frames/s moved by 10%, the baseline\'s by 18% and the ratio by 9%')
    expect(md).toContain('**Parked events**: webhook 3.')
  })

  it('says why when the case was not run', () => {
    expect(outputsSection(undefined, 'not part of --quick.')).toBe('## Outputs\n\nNot measured in this run: not part of --quick.\n')
  })
})
