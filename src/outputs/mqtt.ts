/**
 * The MQTT output: every event is published as JSON, at QoS 1, to
 * `<prefix>/<tenant or _>/<account>/event`, and each account's last known state (last alarm,
 * armed, supervision) is kept as a retained message on `<prefix>/<tenant or _>/<account>/state`,
 * so a subscriber that connects later (Home Assistant, Node-RED, a dashboard) sees it at once.
 * With `discovery`, Home Assistant is told about two binary sensors per account (alarm and
 * connectivity) by retained config messages under its discovery prefix.
 *
 * Delivery rests on MQTT itself: a delivery is done when the broker's PUBACK arrives. The client
 * (mqtt.js) keeps every QoS 1 publish in its outgoing store until that PUBACK; the session is
 * not clean and the client id is stable, so after a lost connection the client connects again
 * (every `reconnectPeriodMs`) and sends what was not acknowledged, in order. While the broker
 * cannot be reached, deliveries simply wait: nothing is parked for an outage. What is parked
 * can never be published (see `deliver`).
 *
 * The protocol is MQTT 3.1.1, which every broker speaks. Its PUBACK carries no reason code, so a
 * broker cannot refuse one message: it acknowledges it (and may drop it silently, as an ACL
 * does) or closes the connection. There is thus no refusal to park on; an MQTT 5 client could
 * park on a PUBACK reason code of 0x80 or more.
 *
 * Credentials never travel on a command line: a URL that carries a user name or password is
 * refused, and they are read from files or the environment. No error or log line holds them.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { connect, type IClientOptions, type MqttClient } from 'mqtt'
import { err, ok, type Err, type Result } from '../result.js'
import type { Delivery, Output, OutputContext, OutputEvent, OutputStatus } from './output.js'

/** Configuration problems: the output cannot start as configured. */
export type MqttConfigError = Err<'DC09_ERR_OUTPUT_CONFIG'>

export interface MqttOptions {
  readonly protocol: 'mqtt' | 'mqtts'
  readonly host: string
  readonly port: number
  readonly username?: string | undefined
  /** Not enumerable: printing or logging the options never shows it. */
  readonly password?: string | undefined
  /** PEM certificates of the authorities to trust (mqtts only; default: the system's). */
  readonly ca?: string | undefined
  readonly topicPrefix: string
  /** Default `dc09-<output name>`. */
  readonly clientId?: string | undefined
  readonly discovery: boolean
  readonly discoveryPrefix: string
  readonly retainState: boolean
}

/** Limits and timings; tests shorten them. */
export interface MqttTuning {
  /** Wait between connection attempts while the broker cannot be reached. */
  readonly reconnectPeriodMs: number
  /** Give up on one connection attempt (no CONNACK) after this. */
  readonly connectTimeoutMs: number
  /** MQTT keep-alive: a dead connection is noticed within about 1.5 times this. */
  readonly keepaliveS: number
  /** Deliveries in flight at once (each is up to four publishes: event, state, two discovery configs). */
  readonly window: number
  /** An event larger than this as JSON is parked: brokers commonly refuse bigger messages. */
  readonly maxPayloadBytes: number
  /** Accounts whose state is kept in memory; beyond, the one seen longest ago is forgotten. */
  readonly maxAccounts: number
  /** Bytes of account state kept in memory, the same way. */
  readonly maxStateBytes: number
  /** Reading the retained states at start ends after this long without a new one... */
  readonly seedQuietMs: number
  /** ...or after this long in all. */
  readonly seedMaxMs: number
}

export const defaultMqttTuning: MqttTuning = Object.freeze({
  reconnectPeriodMs: 1000,
  connectTimeoutMs: 10_000,
  keepaliveS: 30,
  window: 64,
  maxPayloadBytes: 256 * 1024,
  maxAccounts: 100_000,
  maxStateBytes: 64 * 1024 * 1024,
  seedQuietMs: 500,
  seedMaxMs: 5000,
})

const ENV_USERNAME = 'DC09_MQTT_USERNAME'
const ENV_PASSWORD = 'DC09_MQTT_PASSWORD'
const KNOWN_OPTIONS = new Set(['url', 'usernameFile', 'passwordFile', 'caFile', 'topicPrefix', 'clientId', 'discovery', 'discoveryPrefix', 'retainState'])
/** A user name or password file is a line, not a document. */
const MAX_SECRET_FILE_BYTES = 4096
/** A CA bundle: the system's whole bundle is about 200 KiB. */
const MAX_CA_FILE_BYTES = 1024 * 1024
const MAX_URL_CHARS = 2048
const MAX_PREFIX_BYTES = 128
/** MQTT 3.1.1 brokers must take 23 characters [MQTT-3.1.3-5]; most take far more. */
const MAX_CLIENT_ID_BYTES = 128
/** One topic level made from an account or tenant: account numbers are at most 16 characters. */
const MAX_SEGMENT_CHARS = 64
/** Strings copied from an event into the state (a zone's name): the state stays small. */
const MAX_STATE_STRING_CHARS = 128
/** Retained states read at start larger than this are not ours: ignored. */
const MAX_SEED_BYTES = 16 * 1024

function configError (reason: string): MqttConfigError {
  return err('DC09_ERR_OUTPUT_CONFIG', reason)
}

/**
 * Reads a small file whole, refusing one over `max` bytes. The reason names the option and the
 * path, never the content.
 */
function readSmallFile (option: string, path: string, max: number): Result<string, MqttConfigError> {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (e) {
    return configError(`mqtt: cannot open ${option} ${JSON.stringify(path)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  try {
    const buf = Buffer.alloc(max + 1)
    let n = 0
    while (n <= max) {
      const got = readSync(fd, buf, n, max + 1 - n, null)
      if (got === 0) break
      n += got
    }
    if (n > max) return configError(`mqtt: ${option} ${JSON.stringify(path)} is over ${max} bytes`)
    return ok(buf.subarray(0, n).toString('utf8'))
  } catch (e) {
    return configError(`mqtt: cannot read ${option} ${JSON.stringify(path)}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`)
  } finally {
    closeSync(fd)
  }
}

/** A file written with `echo` ends with a newline that is not part of the secret. */
function trimOneNewline (s: string): string {
  return s.endsWith('\r\n') ? s.slice(0, -2) : s.endsWith('\n') ? s.slice(0, -1) : s
}

/**
 * A topic prefix: one or more levels, no wildcards (a publish topic must have none
 * [MQTT-3.3.2-2]), no NUL [MQTT-1.5.3-2], no leading `$` (broker topics), no empty level.
 */
function checkPrefix (option: string, value: unknown, fallback: string): Result<string, MqttConfigError> {
  if (value === undefined) return ok(fallback)
  if (typeof value !== 'string') return configError(`mqtt: ${option} must be a string`)
  if (value.length === 0 || Buffer.byteLength(value) > MAX_PREFIX_BYTES) return configError(`mqtt: ${option} must be 1 to ${MAX_PREFIX_BYTES} bytes`)
  if (/[+#\0]/.test(value)) return configError(`mqtt: ${option} must not contain +, # or NUL`)
  if (value.startsWith('$')) return configError(`mqtt: ${option} must not start with $ (topics for the broker itself)`)
  if (value.split('/').some((level) => level.length === 0)) return configError(`mqtt: ${option} must not have an empty level (a leading, trailing or double /)`)
  return ok(value)
}

/**
 * Checks an MQTT output's configuration (a JSON object) and reads the files it names. The
 * user name and password come from `usernameFile`/`passwordFile`, else from the environment
 * (`DC09_MQTT_USERNAME`, `DC09_MQTT_PASSWORD`); a URL that carries either is refused.
 */
export function parseMqttOptions (raw: unknown, env: NodeJS.ProcessEnv = process.env): Result<MqttOptions, MqttConfigError> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return configError('mqtt: the options must be an object')
  const o = raw as Record<string, unknown>
  for (const k of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(k)) return configError(`mqtt: unknown option ${JSON.stringify(k.slice(0, 64))}`)
  }

  if (typeof o.url !== 'string' || o.url.length === 0) return configError('mqtt: url is required (mqtt://host:port or mqtts://host:port)')
  if (o.url.length > MAX_URL_CHARS) return configError(`mqtt: url is over ${MAX_URL_CHARS} characters`)
  let url: URL
  try {
    url = new URL(o.url)
  } catch {
    // The text could hold a password: it is not repeated.
    return configError('mqtt: url is not a URL (mqtt://host:port or mqtts://host:port)')
  }
  if (url.username !== '' || url.password !== '') {
    return configError(`mqtt: url must not carry a user name or password (a command line or configuration shows it to others): put them in usernameFile and passwordFile, or in the environment as ${ENV_USERNAME} and ${ENV_PASSWORD}`)
  }
  if (url.protocol !== 'mqtt:' && url.protocol !== 'mqtts:') return configError(`mqtt: url must start with mqtt:// or mqtts://, not ${url.protocol}//`)
  const protocol = url.protocol === 'mqtt:' ? 'mqtt' : 'mqtts'
  if (url.hostname === '') return configError('mqtt: url has no host')
  // mqtt.js would read options from a query string: nothing but a host and a port is taken.
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') return configError('mqtt: url must be only mqtt[s]://host[:port] (no path, query or fragment)')
  const port = url.port === '' ? (protocol === 'mqtt' ? 1883 : 8883) : Number(url.port)
  // URL keeps IPv6 brackets in hostname; the socket wants the bare address.
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname

  let username: string | undefined
  let password: string | undefined
  for (const [option, envName] of [['usernameFile', ENV_USERNAME], ['passwordFile', ENV_PASSWORD]] as const) {
    const path = o[option]
    let value: string | undefined
    if (path !== undefined) {
      if (typeof path !== 'string' || path.length === 0) return configError(`mqtt: ${option} must be a file path`)
      const r = readSmallFile(option, path, MAX_SECRET_FILE_BYTES)
      if (!r.ok) return r
      value = trimOneNewline(r.value)
    } else {
      const v = env[envName]
      if (v !== undefined && v !== '') value = v
    }
    if (value !== undefined && Buffer.byteLength(value) > MAX_SECRET_FILE_BYTES) return configError(`mqtt: the ${option === 'usernameFile' ? 'user name' : 'password'} is over ${MAX_SECRET_FILE_BYTES} bytes`)
    if (option === 'usernameFile') username = value
    else password = value
  }
  // [MQTT-3.1.2-22]: no password without a user name.
  if (password !== undefined && username === undefined) return configError(`mqtt: a password is given but no user name (usernameFile or ${ENV_USERNAME})`)

  let ca: string | undefined
  if (o.caFile !== undefined) {
    if (typeof o.caFile !== 'string' || o.caFile.length === 0) return configError('mqtt: caFile must be a file path')
    if (protocol !== 'mqtts') return configError('mqtt: caFile is for mqtts:// URLs only')
    const r = readSmallFile('caFile', o.caFile, MAX_CA_FILE_BYTES)
    if (!r.ok) return r
    if (!r.value.includes('-----BEGIN CERTIFICATE-----')) return configError(`mqtt: caFile ${JSON.stringify(o.caFile)} holds no PEM certificate`)
    ca = r.value
  }

  const topicPrefix = checkPrefix('topicPrefix', o.topicPrefix, 'dc09')
  if (!topicPrefix.ok) return topicPrefix
  const discoveryPrefix = checkPrefix('discoveryPrefix', o.discoveryPrefix, 'homeassistant')
  if (!discoveryPrefix.ok) return discoveryPrefix

  let clientId: string | undefined
  if (o.clientId !== undefined) {
    if (typeof o.clientId !== 'string' || !/^[\x21-\x7e]+$/.test(o.clientId) || o.clientId.length > MAX_CLIENT_ID_BYTES) {
      return configError(`mqtt: clientId must be 1 to ${MAX_CLIENT_ID_BYTES} printable ASCII characters without spaces`)
    }
    clientId = o.clientId
  }
  for (const k of ['discovery', 'retainState'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') return configError(`mqtt: ${k} must be true or false`)
  }

  const options: MqttOptions = {
    protocol,
    host,
    port,
    username,
    ca,
    topicPrefix: topicPrefix.value,
    clientId,
    discovery: o.discovery === true,
    discoveryPrefix: discoveryPrefix.value,
    retainState: o.retainState !== false,
  }
  Object.defineProperty(options, 'password', { value: password, enumerable: false })
  return ok(options)
}

/** One topic level from a tenant or account: only [A-Za-z0-9_-], bounded, never empty. */
export function topicSegment (s: string): string {
  const cleaned = s.slice(0, MAX_SEGMENT_CHARS).replace(/[^A-Za-z0-9_-]/g, '_')
  return cleaned === '' ? '_' : cleaned
}

/** The last alarm of an account, as its state shows it. */
export interface LastAlarm {
  /** Journal id and receive time of the event. */
  readonly id: number
  readonly at: string
  /** The event code as sent (`130`, `BA`). */
  readonly code: string
  readonly name?: string | undefined
  readonly zone?: number | undefined
  readonly user?: number | undefined
  readonly area?: number | undefined
}

/** An account's retained state (`<prefix>/<tenant>/<account>/state`). */
export interface AccountState {
  readonly account: string
  readonly tenant: string | null
  readonly lastAlarm: LastAlarm | null
  /** An alarm is on: set by an alarm, cleared by the restore of its zone or a disarm. */
  readonly alarm: boolean | null
  /** Closing (armed) or opening (disarmed): null until one is seen. */
  readonly armed: boolean | null
  /** The receiver's supervision of the panel's link: null until a failure or restore is seen. */
  readonly supervision: 'ok' | 'failed' | null
  /** Receive time of the event that last changed it. */
  readonly updatedAt: string | null
}

/** A state without its time: what "changed" compares. */
export type StateCore = Omit<AccountState, 'updatedAt'>

/** The state after one event, or the same object when the event changes nothing. */
export function nextState (prev: StateCore, e: OutputEvent): StateCore {
  let s = prev
  if (e.type === 'supervision-failure' && s.supervision !== 'failed') s = { ...s, supervision: 'failed' }
  else if (e.type === 'supervision-restore' && s.supervision !== 'ok') s = { ...s, supervision: 'ok' }
  if (e.type !== 'frame') return s
  const items = e.events ?? []
  const classes = items.length > 0 ? items : [{ class: e.class, code: undefined, zone: undefined }]
  for (const item of classes) {
    switch (item.class) {
      case 'closing':
        if (s.armed !== true) s = { ...s, armed: true }
        break
      case 'opening':
        // Someone disarmed on site: the alarm was dealt with there.
        if (s.armed !== false || s.alarm === true) s = { ...s, armed: false, alarm: s.alarm === true ? false : s.alarm }
        break
      case 'alarm': {
        if (!('format' in item)) {
          s = { ...s, alarm: true }
          break
        }
        const last: LastAlarm = {
          id: e.id,
          at: e.at,
          code: item.code.slice(0, 8),
          ...(item.name !== undefined ? { name: item.name.slice(0, MAX_STATE_STRING_CHARS) } : {}),
          ...(item.zone !== undefined ? { zone: item.zone } : {}),
          ...(item.user !== undefined ? { user: item.user } : {}),
          ...('area' in item && item.area !== undefined ? { area: item.area } : {}),
        }
        s = { ...s, lastAlarm: last, alarm: true }
        break
      }
      case 'restore':
        // The restore of the last alarm's zone (a SIA restore has another code: the zone is what matches).
        if (s.alarm === true && s.lastAlarm !== null && s.lastAlarm.zone === item.zone) s = { ...s, alarm: false }
        break
    }
  }
  return s
}

function emptyState (account: string, tenant: string | null): StateCore {
  return { account, tenant, lastAlarm: null, alarm: null, armed: null, supervision: null }
}

interface Known {
  core: StateCore
  /** `core` as JSON: what "changed" compares, and its size what the memory bound counts. */
  json: string
}

/**
 * Account states in memory, least recently seen first (a Map keeps insertion order), bounded
 * in count and bytes: what is forgotten is the account seen longest ago.
 */
export class StateMemory {
  readonly #map = new Map<string, Known>()
  readonly #maxCount: number
  readonly #maxBytes: number
  #bytes = 0
  /** Accounts forgotten to stay within the bounds. */
  evicted = 0

  constructor (maxCount: number, maxBytes: number) {
    this.#maxCount = maxCount
    this.#maxBytes = maxBytes
  }

  get size (): number { return this.#map.size }
  get bytes (): number { return this.#bytes }
  has (key: string): boolean { return this.#map.has(key) }

  get (key: string): Known | undefined {
    const k = this.#map.get(key)
    if (k !== undefined) {
      this.#map.delete(key)
      this.#map.set(key, k)
    }
    return k
  }

  set (key: string, core: StateCore, json: string): void {
    const old = this.#map.get(key)
    if (old !== undefined) {
      this.#bytes -= old.json.length + key.length
      this.#map.delete(key)
    }
    this.#map.set(key, { core, json })
    this.#bytes += json.length + key.length
    for (const [k, v] of this.#map) {
      if (this.#map.size <= this.#maxCount && this.#bytes <= this.#maxBytes) break
      if (k === key) break
      this.#map.delete(k)
      this.#bytes -= v.json.length + k.length
      this.evicted++
    }
  }
}

/** A retained state read back at start: only what this output writes is taken. */
function parseSeed (payload: Buffer): StateCore | undefined {
  if (payload.length === 0 || payload.length > MAX_SEED_BYTES) return undefined
  let v: unknown
  try {
    v = JSON.parse(payload.toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof v !== 'object' || v === null) return undefined
  const s = v as Record<string, unknown>
  if (typeof s.account !== 'string' || (s.tenant !== null && typeof s.tenant !== 'string')) return undefined
  const bool = (x: unknown) => (x === true || x === false ? x : null)
  const sup = s.supervision === 'ok' || s.supervision === 'failed' ? s.supervision : null
  let lastAlarm: LastAlarm | null = null
  const la = s.lastAlarm as Record<string, unknown> | null | undefined
  if (typeof la === 'object' && la !== null && typeof la.id === 'number' && typeof la.at === 'string' && typeof la.code === 'string') {
    const num = (x: unknown) => (typeof x === 'number' && Number.isInteger(x) ? x : undefined)
    lastAlarm = {
      id: la.id,
      at: la.at.slice(0, 40),
      code: la.code.slice(0, 8),
      ...(typeof la.name === 'string' ? { name: la.name.slice(0, MAX_STATE_STRING_CHARS) } : {}),
      ...(num(la.zone) !== undefined ? { zone: num(la.zone) } : {}),
      ...(num(la.user) !== undefined ? { user: num(la.user) } : {}),
      ...(num(la.area) !== undefined ? { area: num(la.area) } : {}),
    }
  }
  return { account: s.account.slice(0, MAX_SEGMENT_CHARS), tenant: s.tenant === null ? null : (s.tenant as string).slice(0, MAX_SEGMENT_CHARS), lastAlarm, alarm: bool(s.alarm), armed: bool(s.armed), supervision: sup }
}

/** Home Assistant discovery configs for one account: topic and retained payload. */
export function discoveryConfigs (discoveryPrefix: string, stateTopic: string, tenant: string | null, account: string): Array<{ topic: string, payload: string }> {
  // Two tenants may use the same account number: their devices must not merge.
  const id = tenant === null ? `dc09_${topicSegment(account)}` : `dc09_${topicSegment(tenant)}_${topicSegment(account)}`
  const device = { identifiers: [id], name: `Alarm panel ${account}`, manufacturer: 'dc09' }
  const sensors = [
    {
      suffix: 'alarm',
      name: 'Alarm',
      device_class: 'safety',
      // Unknown until the first alarm, restore or disarm: `None` leaves the sensor unknown.
      value_template: '{% if value_json.alarm is none %}None{% elif value_json.alarm %}ON{% else %}OFF{% endif %}',
    },
    {
      suffix: 'connectivity',
      name: 'Connectivity',
      device_class: 'connectivity',
      value_template: '{% if value_json.supervision == \'ok\' %}ON{% elif value_json.supervision == \'failed\' %}OFF{% else %}None{% endif %}',
    },
  ]
  return sensors.map((x) => ({
    topic: `${discoveryPrefix}/binary_sensor/${id}_${x.suffix}/config`,
    payload: JSON.stringify({
      name: x.name,
      unique_id: `${id}_${x.suffix}`,
      device_class: x.device_class,
      state_topic: stateTopic,
      value_template: x.value_template,
      payload_on: 'ON',
      payload_off: 'OFF',
      qos: 1,
      device,
    }),
  }))
}

interface Pending {
  readonly reject: (e: Error) => void
  /** The connection its publishes were written on (undefined: not yet written). */
  sentOn: number | undefined
}

const CLOSED = 'the MQTT output was closed before the broker acknowledged the event'

class MqttOutput implements Output {
  readonly type = 'mqtt'
  readonly name: string
  readonly #o: MqttOptions
  readonly #t: MqttTuning
  readonly #clientId: string
  readonly #memory: StateMemory
  /** Accounts whose discovery configs were published by this process (bounded like the memory). */
  readonly #discovered = new Set<string>()
  readonly #pending = new Set<Pending>()
  #client: MqttClient | undefined
  #ctx: OutputContext | undefined
  #closed = false
  /** Counts connections: a delivery written on connection n and not acknowledged when it closes is sent again. */
  #connection = 0
  #wasUp = false
  #errorLogged = false
  /** State updates run one at a time in call order, after the start's retained states are read. */
  #stateTail: Promise<unknown> = Promise.resolve()
  #seeded: Promise<void> = Promise.resolve()
  #endSeed: (() => void) | undefined
  /** Starts the bound on reading the retained states, at the first connection. */
  #seedConnected: (() => void) | undefined
  readonly #timers = new Set<NodeJS.Timeout>()

  constructor (name: string, options: MqttOptions, tuning: MqttTuning) {
    this.name = name
    this.#o = options
    this.#t = tuning
    this.#clientId = options.clientId ?? `dc09-${name}`.replace(/[^\x21-\x7e]/g, '_').slice(0, MAX_CLIENT_ID_BYTES)
    this.#memory = new StateMemory(tuning.maxAccounts, tuning.maxStateBytes)
  }

  get window (): number { return this.#t.window }

  status (): OutputStatus {
    const up = this.#client?.connected === true
    return { state: up ? 'up' : 'down', connected: up ? 1 : 0 }
  }

  async start (ctx: OutputContext): Promise<void> {
    if (this.#client !== undefined) throw new Error('the MQTT output was started twice')
    this.#ctx = ctx
    const o = this.#o
    const opts: IClientOptions = {
      protocol: o.protocol,
      host: o.host,
      port: o.port,
      protocolVersion: 4,
      clientId: this.#clientId,
      // A kept session and a stable id: the broker keeps our session and the client resends
      // every publish not acknowledged when a connection is lost.
      clean: false,
      reconnectPeriod: this.#t.reconnectPeriodMs,
      // A refused CONNECT (bad credentials) is tried again too: fixing the broker is enough.
      reconnectOnConnackError: true,
      connectTimeout: this.#t.connectTimeoutMs,
      keepalive: this.#t.keepaliveS,
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
      ...(o.ca !== undefined ? { ca: o.ca } : {}),
    }
    const client = connect(opts)
    this.#client = client
    // The CONNACK, not the client's `connect` event: that one comes only after the client has
    // resent its store, and a connection lost meanwhile must count those resends too.
    client.on('packetreceive', (packet) => {
      if (packet.cmd !== 'connack' || packet.returnCode !== 0) return
      this.#connection++
      this.#errorLogged = false
      // Everything pending is written on this connection now (the client resends its store first).
      for (const p of this.#pending) p.sentOn = this.#connection
      ctx.log.info({ output: this.name, host: o.host, port: o.port }, 'mqtt connected')
      this.#wasUp = true
      this.#seedConnected?.()
    })
    client.on('close', () => {
      if (!this.#wasUp) {
        // Not reached at all (a refused port, no route): said once until a connection is made.
        if (!this.#errorLogged && !this.#closed) ctx.log.warn({ output: this.name, host: o.host, port: o.port }, 'mqtt cannot reach the broker: retrying')
        this.#errorLogged = true
        return
      }
      this.#wasUp = false
      this.#errorLogged = true
      let resent = 0
      for (const p of this.#pending) {
        if (p.sentOn === this.#connection) {
          p.sentOn = undefined
          resent++
          ctx.retried()
        }
      }
      if (!this.#closed) ctx.log.warn({ output: this.name, host: o.host, port: o.port, resent }, 'mqtt connection lost: reconnecting')
    })
    client.on('error', (e) => {
      // Once per outage: a broker down for an hour is not 3600 lines. The messages name the
      // host or the broker's refusal (bad credentials), never the credentials themselves.
      if (this.#errorLogged) return
      this.#errorLogged = true
      ctx.log.warn({ output: this.name, host: o.host, port: o.port, err: e.message }, 'mqtt cannot connect: retrying')
    })
    if (o.retainState) this.#seed(client)
  }

  /**
   * Reads the retained states at start, so an account's first event here does not replace what
   * was known (armed, supervision) with nothing. Bounded: the reading ends `seedQuietMs` after
   * the last state that came since the broker's SUBACK, or `seedMaxMs` after the first
   * connection, whichever is first (a connection lost before the SUBACK leaves the client to
   * subscribe again on the next one, and the second bound to end it). Only the states that fit
   * in the memory are kept, and a state already updated here is newer: kept.
   */
  #seed (client: MqttClient): void {
    const filter = `${this.#o.topicPrefix}/+/+/state`
    const prefixLevels = this.#o.topicPrefix.split('/').length
    let quiet: NodeJS.Timeout | undefined
    this.#seeded = new Promise<void>((resolve) => {
      this.#endSeed = () => {
        if (this.#endSeed === undefined) return
        this.#endSeed = undefined
        this.#seedConnected = undefined
        client.removeListener('message', onMessage)
        for (const t of this.#timers) clearTimeout(t)
        this.#timers.clear()
        if (!this.#closed) client.unsubscribe(filter)
        resolve()
      }
    })
    const later = (ms: number) => {
      const t = setTimeout(() => { this.#timers.delete(t); this.#endSeed?.() }, ms)
      this.#timers.add(t)
      return t
    }
    const onMessage = (topic: string, payload: Buffer, packet: { retain: boolean }) => {
      // Live states (our own, echoed) are not retained on delivery [MQTT-3.3.1-9]: only stored ones count.
      if (!packet.retain) return
      const levels = topic.split('/')
      if (levels.length !== prefixLevels + 3) return
      const key = levels.slice(prefixLevels, prefixLevels + 2).join('/')
      if (this.#memory.has(key)) return
      const core = parseSeed(payload)
      if (core !== undefined) this.#memory.set(key, core, JSON.stringify(core))
      if (quiet !== undefined) quiet.refresh()
    }
    this.#seedConnected = () => {
      this.#seedConnected = undefined
      later(this.#t.seedMaxMs)
    }
    client.on('message', onMessage)
    client.subscribe(filter, { qos: 0 }, (e) => {
      // An error is a connection lost before the SUBACK: the client subscribes again itself.
      if (this.#endSeed === undefined || e != null) return
      quiet = later(this.#t.seedQuietMs)
    })
  }

  /** One QoS 1 publish: resolves on its PUBACK. */
  #publish (topic: string, payload: string, retain: boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#client!.publish(topic, payload, { qos: 1, retain }, (e) => {
        if (e != null) reject(e)
        else resolve()
      })
    })
  }

  /**
   * Parks only what can never be published: an event over `maxPayloadBytes` as JSON. Everything
   * else waits for the broker, however long it is away (MQTT 3.1.1 has no refusal to park on).
   */
  deliver (event: OutputEvent): Promise<Delivery> {
    if (this.#client === undefined || this.#closed) return Promise.reject(new Error(this.#closed ? CLOSED : 'the MQTT output was not started'))
    return new Promise<Delivery>((resolve, reject) => {
      const p: Pending = { reject, sentOn: this.#client!.connected ? this.#connection : undefined }
      this.#pending.add(p)
      this.#run(event).then(resolve, (e: unknown) => {
        // While open, a publish fails only if the client refuses it: say why and park it.
        resolve({ ok: false, error: `mqtt: ${e instanceof Error ? e.message : String(e)}`, attempts: 1 })
      }).finally(() => this.#pending.delete(p))
    })
  }

  async #run (event: OutputEvent): Promise<Delivery> {
    const payload = JSON.stringify(event)
    const bytes = Buffer.byteLength(payload)
    if (bytes > this.#t.maxPayloadBytes) {
      return { ok: false, error: `mqtt: the event is ${bytes} bytes as JSON, over the ${this.#t.maxPayloadBytes} bytes a message may have`, attempts: 0 }
    }
    const base = `${this.#o.topicPrefix}/${topicSegment(event.tenant ?? '_')}/${topicSegment(event.account)}`
    const published = this.#publish(`${base}/event`, payload, false)
    // Awaited below; until then a failure must not count as unhandled.
    published.catch(() => {})
    // The state's publishes are issued in call order (after the retained states are read);
    // the wrapper keeps `then` from waiting for their PUBACKs before the next update.
    const issued = this.#stateTail.then(() => this.#seeded).then(() => ({ acks: this.#updateState(event, base) }))
    this.#stateTail = issued
    const { acks } = await issued
    acks.catch(() => {})
    await Promise.all([published, acks])
    return { ok: true }
  }

  /** Updates the account's state in memory and publishes what changed: resolves on their PUBACKs. */
  #updateState (event: OutputEvent, base: string): Promise<unknown> {
    const key = base.slice(this.#o.topicPrefix.length + 1)
    const known = this.#memory.get(key)
    const prev = known?.core ?? emptyState(event.account, event.tenant)
    const next = nextState(prev, event)
    const acks: Array<Promise<void>> = []
    if (this.#o.discovery && !this.#discovered.has(key)) {
      if (this.#discovered.size >= this.#t.maxAccounts) this.#discovered.delete(this.#discovered.values().next().value!)
      this.#discovered.add(key)
      for (const c of discoveryConfigs(this.#o.discoveryPrefix, `${base}/state`, event.tenant, event.account)) {
        acks.push(this.#publish(c.topic, c.payload, true))
      }
    }
    if (next === prev && known !== undefined) return Promise.all(acks)
    // Who the account belongs to is taken from the event: the account may have changed hands.
    const core: StateCore = { ...next, account: event.account.slice(0, MAX_SEGMENT_CHARS), tenant: event.tenant === null ? null : event.tenant.slice(0, MAX_SEGMENT_CHARS) }
    const json = JSON.stringify(core)
    if (known !== undefined && json === known.json) return Promise.all(acks)
    this.#memory.set(key, core, json)
    if (this.#memory.evicted > 0 && this.#memory.evicted % 10_000 === 1) {
      this.#ctx?.log.warn({ output: this.name, accounts: this.#memory.size, evicted: this.#memory.evicted }, 'mqtt: more accounts than the state memory holds: the least recently seen are forgotten')
    }
    // A first event of an account changes nothing but is still published: the state topic exists from then on.
    const state: AccountState = { ...core, updatedAt: event.at }
    acks.push(this.#publish(`${base}/state`, JSON.stringify(state), this.#o.retainState))
    return Promise.all(acks)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#endSeed?.()
    for (const p of this.#pending) p.reject(new Error(CLOSED))
    this.#pending.clear()
    const client = this.#client
    if (client === undefined) return
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()))
  }
}

/** An MQTT output named `name` (a configuration checked by `parseMqttOptions`). */
export function mqttOutput (name: string, options: MqttOptions, tuning: Partial<MqttTuning> = {}): Output {
  return new MqttOutput(name, options, { ...defaultMqttTuning, ...tuning })
}
