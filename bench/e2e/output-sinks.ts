/**
 * The far ends of the outputs case, in the benchmark's own process: an automation client for the
 * Sur-Gard output (the receiver listens; this connects and answers every record with ACK), an MQTT
 * broker (aedes) for the MQTT output, and an HTTP server for webhooks. Each counts what arrives,
 * with the time it arrived, and costs as little per event as it can: the far end shares this
 * machine's cores with the receiver and its load client.
 */
import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type Socket } from 'node:net'
import { Aedes } from 'aedes'

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** More arrivals than a run can make (6 s at tens of thousands a second, and the backlog); past it only the count grows. */
const MAX_TIMES = 5_000_000

/** What arrived at a far end, in order, with when (performance.now()). */
export class Arrivals {
  readonly #times: number[] = []
  #count = 0

  get count (): number { return this.#count }

  add (now = performance.now()): void {
    this.#count++
    if (this.#times.length < MAX_TIMES) this.#times.push(now)
  }

  /** How many arrived before `t`. */
  before (t: number): number {
    // The times only grow: binary search for the first at or after t.
    let lo = 0
    let hi = this.#times.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.#times[mid]! < t) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  /** When the n-th arrival (from 1) came; undefined if it has not (or was past the times kept). */
  timeOf (n: number): number | undefined {
    return this.#times[n - 1]
  }
}

export interface Sink {
  readonly arrivals: Arrivals
  /** Resolves when the output is connected to it (or after `ms`, returning false). */
  connected (ms: number): Promise<boolean>
  close (): Promise<void>
}

const DC4 = 0x14
const ACK = Buffer.from([0x06])
/** Longer than any Sur-Gard record (a SIA record's data block is at most a few dozen bytes): a stream without DC4 is broken. */
const MAX_RECORD_BYTES = 1024

/** A heartbeat: the basic-signal record (`1`) with a blank account and `@` for its event. */
export function isHeartbeat (record: Buffer): boolean {
  return record[0] === 0x31 && record.indexOf(0x40) >= 0
}

/**
 * An automation client on the receiver's Sur-Gard port: it answers every record (event or
 * heartbeat) with one ACK byte as soon as it has it, and counts the events. Connects again and
 * again until the output listens (at most `ms`).
 */
export async function connectAutomation (port: number, ms = 15_000): Promise<Sink & { readonly heartbeats: () => number, readonly problems: () => readonly string[] }> {
  const arrivals = new Arrivals()
  let heartbeats = 0
  const problems: string[] = []
  const end = performance.now() + ms
  let socket: Socket | undefined
  while (socket === undefined) {
    socket = await new Promise<Socket | undefined>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s))
      s.once('error', () => resolve(undefined))
    })
    if (socket === undefined) {
      if (performance.now() > end) throw new Error(`no Sur-Gard output listens on ${port}`)
      await sleep(50)
    }
  }
  const s = socket
  let partial: Buffer | undefined
  s.on('error', (err) => { if (problems.length < 10) problems.push(err.message) })
  s.on('data', (chunk: Buffer) => {
    let data = partial === undefined ? chunk : Buffer.concat([partial, chunk])
    let acks = 0
    for (let at = data.indexOf(DC4); at >= 0; at = data.indexOf(DC4)) {
      if (isHeartbeat(data.subarray(0, at))) heartbeats++
      else arrivals.add()
      acks++
      data = data.subarray(at + 1)
    }
    partial = data.length === 0 ? undefined : Buffer.from(data)
    if (partial !== undefined && partial.length > MAX_RECORD_BYTES) {
      problems.push(`${partial.length} bytes without DC4: not a Sur-Gard stream`)
      s.destroy()
      return
    }
    // Stop-and-wait: one record at a time, so almost always one ACK a chunk.
    if (acks > 0) s.write(acks === 1 ? ACK : Buffer.alloc(acks, 0x06))
  })
  return {
    arrivals,
    heartbeats: () => heartbeats,
    problems: () => problems,
    connected: async () => true,
    close: async () => { s.destroy() },
  }
}

/** Resolves true once `ok()` holds, false after `ms`; looks every 20 ms. */
async function until (ok: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms
  while (!ok()) {
    if (performance.now() > end) return false
    await sleep(20)
  }
  return true
}

/**
 * An MQTT broker (aedes, in memory) on 127.0.0.1. It counts the events published to it (topics
 * `dc09/.../event`) as it takes them, which is when the output's QoS 1 publish is acknowledged:
 * no subscriber, which would only add the broker's forwarding to the work on the shared cores.
 */
export async function startBroker (): Promise<Sink & { readonly port: number }> {
  const arrivals = new Arrivals()
  const broker = await Aedes.createBroker()
  broker.on('publish', (packet, client) => {
    if (client !== null && packet.topic.startsWith('dc09/') && packet.topic.endsWith('/event')) arrivals.add()
  })
  const server = createServer(broker.handle)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    arrivals,
    port: (server.address() as { port: number }).port,
    connected: async (ms) => await until(() => broker.connectedClients > 0, ms),
    close: async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()))
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** More than one event's JSON could be: a larger body is refused (413) and not counted. */
const MAX_BODY_BYTES = 1024 * 1024

/** An HTTP server on 127.0.0.1 that takes every POST with 204 once its body is in, and counts them. */
export async function startWebhookServer (): Promise<Sink & { readonly port: number }> {
  const arrivals = new Arrivals()
  const server = createHttpServer((req, res) => {
    let bytes = 0
    req.on('data', (c: Buffer) => {
      bytes += c.length
      if (bytes > MAX_BODY_BYTES) {
        res.writeHead(413, { connection: 'close' }).end()
        req.destroy()
      }
    })
    req.on('end', () => {
      if (bytes > MAX_BODY_BYTES) return
      if (req.method === 'POST') arrivals.add()
      res.writeHead(req.method === 'POST' ? 204 : 405).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return {
    arrivals,
    port: (server.address() as { port: number }).port,
    // The output connects on its first POST: nothing to wait for.
    connected: async () => true,
    close: async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
