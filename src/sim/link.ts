/**
 * A simulated panel's line to the receiver: TCP (kept open, or one connection per event) or
 * UDP (a socket per panel: answers come back to the port the frame left from).
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram'
import { connect, isIPv6, type Socket } from 'node:net'
import { FrameSplitter } from '../protocol/index.js'

/** How a frame is written: whole, in tiny pieces, or byte by byte with pauses (a slow line). */
export type WriteMode = 'whole' | 'split' | 'slow'

export interface Link {
  send (bytes: Buffer, mode: WriteMode): Promise<void>
  /** The next answer, or null when none came in time or the line closed. */
  answer (timeoutMs: number): Promise<Buffer | null>
  /** Closes the line now, as a panel that hangs up before the answer does. */
  drop (): void
  close (): Promise<void>
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

class Answers {
  readonly #queue: Buffer[] = []
  #waiter: (() => void) | undefined
  closed = false

  push (b: Buffer): void {
    this.#queue.push(b)
    this.#waiter?.()
  }

  close (): void {
    this.closed = true
    this.#waiter?.()
  }

  clear (): void {
    this.#queue.length = 0
  }

  async next (timeoutMs: number): Promise<Buffer | null> {
    if (this.#queue.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs)
        this.#waiter = () => { clearTimeout(t); resolve() }
      })
      this.#waiter = undefined
    }
    return this.#queue.shift() ?? null
  }
}

export interface LinkTarget {
  readonly host: string
  readonly port: number
  /** Any CR-terminated line is an answer (for the bare baseline server of the benchmark). */
  readonly anyAnswer: boolean
}

export class TcpLink implements Link {
  readonly #target: LinkTarget
  #socket: Socket | undefined
  #answers = new Answers()

  constructor (target: LinkTarget) {
    this.#target = target
  }

  async #connect (): Promise<Socket> {
    if (this.#socket !== undefined && !this.#socket.destroyed && !this.#answers.closed) return this.#socket
    const answers = new Answers()
    const socket: Socket = await new Promise((resolve, reject) => {
      const s = connect({ host: this.#target.host, port: this.#target.port, noDelay: true }, () => { s.off('error', reject); resolve(s) })
      s.once('error', reject)
    })
    if (this.#target.anyAnswer) {
      let rest = Buffer.alloc(0)
      socket.on('data', (c: Buffer) => {
        let data = rest.length > 0 ? Buffer.concat([rest, c]) : c
        for (let cr = data.indexOf(0x0d); cr >= 0; cr = data.indexOf(0x0d)) {
          answers.push(data.subarray(0, cr + 1))
          data = data.subarray(cr + 1)
        }
        rest = Buffer.from(data)
      })
    } else {
      const splitter = new FrameSplitter({ frame: (f) => answers.push(f), error: () => {} })
      socket.on('data', (c: Buffer) => splitter.push(c))
    }
    socket.on('close', () => answers.close())
    socket.on('error', () => {})
    this.#socket = socket
    this.#answers = answers
    return socket
  }

  async send (bytes: Buffer, mode: WriteMode): Promise<void> {
    const s = await this.#connect()
    if (mode === 'whole') {
      s.write(bytes)
      return
    }
    // Tiny pieces back to back (split), or one byte at a time with pauses (a slow line).
    const step = mode === 'split' ? 3 : 1
    for (let i = 0; i < bytes.length && !s.destroyed; i += step) {
      s.write(bytes.subarray(i, i + step))
      await sleep(mode === 'slow' ? 5 : 0)
    }
  }

  answer (timeoutMs: number): Promise<Buffer | null> {
    return this.#answers.next(timeoutMs)
  }

  drop (): void {
    this.#socket?.destroy()
    this.#answers.close()
  }

  async close (): Promise<void> {
    const s = this.#socket
    if (s === undefined || s.destroyed) return
    await new Promise<void>((resolve) => {
      s.once('close', () => resolve())
      s.end()
      setTimeout(() => { s.destroy(); resolve() }, 1000).unref()
    })
  }
}

export class UdpLink implements Link {
  readonly #target: LinkTarget
  readonly #socket: UdpSocket
  readonly #answers = new Answers()

  constructor (target: LinkTarget) {
    this.#target = target
    this.#socket = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4')
    this.#socket.on('message', (m) => this.#answers.push(m))
    this.#socket.on('error', () => {})
  }

  async send (bytes: Buffer): Promise<void> {
    // One frame per datagram: the write modes of a stream do not apply.
    await new Promise<void>((resolve) => this.#socket.send(bytes, this.#target.port, this.#target.host, () => resolve()))
  }

  answer (timeoutMs: number): Promise<Buffer | null> {
    return this.#answers.next(timeoutMs)
  }

  drop (): void {}

  async close (): Promise<void> {
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()))
  }
}
