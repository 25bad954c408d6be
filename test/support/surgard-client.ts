/**
 * A strict automation client for tests: connects to a Sur-Gard output, splits what it reads on
 * DC4 (or on the B32 length header), parses every record by the published layouts (written here
 * on its own, not from the encoder), and answers each as the test says: ACK, NAK, nothing, or a
 * disconnect. Anything that does not parse is kept in `errors`, so a test can assert there is none.
 */
import { connect, type Socket } from 'node:net'

export type Answer = 'ack' | 'nak' | 'none' | 'disconnect'

export interface SiaParsedEvent {
  readonly block: 'N' | 'O'
  readonly code: string
  readonly number: string
  readonly modifiers: Readonly<Record<string, string>>
}

export type ParsedRecord =
  | { readonly kind: 'heartbeat', readonly text: string, readonly receiver: string, readonly line: string }
  | {
    readonly kind: 'cid', readonly text: string, readonly receiver: string, readonly line: string,
    /** `5` (4-digit account) or `Q` (10 digits). */
    readonly protocol: '5' | 'Q', readonly account: string, readonly qualifier: 'E' | 'R' | 'P',
    readonly code: string, readonly group: string, readonly number: string
  }
  | {
    readonly kind: 'sia', readonly text: string, readonly receiver: string, readonly line: string,
    readonly account: string, readonly data: string, readonly events: readonly SiaParsedEvent[]
  }

const SIA_DATA_MAX = 66

/** One record's text (without DC4) by the layouts, or why it is not one. */
export function parseRecord (text: string, header: 3 | 5): ParsedRecord | { readonly kind: 'bad', readonly text: string, readonly why: string } {
  const bad = (why: string): { kind: 'bad', text: string, why: string } => ({ kind: 'bad', text, why })
  if (!/^[\x20-\x7e]*$/.test(text)) return bad('a character that is not printable ASCII')
  const L = header === 3 ? '([0-9A-F])' : '(\\d{3})'
  let m = new RegExp(`^1(\\d{2})${header === 3 ? '(0)' : '(000)'} {11}@ {4}$`).exec(text)
  if (m !== null) return { kind: 'heartbeat', text, receiver: m[1] as string, line: m[2] as string }
  m = new RegExp(`^5(\\d{2})${L} 18([0-9A-F]{4})([ERP])([0-9A-F]{3})([0-9A-F]{2})([0-9A-F]{3})$`).exec(text)
  m ??= header === 5 ? /^(Q)(\d{2})(\d{3}) 58([0-9A-F]{10})([ERP])([0-9A-F]{3})([0-9A-F]{2})([0-9A-F]{3})$/.exec(text) : null
  if (m !== null) {
    const f = m[1] === 'Q' ? m.slice(2) : m.slice(1)
    return {
      kind: 'cid', text, protocol: m[1] === 'Q' ? 'Q' : '5', receiver: f[0] as string, line: f[1] as string, account: f[2] as string,
      qualifier: f[3] as 'E' | 'R' | 'P', code: f[4] as string, group: f[5] as string, number: f[6] as string,
    }
  }
  m = new RegExp(`^S(\\d{2})${L}\\[([^\\[\\]]*)\\]$`).exec(text)
  if (m === null) return bad('no layout matches')
  const data = m[3] as string
  if (data.length > SIA_DATA_MAX) return bad(`SIA data of ${data.length} characters`)
  const d = /^#([0-9A-F]{1,16})\|([NO])(.+)$/.exec(data)
  if (d === null) return bad('SIA data is not #acct|N...')
  const block = d[2] as 'N' | 'O'
  const events: SiaParsedEvent[] = []
  const modifiers: Record<string, string> = {}
  const packets = (d[3] as string).split('/')
  for (const p of packets) {
    const mod = /^([a-z]{2})([0-9A-Za-z:.-]+)$/.exec(p)
    const ev = /^([A-Z]{2})([0-9A-F]*)$/.exec(p)
    if (mod !== null) modifiers[mod[1] as string] = mod[2] as string
    else if (ev !== null) events.push({ block, code: ev[1] as string, number: ev[2] as string, modifiers: { ...modifiers } })
    else return bad(`SIA packet ${JSON.stringify(p)}`)
  }
  if (!/^[A-Z]{2}/.test(packets.at(-1) as string)) return bad('SIA data does not end with an event')
  return { kind: 'sia', text, receiver: m[1] as string, line: m[2] as string, account: d[1] as string, data, events }
}

export interface ClientOptions {
  readonly header?: 3 | 5
  readonly b32?: boolean
  /** What to answer to each record (its index counts every record this client received). */
  answer?: (r: ParsedRecord, index: number) => Answer
}

/** Longest packet the client waits for: a record is well under this. */
const MAX_PACKET = 512

export class SurgardTestClient {
  readonly records: ParsedRecord[] = []
  readonly errors: string[] = []
  /** Every raw packet as read (with B32 header and DC4). */
  readonly packets: Buffer[] = []
  answer: (r: ParsedRecord, index: number) => Answer
  readonly #socket: Socket
  readonly #header: 3 | 5
  readonly #b32: boolean
  #buf = Buffer.alloc(0)
  #waiters: Array<() => void> = []
  closed = false
  readonly done: Promise<void>

  private constructor (socket: Socket, o: ClientOptions) {
    this.#socket = socket
    this.#header = o.header ?? 5
    this.#b32 = o.b32 ?? false
    this.answer = o.answer ?? (() => 'ack')
    socket.on('data', (c: Buffer) => { this.#data(c) })
    socket.on('error', () => {})
    this.done = new Promise((resolve) => socket.on('close', () => { this.closed = true; this.#wake(); resolve() }))
  }

  static async connect (port: number, o: ClientOptions = {}): Promise<SurgardTestClient> {
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new SurgardTestClient(socket, o)
  }

  /** Records other than heartbeats. */
  get events (): ParsedRecord[] {
    return this.records.filter((r) => r.kind !== 'heartbeat')
  }

  get heartbeats (): number {
    return this.records.filter((r) => r.kind === 'heartbeat').length
  }

  /** Writes bytes as they are (noise, or answers by hand). */
  write (bytes: Buffer | number[]): void {
    this.#socket.write(Buffer.from(bytes))
  }

  /** Waits until `ok()` holds (checked after each record and on close), at most `ms`. */
  async until (ok: () => boolean, ms = 4000): Promise<void> {
    const deadline = Date.now() + ms
    while (!ok()) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out; records: ${JSON.stringify(this.records.map((r) => r.text))}; errors: ${JSON.stringify(this.errors)}`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50))
        this.#waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
  }

  async close (): Promise<void> {
    this.#socket.destroy()
    await this.done
  }

  #wake (): void {
    const w = this.#waiters
    this.#waiters = []
    for (const f of w) f()
  }

  #data (chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk])
    for (;;) {
      let packet: Buffer
      if (this.#b32) {
        if (this.#buf.length < 4) break
        const h = this.#buf.subarray(0, 4).toString('hex')
        if (!/^0000\d{4}$/.test(h)) { this.#fail(`B32 header ${h}`); return }
        const n = Number(h.slice(4))
        if (n < 6 || n > MAX_PACKET) { this.#fail(`B32 length ${n}`); return }
        if (this.#buf.length < n) break
        packet = this.#buf.subarray(0, n)
        if (packet[n - 1] !== 0x14) { this.#fail('B32 packet does not end with DC4'); return }
        if (packet.subarray(4, n - 1).includes(0x14)) { this.#fail('DC4 inside a B32 packet'); return }
      } else {
        const end = this.#buf.indexOf(0x14)
        if (end < 0) {
          if (this.#buf.length > MAX_PACKET) this.#fail('no DC4 within the packet limit')
          break
        }
        packet = this.#buf.subarray(0, end + 1)
      }
      this.#buf = this.#buf.subarray(packet.length)
      this.packets.push(Buffer.from(packet))
      const text = packet.subarray(this.#b32 ? 4 : 0, packet.length - 1).toString('latin1')
      const r = parseRecord(text, this.#header)
      if (r.kind === 'bad') {
        this.errors.push(`${r.why}: ${JSON.stringify(r.text)}`)
        continue
      }
      const index = this.records.length
      this.records.push(r)
      const a = this.answer(r, index)
      if (a === 'disconnect') { this.#socket.destroy(); this.#wake(); return }
      if (a !== 'none') {
        const byte = a === 'ack' ? 0x06 : 0x15
        this.#socket.write(this.#b32 ? Buffer.from([0, 0, 0, 5, byte]) : Buffer.from([byte]))
      }
      this.#wake()
    }
  }

  #fail (why: string): void {
    this.errors.push(why)
    this.#buf = Buffer.alloc(0)
    this.#wake()
  }
}
