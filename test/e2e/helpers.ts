/** Test harness: a receiver on 127.0.0.1 port 0 with real stores in a temporary directory, and panel-side clients. */
import type { ChildProcess } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { afterEach } from 'vitest'
import { SqliteAccountStore } from '../../src/accounts/sqlite-store.js'
import { FileJournal } from '../../src/journal/file-journal.js'
import type { Journal } from '../../src/journal/journal.js'
import { FrameSplitter, serializeFrame } from '../../src/protocol/index.js'
import { createLogger } from '../../src/log.js'
import type { ReceiverOptions } from '../../src/receiver/options.js'
import { expandFrame, journalJson, type FrameRecord, type JournalRecord } from '../../src/journal/record.js'
import { ReceiverServer, type ListenOptions } from '../../src/receiver/server.js'

export interface Harness {
  readonly server: ReceiverServer
  readonly port: number
  readonly dir: string
  readonly journal: Journal<JournalRecord>
  readonly accounts: SqliteAccountStore
  /** Every log line so far, parsed. */
  readonly logs: Array<Record<string, unknown>>
  /** The raw log text (to prove no secret is in it). */
  logText (): string
  /** The frame records (not the pipeline's derived events). */
  records (): Promise<FrameRecord[]>
  stop (): Promise<void>
}

export async function startReceiver (opts: {
  options?: Partial<ReceiverOptions>
  listen?: Partial<ListenOptions>
  journal?: (dir: string) => Promise<Journal<JournalRecord>>
  setup?: (accounts: SqliteAccountStore) => void
  dir?: string
  clock?: () => number
} = {}): Promise<Harness> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'dc09-e2e-'))
  const chunks: string[] = []
  const logs: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write (chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8')
      chunks.push(text)
      for (const line of text.split('\n')) if (line !== '') logs.push(JSON.parse(line) as Record<string, unknown>)
      cb()
    },
  })
  const logger = createLogger({ level: 'debug', destination })
  const journal = opts.journal !== undefined ? await opts.journal(dir) : await FileJournal.open<JournalRecord>(dir, { toJson: journalJson })
  const accounts = new SqliteAccountStore(dir)
  opts.setup?.(accounts)
  const server = await ReceiverServer.start(
    { journal, accounts, logger, options: { accountRefreshMs: 50, ...opts.options }, clock: opts.clock },
    { host: '127.0.0.1', port: 0, tcp: true, udp: true, ...opts.listen }
  )
  let stopped = false
  return {
    server,
    port: server.port,
    dir,
    journal,
    accounts,
    logs,
    logText: () => chunks.join(''),
    async records () {
      const out: FrameRecord[] = []
      for await (const r of journal.read()) if (r.type === 'frame') out.push(expandFrame(r))
      return out
    },
    async stop () {
      if (stopped) return
      stopped = true
      await server.close()
      await journal.close()
      accounts.close()
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A panel on TCP: writes bytes, reads whole answer frames. */
export class TcpPanel {
  readonly socket: Socket
  readonly #answers: Buffer[] = []
  readonly #waiters: Array<() => void> = []
  closed = false

  private constructor (socket: Socket) {
    this.socket = socket
    const splitter = new FrameSplitter({ frame: (f) => { this.#answers.push(f); this.#waiters.shift()?.() }, error: () => {} })
    socket.on('data', (c: Buffer) => splitter.push(c))
    socket.on('close', () => { this.closed = true; for (const w of this.#waiters.splice(0)) w() })
    socket.on('error', () => {})
  }

  static connect (port: number): Promise<TcpPanel> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(new TcpPanel(s)))
      s.once('error', reject)
    })
  }

  write (bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes)
  }

  /** The next answer, or null if none comes within `ms` (or the connection closes). */
  async answer (ms = 3000): Promise<Buffer | null> {
    if (this.#answers.length === 0 && !this.closed) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms)
        this.#waiters.push(() => { clearTimeout(t); resolve() })
      })
    }
    return this.#answers.shift() ?? null
  }

  async answers (n: number, ms = 3000): Promise<Array<Buffer | null>> {
    const out: Array<Buffer | null> = []
    for (let i = 0; i < n; i++) out.push(await this.answer(ms))
    return out
  }

  /** Resolves when the receiver closes the connection (or after `ms`: false). */
  whenClosed (ms = 3000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true)
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms)
      this.socket.once('close', () => { clearTimeout(t); resolve(true) })
    })
  }

  end (): void {
    this.socket.end()
  }
}

/** Sends one datagram and waits for the answer datagram (null after `ms`). */
export function udpExchange (port: number, bytes: Buffer, ms = 2000): Promise<Buffer | null> {
  const s = createSocket('udp4')
  return new Promise((resolve) => {
    const t = setTimeout(() => { s.close(); resolve(null) }, ms)
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m) })
    s.send(bytes, port, '127.0.0.1')
  })
}

export const text = (b: Buffer | null): string => (b === null ? '(none)' : b.toString('latin1'))

/**
 * For a test file: `receiver()` starts a receiver with plain account 1234 and stops it after
 * the test. Call at the top level of the file.
 */
export function receivers (): (opts?: Parameters<typeof startReceiver>[0]) => Promise<Harness> {
  const running: Harness[] = []
  afterEach(async () => { for (const h of running.splice(0)) await h.stop() })
  return async (opts = {}) => {
    const h = await startReceiver({ ...opts, setup: (a) => { a.add({ account: '1234' }); opts.setup?.(a) } })
    running.push(h)
    return h
  }
}

let nextSeq = 0
/** A plain Contact ID burglary frame for `acct`, with the next sequence number. */
export function cidFrame (acct = '1234'): Buffer {
  nextSeq = nextSeq % 9999 + 1
  return serializeFrame({ token: 'ADM-CID', seq: nextSeq, lpref: '0', acct, data: `#${acct}|1130 01 015` })
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * The log lines a spawned `dc09 serve` prints up to its 'listening' line (the array goes on
 * collecting after), and the port it listens on; rejects if it exits first.
 */
export async function untilListening (child: ChildProcess): Promise<{ port: number, lines: Array<Record<string, unknown>> }> {
  const lines: Array<Record<string, unknown>> = []
  return await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      const j = JSON.parse(l) as Record<string, unknown>
      lines.push(j)
      if (j.msg === 'listening') resolve({ port: j.port as number, lines })
    })
    child.on('exit', () => reject(new Error('serve exited')))
  })
}
