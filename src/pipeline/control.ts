/**
 * The receiver's control socket (`DIR/control.sock`, owner-only like the rest of the directory):
 * how a command that must journal an event (a `dc09 verify` and its duress, a `dc09 accounts
 * remove`) reaches the journal
 * while a receiver holds it. One JSON request per line: `{"op": "append", "record": {...}}`,
 * answered `{"ok": true, "id": N}` once the record is committed. Only the events commands make
 * are taken.
 */
import { chmodSync, unlinkSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { FileJournal } from '../journal/file-journal.js'
import type { Journal } from '../journal/journal.js'
import { DataDirLockedError } from '../journal/lock.js'
import type { Logger } from '../log.js'
import { journalJson, type DerivedRecord, type JournalRecord } from '../journal/record.js'
import { ACCOUNT_REMOVED } from './stage.js'

export const controlPath = (dataDir: string): string => join(dataDir, 'control.sock')

/** Kinds of event a command may journal, by the stage name it writes under. */
const COMMAND_EVENTS: Readonly<Record<string, readonly string[]>> = { verify: ['verification', 'duress'], [ACCOUNT_REMOVED.stage]: [ACCOUNT_REMOVED.kind], outputs: ['output-retry', 'output-replay'] }
const MAX_REQUEST = 64 * 1024

/** Checks a record a command sent; undefined when it is fine. */
function invalid (r: unknown): string | undefined {
  const d = r as Partial<DerivedRecord>
  if (typeof d !== 'object' || d === null || d.type !== 'derived') return 'not a derived record'
  if (typeof d.stage !== 'string' || !(COMMAND_EVENTS[d.stage] ?? []).includes(d.kind as string)) return 'not an event a command may journal'
  // An output's command is about no account.
  if (d.stage === 'outputs') {
    if (d.account !== '' || typeof d.data?.output !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(d.data.output)) return 'bad output command'
    if (d.data.from !== undefined && !(Number.isSafeInteger(d.data.from) && (d.data.from as number) >= 1)) return 'bad output command'
  } else if (typeof d.account !== 'string' || !/^[0-9A-Z]{3,16}$/.test(d.account)) return 'bad account'
  if (typeof d.receivedAt !== 'number' || typeof d.causedBy !== 'number' || typeof d.n !== 'number' || typeof d.data !== 'object' || d.data === null) return 'bad fields'
  // The holder is an account's createdAt: a short timestamp.
  if (d.holder !== undefined && (typeof d.holder !== 'string' || d.holder.length > 40)) return 'bad holder'
  return undefined
}

export async function startControl (dataDir: string, journal: Journal<JournalRecord>, log: Logger): Promise<{ close: () => Promise<void> }> {
  const path = controlPath(dataDir)
  // A socket file left by a receiver that crashed: the lock says we own the directory now.
  try { unlinkSync(path) } catch { /* none */ }
  const server: Server = createServer((socket) => {
    let buf = ''
    socket.setTimeout(10_000, () => socket.destroy())
    socket.on('error', () => {})
    socket.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8')
      if (buf.length > MAX_REQUEST) { socket.destroy(); return }
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        let req: { op?: unknown, record?: unknown }
        try { req = JSON.parse(line) as typeof req } catch { socket.end('{"ok":false,"error":"not JSON"}\n'); return }
        const why = req.op === 'append' ? invalid(req.record) : 'unknown op'
        if (why !== undefined) { socket.write(JSON.stringify({ ok: false, error: why }) + '\n'); continue }
        journal.append(req.record as DerivedRecord).then(
          (id) => { socket.write(JSON.stringify({ ok: true, id }) + '\n') },
          (err: unknown) => {
            log.error({ err: (err as Error).message }, 'control: could not journal an event for a command')
            socket.write(JSON.stringify({ ok: false, error: 'the journal could not commit' }) + '\n')
          })
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => { server.off('error', reject); resolve() })
  })
  chmodSync(path, 0o600)
  return {
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      try { unlinkSync(path) } catch { /* gone */ }
    }),
  }
}

/** Sends one record to a running receiver and waits for its commit. */
export function appendViaControl (dataDir: string, record: DerivedRecord, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = connect(controlPath(dataDir))
    let buf = ''
    const timer = setTimeout(() => { s.destroy(); reject(new Error('the receiver did not confirm the event in time')) }, timeoutMs)
    s.on('connect', () => s.write(JSON.stringify({ op: 'append', record }) + '\n'))
    s.on('data', (c: Buffer) => {
      buf += c.toString('utf8')
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      clearTimeout(timer)
      s.end()
      const r = JSON.parse(buf.slice(0, nl)) as { ok: boolean, id?: number, error?: string }
      if (r.ok && typeof r.id === 'number') resolve(r.id)
      else reject(new Error(`the receiver refused the event: ${r.error ?? '?'}`))
    })
    s.on('error', (err) => { clearTimeout(timer); reject(new Error(`the data directory is in use, and its receiver cannot be reached: ${err.message}`)) })
  })
}

/**
 * Journals a command's event before the command answers: directly when no receiver holds the
 * data directory, else through the running receiver.
 */
export async function appendForCommand (dataDir: string, record: DerivedRecord): Promise<number> {
  let journal: FileJournal<JournalRecord>
  try {
    journal = await FileJournal.open<JournalRecord>(dataDir, { toJson: journalJson })
  } catch (err) {
    if (err instanceof DataDirLockedError) return appendViaControl(dataDir, record)
    throw err
  }
  try {
    return await journal.append(record)
  } finally {
    await journal.close()
  }
}
