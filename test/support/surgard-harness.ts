/**
 * A Sur-Gard output on 127.0.0.1 (port 0) with a context that records troubles and retries, and
 * strict test clients connected to it; `useSurgardHarness()` registers the cleanup of the calling
 * test file (everything started is closed after each test).
 */
import { pino } from 'pino'
import { afterEach } from 'vitest'
import type { ContactIdItem, Delivery, OutputContext, OutputEvent, OutputTroubleKind, SiaItem } from '../../src/outputs/output.js'
import { surgardOutput, type SurgardOutput, type SurgardTuning } from '../../src/outputs/surgard/output.js'
import type { SurgardOptions } from '../../src/outputs/surgard/records.js'
import { SurgardTestClient, type Answer, type ParsedRecord } from './surgard-client.js'

/**
 * Tests where every record is answered at once wait long for answers, so a loaded machine never
 * turns a slow ACK into a retry; tests of silence use a short timeout.
 */
export const PATIENT_MS = 1000
export const SHORT_MS = 150

export interface Harness {
  readonly out: SurgardOutput
  readonly port: number
  readonly troubles: Array<[OutputTroubleKind, string]>
  readonly retries: () => number
}

export interface SurgardHarness {
  start (tuning?: SurgardTuning, options?: Partial<SurgardOptions>, logLines?: string[]): Promise<Harness>
  client (h: Harness, answer?: (r: ParsedRecord, i: number) => Answer, o?: { b32?: boolean, header?: 3 | 5 }): Promise<SurgardTestClient>
}

/** Call at the top of a test file: what each test starts is closed after it. */
export function useSurgardHarness (): SurgardHarness {
  const h = makeHarness()
  afterEach(h.closeAll)
  return h
}

/**
 * For concurrent tests: pass the test context's `onTestFinished`, so that each test closes
 * only what it started.
 */
export function surgardHarness (onTestFinished: (f: () => Promise<void>) => void): SurgardHarness {
  const h = makeHarness()
  onTestFinished(h.closeAll)
  return h
}

function makeHarness (): SurgardHarness & { closeAll: () => Promise<void> } {
  const started: SurgardOutput[] = []
  const clients: SurgardTestClient[] = []
  return {
    async closeAll () {
      await Promise.all(clients.splice(0).map(async (c) => { await c.close() }))
      await Promise.all(started.splice(0).map(async (o) => { await o.close() }))
    },
    async start (tuning = {}, options = {}, logLines) {
      const o: SurgardOptions = { host: '127.0.0.1', port: 0, receiver: '01', line: '001', header: 5, b32: false, heartbeatSeconds: 30, ackTimeoutSeconds: 4, ...options }
      const out = surgardOutput('automation', o, { ackTimeoutMs: PATIENT_MS, heartbeatMs: 10_000, ...tuning })
      const troubles: Array<[OutputTroubleKind, string]> = []
      let retries = 0
      const ctx: OutputContext = {
        log: logLines === undefined ? pino({ level: 'silent' }) : pino({ level: 'info' }, { write: (l: string) => { logLines.push(l) } }),
        clock: () => Date.now(),
        trouble: (kind, detail) => { troubles.push([kind, detail]) },
        retried: () => { retries++ },
      }
      await out.start(ctx)
      started.push(out)
      return { out, port: out.address()?.port ?? 0, troubles, retries: () => retries }
    },
    async client (h, answer, o = {}) {
      const c = await SurgardTestClient.connect(h.port, { ...o, ...(answer === undefined ? {} : { answer }) })
      clients.push(c)
      return c
    },
  }
}

let nextId = 1
export function cidEvent (number: string, account = '1234'): OutputEvent {
  const item: ContactIdItem = { format: 'ADM-CID', qualifier: '1', code: '131', group: '01', number, class: 'alarm' }
  return { id: nextId++, at: '2026-12-03T00:00:00.000Z', tenant: null, account, type: 'frame', class: 'alarm', protocol: 'ADM-CID', events: [item] }
}
export function siaEvent (items: SiaItem[], account = '1234'): OutputEvent {
  return { id: nextId++, at: '2026-12-03T00:00:00.000Z', tenant: null, account, type: 'frame', class: 'alarm', protocol: 'SIA-DCS', events: items }
}

/** Resolves with what the promise gave, or `pending` if it has not settled within `ms`. */
export async function within<T> (p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let t: NodeJS.Timeout | undefined
  const r = await Promise.race([p, new Promise<'pending'>((resolve) => { t = setTimeout(() => { resolve('pending') }, ms) })])
  clearTimeout(t)
  return r
}

export async function until (ok: () => boolean, ms = 4000): Promise<void> {
  const deadline = Date.now() + ms
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

export const OK: Delivery = { ok: true }
export const numbers = (c: SurgardTestClient): string[] => c.events.map((r) => (r.kind === 'cid' ? r.number : '?'))
