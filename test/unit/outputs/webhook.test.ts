/**
 * The webhook output against a real HTTP server on 127.0.0.1, scripted request by request: what
 * it sends (body, headers, a signature a user can check), how it reads each kind of answer, its
 * order, its close, and that its secret reaches no log line or error. Waits are shortened with
 * the tuning (milliseconds), so the file takes a few seconds.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/log.js'
import type { Delivery, Output, OutputContext, OutputEvent } from '../../../src/outputs/output.js'
import { parseWebhookOptions, webhookOutput, type WebhookOptions, type WebhookTuning } from '../../../src/outputs/webhook.js'

const SECRET = 'whsec-test-0123456789abcdef-SECRET'
const TOKEN = 'Bearer gateway-token-do-not-log-42'

let dir: string
let secretFile: string

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-webhook-'))
  secretFile = join(dir, 'secret')
  // With a line break at the end, as `echo` writes it: not part of the secret.
  writeFileSync(secretFile, SECRET + '\n')
})

afterAll(() => {
  rmSync(dir, { recursive: true, force: true })
})

/** One request as the server saw it. */
interface Seen {
  readonly headers: IncomingHttpHeaders
  readonly body: string
  readonly port: number
  readonly at: number
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void

const answer = (status: number, headers: Record<string, string> = {}, body = ''): Handler => (_req, res) => {
  res.writeHead(status, headers)
  res.end(body)
}
/** Never answers (until the server closes). */
const hang: Handler = () => {}

/** A server that answers each request with the next handler of its script (200 when it runs out). */
class Scripted {
  readonly seen: Seen[] = []
  readonly script: Handler[] = []
  /** Requests being handled at this moment, and the most at once. */
  active = 0
  maxActive = 0
  readonly #server: Server

  constructor () {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8')
        this.seen.push({ headers: req.headers, body, port: req.socket.remotePort ?? 0, at: Date.now() })
        this.active++
        this.maxActive = Math.max(this.maxActive, this.active)
        res.on('close', () => { this.active-- })
        const h = this.script.shift() ?? answer(200, {}, 'ok')
        h(req, res, body)
      })
    })
  }

  async listen (): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`
  }

  async close (): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  ids (): number[] {
    return this.seen.map((s) => Number(s.headers['x-dc09-id']))
  }
}

/** A context whose logger writes JSON lines to an array, and which counts retries. */
function context (): { ctx: OutputContext, lines: string[], retries: () => number } {
  const lines: string[] = []
  let retries = 0
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => { lines.push(s) } } })
  const ctx: OutputContext = {
    log,
    clock: Date.now,
    trouble: () => {},
    retried: () => { retries++ },
  }
  return { ctx, lines, retries: () => retries }
}

function event (id: number): OutputEvent {
  return {
    id, at: '2026-01-02T03:04:05.000Z', tenant: 'acme', account: '1234', type: 'frame', class: 'alarm', protocol: 'ADM-CID', seq: '0001',
    events: [{ format: 'ADM-CID', qualifier: '1', code: '130', group: '01', number: '003', class: 'alarm', name: 'Burglary', zone: 3 }],
  }
}

function options (url: string, more: Record<string, unknown> = {}): WebhookOptions {
  const r = parseWebhookOptions({ url, secretFile, ...more })
  if (!r.ok) throw new Error(r.reason)
  return r.value
}

/**
 * Short waits between attempts (10 ms first, 50 ms at most); a timeout long enough that a loaded
 * machine does not turn a slow answer into a second request (the timeout test sets a short one).
 */
const FAST: WebhookTuning = { backoffFirstMs: 10, backoffMaxMs: 50, timeoutMs: 5000, maxAgeMs: 10_000, version: '9.9.9' }

/** The check a user of the webhook writes (as the module's documentation shows it). */
function verify (secret: string, headers: IncomingHttpHeaders, rawBody: string): boolean {
  const ts = headers['x-dc09-timestamp']
  const sig = headers['x-dc09-signature']
  if (typeof ts !== 'string' || typeof sig !== 'string' || !/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false
  const want = Buffer.from('sha256=' + createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest('hex'))
  const got = Buffer.from(sig)
  return got.length === want.length && timingSafeEqual(got, want)
}

describe('webhook output', () => {
  let server: Scripted
  let url: string
  let out: Output | undefined

  beforeAll(async () => {
    server = new Scripted()
    url = await server.listen()
  })

  afterEach(async () => {
    await out?.close()
    out = undefined
    server.seen.length = 0
    server.script.length = 0
    server.maxActive = 0
  })

  afterAll(async () => {
    await server.close()
  })

  async function started (opts: WebhookOptions, tuning: WebhookTuning = FAST): Promise<{ out: Output } & ReturnType<typeof context>> {
    const c = context()
    out = webhookOutput('hook', opts, tuning)
    await out.start(c.ctx)
    return { out, ...c }
  }

  it('POSTs the event as JSON, signed so that the receiving side can check it, and reuses its connection', async () => {
    const { out } = await started(options(url))
    expect(out.type).toBe('webhook')
    expect(out.window).toBe(1)
    expect(await out.deliver(event(41))).toEqual({ ok: true })
    expect(await out.deliver(event(42))).toEqual({ ok: true })
    for (let id = 43; id <= 46; id++) expect(await out.deliver(event(id))).toEqual({ ok: true })
    expect(server.seen).toHaveLength(6)
    const [a, b] = server.seen as [Seen, Seen]
    expect(JSON.parse(a.body)).toEqual(event(41))
    expect(a.headers['content-type']).toBe('application/json')
    expect(a.headers['user-agent']).toBe('dc09/9.9.9')
    expect(a.headers['x-dc09-id']).toBe('41')
    expect(a.headers['idempotency-key']).toBe('41')
    expect(b.headers['idempotency-key']).toBe('42')
    expect(a.headers['x-dc09-signature']).toMatch(/^sha256=[0-9a-f]{64}$/)
    expect(verify(SECRET, a.headers, a.body)).toBe(true)
    expect(verify(SECRET, b.headers, b.body)).toBe(true)
    // The trailing line break of the file is not part of the secret; a changed body fails the check.
    expect(verify(SECRET + '\n', a.headers, a.body)).toBe(false)
    expect(verify(SECRET, a.headers, a.body.replace('1234', '1235'))).toBe(false)
    // Answers are read to their end, so connections are used again: six requests, one or two
    // connections (the next request may start before the last connection is seen free).
    expect(new Set(server.seen.map((s) => s.port)).size).toBeLessThanOrEqual(2)
    expect(out.status()).toEqual({ state: 'up', connected: 1 })
  })

  it('sends the extra headers it is given', async () => {
    const { out } = await started(options(url, { headers: { Authorization: TOKEN, 'X-Tenant': 'acme' } }))
    expect(await out.deliver(event(1))).toEqual({ ok: true })
    expect(server.seen[0]?.headers.authorization).toBe(TOKEN)
    expect(server.seen[0]?.headers['x-tenant']).toBe('acme')
  })

  it('parks an event the server refuses (4xx) at once, after exactly one request', async () => {
    const { out, retries } = await started(options(url))
    server.script.push(answer(422, { 'content-type': 'text/plain' }, 'account\r\nunknown'))
    const d = await out.deliver(event(7))
    expect(d).toEqual({ ok: false, error: 'HTTP 422 Unprocessable Entity: account unknown', attempts: 1 })
    expect(server.seen).toHaveLength(1)
    expect(retries()).toBe(0)
    expect(out.status()).toEqual({ state: 'down', connected: 0 })
    // The next event goes through, and the output is up again.
    expect(await out.deliver(event(8))).toEqual({ ok: true })
    expect(out.status()).toEqual({ state: 'up', connected: 1 })
  })

  it('reads at most a few KiB of an answer, and keeps a short part of it in the error', async () => {
    const { out } = await started(options(url))
    server.script.push(answer(400, {}, 'x'.repeat(1 << 20)))
    const d = await out.deliver(event(7))
    expect(d.ok).toBe(false)
    expect((d as { error: string }).error.length).toBeLessThan(300)
    expect(server.seen).toHaveLength(1)
  })

  it('tries 408 and 429 again, honouring Retry-After (up to its longest wait)', async () => {
    const { out, retries } = await started(options(url), { ...FAST, backoffMaxMs: 250 })
    server.script.push(answer(408), answer(429, { 'retry-after': '1' }), answer(429, { 'retry-after': 'Thu, 01 Jan 1970 00:00:00 GMT' }))
    expect(await out.deliver(event(3))).toEqual({ ok: true })
    expect(server.seen).toHaveLength(4)
    expect(retries()).toBe(3)
    // Retry-After: 1 s, capped at the longest wait (250 ms here): not the 20 ms backoff.
    const gap = (server.seen[2]?.at ?? 0) - (server.seen[1]?.at ?? 0)
    expect(gap).toBeGreaterThanOrEqual(240)
    expect(new Set(server.ids())).toEqual(new Set([3]))
  })

  it('tries 5xx again with the same id, then delivers', async () => {
    const { out, retries } = await started(options(url))
    server.script.push(answer(500), answer(503), answer(502))
    expect(await out.deliver(event(5))).toEqual({ ok: true })
    expect(server.ids()).toEqual([5, 5, 5, 5])
    expect(retries()).toBe(3)
    // Each attempt is signed anew (its own timestamp), and each signature holds.
    for (const s of server.seen) expect(verify(SECRET, s.headers, s.body)).toBe(true)
    expect(out.status().state).toBe('up')
  })

  it('tries again when the server does not answer within the timeout', async () => {
    const { out, retries } = await started(options(url), { ...FAST, timeoutMs: 150 })
    server.script.push(hang)
    expect(await out.deliver(event(9))).toEqual({ ok: true })
    // Two requests, or more when a loaded machine lets a later one run out of time too.
    expect(server.seen.length).toBeGreaterThanOrEqual(2)
    expect(retries()).toBe(server.seen.length - 1)
  })

  it('parks an event still failing after maxAge, with the number of attempts', async () => {
    const { out, lines } = await started(options(url), { ...FAST, maxAgeMs: 200 })
    for (let i = 0; i < 100; i++) server.script.push(answer(503, {}, 'maintenance'))
    const d = await out.deliver(event(11))
    expect(d.ok).toBe(false)
    const { error, attempts } = d as Extract<Delivery, { ok: false }>
    expect(attempts).toBe(server.seen.length)
    expect(attempts).toBeGreaterThan(1)
    expect(error).toMatch(new RegExp(`^gave up after ${attempts} attempts in \\d+ s: HTTP 503 Service Unavailable: maintenance$`))
    expect(out.status()).toEqual({ state: 'down', connected: 0 })
    expect(lines.some((l) => l.includes('webhook: event parked'))).toBe(true)
  })

  it('tries again when the server cannot be reached, then parks', async () => {
    const gone = new Scripted()
    const goneUrl = await gone.listen()
    await gone.close()
    const { out, retries } = await started(options(goneUrl), { ...FAST, maxAgeMs: 100 })
    const d = await out.deliver(event(12))
    expect(d.ok).toBe(false)
    expect((d as { error: string }).error).toContain('ECONNREFUSED')
    expect(retries()).toBe((d as { attempts: number }).attempts - 1)
  })

  it('keeps journal order with concurrency 1: each event waits for the one before', async () => {
    const { out } = await started(options(url))
    // The first is answered late and then tried again: the others still wait their turn.
    const slow: Handler = (_req, res) => { setTimeout(() => { res.writeHead(200); res.end() }, 30) }
    server.script.push(answer(503), slow, slow, slow)
    const all = await Promise.all([1, 2, 3, 4, 5].map((id) => out.deliver(event(id))))
    expect(all).toEqual(Array(5).fill({ ok: true }))
    expect(server.ids()).toEqual([1, 1, 2, 3, 4, 5])
    expect(server.maxActive).toBe(1)
  })

  it('sends up to `concurrency` events at once', async () => {
    const { out } = await started(options(url, { concurrency: 3 }))
    expect(out.window).toBe(3)
    const held: ServerResponse[] = []
    let release = false
    const hold: Handler = (_req, res) => { if (release) res.end(); else held.push(res) }
    server.script.push(hold, hold, hold, hold, hold)
    const all = Promise.all([1, 2, 3, 4, 5].map((id) => out.deliver(event(id))))
    while (server.seen.length < 3) await new Promise((r) => setTimeout(r, 5))
    // Three at once, and no more while they are held.
    await new Promise((r) => setTimeout(r, 30))
    expect(server.seen).toHaveLength(3)
    release = true
    for (const res of held) res.end()
    expect(await all).toEqual(Array(5).fill({ ok: true }))
    expect(server.maxActive).toBe(3)
    expect(new Set(server.ids())).toEqual(new Set([1, 2, 3, 4, 5]))
  })

  it('rejects every pending delivery on close: in flight, queued, and waiting to try again', async () => {
    const a = await started(options(url), { ...FAST, backoffFirstMs: 10_000, backoffMaxMs: 10_000, maxAgeMs: 60_000 })
    server.script.push(hang)
    const inFlight = a.out.deliver(event(1))
    const queued = a.out.deliver(event(2))
    while (server.seen.length < 1) await new Promise((r) => setTimeout(r, 5))
    await a.out.close()
    await expect(inFlight).rejects.toThrow(/closed/)
    await expect(queued).rejects.toThrow(/closed/)
    await expect(a.out.deliver(event(3))).rejects.toThrow(/closed/)
    expect(server.seen).toHaveLength(1)

    server.seen.length = 0
    const b = await started(options(url), { ...FAST, backoffFirstMs: 10_000, backoffMaxMs: 10_000, maxAgeMs: 60_000 })
    server.script.push(answer(503))
    const waiting = b.out.deliver(event(4))
    while (b.retries() < 1) await new Promise((r) => setTimeout(r, 5))
    await b.out.close()
    await expect(waiting).rejects.toThrow(/closed/)
  })

  it('does not follow a redirect: the event is parked as a configuration error', async () => {
    const { out } = await started(options(url))
    server.script.push(answer(301, { location: 'https://elsewhere.example/hook?token=abc' }))
    const d = await out.deliver(event(6))
    expect(d).toEqual({ ok: false, error: 'HTTP 301: redirected to https://elsewhere.example/hook; redirects are not followed, set the webhook url to the final address', attempts: 1 })
    expect(server.seen).toHaveLength(1)
  })

  it('never writes its secret or a header value to a log line, an error or its options', async () => {
    const opts = options(`${url}?key=query-token-1`, { headers: { authorization: TOKEN } })
    const { out, lines } = await started(opts, { ...FAST, maxAgeMs: 100 })
    // A server that echoes the secret and the token back (the secret where the error text is cut).
    server.script.push(answer(400, {}, `bad signature for ${SECRET}, ${TOKEN}`))
    const refused = await out.deliver(event(1))
    for (let i = 0; i < 100; i++) server.script.push(answer(500, {}, 'x'.repeat(190) + SECRET))
    const parked = await out.deliver(event(2))
    server.script.length = 0
    await out.deliver(event(3))
    const all = [...lines, JSON.stringify(refused), JSON.stringify(parked), JSON.stringify(opts), inspect(opts, { depth: 5 }), String(opts.secret)].join('\n')
    expect(lines.length).toBeGreaterThan(2)
    expect(all).toContain('[redacted]')
    for (const secret of [SECRET, SECRET.slice(0, 10), TOKEN, 'gateway-token']) expect(all).not.toContain(secret)
    // The url is logged without its query string (where a token may be).
    expect(lines.join('\n')).not.toContain('query-token-1')
  })
})

describe('parseWebhookOptions', () => {
  let files = 0
  function secretWith (content: string | Buffer): string {
    const f = join(dir, `secret-${++files}`)
    writeFileSync(f, content)
    return f
  }

  it('takes a url and a secret file, with defaults for the rest', () => {
    const r = parseWebhookOptions({ url: 'https://example.com/dc09', secretFile })
    expect(r.ok).toBe(true)
    if (!r.ok) return
    expect(r.value).toMatchObject({ url: 'https://example.com/dc09', secretFile, timeoutSeconds: 10, maxAgeSeconds: 86_400, concurrency: 1, headers: expect.anything() })
    expect(r.value.headers.names).toEqual([])
    expect(r.value.secret.length).toBe(SECRET.length)
    const all = parseWebhookOptions({ url: 'http://10.0.0.1:8080/x', secretFile: secretWith('a'.repeat(16) + '\r\n'), timeoutSeconds: 60, maxAgeSeconds: 60, concurrency: 16, headers: { 'X-A': 'b' } })
    expect(all.ok && all.value).toMatchObject({ timeoutSeconds: 60, maxAgeSeconds: 60, concurrency: 16 })
    expect(all.ok && all.value.headers.values()).toEqual({ 'x-a': 'b' })
    expect(all.ok && all.value.secret.length).toBe(16)
  })

  it('refuses a missing, empty, short or oversized secret, without quoting it', () => {
    const short = 'abcdefghijklmno' // 15 bytes
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /secretFile is required/],
      [join(dir, 'nope'), /cannot be read \(ENOENT\)/],
      [dir, /cannot be read \(EISDIR\)/],
      [secretWith(''), /holds no secret/],
      [secretWith('\n'), /holds no secret/],
      [secretWith(short + '\n'), /too short: at least 16 bytes/],
      [secretWith('#~'.repeat(1000)), /larger than a secret/],
    ]
    for (const [file, reason] of cases) {
      const r = parseWebhookOptions({ url: 'https://example.com/', secretFile: file })
      expect(r.ok, String(file)).toBe(false)
      if (r.ok) continue
      expect(r.reason).toMatch(reason)
      expect(r.reason).not.toContain(short)
      expect(r.reason).not.toContain('#~#')
    }
    // 16 bytes is enough, 1024 the most (with or without its line break).
    expect(parseWebhookOptions({ url: 'https://example.com/', secretFile: secretWith(short + 'p') }).ok).toBe(true)
    expect(parseWebhookOptions({ url: 'https://example.com/', secretFile: secretWith('k'.repeat(1024) + '\r\n') }).ok).toBe(true)
    expect(parseWebhookOptions({ url: 'https://example.com/', secretFile: secretWith('k'.repeat(1025)) }).ok).toBe(false)
  })

  it('refuses a url with credentials, without echoing them, and urls that are not http(s)', () => {
    const r = parseWebhookOptions({ url: 'https://bob:hunter2-pass@example.com/', secretFile })
    expect(r.ok).toBe(false)
    expect(!r.ok && r.reason).toMatch(/must not hold a user name or password/)
    expect(!r.ok && r.reason).not.toContain('hunter2')
    expect(parseWebhookOptions({ url: 'https://bob@example.com/', secretFile }).ok).toBe(false)
    for (const url of [undefined, 42, '', 'example.com/hook', 'ftp://example.com/', 'file:///etc/passwd', 'https://' + 'a'.repeat(3000) + '.com/']) {
      expect(parseWebhookOptions({ url, secretFile }).ok, String(url)).toBe(false)
    }
  })

  it('refuses numbers out of their bounds, unknown names, and options that are not an object', () => {
    const base = { url: 'https://example.com/', secretFile }
    for (const bad of [
      { timeoutSeconds: 0 }, { timeoutSeconds: 61 }, { timeoutSeconds: 1.5 }, { timeoutSeconds: '10' },
      { maxAgeSeconds: 59 }, { maxAgeSeconds: 604_801 }, { concurrency: 0 }, { concurrency: 17 }, { retries: 3 },
    ]) {
      expect(parseWebhookOptions({ ...base, ...bad }).ok, JSON.stringify(bad)).toBe(false)
    }
    expect(parseWebhookOptions({ ...base, concurrency: 17 })).toEqual({ ok: false, reason: 'concurrency is a whole number from 1 to 16' })
    expect(parseWebhookOptions({ ...base, retries: 3 })).toMatchObject({ ok: false, reason: expect.stringMatching(/^no webhook option retries/) })
    for (const raw of [null, 'x', [base]]) expect(parseWebhookOptions(raw).ok).toBe(false)
  })

  it('bounds the extra headers and refuses those it sets itself, without quoting values', () => {
    const base = { url: 'https://example.com/', secretFile }
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`x-h${i}`, 'v']))
    const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`x-h${i}`, 'v']))
    expect(parseWebhookOptions({ ...base, headers: sixteen }).ok).toBe(true)
    for (const headers of [
      many, 'x', ['a'], { 'x-a': 1 }, { 'bad name': 'v' }, { ['x'.repeat(65)]: 'v' }, { 'x-a': 'v'.repeat(1025) },
      { 'x-a': 'line\r\nX-Injected: 1' }, { 'Content-Type': 'text/plain' }, { 'x-dc09-signature': 'sha256=0' },
      { 'Idempotency-Key': '1' }, { host: 'evil' }, { 'X-A': '1', 'x-a': '2' },
    ]) {
      const r = parseWebhookOptions({ ...base, headers })
      expect(r.ok, JSON.stringify(headers)).toBe(false)
      expect(!r.ok && r.reason).not.toContain('X-Injected')
    }
    const r = parseWebhookOptions({ ...base, headers: { authorization: `${TOKEN}\n` } })
    expect(!r.ok && r.reason).not.toContain('gateway-token')
  })
})
