/**
 * `dc09 send`: sends frames to a receiver and shows each answer, checked as a panel checks it.
 * Lines on stdin are either whole frames (C-escaped, as `dc09 decode` reads them) or, with
 * `--account`, events to frame now: `ADM-CID 1130 01 015`, `SIA-DCS Nri1/BA01`, `NULL`.
 * Built frames carry the current time, the next sequence number, and are encrypted when a key
 * is given. For one panel by hand; `dc09 simulate` drives many.
 */
import { createSocket } from 'node:dgram'
import { connect, isIPv6, type Socket } from 'node:net'
import {
  FrameSplitter, checkAnswer, parseFrame, serializeFrame, wholeFrame,
  type AesKey, type FrameHeader,
} from '../../protocol/index.js'
import { escapeFrame, unescapeFrame } from '../escape.js'

export interface SendOptions {
  readonly host: string
  readonly port: number
  readonly udp: boolean
  readonly timeoutMs: number
  readonly account?: string | undefined
  readonly key?: AesKey | undefined
  readonly prefix?: string | undefined
  readonly receiver?: string | undefined
  readonly seq: number
}

type Built = { readonly ok: true, readonly frame: Buffer, readonly header: FrameHeader } | { readonly ok: false, readonly reason: string }

/** One input line to the frame to send. */
export function buildLine (line: string, o: SendOptions, seq: number, now: number): Built {
  let frame: Buffer
  if (o.account === undefined) {
    const u = unescapeFrame(line)
    if (!u.ok) return { ok: false, reason: u.reason }
    const w = wholeFrame(u.value[0] === 0x0a ? u.value : Buffer.concat([Buffer.from([0x0a]), u.value, Buffer.from([0x0d])]))
    if (!w.ok) return { ok: false, reason: `${w.code}: ${w.reason}` }
    frame = w.value
  } else {
    const m = /^\s*(ADM-CID|SIA-DCS|NULL)\s*(.*)$/i.exec(line)
    if (m === null) return { ok: false, reason: 'expected ADM-CID <QEEE GG CCC>, SIA-DCS <block>, or NULL' }
    const token = m[1]!.toUpperCase()
    const body = m[2]!.trim()
    const data = token === 'NULL' ? '' : `#${o.account}|${body}`
    frame = serializeFrame({
      token, encrypted: o.key !== undefined, seq, rcvr: o.receiver, lpref: o.prefix, acct: o.account, data, timestamp: now,
    }, { key: o.key })
  }
  const p = parseFrame(frame)
  if (!p.ok) return { ok: false, reason: `${p.code}: ${p.reason}` }
  return { ok: true, frame, header: p.value }
}

/** Sends each line's frame and waits for its answer; resolves with whether every frame was acknowledged. */
export async function runSend (lines: AsyncIterable<string>, o: SendOptions, write: (s: string) => void): Promise<boolean> {
  // Take the iterator before awaiting anything: readline's buffers only from then on, and
  // lines read while the connection opens would be lost.
  const input = lines[Symbol.asyncIterator]()
  const link = o.udp ? udpLink(o) : await tcpLink(o)
  let seq = o.seq
  let allAcked = true
  try {
    for (let next = await input.next(); next.done !== true; next = await input.next()) {
      const line = next.value
      if (line.trim() === '') continue
      const built = buildLine(line.replace(/[\r\n]+$/, ''), o, seq, Date.now())
      if (!built.ok) {
        write(JSON.stringify({ ok: false, error: built.reason, line }) + '\n')
        allAcked = false
        continue
      }
      seq = seq >= 9999 ? 1 : seq + 1
      const t0 = performance.now()
      const answer = await link.exchange(built.frame, o.timeoutMs)
      const ms = Math.round((performance.now() - t0) * 10) / 10
      if (answer === null) {
        write(JSON.stringify({ ok: false, sent: escapeFrame(built.frame), error: `no answer within ${o.timeoutMs} ms` }) + '\n')
        allAcked = false
        continue
      }
      const c = checkAnswer(answer, built.header, o.key)
      const ok = c.token === 'ACK' && c.problems.length === 0
      allAcked &&= ok
      write(JSON.stringify({
        ok, sent: escapeFrame(built.frame), answer: escapeFrame(answer), token: c.token, problems: c.problems,
        ...(c.receiverTime === undefined ? {} : { receiverTime: new Date(c.receiverTime).toISOString() }), ms,
      }) + '\n')
    }
  } finally {
    link.close()
  }
  return allAcked
}

interface Link {
  exchange (frame: Buffer, timeoutMs: number): Promise<Buffer | null>
  close (): void
}

async function tcpLink (o: SendOptions): Promise<Link> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect({ host: o.host, port: o.port, noDelay: true }, () => { s.off('error', reject); resolve(s) })
    s.once('error', reject)
  })
  const answers: Buffer[] = []
  let waiter: (() => void) | undefined
  const splitter = new FrameSplitter({ frame: (f) => { answers.push(f); waiter?.() }, error: () => {} })
  socket.on('data', (chunk: Buffer) => splitter.push(chunk))
  socket.on('error', () => {})
  return {
    async exchange (frame, timeoutMs) {
      answers.length = 0
      socket.write(frame)
      if (answers.length === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, timeoutMs)
          waiter = () => { clearTimeout(timer); resolve() }
        })
        waiter = undefined
      }
      return answers.shift() ?? null
    },
    close () { socket.end() },
  }
}

function udpLink (o: SendOptions): Link {
  const socket = createSocket(isIPv6(o.host) ? 'udp6' : 'udp4')
  let pending: ((b: Buffer) => void) | undefined
  socket.on('message', (msg) => pending?.(msg))
  return {
    exchange (frame, timeoutMs) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => { pending = undefined; resolve(null) }, timeoutMs)
        pending = (b) => { clearTimeout(timer); pending = undefined; resolve(b) }
        socket.send(frame, o.port, o.host)
      })
    },
    close () { socket.close() },
  }
}
