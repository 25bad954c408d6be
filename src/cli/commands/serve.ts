/** `dc09 serve`: the receiver, on the data directory's journal and accounts. */
import { randomInt } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { SqliteAccountStore } from '../../accounts/sqlite-store.js'
import { FileJournal, type FsyncPolicy } from '../../journal/file-journal.js'
import { createLogger } from '../../receiver/log.js'
import type { ReceiverOptions } from '../../receiver/options.js'
import { recordJson, type FrameRecord } from '../../receiver/record.js'
import { ReceiverServer, type ListenOptions } from '../../receiver/server.js'

export interface ServeOptions extends ListenOptions {
  readonly data: string
  readonly demo: boolean
  readonly logLevel: string
  readonly fsync: FsyncPolicy
  readonly segmentBytes: number
  readonly receiver: Partial<ReceiverOptions>
}

/** Two accounts to try the receiver with: plain 1234 and AES-128 5678 (key written to a file, never printed). */
function demoAccounts (accounts: SqliteAccountStore, data: string): string[] {
  if (accounts.count() > 0) return []
  const alphabet = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'
  const key = Array.from({ length: 16 }, () => alphabet[randomInt(alphabet.length)]).join('')
  const keyFile = join(data, 'demo-key.txt')
  writeFileSync(keyFile, key + '\n', { mode: 0o600 })
  accounts.add({ account: '1234', prefix: '0', tenant: 'demo' })
  accounts.add({ account: '5678', prefix: '0', key, keyFormat: 'ascii', tenant: 'demo' })
  return [
    `demo accounts: 1234 (plain) and 5678 (AES-128, ASCII key in ${keyFile})`,
  ]
}

export async function serve (o: ServeOptions): Promise<void> {
  const destination = pino.destination({ fd: 1, sync: false })
  const logger = createLogger({ level: o.logLevel, destination })
  const fail = (msg: string): never => {
    process.stderr.write(`dc09 serve: ${msg}\n`)
    process.exit(1)
  }
  let journal: FileJournal<FrameRecord>
  try {
    journal = await FileJournal.open<FrameRecord>(o.data, {
      fsync: o.fsync,
      segmentBytes: o.segmentBytes,
      toJson: recordJson,
      onRollError: (err) => { logger.error({ err: err.message }, 'journal: could not start a new segment; still writing to the current one') },
      onRecover: (r) => { if (r.cutBytes > 0) logger.warn({ segment: r.segment, cutBytes: r.cutBytes, records: r.records }, 'journal: torn tail cut on start (a write interrupted by a crash); every complete record kept') },
    })
  } catch (err) {
    return fail((err as Error).message)
  }
  const accounts = new SqliteAccountStore(o.data)
  const demo = o.demo ? demoAccounts(accounts, o.data) : []
  let server: ReceiverServer
  try {
    server = await ReceiverServer.start({ journal, accounts, logger, options: o.receiver }, o)
  } catch (err) {
    await journal.close()
    accounts.close()
    return fail(`cannot listen on ${o.host}:${o.port}: ${(err as Error).message}`)
  }
  if (o.demo) {
    const port = server.port === 9000 ? '' : ` --port ${server.port}`
    for (const line of [
      ...demo,
      `dc09 is receiving on ${o.host}:${server.port} (TCP and UDP); data in ${o.data}. Send events from another terminal:`,
      `  printf 'ADM-CID 1130 01 015\\nSIA-DCS Nri1/BA02\\nNULL\\n' | npx dc09 send${port} --account 1234`,
      `  printf 'ADM-CID 1401 01 003\\n' | npx dc09 send${port} --account 5678 --key-file ${join(o.data, 'demo-key.txt')} --key-format ascii`,
      `  npx dc09 journal export --data ${o.data}`,
    ]) process.stderr.write(line + '\n')
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping: no new connections; committing and answering what is in flight')
    void (async () => {
      await server.close()
      // A disk that hangs must not keep the process from exiting; what was not committed was
      // not acknowledged, and the panels will send it again.
      const closed = await Promise.race([
        journal.close().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), server.options.shutdownTimeoutMs).unref()),
      ])
      accounts.close()
      if (!closed) logger.error('the journal did not close in time; exiting anyway')
      destination.flushSync()
      process.exit(closed ? 0 : 1)
    })()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
