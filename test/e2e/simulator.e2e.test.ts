/** The simulator against the receiver: every transport and key kind, faults, scenarios. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { panelConfig, readFleet, makeFleet } from '../../src/sim/fleet.js'
import { formatSummary, simulate, type SimOptions, type SimSummary } from '../../src/sim/simulator.js'
import { parseEvent, parseMix, readScenario } from '../../src/sim/traffic.js'
import { parseFaults, runSimulate } from '../../src/cli/commands/simulate.js'
import { startReceiver, type Harness } from './helpers.js'

const running: Harness[] = []
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
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

/** A TCP server that takes connections and frames and never answers; counts what it got. */
async function silentServer (): Promise<{ port: number, connections: () => number, bytes: () => number, close: () => Promise<void> }> {
  const sockets = new Set<Socket>()
  let connections = 0
  let bytes = 0
  const server = createServer((s) => {
    connections++
    sockets.add(s)
    s.on('data', (c: Buffer) => { bytes += c.length })
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    bytes: () => bytes,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()) }),
  }
}

/** A port nothing listens on: connections to it are refused. */
async function closedPort (): Promise<number> {
  const s = await silentServer()
  await s.close()
  return s.port
}

describe('dual-path panels', () => {
  it('a primary that never answers: each event goes to the secondary after its attempts, acknowledged there, journaled once', async () => {
    const secondary = await receiver()
    const primary = await silentServer()
    try {
      const s = await simulate(options(secondary, {
        port: primary.port, secondary: { host: '127.0.0.1', port: secondary.port }, events: 5, ackTimeoutMs: 100, retries: 1, failbackMs: 60_000,
      }))
      expect(s).toMatchObject({ events: 20, acknowledged: 20, failed: 0, flawed: 0 })
      // One switch per panel: after it, the panel stays on the secondary for the hold.
      expect(s.paths).toMatchObject({ ackedPrimary: 0, ackedSecondary: 20, pathSwitches: 4, failbacks: 0 })
      // The first event of each panel waited for both attempts on the primary.
      expect(s.paths!.maxAckWaitMs).toBeGreaterThanOrEqual(190)
      expect(primary.bytes()).toBeGreaterThan(0)
      const records = await secondary.records()
      expect(records.length).toBe(20)
      const events = records.filter((r) => !r.flags.linkTest)
      expect(new Set(events.map((r) => r.dedupe)).size).toBe(events.length)
    } finally {
      await primary.close()
    }
  })

  it('a refused primary, tried first for every new event (no hold): switches to the secondary each time and counts the returns', async () => {
    const secondary = await receiver()
    const s = await simulate(options(secondary, {
      port: await closedPort(), secondary: { host: '127.0.0.1', port: secondary.port }, events: 3, ackTimeoutMs: 50, retries: 1, failbackMs: 0, panels: [panelConfig(fleet[1]!)],
    }))
    expect(s).toMatchObject({ events: 3, acknowledged: 3, failed: 0 })
    expect(s.paths).toMatchObject({ ackedPrimary: 0, ackedSecondary: 3, pathSwitches: 3, failbacks: 2 })
  })

  it('after the hold the primary is tried again, and takes the events once it is back', async () => {
    const port = await closedPort()
    const secondary = await receiver()
    const dir = mkdtempSync(join(tmpdir(), 'dc09-sc-'))
    try {
      const file = join(dir, 'scenario.json')
      writeFileSync(file, JSON.stringify({ steps: [{ at: 0, event: 'ADM-CID 1130 01 015' }, { at: 0.2, event: 'ADM-CID 1401 01 003' }, { at: 1, event: 'SIA-DCS Nri1/CL003' }] }))
      // The primary comes up half a second in; the hold is 600 ms from the first failover.
      const up = sleep(500).then(async () => {
        const h = await startReceiver({ listen: { port }, setup: (a) => { const r = a.import(fleet); if (!r.ok) throw new Error(r.reason) } })
        running.push(h)
        return h
      })
      const s = await simulate(options(secondary, {
        port, secondary: { host: '127.0.0.1', port: secondary.port }, scenario: readScenario(file), panels: [panelConfig(fleet[2]!)], ackTimeoutMs: 50, retries: 0, failbackMs: 600,
      }))
      const primary = await up
      expect(s).toMatchObject({ events: 3, acknowledged: 3 })
      expect(s.paths).toMatchObject({ ackedPrimary: 1, ackedSecondary: 2, pathSwitches: 1, failbacks: 1 })
      expect((await secondary.records()).map((r) => r.events[0]?.code)).toEqual(['130', '401'])
      expect((await primary.records()).map((r) => r.events[0]?.code)).toEqual(['CL'])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a working primary: nothing goes to the secondary', async () => {
    const primary = await receiver()
    const secondary = await silentServer()
    try {
      const s = await simulate(options(primary, { secondary: { host: '127.0.0.1', port: secondary.port }, events: 10 }))
      expect(s).toMatchObject({ events: 40, acknowledged: 40, failed: 0 })
      expect(s.paths).toMatchObject({ ackedPrimary: 40, ackedSecondary: 0, pathSwitches: 0, failbacks: 0 })
      expect(secondary.connections()).toBe(0)
    } finally {
      await secondary.close()
    }
  })

  it('both paths down: the event fails once, after its attempts on each path', async () => {
    const s = await simulate(options({ port: await closedPort() } as Harness, {
      secondary: { host: '127.0.0.1', port: await closedPort() }, events: 2, ackTimeoutMs: 20, retries: 1, failbackMs: 0, panels: [panelConfig(fleet[0]!)],
    }))
    expect(s).toMatchObject({ events: 2, acknowledged: 0, failed: 2, expectedFailures: 0 })
    expect(s.paths).toMatchObject({ ackedPrimary: 0, ackedSecondary: 0, pathSwitches: 2 })
  })

  it('without a secondary the summary has no path counts, and a refused connection is a failed event', async () => {
    const s = await simulate(options({ port: await closedPort() } as Harness, { events: 2, ackTimeoutMs: 20, retries: 1, panels: [panelConfig(fleet[0]!)] }))
    expect(s).toMatchObject({ events: 2, acknowledged: 0, failed: 2 })
    expect(s.paths).toBeUndefined()
  })
})

describe('dc09 simulate --secondary and --acked-log', () => {
  it('logs every acknowledged event with its path and the identity the receiver journals it under', async () => {
    const secondary = await receiver()
    const primary = await silentServer()
    const dir = mkdtempSync(join(tmpdir(), 'dc09-al-'))
    try {
      const log = join(dir, 'acked.jsonl')
      const out: string[] = []
      const code = await runSimulate({
        host: '127.0.0.1', port: primary.port, secondary: `127.0.0.1:${secondary.port}`, proto: 'tcp', account: '2002', prefix: '0',
        key: panelConfig(fleet[1]!).key, events: 6, mix: 'cid=60,sia=30,null=10', ackTimeout: 100, retries: 0, clockSkew: 0, failback: 60, ackedLog: log, json: true,
      }, (s) => out.push(s), () => {}, false)
      expect(code).toBe(0)
      const summary = JSON.parse(out.join('')) as SimSummary
      expect(summary.paths).toMatchObject({ ackedPrimary: 0, ackedSecondary: 6, pathSwitches: 1 })
      const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { account: string, seq: number, identity: string | null, path: string })
      expect(lines.length).toBe(6)
      expect(new Set(lines.map((l) => l.path))).toEqual(new Set(['secondary']))
      expect(lines.every((l) => l.account === '2002')).toBe(true)
      // Link tests have no identity (null in the log; null in the journal's JSON too).
      const journaled = (await secondary.records()).filter((r) => typeof r.dedupe === 'string').map((r) => r.dedupe)
      expect(lines.map((l) => l.identity).filter((i) => i !== null).sort()).toEqual(journaled.sort())
      const text = formatSummary(summary)
      expect(text).toMatch(/acknowledged on primary 0, on secondary 6, path switches 1/)
    } finally {
      await primary.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('refuses a secondary outside loopback without --allow-remote, and one that is not HOST:PORT', async () => {
    const base = { host: '127.0.0.1', port: 9, proto: 'tcp' as const, account: '2001', prefix: '0', events: 1, mix: 'cid=1', ackTimeout: 10, retries: 0, clockSkew: 0 }
    await expect(runSimulate({ ...base, secondary: '192.0.2.1:9000' }, () => {}, () => {}, false)).rejects.toThrow(/--secondary.*allow-remote/)
    await expect(runSimulate({ ...base, secondary: '127.0.0.1' }, () => {}, () => {}, false)).rejects.toThrow(/HOST:PORT/)
    await expect(runSimulate({ ...base, secondary: '127.0.0.1:70000' }, () => {}, () => {}, false)).rejects.toThrow(/HOST:PORT/)
    // An acked log that cannot be written stops the run before it starts.
    await expect(runSimulate({ ...base, ackedLog: join(tmpdir(), 'dc09-no-such-dir', 'x', 'acked.jsonl') }, () => {}, () => {}, false)).rejects.toThrow(/ENOENT/)
  })
})
