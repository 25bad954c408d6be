/**
 * `dc09 surgard-client`: stands in for monitoring software on a receiver's Sur-Gard automation
 * port. It connects (waiting a while for a receiver that is not up yet), prints each record as
 * one JSON line (heartbeats too), and ACKs each one, as automation software does. For trying
 * the output by hand and in the documentation's walk-through; real automation software replaces it.
 */
import { connect, type Socket } from 'node:net'
import { InvalidArgumentError, Option, type Command } from 'commander'
import type { CliDeps } from '../deps.js'
import { parseCount, parsePort } from '../options.js'

export interface SurgardClientOptions {
  readonly host: string
  readonly port: number
  /** Records come with the B32 length header, and answers go with one. */
  readonly b32: boolean
  /** Header width the receiver writes: 5 (`RRLLL`) or 3 (`RRL`). */
  readonly header: 3 | 5
  /** How long to keep trying to connect (at start, and after the receiver closes the connection). */
  readonly waitMs: number
  /** Stop after this many records that are not heartbeats. */
  readonly count?: number | undefined
}

const DC4 = 0x14
const ACK = 0x06
/** A record is well under this; bytes beyond it without an end are not records. */
const MAX_RECORD = 1024
const RETRY_MS = 250

/** One record's fields by the Sur-Gard layouts, for the printed line. */
export function describeRecord (text: string, header: 3 | 5): Record<string, string> {
  const L = header === 3 ? '([0-9A-F])' : '(\\d{3})'
  let m = new RegExp(`^1(\\d{2})${header === 3 ? '0' : '000'} {11}@ {4}$`).exec(text)
  if (m !== null) return { type: 'heartbeat', receiver: m[1] as string, record: text }
  m = new RegExp(`^([5Q])(\\d{2})${L} [159]8([0-9A-F]{4}|[0-9A-F]{10})([ERP])([0-9A-F]{3})([0-9A-F]{2})([0-9A-F]{3})$`).exec(text)
  if (m !== null) {
    const [, , receiver, line, account, qualifier, code, group, number] = m as unknown as string[]
    return { type: 'contact-id', receiver, line, account, qualifier, code, group, number, record: text } as Record<string, string>
  }
  m = new RegExp(`^S(\\d{2})${L}\\[#([^|\\]]*)\\|([^\\]]*)\\]$`).exec(text)
  if (m !== null) return { type: 'sia', receiver: m[1] as string, line: m[2] as string, account: m[3] as string, data: m[4] as string, record: text }
  return { type: 'unknown', record: text }
}

/**
 * Connects and prints records until `count` records came, or the receiver is gone for longer
 * than the wait. True when it stopped after `count` records.
 */
export async function runSurgardClient (o: SurgardClientOptions, out: (s: string) => void, err: (s: string) => void): Promise<boolean> {
  let seen = 0
  for (;;) {
    const socket = await connectWithin(o)
    if (socket === undefined) {
      err(`dc09 surgard-client: nothing answers on ${o.host}:${o.port} (tried for ${o.waitMs} ms)\n`)
      return false
    }
    err(`dc09 surgard-client: connected to ${o.host}:${o.port}\n`)
    const done = await readRecords(socket, o, (fields) => {
      out(JSON.stringify(fields) + '\n')
      if (fields.type !== 'heartbeat') seen++
      return o.count !== undefined && seen >= o.count
    }, err)
    if (done) return true
    err('dc09 surgard-client: the receiver closed the connection; connecting again\n')
  }
}

async function connectWithin (o: SurgardClientOptions): Promise<Socket | undefined> {
  const deadline = Date.now() + o.waitMs
  for (;;) {
    const s = await new Promise<Socket | undefined>((resolve) => {
      const socket = connect({ host: o.host, port: o.port, noDelay: true })
      socket.once('connect', () => { socket.removeAllListeners('error'); resolve(socket) })
      socket.once('error', () => { socket.destroy(); resolve(undefined) })
    })
    if (s !== undefined) return s
    if (Date.now() + RETRY_MS > deadline) return undefined
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS))
  }
}

/**
 * The next record in `buf`: its text (without B32 header and DC4) and how many bytes it took,
 * `more` when it is not all there yet, `bad` when the bytes cannot be a record.
 */
function nextPacket (buf: Buffer, b32: boolean): { text: string, length: number } | 'more' | 'bad' {
  if (b32) {
    if (buf.length < 4) return 'more'
    const digits = buf.subarray(0, 4).toString('hex')
    if (!/^0000\d{4}$/.test(digits)) return 'bad'
    const length = Number(digits.slice(4))
    if (length < 6 || length > MAX_RECORD) return 'bad'
    if (buf.length < length) return 'more'
    if (buf[length - 1] !== DC4) return 'bad'
    return { text: buf.subarray(4, length - 1).toString('latin1'), length }
  }
  const end = buf.indexOf(DC4)
  if (end < 0) return buf.length > MAX_RECORD ? 'bad' : 'more'
  return { text: buf.subarray(0, end).toString('latin1'), length: end + 1 }
}

/** Reads records, ACKs each; resolves true when `each` says to stop, false when the connection ends. */
async function readRecords (socket: Socket, o: SurgardClientOptions, each: (fields: Record<string, string>) => boolean, err: (s: string) => void): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    let buf = Buffer.alloc(0)
    let stopped = false
    const answer = o.b32 ? Buffer.from([0, 0, 0, 5, ACK]) : Buffer.from([ACK])
    socket.on('error', () => {})
    socket.on('close', () => { resolve(stopped) })
    socket.on('data', (chunk: Buffer) => {
      if (stopped) return
      buf = Buffer.concat([buf, chunk])
      for (;;) {
        const p = nextPacket(buf, o.b32)
        if (p === 'more') return
        if (p === 'bad') {
          err(`dc09 surgard-client: ${buf.length} bytes that are not a record; dropped\n`)
          buf = Buffer.alloc(0)
          return
        }
        const text = p.text
        buf = buf.subarray(p.length)
        socket.write(answer)
        if (each(describeRecord(text, o.header))) {
          stopped = true
          socket.end()
          return
        }
      }
    })
  })
}

function parseHeader (text: string): 3 | 5 {
  if (text !== '3' && text !== '5') throw new InvalidArgumentError('expected 3 (RRL) or 5 (RRLLL)')
  return text === '3' ? 3 : 5
}

export function register (program: Command, deps: CliDeps): void {
  program.command('surgard-client')
    .description('act as automation software on a Sur-Gard output: print each record as a JSON line and ACK it')
    .option('--host <address>', 'receiver address', '127.0.0.1')
    .option('--port <port>', 'the output\'s automation port', parsePort, 1025)
    .option('--b32', 'records and answers carry the B32 length header')
    .addOption(new Option('--header <width>', 'header width the output writes: 5 (RRLLL) or 3 (RRL)').argParser(parseHeader).default(5))
    .option('--wait <seconds>', 'how long to keep trying to connect', parseCount, 30)
    .option('--count <n>', 'stop after this many records that are not heartbeats', parseCount)
    .action(async (o: { host: string, port: number, b32?: boolean, header: 3 | 5, wait: number, count?: number }) => {
      const ok = await runSurgardClient({ host: o.host, port: o.port, b32: o.b32 === true, header: o.header, waitMs: o.wait * 1000, count: o.count }, deps.out, deps.err)
      process.exitCode = ok ? 0 : 1
    })
}
