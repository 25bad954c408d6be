/**
 * The MQTT output against a real broker: aedes in this process, on 127.0.0.1. Delivery at QoS 1
 * (done on the PUBACK), a broker that goes away and comes back on the same port, a publish lost
 * before its PUBACK and sent again, the retained account states, Home Assistant discovery,
 * credentials from files and the environment, topic levels, and the limits.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { createServer as createTlsServer } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Aedes } from 'aedes'
import { connectAsync } from 'mqtt'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { mqttOutput, nextState, parseMqttOptions, StateMemory, topicSegment, type MqttOptions, type MqttTuning, type StateCore } from '../../../src/outputs/mqtt.js'
import type { ContactIdItem, Delivery, Output, OutputContext, OutputEvent } from '../../../src/outputs/output.js'

const FAST: Partial<MqttTuning> = { reconnectPeriodMs: 50, connectTimeoutMs: 1000, seedQuietMs: 50, seedMaxMs: 300 }

interface Seen { topic: string, payload: string, qos: number, retain: boolean }

interface Broker {
  readonly aedes: Aedes
  readonly port: number
  /** What clients published, as the broker accepted it. */
  readonly published: Seen[]
  stop (): Promise<void>
}

const brokers = new Set<Broker>()
const outputs = new Set<Output>()
const cleanups: Array<() => Promise<unknown>> = []

async function startBroker (port = 0, setup?: (a: Aedes) => void, tls?: { key: string, cert: string }): Promise<Broker> {
  const aedes = await Aedes.createBroker()
  setup?.(aedes)
  const published: Seen[] = []
  aedes.on('publish', (packet, client) => {
    if (client === null) return
    published.push({ topic: packet.topic, payload: packet.payload.toString(), qos: packet.qos, retain: packet.retain })
  })
  const server: Server = tls === undefined ? createServer(aedes.handle) : createTlsServer(tls, aedes.handle)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  let stopped = false
  const b: Broker = {
    aedes,
    port: (server.address() as { port: number }).port,
    published,
    async stop () {
      if (stopped) return
      stopped = true
      brokers.delete(b)
      await new Promise<void>((resolve) => aedes.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  brokers.add(b)
  return b
}

interface Ctx extends OutputContext { retries: number, lines: string[] }

function context (): Ctx {
  const lines: string[] = []
  const c = {
    log: pino({ level: 'info' }, { write: (l: string) => { lines.push(l) } }),
    clock: () => Date.now(),
    trouble () {},
    retries: 0,
    lines,
    retried () { c.retries++ },
  }
  return c
}

function options (port: number, extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): MqttOptions {
  const r = parseMqttOptions({ url: `mqtt://127.0.0.1:${port}`, ...extra }, env)
  if (!r.ok) throw new Error(r.reason)
  return r.value
}

async function started (port: number, extra: Record<string, unknown> = {}, tuning: Partial<MqttTuning> = {}, env: NodeJS.ProcessEnv = {}): Promise<{ out: Output, ctx: Ctx }> {
  const out = mqttOutput('test', options(port, extra, env), { ...FAST, ...tuning })
  outputs.add(out)
  const ctx = context()
  await out.start(ctx)
  return { out, ctx }
}

async function until (cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Whether a promise has settled by the next turns of the event loop. */
async function settled (p: Promise<unknown>): Promise<boolean> {
  let done = false
  p.then(() => { done = true }, () => { done = true })
  await new Promise((r) => setTimeout(r, 30))
  return done
}

function cid (cls: string, code: string, qualifier: string, zone: number): ContactIdItem {
  return { format: 'ADM-CID', qualifier, code, group: '01', number: String(zone).padStart(3, '0'), class: cls, zone }
}

function frame (id: number, account: string, items: ContactIdItem[], extra: Partial<OutputEvent> = {}): OutputEvent {
  return {
    id,
    at: new Date(Date.UTC(2026, 0, 1, 0, 0, id)).toISOString(),
    tenant: null,
    account,
    type: 'frame',
    class: items[0]?.class ?? 'status',
    protocol: 'ADM-CID',
    seq: String(id).padStart(4, '0'),
    events: items,
    ...extra,
  }
}

function receiverEvent (id: number, account: string, type: string): OutputEvent {
  return { id, at: new Date(Date.UTC(2026, 0, 1, 0, 0, id)).toISOString(), tenant: null, account, type, class: 'supervision', by: 'supervision', causedBy: 0 }
}

/** Retained messages a new subscriber gets for a filter. */
async function retained (port: number, filter: string, count: number): Promise<Map<string, unknown>> {
  const sub = await connectAsync({ host: '127.0.0.1', port, clean: true, reconnectPeriod: 0, clientId: `sub-${Math.random().toString(16).slice(2)}` })
  const got = new Map<string, unknown>()
  sub.on('message', (topic, payload, packet) => {
    if (packet.retain) got.set(topic, JSON.parse(payload.toString()))
  })
  try {
    await sub.subscribeAsync(filter, { qos: 1 })
    await until(() => got.size >= count, `${count} retained messages on ${filter}`)
    return got
  } finally {
    await sub.endAsync(true)
  }
}

const stateOf = (b: Broker, topic: string) => b.published.filter((p) => p.topic === topic)

/**
 * The ids of the events the broker took, once there are `n`: the broker's own `publish` event
 * may come just after the PUBACK it sent.
 */
async function eventIds (b: Broker, n: number): Promise<number[]> {
  const ids = () => b.published.filter((p) => p.topic.endsWith('/event')).map((p) => (JSON.parse(p.payload) as OutputEvent).id)
  await until(() => ids().length >= n, `${n} events at the broker`)
  return ids()
}

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c()
  for (const o of outputs) await o.close()
  outputs.clear()
  for (const b of [...brokers]) await b.stop()
})

describe('parseMqttOptions', () => {
  let dir: string
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'dc09-mqtt-')) })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const file = (name: string, text: string) => {
    const p = join(dir, name)
    writeFileSync(p, text)
    return p
  }

  it('takes a URL and gives the defaults', () => {
    const r = parseMqttOptions({ url: 'mqtt://broker.example' }, {})
    expect(r.ok && r.value).toMatchObject({ protocol: 'mqtt', host: 'broker.example', port: 1883, topicPrefix: 'dc09', discovery: false, discoveryPrefix: 'homeassistant', retainState: true })
    const s = parseMqttOptions({ url: 'mqtts://[::1]:18883/' }, {})
    expect(s.ok && s.value).toMatchObject({ protocol: 'mqtts', host: '::1', port: 18883 })
  })

  it('refuses a URL with a password or user name, and never repeats the password', () => {
    for (const url of ['mqtt://user:s3cret-pw@broker:1883', 'mqtt://user@broker', 'mqtts://:s3cret-pw@broker']) {
      const r = parseMqttOptions({ url }, {})
      expect(r.ok).toBe(false)
      if (r.ok) continue
      expect(r.code).toBe('DC09_ERR_OUTPUT_CONFIG')
      expect(r.reason).toMatch(/passwordFile/)
      expect(r.reason).toMatch(/DC09_MQTT_PASSWORD/)
      expect(r.reason).not.toContain('s3cret-pw')
    }
    // Not a URL at all, with a password in it: not repeated either.
    const bad = parseMqttOptions({ url: 'mqtt://u:s3cret-pw@[bad' }, {})
    expect(!bad.ok && bad.reason).not.toContain('s3cret-pw')
  })

  it('refuses other schemes, paths, queries and unknown or mistyped options', () => {
    const refused = [
      { url: 'http://broker' }, { url: 'ws://broker' }, { url: 'mqtt://broker/x' }, { url: 'mqtt://broker?clientId=x' },
      {}, { url: '' }, { url: 'x'.repeat(3000) }, { url: 'mqtt://broker', colour: 'red' }, { url: 'mqtt://broker', discovery: 'yes' },
      { url: 'mqtt://broker', clientId: 'has space' }, { url: 'mqtt://broker', clientId: 'x'.repeat(129) }, null, 'mqtt://broker', [],
    ]
    for (const raw of refused) {
      const r = parseMqttOptions(raw, {})
      expect(r.ok, JSON.stringify(raw)).toBe(false)
      if (!r.ok) expect(r.code).toBe('DC09_ERR_OUTPUT_CONFIG')
    }
  })

  it('checks the topic prefixes: no wildcard, NUL, $, empty level, and bounded', () => {
    for (const p of ['a/+/b', 'a/#', 'a\0b', '$SYS', '/a', 'a/', 'a//b', '', 'x'.repeat(129)]) {
      expect(parseMqttOptions({ url: 'mqtt://b', topicPrefix: p }, {}).ok, p).toBe(false)
      expect(parseMqttOptions({ url: 'mqtt://b', discoveryPrefix: p }, {}).ok, p).toBe(false)
    }
    const r = parseMqttOptions({ url: 'mqtt://b', topicPrefix: 'site/alarms', discoveryPrefix: 'ha' }, {})
    expect(r.ok && [r.value.topicPrefix, r.value.discoveryPrefix]).toEqual(['site/alarms', 'ha'])
  })

  it('reads credentials from files (one trailing newline cut), else from the environment, and hides the password', () => {
    const env = { DC09_MQTT_USERNAME: 'env-user', DC09_MQTT_PASSWORD: 'env-pw' }
    const fromEnv = parseMqttOptions({ url: 'mqtt://b' }, env)
    expect(fromEnv.ok && [fromEnv.value.username, fromEnv.value.password]).toEqual(['env-user', 'env-pw'])
    const fromFiles = parseMqttOptions({ url: 'mqtt://b', usernameFile: file('u', 'file-user\n'), passwordFile: file('p', 'file pw \n\n') }, env)
    expect(fromFiles.ok && [fromFiles.value.username, fromFiles.value.password]).toEqual(['file-user', 'file pw \n'])
    if (fromFiles.ok) {
      expect(JSON.stringify(fromFiles.value)).not.toContain('file pw')
      expect(Object.keys(fromFiles.value)).not.toContain('password')
    }
  })

  it('refuses a password without a user name, a missing or oversized file, and a CA for plain mqtt', () => {
    const noUser = parseMqttOptions({ url: 'mqtt://b' }, { DC09_MQTT_PASSWORD: 'pw' })
    expect(!noUser.ok && noUser.reason).toMatch(/no user name/)
    const missing = parseMqttOptions({ url: 'mqtt://b', passwordFile: join(dir, 'none') }, {})
    expect(!missing.ok && missing.reason).toMatch(/ENOENT/)
    const big = parseMqttOptions({ url: 'mqtt://b', usernameFile: file('big', 'x'.repeat(5000)) }, {})
    expect(!big.ok && big.reason).toMatch(/over 4096 bytes/)
    const pem = file('ca.pem', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n')
    expect(parseMqttOptions({ url: 'mqtt://b', caFile: pem }, {}).ok).toBe(false)
    const tls = parseMqttOptions({ url: 'mqtts://b', caFile: pem }, {})
    expect(tls.ok && tls.value.ca).toContain('BEGIN CERTIFICATE')
    expect(parseMqttOptions({ url: 'mqtts://b', caFile: file('notpem', 'hello') }, {}).ok).toBe(false)
  })
})

describe('topic levels and state', () => {
  it('keeps only [A-Za-z0-9_-] in a level, bounded, never empty', () => {
    expect(topicSegment('1234')).toBe('1234')
    expect(topicSegment('ab/c+#')).toBe('ab_c__')
    expect(topicSegment('acme.fr é')).toBe('acme_fr__')
    expect(topicSegment('')).toBe('_')
    expect(topicSegment('9'.repeat(200))).toHaveLength(64)
  })

  it('follows arming, alarms, restores and supervision', () => {
    let s: StateCore = { account: '1', tenant: null, lastAlarm: null, alarm: null, armed: null, supervision: null }
    s = nextState(s, frame(1, '1', [cid('closing', '401', '3', 1)]))
    expect(s.armed).toBe(true)
    s = nextState(s, frame(2, '1', [cid('alarm', '130', '1', 5)]))
    expect([s.alarm, s.lastAlarm?.code, s.lastAlarm?.zone]).toEqual([true, '130', 5])
    expect(nextState(s, frame(3, '1', [cid('restore', '130', '3', 6)]))).toBe(s)
    s = nextState(s, frame(3, '1', [cid('restore', '130', '3', 5)]))
    expect(s.alarm).toBe(false)
    s = nextState(s, receiverEvent(4, '1', 'supervision-failure'))
    expect(s.supervision).toBe('failed')
    s = nextState(s, frame(5, '1', [cid('alarm', '130', '1', 7), cid('opening', '401', '1', 1)]))
    expect([s.armed, s.alarm, s.lastAlarm?.zone]).toEqual([false, false, 7])
    expect(nextState(s, frame(6, '1', [cid('test', '602', '1', 0)]))).toBe(s)
  })

  it('bounds the memory in accounts and in bytes, forgetting the least recently seen', () => {
    const core = (a: string) => ({ account: a, tenant: null, lastAlarm: null, alarm: null, armed: true, supervision: null })
    const m = new StateMemory(3, 1_000_000)
    for (const a of ['a', 'b', 'c']) m.set(a, core(a), JSON.stringify(core(a)))
    m.get('a')
    m.set('d', core('d'), JSON.stringify(core('d')))
    expect([m.has('a'), m.has('b'), m.has('c'), m.has('d'), m.size, m.evicted]).toEqual([true, false, true, true, 3, 1])
    const json = JSON.stringify(core('x'))
    const small = new StateMemory(1000, (json.length + 1) * 2)
    for (const a of ['x', 'y', 'z']) small.set(a, core(a), json)
    expect([small.size, small.has('x'), small.bytes <= (json.length + 1) * 2]).toEqual([2, false, true])
  })
})

describe('mqttOutput with a broker', () => {
  it('publishes each event as JSON at QoS 1 and resolves only on the PUBACK', async () => {
    let release: (() => void) | undefined
    const b = await startBroker(0, (a) => {
      a.authorizePublish = (_client, packet, cb) => {
        if (packet.topic.endsWith('/event') && release === undefined) release = () => cb(null)
        else cb(null)
      }
    })
    const sub = await connectAsync({ host: '127.0.0.1', port: b.port, clean: true, reconnectPeriod: 0, clientId: 'watcher' })
    cleanups.push(() => sub.endAsync(true))
    const seen: Array<{ topic: string, qos: number, body: unknown }> = []
    sub.on('message', (topic, payload, packet) => seen.push({ topic, qos: packet.qos, body: JSON.parse(payload.toString()) }))
    await sub.subscribeAsync('dc09/#', { qos: 1 })
    const { out } = await started(b.port, { retainState: false })
    await until(() => out.status().state === 'up', 'connected')
    expect(out.status()).toEqual({ state: 'up', connected: 1 })
    expect(out.type).toBe('mqtt')
    expect(out.window).toBe(64)
    const e = frame(1, '1234', [cid('alarm', '130', '1', 3)], { text: 'hello', site: { name: 'Shop' } })
    const d = out.deliver(e)
    await until(() => release !== undefined, 'the publish at the broker')
    expect(await settled(d)).toBe(false)
    release!()
    expect(await d).toEqual({ ok: true })
    await eventIds(b, 1)
    const ev = b.published.find((p) => p.topic === 'dc09/_/1234/event')!
    expect([ev.qos, ev.retain]).toEqual([1, false])
    expect(JSON.parse(ev.payload)).toEqual(e)
    await until(() => seen.some((m) => m.topic.endsWith('/event')), 'the subscriber\'s message')
    expect(seen.filter((m) => m.topic.endsWith('/event'))).toEqual([{ topic: 'dc09/_/1234/event', qos: 1, body: e }])
  })

  it('sends again, in order, what was in flight when the broker went, before what came while it was away', async () => {
    // The first broker takes events 2 and 3 but never acknowledges them, then goes.
    const held: Array<() => void> = []
    const first = await startBroker(0, (a) => {
      a.authorizePublish = (_client, packet, cb) => {
        if (packet.topic.endsWith('/event') && (JSON.parse(packet.payload.toString()) as OutputEvent).id > 1) held.push(() => cb(null))
        else cb(null)
      }
    })
    const port = first.port
    const { out, ctx } = await started(port, { retainState: false })
    expect(await out.deliver(frame(1, '1', []))).toEqual({ ok: true })
    const ds = [out.deliver(frame(2, '1', [])), out.deliver(frame(3, '1', []))]
    await until(() => held.length === 2, 'two publishes held')
    const closing = first.stop()
    await until(() => out.status().state === 'down', 'down')
    ds.push(out.deliver(frame(4, '1', [])), out.deliver(frame(5, '1', [])))
    expect(await settled(Promise.race(ds))).toBe(false)
    for (const release of held) release()
    await closing
    const second = await startBroker(port)
    expect(await Promise.all(ds)).toEqual(ds.map(() => ({ ok: true })))
    expect(await eventIds(second, 4)).toEqual([2, 3, 4, 5])
    expect(ctx.retries).toBe(2)
    expect(ctx.lines.join('')).toMatch(/mqtt connection lost/)
  })

  it('waits while the broker is down and delivers everything, in order, when it is back on the same port', async () => {
    const first = await startBroker()
    const port = first.port
    const { out, ctx } = await started(port)
    await until(() => out.status().state === 'up', 'connected')
    expect(await out.deliver(frame(1, '1', [cid('closing', '401', '3', 1)]))).toEqual({ ok: true })
    await first.stop()
    await until(() => out.status().state === 'down', 'down')
    expect(out.status()).toEqual({ state: 'down', connected: 0 })
    const ds: Array<Promise<Delivery>> = []
    for (let id = 2; id <= 6; id++) ds.push(out.deliver(frame(id, '1', [cid('alarm', '130', '1', id)])))
    expect(await settled(Promise.race(ds))).toBe(false)
    expect(out.status().state).toBe('down')
    const second = await startBroker(port)
    expect(await Promise.all(ds)).toEqual(ds.map(() => ({ ok: true })))
    expect(out.status().state).toBe('up')
    expect(await eventIds(second, 5)).toEqual([2, 3, 4, 5, 6])
    // Nothing was in flight when the broker went: nothing counted as sent again.
    expect(ctx.retries).toBe(0)
  })

  it('sends a publish again after the connection closed before its PUBACK, and counts the retry', async () => {
    let dropped = 0
    const b = await startBroker(0, (a) => {
      a.authorizePublish = (client, packet, cb) => {
        if (packet.topic.endsWith('/event') && dropped === 0) {
          dropped++
          // The connection goes before any PUBACK: as a broker crash or a cut network would.
          client?.conn.destroy()
          return
        }
        cb(null)
      }
    })
    const { out, ctx } = await started(b.port, { retainState: false })
    await until(() => out.status().state === 'up', 'connected')
    const e = frame(1, '1', [cid('alarm', '130', '1', 3)])
    expect(await out.deliver(e)).toEqual({ ok: true })
    expect(dropped).toBe(1)
    expect(await eventIds(b, 1)).toEqual([1])
    expect(b.published.filter((p) => p.topic === 'dc09/_/1/event').map((p) => JSON.parse(p.payload))).toEqual([e])
    expect(ctx.retries).toBe(1)
  })

  it('keeps a retained state per account: a late subscriber sees arming, the last alarm and supervision', async () => {
    const b = await startBroker()
    const { out } = await started(b.port)
    const acct = (id: number) => `dc09/_/${id}/state`
    expect(await out.deliver(frame(1, '1001', [cid('closing', '401', '3', 1)]))).toEqual({ ok: true })
    expect(await out.deliver(frame(2, '1001', [cid('alarm', '130', '1', 4)]))).toEqual({ ok: true })
    expect(await out.deliver(receiverEvent(3, '1001', 'supervision-failure'))).toEqual({ ok: true })
    expect(await out.deliver(frame(4, '1002', [cid('opening', '401', '1', 2)]))).toEqual({ ok: true })
    const got = await retained(b.port, 'dc09/+/+/state', 2)
    expect(got.get(acct(1001))).toEqual({
      account: '1001', tenant: null, alarm: true, armed: true, supervision: 'failed', updatedAt: '2026-01-01T00:00:03.000Z',
      lastAlarm: { id: 2, at: '2026-01-01T00:00:02.000Z', code: '130', zone: 4 },
    })
    expect(got.get(acct(1002))).toMatchObject({ armed: false, alarm: null, lastAlarm: null, supervision: null })
    expect(stateOf(b, acct(1001)).every((p) => p.qos === 1 && p.retain)).toBe(true)
    // Published only when it changed: a second closing, a test report and a restore elsewhere change nothing.
    const before = stateOf(b, acct(1001)).length
    expect(await out.deliver(receiverEvent(5, '1001', 'supervision-failure'))).toEqual({ ok: true })
    expect(await out.deliver(frame(6, '1001', [cid('test', '602', '1', 0)]))).toEqual({ ok: true })
    expect(stateOf(b, acct(1001))).toHaveLength(before)
    expect(await out.deliver(frame(7, '1001', [cid('opening', '401', '1', 1)]))).toEqual({ ok: true })
    expect(await out.deliver(receiverEvent(8, '1001', 'supervision-restore'))).toEqual({ ok: true })
    const after = await retained(b.port, acct(1001), 1)
    expect(after.get(acct(1001))).toMatchObject({ armed: false, alarm: false, supervision: 'ok', lastAlarm: { zone: 4 } })
  })

  it('keeps what was known across a restart by reading the retained states back', async () => {
    const b = await startBroker()
    const one = await started(b.port)
    expect(await one.out.deliver(frame(1, '77', [cid('closing', '401', '3', 1)]))).toEqual({ ok: true })
    expect(await one.out.deliver(receiverEvent(2, '77', 'supervision-failure'))).toEqual({ ok: true })
    await one.out.close()
    const two = await started(b.port, { clientId: 'second' })
    expect(await two.out.deliver(frame(3, '77', [cid('alarm', '130', '1', 9)]))).toEqual({ ok: true })
    const got = await retained(b.port, 'dc09/_/77/state', 1)
    expect(got.get('dc09/_/77/state')).toMatchObject({ armed: true, supervision: 'failed', alarm: true, lastAlarm: { id: 3, zone: 9 } })
  })

  it('stops waiting for the retained states when the broker never answers the subscribe', async () => {
    const b = await startBroker(0, (a) => {
      a.authorizeSubscribe = () => {}
    })
    const { out } = await started(b.port, {}, { seedQuietMs: 10_000, seedMaxMs: 100 })
    expect(await out.deliver(frame(1, '1', [cid('closing', '401', '3', 1)]))).toEqual({ ok: true })
    await until(() => stateOf(b, 'dc09/_/1/state').length === 1, 'the state at the broker')
  })

  it('announces two Home Assistant binary sensors per account, retained, once', async () => {
    const b = await startBroker()
    const { out } = await started(b.port, { discovery: true }, {})
    expect(await out.deliver(frame(1, '55', [cid('alarm', '130', '1', 1)]))).toEqual({ ok: true })
    expect(await out.deliver(frame(2, '55', [cid('restore', '130', '3', 1)]))).toEqual({ ok: true })
    expect(await out.deliver(frame(3, '56', [cid('closing', '401', '3', 1)], { tenant: 'acme' }))).toEqual({ ok: true })
    const got = await retained(b.port, 'homeassistant/binary_sensor/+/config', 4)
    const device = { identifiers: ['dc09_55'], name: 'Alarm panel 55', manufacturer: 'dc09' }
    expect(got.get('homeassistant/binary_sensor/dc09_55_alarm/config')).toMatchObject({
      unique_id: 'dc09_55_alarm', device_class: 'safety', state_topic: 'dc09/_/55/state', payload_on: 'ON', payload_off: 'OFF', device,
    })
    expect(got.get('homeassistant/binary_sensor/dc09_55_connectivity/config')).toMatchObject({
      unique_id: 'dc09_55_connectivity', device_class: 'connectivity', state_topic: 'dc09/_/55/state', device,
    })
    expect(got.get('homeassistant/binary_sensor/dc09_acme_56_alarm/config')).toMatchObject({ state_topic: 'dc09/acme/56/state' })
    const configs = b.published.filter((p) => p.topic.startsWith('homeassistant/'))
    expect(configs).toHaveLength(4)
    expect(configs.every((p) => p.retain && p.qos === 1)).toBe(true)
  })

  it('sanitizes tenant and account into topic levels and uses a prefix of several levels', async () => {
    const b = await startBroker()
    const { out } = await started(b.port, { topicPrefix: 'site/alarms', retainState: false })
    expect(await out.deliver(frame(1, 'a+b#/c', [cid('alarm', '130', '1', 1)], { tenant: 'acme.fr' }))).toEqual({ ok: true })
    await eventIds(b, 1)
    expect(b.published.map((p) => p.topic)).toContain('site/alarms/acme_fr/a_b__c/event')
  })

  it('parks an event too large to publish, and publishes nothing for it', async () => {
    const b = await startBroker()
    const { out } = await started(b.port, { retainState: false }, { maxPayloadBytes: 1000 })
    const d = await out.deliver(frame(1, '1', [cid('alarm', '130', '1', 1)], { text: 'x'.repeat(1000) }))
    expect(d).toMatchObject({ ok: false, attempts: 0 })
    expect(!d.ok && d.error).toMatch(/over the 1000 bytes/)
    expect(await out.deliver(frame(2, '1', [cid('alarm', '130', '1', 1)]))).toEqual({ ok: true })
    expect(await eventIds(b, 1)).toEqual([2])
  })

  it('forgets the least recently seen account beyond its bound', async () => {
    const b = await startBroker()
    const { out } = await started(b.port, {}, { maxAccounts: 2 })
    for (const [id, a] of [[1, '1'], [2, '2'], [3, '3']] as const) {
      expect(await out.deliver(frame(id, a, [cid('closing', '401', '3', 1)]))).toEqual({ ok: true })
    }
    // Account 1 was forgotten: its next state knows only what came since.
    expect(await out.deliver(frame(4, '1', [cid('alarm', '130', '1', 1)]))).toEqual({ ok: true })
    await until(() => stateOf(b, 'dc09/_/1/state').length === 2, 'the second state of account 1')
    const last = stateOf(b, 'dc09/_/1/state').at(-1)!
    expect(JSON.parse(last.payload)).toMatchObject({ armed: null, alarm: true })
  })

  it('uses credentials from the environment and from files; wrong ones leave it down with the event waiting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-mqtt-'))
    try {
      const b = await startBroker(0, (a) => {
        a.authenticate = (_client, username, password, cb) => cb(null, username === 'panel' && password?.toString() === 'pw from file')
      })
      writeFileSync(join(dir, 'user'), 'panel\n')
      writeFileSync(join(dir, 'pass'), 'pw from file\n')
      const files = await started(b.port, { usernameFile: join(dir, 'user'), passwordFile: join(dir, 'pass'), retainState: false })
      expect(await files.out.deliver(frame(1, '1', []))).toEqual({ ok: true })
      const env = await started(b.port, { clientId: 'env', retainState: false }, {}, { DC09_MQTT_USERNAME: 'panel', DC09_MQTT_PASSWORD: 'pw from file' })
      expect(await env.out.deliver(frame(2, '1', []))).toEqual({ ok: true })
      const wrong = await started(b.port, { clientId: 'wrong', retainState: false }, {}, { DC09_MQTT_USERNAME: 'panel', DC09_MQTT_PASSWORD: 'nope' })
      const d = wrong.out.deliver(frame(3, '1', []))
      expect(await settled(d)).toBe(false)
      expect(wrong.out.status()).toEqual({ state: 'down', connected: 0 })
      await until(() => wrong.ctx.lines.length > 0, 'a log line')
      expect(wrong.ctx.lines.join('')).toMatch(/Not authorized/)
      for (const c of [files.ctx, env.ctx, wrong.ctx]) expect(c.lines.join('')).not.toMatch(/pw from file|nope/)
      await wrong.out.close()
      await expect(d).rejects.toThrow(/closed/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  const HAS_OPENSSL = spawnSync('openssl', ['version']).status === 0

  it.skipIf(!HAS_OPENSSL)('connects over TLS to a broker whose certificate the caFile vouches for, and not otherwise', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dc09-mqtt-tls-'))
    try {
      const key = join(dir, 'key.pem')
      const cert = join(dir, 'cert.pem')
      const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
        '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert])
      expect(made.status, made.stderr?.toString()).toBe(0)
      const b = await startBroker(0, undefined, { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8') })
      const url = `mqtts://127.0.0.1:${b.port}`
      const trusted = parseMqttOptions({ url, caFile: cert, retainState: false }, {})
      if (!trusted.ok) throw new Error(trusted.reason)
      const out = mqttOutput('tls', trusted.value, FAST)
      outputs.add(out)
      await out.start(context())
      expect(await out.deliver(frame(1, '1', []))).toEqual({ ok: true })
      // The system's authorities do not know this certificate: no connection, the event waits.
      const plain = parseMqttOptions({ url, clientId: 'untrusted', retainState: false }, {})
      if (!plain.ok) throw new Error(plain.reason)
      const other = mqttOutput('tls2', plain.value, FAST)
      outputs.add(other)
      const ctx = context()
      await other.start(ctx)
      const d = other.deliver(frame(2, '1', []))
      await until(() => ctx.lines.length > 0, 'a log line')
      expect(await settled(d)).toBe(false)
      expect(other.status().state).toBe('down')
      expect(ctx.lines.join('')).toMatch(/certificate/)
      await other.close()
      await expect(d).rejects.toThrow(/closed/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('rejects what is pending when closed, and deliveries after close', async () => {
    // Nothing listens on this port: the output never connects.
    const b = await startBroker()
    const port = b.port
    await b.stop()
    const { out } = await started(port)
    const d = out.deliver(frame(1, '1', []))
    expect(await settled(d)).toBe(false)
    await out.close()
    await expect(d).rejects.toThrow(/closed/)
    await expect(out.deliver(frame(2, '1', []))).rejects.toThrow(/closed/)
  })
})
