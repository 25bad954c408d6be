/** The simulator against the receiver: every transport and key kind, faults, scenarios. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { panelConfig, readFleet, makeFleet } from '../../src/sim/fleet.js'
import { simulate, type SimOptions } from '../../src/sim/simulator.js'
import { parseEvent, parseMix, readScenario } from '../../src/sim/traffic.js'
import { parseFaults, runSimulate } from '../../src/cli/commands/simulate.js'
import { startReceiver, type Harness } from './helpers.js'

const running: Harness[] = []
afterEach(async () => { for (const h of running.splice(0)) await h.stop() })

const fleet = [
  { account: '2001', prefix: '0' },
  { account: '2002', prefix: '0', key: '0123456789ABCDEF0123456789ABCDEF', keyFormat: 'hex' as const },
  { account: '2003', prefix: '0', key: 'Abcdefghijklmnop', keyFormat: 'ascii' as const },
  { account: '2004', prefix: '0', key: '603DEB1015CA71BE2B73AEF0857D77811F352C073B6108D72D9810A30914DFF4', keyFormat: 'hex' as const },
]

async function receiver (): Promise<Harness> {
  const h = await startReceiver({ setup: (a) => { const r = a.import(fleet); if (!r.ok) throw new Error(r.reason) } })
  running.push(h)
  return h
}

function options (h: Harness, o: Partial<SimOptions>): SimOptions {
  return {
    host: '127.0.0.1', port: h.port, proto: 'tcp', connectPerEvent: false, panels: fleet.map(panelConfig), events: 50,
    mix: parseMix('cid=60,sia=30,null=10'), ackTimeoutMs: 2000, retries: 3, clockSkewSeconds: 0, faults: {}, anyAnswer: false, ...o,
  }
}

describe('dc09 simulate against the receiver', () => {
  for (const [name, o] of [['TCP', {}], ['TCP, connect per event', { connectPerEvent: true }], ['UDP', { proto: 'udp' }]] as const) {
    it(`${name}: plain, AES-128 hex and ASCII, AES-256 panels are all acknowledged, each event journaled once`, async () => {
      const h = await receiver()
      const s = await simulate(options(h, o))
      expect(s).toMatchObject({ events: 200, acknowledged: 200, failed: 0, flawed: 0, nak: 0 })
      expect(s.latencyMs.max).toBeGreaterThan(0)
      const records = await h.records()
      const events = records.filter((r) => !r.flags.linkTest)
      expect(new Set(events.map((r) => `${r.account}/${r.seq}`)).size).toBe(events.length)
      expect(records.length).toBe(200)
      expect(new Set(records.map((r) => r.encrypted)).size).toBe(2)
    })
  }

  it('recovers from every injected fault like a panel: the events all get through, once each', async () => {
    const h = await receiver()
    const s = await simulate(options(h, { events: 60, retries: 6, faults: parseFaults('bad-crc=6,wrong-key=6,skew=6,split=6,merge=6,slow=2,drop=4') }))
    expect(Object.keys(s.faultsInjected).sort()).toEqual(['bad-crc', 'drop', 'merge', 'skew', 'slow', 'split', 'wrong-key'])
    expect(s.flawed).toBe(0)
    expect(s.failed - s.expectedFailures).toBe(0)
    expect(s.nak).toBeGreaterThan(0)
    const events = (await h.records()).filter((r) => !r.flags.linkTest)
    expect(new Set(events.map((r) => `${r.account}/${r.seq}`)).size).toBe(events.length)
  })

  it('sets its clock from a NAK when its clock is off, as panels do', async () => {
    const h = await receiver()
    const s = await simulate(options(h, { events: 5, clockSkewSeconds: -3600, panels: [panelConfig(fleet[1]!)] }))
    expect(s).toMatchObject({ acknowledged: 5, failed: 0, nak: 1 })
  })

  it('counts answers that are wrong as flawed, and a receiver that does not answer as timeouts', async () => {
    const s = await simulate({
      host: '127.0.0.1', port: 9, proto: 'udp', connectPerEvent: false, panels: [panelConfig(fleet[0]!)], events: 2,
      mix: parseMix('cid=1'), ackTimeoutMs: 100, retries: 1, clockSkewSeconds: 0, faults: {}, anyAnswer: false,
    })
    expect(s).toMatchObject({ events: 2, acknowledged: 0, timeouts: 4, retries: 2, failed: 2, expectedFailures: 0 })
  })

  it('plays a scenario: burglary, opening by user 3, closing', async () => {
    const h = await receiver()
    const dir = mkdtempSync(join(tmpdir(), 'dc09-sc-'))
    try {
      const file = join(dir, 'scenario.json')
      writeFileSync(file, JSON.stringify({ steps: [{ at: 0, event: 'ADM-CID 1130 01 015' }, { at: 0.2, event: 'ADM-CID 1401 01 003' }, { at: 0.4, event: 'SIA-DCS Nri1/CL003' }] }))
      const s = await simulate(options(h, { scenario: readScenario(file), panels: [panelConfig(fleet[2]!)] }))
      expect(s).toMatchObject({ events: 3, acknowledged: 3 })
      expect((await h.records()).map((r) => r.events[0]?.code)).toEqual(['130', '401', 'CL'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('dc09 simulate says how long it runs', () => {
  it('says at the start, in a log (not a terminal), how long a scenario will take', async () => {
    const h = await receiver()
    const dir = mkdtempSync(join(tmpdir(), 'dc09-sc-'))
    try {
      const file = join(dir, 'scenario.json')
      writeFileSync(file, JSON.stringify({ steps: [{ at: 0, event: 'ADM-CID 1130 01 015' }, { at: 1, event: 'ADM-CID 1401 01 003' }] }))
      const err: string[] = []
      const out: string[] = []
      const code = await runSimulate({
        host: '127.0.0.1', port: h.port, proto: 'tcp', account: '2001', prefix: '0', scenario: file, mix: 'cid=100', ackTimeout: 2000, retries: 1, clockSkew: 0,
      }, (s) => out.push(s), (s) => err.push(s), false)
      expect(code).toBe(0)
      expect(err[0]).toBe(`simulate: 1 panel(s) play ${file}: 2 steps, the last at 1 s, so this runs about 1 s\n`)
      // No terminal: no redrawn line (a run this short has no half-minute line either).
      expect(err.join('')).not.toContain('\r')
      expect(out.join('')).toMatch(/2 events/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('simulator pieces', () => {
  it('reads fleets in the accounts import format and makes them with fresh keys', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-fl-'))
    try {
      const made = makeFleet(3, 'ascii', 500)
      expect(made).toMatchObject([{ account: '500', keyFormat: 'ascii' }, { account: '501' }, { account: '502' }])
      expect(new Set(made.map((a) => (a as { key: string }).key)).size).toBe(3)
      writeFileSync(join(dir, 'f.json'), JSON.stringify(made))
      expect(readFleet(join(dir, 'f.json')).map((p) => p.key?.bits)).toEqual([128, 128, 128])
      writeFileSync(join(dir, 'bad.json'), '{}')
      expect(() => readFleet(join(dir, 'bad.json'))).toThrow(/array/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('parses mixes, events and faults, refusing nonsense', () => {
    expect(parseMix('cid=70,sia=20,null=10')).toEqual({ cid: 70, sia: 20, null: 10 })
    expect(() => parseMix('cid=0')).toThrow()
    expect(() => parseMix('tea=1')).toThrow()
    expect(parseEvent('ADM-CID 1130 01 015')).toEqual({ token: 'ADM-CID', body: '1130 01 015' })
    expect(() => parseEvent('HELLO')).toThrow()
    expect(parseFaults('bad-crc=5,split=10')).toEqual({ 'bad-crc': 5, split: 10 })
    expect(() => parseFaults('gremlins=5')).toThrow()
    expect(() => parseFaults('drop=60,split=60')).toThrow(/100/)
  })
})

describe('rate-limited panels', () => {
  it('send at their rate and stop at the end of the run', async () => {
    const h = await receiver()
    const t0 = performance.now()
    const s = await simulate(options(h, { events: undefined, durationMs: 1200, rate: 2 }))
    expect(performance.now() - t0).toBeLessThan(2500)
    // 4 panels x 2 events/s x 1.2 s: the first at once, then every 500 ms.
    expect(s.events).toBeGreaterThanOrEqual(8)
    expect(s.events).toBeLessThanOrEqual(12)
    expect(s.acknowledged).toBe(s.events)
  })
})
