/**
 * The thread behind SyncBridge: it holds a NATS connection, answers one request at a time into
 * the shared buffer, and keeps, for each part of the shared state, the last sequence the stream
 * holds for it (an ordered consumer on the state subjects, headers only), which the owner reads
 * without asking.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { DeliverPolicy, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { connectCluster, retryable, STATE_STREAM, STATE_SUBJECTS, wrongSequence } from './nats.js'
import { CTL_DONE, CTL_ID, CTL_LEN, CTL_STATE, HEAD_SLOTS, type BridgeData, type BridgeRequest, type BridgeResponse } from './bridge-protocol.js'

const data = workerData as BridgeData
const ctl = new Int32Array(data.ctl)
const heads = new BigInt64Array(data.heads)
const out = new Uint8Array(data.out)
const encoder = new TextEncoder()

/** Atomics.waitAsync (in Node 20; the library target here predates its types). */
const waitAsync = (Atomics as unknown as { waitAsync: (a: Int32Array, i: number, v: number, t: number) => { async: boolean, value: Promise<string> | string } }).waitAsync

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function answer (id: number, res: BridgeResponse): Promise<void> {
  // The owner has not taken the previous answer yet (it gave up waiting for it): wait until it has.
  while (Atomics.load(ctl, CTL_STATE) === CTL_DONE) {
    const w = waitAsync(ctl, CTL_STATE, CTL_DONE, 1000)
    if (w.async) await w.value
  }
  let bytes = encoder.encode(JSON.stringify(res))
  if (bytes.length > out.length) bytes = encoder.encode(JSON.stringify({ ok: false, kind: 'error', message: `answer of ${bytes.length} bytes does not fit the bridge's ${out.length}` }))
  out.set(bytes)
  Atomics.store(ctl, CTL_LEN, bytes.length)
  Atomics.store(ctl, CTL_ID, id)
  Atomics.store(ctl, CTL_STATE, CTL_DONE)
  Atomics.notify(ctl, CTL_STATE)
}

/** The subjects followed, by their slot in `heads`. */
const slots = new Map<string, number>()

function raiseHead (subject: string, seq: number): void {
  const i = slots.get(subject)
  if (i !== undefined && BigInt(seq) > Atomics.load(heads, i)) Atomics.store(heads, i, BigInt(seq))
}

let nc: NatsConnection
let js: JetStreamClient
let jsm: JetStreamManager
let closed = false

async function withRetry<T> (timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (closed || !retryable(err) || Date.now() + 50 >= deadline) throw err
      await sleep(50)
    }
  }
}

async function last (subject: string, timeoutMs: number): Promise<number> {
  const m = await withRetry(timeoutMs, () => jsm.streams.getMessage(STATE_STREAM, { last_by_subj: subject }))
  const seq = m?.seq ?? 0
  raiseHead(subject, seq)
  return seq
}

/** How long a page of changes may wait for the consumer's next one before the page ends (it is asked again). */
const FETCH_IDLE_MS = 3000

async function fetch (subject: string, from: number, maxBytes: number): Promise<Array<{ seq: number, data: string }>> {
  const to = await last(subject, data.timeoutMs)
  const msgs: Array<{ seq: number, data: string }> = []
  if (to < from) return msgs
  const c = await js.consumers.get(STATE_STREAM, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from, filter_subjects: subject })
  const it = await c.consume({ max_messages: 256, expires: 5000 })
  // A consumer that stops delivering (after a leader change) ends the page: the owner asks again.
  let idle = setTimeout(() => { void it.close().catch(() => undefined) }, FETCH_IDLE_MS)
  void (async () => {
    for await (const s of it.status()) {
      if (s.type === 'heartbeats_missed') { await it.close().catch(() => undefined); break }
    }
  })().catch(() => undefined)
  let bytes = 0
  try {
    for await (const m of it) {
      clearTimeout(idle)
      const text = m.string()
      msgs.push({ seq: m.seq, data: text })
      // What the answer will take: the text escaped into JSON, in UTF-8.
      bytes += Buffer.byteLength(JSON.stringify(text)) + 32
      if (m.seq >= to || bytes >= maxBytes) break
      idle = setTimeout(() => { void it.close().catch(() => undefined) }, FETCH_IDLE_MS)
    }
  } finally {
    clearTimeout(idle)
    await it.close().catch(() => undefined)
  }
  return msgs
}

async function handle (req: BridgeRequest): Promise<BridgeResponse> {
  try {
    switch (req.op) {
      case 'watch': {
        let slot = slots.get(req.subject)
        if (slot === undefined) {
          if (slots.size >= HEAD_SLOTS) return { ok: false, kind: 'error', message: `a bridge follows at most ${HEAD_SLOTS} subjects` }
          slot = slots.size
          slots.set(req.subject, slot)
        }
        return { ok: true, slot, seq: await last(req.subject, data.timeoutMs) }
      }
      case 'last':
        return { ok: true, seq: await last(req.subject, data.timeoutMs) }
      case 'fetch':
        return { ok: true, msgs: await fetch(req.subject, req.from, req.maxBytes) }
      case 'publish': {
        const ack = await withRetry(data.timeoutMs, () => js.publish(req.subject, req.data, {
          msgID: req.msgID,
          expect: { streamName: STATE_STREAM, lastSubjectSequence: req.expect },
          timeout: Math.min(1000, data.timeoutMs),
        }))
        raiseHead(req.subject, ack.seq)
        return { ok: true, seq: ack.seq, duplicate: ack.duplicate }
      }
    }
  } catch (err) {
    if (wrongSequence(err)) return { ok: false, kind: 'conflict', message: (err as Error).message }
    return { ok: false, kind: retryable(err) ? 'unavailable' : 'error', message: (err as Error).message }
  }
}

/**
 * Follows every state subject's last sequence (headers only), forever: from the stream's end at
 * first, then from the last message seen. A consumer whose heartbeats stop (after the stream's
 * leader died, the client may go on pulling from one that never delivers again) is closed, and
 * the loop makes a new one.
 */
async function followHeads (): Promise<void> {
  let after = 0
  while (!closed) {
    try {
      const c = await js.consumers.get(STATE_STREAM, {
        ...(after === 0 ? { deliver_policy: DeliverPolicy.New } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: after + 1 }),
        headers_only: true,
        filter_subjects: STATE_SUBJECTS,
      })
      const it = await c.consume({ max_messages: 512, expires: 5000 })
      void (async () => {
        for await (const s of it.status()) {
          if (s.type === 'heartbeats_missed') { await it.close().catch(() => undefined); break }
        }
      })().catch(() => undefined)
      for await (const m of it) {
        if (closed) break
        after = m.seq
        raiseHead(m.subject, m.seq)
      }
    } catch {
      // Recreated below.
    }
    if (!closed) await sleep(200)
  }
}

let queue = Promise.resolve()

async function main (): Promise<void> {
  try {
    nc = await connectCluster(data.servers, { name: data.name, timeoutMs: data.timeoutMs })
    js = jetstream(nc, { timeout: data.timeoutMs })
    jsm = await jetstreamManager(nc, { timeout: data.timeoutMs })
    void followHeads()
    await answer(0, { ok: true })
  } catch (err) {
    await answer(0, { ok: false, kind: 'unavailable', message: (err as Error).message })
    return
  }
  parentPort!.on('message', (m: BridgeRequest | { op: 'close' }) => {
    if (m.op === 'close') {
      closed = true
      void nc.close().finally(() => parentPort!.close())
      return
    }
    // One at a time, and none for longer than the owner waits: a request that hangs must not
    // hold up every later one.
    queue = queue.then(async () => {
      let timer: NodeJS.Timeout | undefined
      const late = new Promise<BridgeResponse>((resolve) => { timer = setTimeout(() => resolve({ ok: false, kind: 'unavailable', message: 'the cluster did not answer in time' }), data.timeoutMs * 2 + 1000) })
      const res = await Promise.race([handle(m), late])
      clearTimeout(timer)
      await answer(m.id, res)
    })
  })
}

void main()
