/**
 * The webhook output: each event is POSTed as JSON to one URL, signed with a shared secret.
 *
 * What the receiving server gets, for each attempt:
 *
 *   POST <url>
 *   content-type: application/json
 *   user-agent: dc09/<version>
 *   x-dc09-id: <journal id>            the same on every attempt for one event
 *   idempotency-key: <journal id>      the same value, under the name many servers know
 *   x-dc09-timestamp: <unix seconds>   when this attempt was signed
 *   x-dc09-signature: sha256=<hex>     HMAC-SHA256 with the secret, over `<timestamp>.<body>`
 *
 *   <the event as JSON: see OutputEvent>
 *
 * Verifying a request (the same scheme as Stripe's and GitHub's webhooks): take the raw body as
 * received, before any JSON parsing, compute the HMAC over the timestamp header, a dot and the
 * body, compare in constant time, and refuse old timestamps so that a recorded request cannot be
 * replayed later. Deliveries are at least once (a request whose answer was lost is sent again),
 * so keep the ids already handled and answer 2xx to a repeat without acting on it again:
 *
 * ```js
 * import { createHmac, timingSafeEqual } from 'node:crypto'
 *
 * function verify (secret, headers, rawBody) {
 *   const ts = headers['x-dc09-timestamp']
 *   const sig = headers['x-dc09-signature'] ?? ''
 *   if (!/^\d+$/.test(ts ?? '') || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false
 *   const want = Buffer.from('sha256=' + createHmac('sha256', secret).update(`${ts}.${rawBody}`).digest('hex'))
 *   const got = Buffer.from(sig)
 *   return got.length === want.length && timingSafeEqual(got, want)
 * }
 * ```
 *
 * Answers: 2xx is delivered. 408 (timeout), 429 (too many requests), 5xx, no answer within the
 * timeout and a connection that fails are tried again, after 1 s, then twice as long each time up
 * to 5 minutes (later if the server's Retry-After says so), until the event has been tried for
 * maxAgeSeconds: then it is parked. Any other 4xx is parked at once (the server refuses that
 * event: sending it again would not help), and so is a redirect: it is not followed, because
 * the signed request would go to an address nobody configured; set the url to the final address.
 *
 * Order: with concurrency 1 (the default) each event is sent only once the one before it is
 * delivered or parked, so the server sees them in journal order. A higher concurrency sends
 * several at once: faster over a slow link, but the server may then see them out of order, and
 * an event retried waits while later ones go through.
 *
 * The secret is read from a file, never from the command line or the configuration itself, and
 * reaches no log, error or event. The URL is logged without its query string, where people
 * sometimes put a token; extra header values are never logged.
 */
import { createHmac } from 'node:crypto'
import { closeSync, openSync, readSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { ok, type Ok } from '../result.js'
import type { Delivery, Output, OutputContext, OutputEvent, OutputStatus } from './output.js'

/**
 * A webhook's options, as checked by parseWebhookOptions.
 */
export interface WebhookOptions {
  /** Where events are POSTed (http: or https:, no user name or password in it). */
  readonly url: string
  /** The file the secret was read from (for messages; the secret itself is in `secret`). */
  readonly secretFile: string
  readonly secret: WebhookSecret
  /** How long one attempt may take, answer included. */
  readonly timeoutSeconds: number
  /** How long an event is tried again (from its first attempt) before it is parked. */
  readonly maxAgeSeconds: number
  /** Events sent at once; above 1 the server may see them out of order. */
  readonly concurrency: number
  /** Extra request headers (an Authorization for a gateway in front of the server). */
  readonly headers: WebhookHeaders
}

/** Settings for tests and the caller, in milliseconds where the options say seconds. */
export interface WebhookTuning {
  /** The first wait before an attempt is made again (doubled after each failure). */
  readonly backoffFirstMs?: number | undefined
  /** The longest wait between attempts, and the most a Retry-After is honoured for. */
  readonly backoffMaxMs?: number | undefined
  /** Instead of options.timeoutSeconds. */
  readonly timeoutMs?: number | undefined
  /** Instead of options.maxAgeSeconds. */
  readonly maxAgeMs?: number | undefined
  /** For the user-agent header: `dc09/<version>`. */
  readonly version?: string | undefined
}

/** What parseWebhookOptions answers: the options, or why they are refused (never quoting the secret). */
export type WebhookOptionsResult = Ok<WebhookOptions> | { readonly ok: false, readonly reason: string }

/**
 * The HMAC secret. Kept in a private field and shown as `[redacted]` when printed, logged or
 * turned to JSON, so that logging the options by mistake does not leak it.
 */
export class WebhookSecret {
  readonly #bytes: Buffer
  readonly #text: string

  constructor (bytes: Buffer) {
    this.#bytes = Buffer.from(bytes)
    this.#text = bytes.toString('latin1')
  }

  get length (): number {
    return this.#bytes.length
  }

  /** `sha256=<hex>` of `data`, as the x-dc09-signature header carries it. */
  sign (data: string): string {
    return 'sha256=' + createHmac('sha256', this.#bytes).update(data).digest('hex')
  }

  /** `text` with the secret cut out (a server's answer that echoes it is logged without it). */
  redactIn (text: string): string {
    return text.split(this.#text).join('[redacted]')
  }

  toJSON (): string {
    return '[redacted]'
  }

  toString (): string {
    return '[redacted]'
  }

  [inspect.custom] (): string {
    return '[redacted]'
  }
}

/**
 * Extra request headers. Their values may be tokens: printed, logged or turned to JSON they show
 * as `[redacted]`, only their names are shown.
 */
export class WebhookHeaders {
  readonly #headers: Readonly<Record<string, string>>

  constructor (headers: Record<string, string>) {
    this.#headers = Object.freeze({ ...headers })
  }

  /** The names, in lower case. */
  get names (): string[] {
    return Object.keys(this.#headers)
  }

  /** The headers to send. */
  values (): Readonly<Record<string, string>> {
    return this.#headers
  }

  toJSON (): Record<string, string> {
    return Object.fromEntries(this.names.map((n) => [n, '[redacted]']))
  }

  [inspect.custom] (): Record<string, string> {
    return this.toJSON()
  }
}

// ------------------------------------------------------------------ options

const DEFAULTS = { timeoutSeconds: 10, maxAgeSeconds: 86_400, concurrency: 1 } as const

const BOUNDS: Readonly<Record<keyof typeof DEFAULTS, readonly [number, number]>> = {
  timeoutSeconds: [1, 60],
  // At least a minute of retries (a server restart); at most a week (longer is a dead server).
  maxAgeSeconds: [60, 604_800],
  concurrency: [1, 16],
}

const KNOWN = ['url', 'secretFile', 'timeoutSeconds', 'maxAgeSeconds', 'concurrency', 'headers']

/** Long enough for any real endpoint; a longer one is not a URL someone typed. */
const MAX_URL = 2048
/** An HMAC key shorter than this is guessable offline from one signed request. */
const MIN_SECRET_BYTES = 16
/** A secret file is a line of text: a bigger file is the wrong file. */
const MAX_SECRET_BYTES = 1024
const MAX_HEADERS = 16
const MAX_HEADER_NAME = 64
const MAX_HEADER_VALUE = 1024
/** The headers this output sets itself, and those the HTTP client owns. */
const RESERVED_HEADERS = new Set([
  'content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'host', 'connection', 'keep-alive',
  'upgrade', 'te', 'trailer', 'expect', 'user-agent', 'idempotency-key',
])
/** A header name is an RFC 9110 token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
/** A header value: visible ASCII, spaces and tabs; no line breaks (they would start another header). */
const HEADER_VALUE = /^[\t\x20-\x7e]*$/

function isObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** A checked option, or what is wrong with it. */
type Checked<T> = { readonly value: T } | { readonly problem: string }

function checkUrl (v: unknown): Checked<string> {
  const problem = { problem: 'url is an http:// or https:// address (e.g. "https://example.com/dc09")' }
  if (typeof v !== 'string' || v.length > MAX_URL) return problem
  let u: URL
  try {
    u = new URL(v)
  } catch {
    return problem
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return problem
  // Not echoed: it holds the credentials this refuses.
  if (u.username !== '' || u.password !== '') {
    return { problem: 'url must not hold a user name or password: put credentials in a header (headers.authorization), or rely on the signature' }
  }
  return { value: u.href }
}

function checkHeaders (v: unknown): Checked<Record<string, string>> {
  const shape = `at most ${MAX_HEADERS} header names (up to ${MAX_HEADER_NAME} characters) with text values (up to ${MAX_HEADER_VALUE} visible ASCII characters)`
  if (!isObject(v) || Object.keys(v).length > MAX_HEADERS) return { problem: `headers is an object of ${shape}` }
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(v)) {
    const lower = name.toLowerCase()
    if (name.length > MAX_HEADER_NAME || !TOKEN.test(name)) return { problem: `headers: a header name is a token of up to ${MAX_HEADER_NAME} characters (letters, digits, -)` }
    // The name may be told, the value never: it may be a token.
    if (typeof value !== 'string' || value.length > MAX_HEADER_VALUE || !HEADER_VALUE.test(value)) {
      return { problem: `header ${name}: its value is text of up to ${MAX_HEADER_VALUE} visible ASCII characters, on one line` }
    }
    if (RESERVED_HEADERS.has(lower) || lower.startsWith('x-dc09-')) return { problem: `header ${name} is set by dc09 itself` }
    if (Object.hasOwn(out, lower)) return { problem: `header ${name} is given twice` }
    out[lower] = value
  }
  return { value: out }
}

/** The first bytes of a file, at most `max` (a device or a huge file given by mistake is not read to its end). */
function readHead (file: string, max: number): Buffer {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(max)
    let n = 0
    while (n < max) {
      const got = readSync(fd, buf, n, max - n, null)
      if (got === 0) break
      n += got
    }
    return buf.subarray(0, n)
  } finally {
    closeSync(fd)
  }
}

function readSecret (file: unknown): Checked<WebhookSecret> {
  if (typeof file !== 'string' || file === '') return { problem: 'secretFile is required: the path of a file holding the signing secret' }
  let bytes: Buffer
  try {
    // Two more bytes than a secret may have: room for its line break, and one to tell a bigger file.
    bytes = readHead(file, MAX_SECRET_BYTES + 3)
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error'
    return { problem: `secretFile ${file} cannot be read (${code})` }
  }
  // The file's content is never quoted: only whether it is long enough.
  // One trailing line break, as editors and `echo` write it, is not part of the secret.
  let end = bytes.length
  if (bytes[end - 1] === 0x0a) {
    end--
    if (bytes[end - 1] === 0x0d) end--
  }
  const secret = bytes.subarray(0, end)
  if (secret.length < MIN_SECRET_BYTES) {
    return { problem: `secretFile ${file} holds ${secret.length === 0 ? 'no secret' : 'a secret too short'}: at least ${MIN_SECRET_BYTES} bytes (e.g. openssl rand -hex 32 > ${file})` }
  }
  if (secret.length > MAX_SECRET_BYTES) return { problem: `secretFile ${file} is larger than a secret (at most ${MAX_SECRET_BYTES} bytes)` }
  return { value: new WebhookSecret(secret) }
}

/**
 * Checks a webhook's options (`url`, `secretFile`, and optionally `timeoutSeconds`,
 * `maxAgeSeconds`, `concurrency`, `headers`) and reads its secret. Unknown names are refused (a
 * misspelt limit would otherwise be silently left at its default). Reasons name the option and
 * the secret file, never the secret or a header value.
 */
export function parseWebhookOptions (raw: unknown): WebhookOptionsResult {
  const fail = (reason: string): WebhookOptionsResult => ({ ok: false, reason })
  if (!isObject(raw)) return fail('webhook options must be a JSON object')
  for (const k of Object.keys(raw)) {
    if (!KNOWN.includes(k)) return fail(`no webhook option ${k} (known: ${KNOWN.join(', ')})`)
  }
  const url = checkUrl(raw.url)
  if ('problem' in url) return fail(url.problem)
  const numbers = { ...DEFAULTS } as Record<keyof typeof DEFAULTS, number>
  for (const k of Object.keys(DEFAULTS) as Array<keyof typeof DEFAULTS>) {
    const v = raw[k]
    if (v === undefined) continue
    const [lo, hi] = BOUNDS[k]
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) return fail(`${k} is a whole number from ${lo} to ${hi}`)
    numbers[k] = v
  }
  const headers = raw.headers === undefined ? { value: {} } : checkHeaders(raw.headers)
  if ('problem' in headers) return fail(headers.problem)
  // The secret last: a file is read only for options that are otherwise right.
  const secret = readSecret(raw.secretFile)
  if ('problem' in secret) return fail(secret.problem)
  return ok({
    url: url.value,
    secretFile: raw.secretFile as string,
    secret: secret.value,
    timeoutSeconds: numbers.timeoutSeconds,
    maxAgeSeconds: numbers.maxAgeSeconds,
    concurrency: numbers.concurrency,
    headers: new WebhookHeaders(headers.value),
  })
}

// ------------------------------------------------------------------ delivery

/** Bytes of an answer's body read at most (for the log and the parked error); the rest is dropped. */
const MAX_ANSWER_BYTES = 4096
/** Characters of an answer's body kept in a parked event's error. */
const MAX_ERROR_TEXT = 200

/** What one attempt came to. */
type Attempt =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'refused', readonly error: string }
  | { readonly kind: 'failed', readonly error: string, readonly retryAfterMs?: number | undefined }

/** Thrown into pending deliveries by close(). */
class ClosedError extends Error {
  constructor (name: string) {
    super(`webhook output ${name} closed: the event was not delivered`)
    this.name = 'ClosedError'
  }
}

/** The URL as logs may show it: no query string or fragment (people put tokens there). */
function shownUrl (href: string): string {
  const u = new URL(href)
  return u.origin + u.pathname
}

/** Text from a server, safe for a log line: no control characters, bounded. */
function clean (text: string, max: number): string {
  const t = text.replace(/[\x00-\x1f\x7f]+/g, ' ').trim()
  return t.length > max ? t.slice(0, max) + '...' : t
}

/**
 * Reads at most MAX_ANSWER_BYTES of an answer's body. A body read to its end leaves the
 * connection free for the next request (kept alive); a longer one is cancelled, which closes it.
 */
async function readAnswer (res: Response): Promise<string> {
  if (res.body === null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let n = 0
  try {
    while (n < MAX_ANSWER_BYTES) {
      const { done, value } = await reader.read()
      if (done) return Buffer.concat(chunks).toString('utf8')
      chunks.push(value)
      n += value.byteLength
    }
    await reader.cancel().catch(() => {})
  } catch {
    // Cut short (timeout, close, connection lost): what came is enough for a log line.
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8')
}

/** Retry-After in ms (seconds or an HTTP date), if the answer has a usable one. */
function retryAfterMs (value: string | null, now: number): number | undefined {
  if (value === null) return undefined
  const v = value.trim()
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000
  const at = Date.parse(v)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** Why fetch failed, in a few words, from undici's cause (`ECONNREFUSED`, `UND_ERR_SOCKET`...). */
function whyFailed (e: unknown): string {
  const cause = (e as { cause?: { code?: unknown, message?: unknown } }).cause
  const code = typeof cause?.code === 'string' ? cause.code : undefined
  const message = typeof cause?.message === 'string' ? cause.message : e instanceof Error ? e.message : String(e)
  return `connection failed: ${clean(code ?? message, 120)}`
}

class WebhookOutput implements Output {
  readonly name: string
  readonly type = 'webhook'
  readonly #opts: WebhookOptions
  readonly #url: string
  readonly #shownUrl: string
  readonly #backoffFirstMs: number
  readonly #backoffMaxMs: number
  readonly #timeoutMs: number
  readonly #maxAgeMs: number
  readonly #userAgent: string
  readonly #extraHeaders: Readonly<Record<string, string>>
  #ctx: OutputContext | undefined
  /** Aborted by close(): in-flight requests, waits between attempts, and the queue. */
  readonly #closer = new AbortController()
  /** Deliveries holding a slot, and those queued for one (in call order). */
  #active = 0
  readonly #queue: Array<{ go: () => void, stop: (e: Error) => void }> = []
  readonly #pending = new Set<Promise<unknown>>()
  /** The last attempt succeeded (or none has been made yet). */
  #up = true

  constructor (name: string, options: WebhookOptions, tuning: WebhookTuning = {}) {
    this.name = name
    this.#opts = options
    this.#url = options.url
    this.#shownUrl = shownUrl(options.url)
    this.#backoffFirstMs = tuning.backoffFirstMs ?? 1000
    this.#backoffMaxMs = tuning.backoffMaxMs ?? 300_000
    this.#timeoutMs = tuning.timeoutMs ?? options.timeoutSeconds * 1000
    this.#maxAgeMs = tuning.maxAgeMs ?? options.maxAgeSeconds * 1000
    this.#userAgent = `dc09/${tuning.version ?? 'dc09'}`
    this.#extraHeaders = options.headers.values()
  }

  get window (): number {
    return this.#opts.concurrency
  }

  async start (ctx: OutputContext): Promise<void> {
    // Nothing to open: each delivery is a request. A server that is down shows on the first event.
    this.#ctx = ctx
  }

  deliver (event: OutputEvent): Promise<Delivery> {
    const p = this.#deliver(event)
    this.#pending.add(p)
    const forget = (): void => { this.#pending.delete(p) }
    p.then(forget, forget)
    return p
  }

  status (): OutputStatus {
    return { state: this.#up ? 'up' : 'down', connected: this.#up ? 1 : 0 }
  }

  async close (): Promise<void> {
    if (this.#closer.signal.aborted) return
    this.#closer.abort(new ClosedError(this.name))
    for (const q of this.#queue.splice(0)) q.stop(new ClosedError(this.name))
    await Promise.allSettled([...this.#pending])
  }

  async #deliver (event: OutputEvent): Promise<Delivery> {
    const ctx = this.#ctx
    if (ctx === undefined) throw new Error(`webhook output ${this.name}: deliver before start`)
    if (this.#closer.signal.aborted) throw new ClosedError(this.name)
    await this.#slot()
    try {
      return await this.#attempts(ctx, event)
    } finally {
      this.#release()
    }
  }

  /** Waits for a free slot: with concurrency 1, for the event before to be delivered or parked. */
  #slot (): Promise<void> {
    if (this.#active < this.#opts.concurrency && this.#queue.length === 0) {
      this.#active++
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => this.#queue.push({ go: resolve, stop: reject }))
  }

  #release (): void {
    const next = this.#queue.shift()
    // The slot passes straight to the next in line, so no later call can overtake it.
    if (next !== undefined) next.go()
    else this.#active--
  }

  async #attempts (ctx: OutputContext, event: OutputEvent): Promise<Delivery> {
    const body = JSON.stringify(event)
    const first = ctx.clock()
    for (let attempts = 1; ; attempts++) {
      const a = await this.#attempt(ctx, event.id, body)
      if (a.kind === 'delivered') {
        this.#setUp(ctx, true, '')
        return { ok: true }
      }
      this.#setUp(ctx, false, a.error)
      if (a.kind === 'refused') {
        ctx.log.warn({ output: this.name, id: event.id, url: this.#shownUrl, attempts, error: a.error }, 'webhook: event refused by the server, parked')
        return { ok: false, error: a.error, attempts }
      }
      const backoff = Math.min(this.#backoffFirstMs * 2 ** Math.min(attempts - 1, 30), this.#backoffMaxMs)
      // Retry-After is "not before": honoured up to the longest wait, never shorter than the backoff.
      const wait = Math.max(backoff, Math.min(a.retryAfterMs ?? 0, this.#backoffMaxMs))
      const age = ctx.clock() - first
      if (age + wait > this.#maxAgeMs) {
        const error = `gave up after ${attempts} attempts in ${Math.round(age / 1000)} s: ${a.error}`
        ctx.log.warn({ output: this.name, id: event.id, url: this.#shownUrl, attempts, error }, 'webhook: event parked')
        return { ok: false, error, attempts }
      }
      ctx.retried()
      ctx.log.debug({ output: this.name, id: event.id, attempts, waitMs: wait, error: a.error }, 'webhook: attempt failed, trying again')
      await sleep(wait, undefined, { signal: this.#closer.signal }).catch(() => {
        throw new ClosedError(this.name)
      })
    }
  }

  /** `text` from the server without the secret or a header value in it (a server may echo what it was sent). */
  #redact (text: string): string {
    let t = this.#opts.secret.redactIn(text)
    for (const v of Object.values(this.#extraHeaders)) if (v.length >= 8) t = t.split(v).join('[redacted]')
    return t
  }

  #setUp (ctx: OutputContext, up: boolean, error: string): void {
    if (up === this.#up) return
    this.#up = up
    if (up) ctx.log.info({ output: this.name, url: this.#shownUrl }, 'webhook: server reached again')
    else ctx.log.warn({ output: this.name, url: this.#shownUrl, error }, 'webhook: server not reached')
  }

  /** One POST: its answer classified. Rejects only when the output is closed. */
  async #attempt (ctx: OutputContext, id: number, body: string): Promise<Attempt> {
    const timestamp = String(Math.floor(ctx.clock() / 1000))
    const headers: Record<string, string> = {
      ...this.#extraHeaders,
      'content-type': 'application/json',
      'user-agent': this.#userAgent,
      'x-dc09-id': String(id),
      'idempotency-key': String(id),
      'x-dc09-timestamp': timestamp,
      'x-dc09-signature': this.#opts.secret.sign(`${timestamp}.${body}`),
    }
    // One controller per attempt, aborted by its timer or by close(). Not AbortSignal.any over
    // the output's long-lived signal: on Node 20 and 22 each call leaves a dependant behind it.
    const attempt = new AbortController()
    let timedOut = false
    const timer = setTimeout(() => { timedOut = true; attempt.abort() }, this.#timeoutMs)
    const onClose = (): void => attempt.abort()
    this.#closer.signal.addEventListener('abort', onClose, { once: true })
    try {
      return await this.#post(body, headers, attempt.signal, () => timedOut)
    } finally {
      clearTimeout(timer)
      this.#closer.signal.removeEventListener('abort', onClose)
    }
  }

  async #post (body: string, headers: Record<string, string>, signal: AbortSignal, timedOut: () => boolean): Promise<Attempt> {
    let res: Response
    try {
      res = await fetch(this.#url, { method: 'POST', headers, body, redirect: 'manual', signal })
    } catch (e) {
      if (this.#closer.signal.aborted) throw new ClosedError(this.name)
      if (timedOut()) return { kind: 'failed', error: `no answer within ${this.#timeoutMs / 1000} s` }
      return { kind: 'failed', error: whyFailed(e) }
    }
    // Read (a bounded part of) every answer: a body left unread keeps its connection busy.
    const text = await readAnswer(res)
    const s = res.status
    if (s >= 200 && s < 300) return { kind: 'delivered' }
    if (this.#closer.signal.aborted) throw new ClosedError(this.name)
    // Secrets cut out before the text is shortened, so no part of one is left at the cut.
    const said = clean(this.#redact(text), MAX_ERROR_TEXT)
    const reason = clean(this.#redact(res.statusText), 60)
    const error = `HTTP ${s}${reason === '' ? '' : ' ' + reason}${said === '' ? '' : ': ' + said}`
    if (s >= 300 && s < 400) {
      const location = res.headers.get('location')
      let to = ''
      try {
        if (location !== null) to = ` to ${clean(shownUrl(new URL(location, this.#url).href), 200)}`
      } catch {}
      return { kind: 'refused', error: `HTTP ${s}: redirected${to}; redirects are not followed, set the webhook url to the final address` }
    }
    if (s === 408 || s === 429 || s >= 500) {
      return { kind: 'failed', error, retryAfterMs: retryAfterMs(res.headers.get('retry-after'), Date.now()) }
    }
    return { kind: 'refused', error }
  }
}

/**
 * A webhook output named `name`. `tuning` shortens the waits for tests and gives the version for
 * the user-agent header.
 */
export function webhookOutput (name: string, options: WebhookOptions, tuning?: WebhookTuning): Output {
  return new WebhookOutput(name, options, tuning)
}
