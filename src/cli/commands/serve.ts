/** `dc09 serve`: the receiver, on the data directory's journal and accounts. */
import { randomBytes, randomInt } from 'node:crypto'
import { hostname } from 'node:os'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { SqliteAccountStore } from '../../accounts/sqlite-store.js'
import { FileJournal, type CommittedPosition, type FsyncPolicy } from '../../journal/file-journal.js'
import type { AccountStore } from '../../accounts/account-store.js'
import type { Journal } from '../../journal/journal.js'
import type { Logger } from '../../log.js'
import { lockDataDir } from '../../journal/lock.js'
import { connectCluster, natsFrom } from '../../cluster/nats.js'
import { checkLayout } from '../../cluster/layout.js'
import { JetStreamJournal } from '../../cluster/journal.js'
import { SharedState } from '../../cluster/shared-state.js'
import { openAccounts } from '../../cluster/parts.js'
import { createLogger } from '../../log.js'
import { defaultOptions, validateOptions, type ReceiverOptions } from '../../receiver/options.js'
import { journalJson, type JournalRecord } from '../../journal/record.js'
import { ReceiverServer, type ListenOptions } from '../../receiver/server.js'
import { validateHashLimits, type HashLimits } from '../../verification/verifier.js'
import { startControl } from '../../pipeline/control.js'
import { ServicesHost } from '../../services/host.js'
import { demoPepperPath, loadPepper, pepperFile } from '../pepper.js'
import { tapJournal } from '../../journal/journal.js'
import { Metrics } from '../../api/metrics.js'
import { validateApiOptions, type ApiOptions } from '../../api/server.js'
import { Option, type Command } from 'commander'
import { parseCount, parsePort } from '../options.js'
import { readJsonFileOrThrow } from '../read-file.js'
import { parseOutputs, shortcutOutputs } from '../../outputs/config.js'

export interface ServeOptions extends ListenOptions {
  readonly data: string
  readonly demo: boolean
  readonly logLevel: string
  readonly fsync: FsyncPolicy
  readonly segmentBytes: number
  /** The pepper for disarm-code hashes (else DC09_PEPPER_FILE; --demo makes one). */
  readonly pepperFile?: string | undefined
  /** The pipeline's configuration (default: classify, supervision, cases, jsonl). */
  readonly pipeline?: string | undefined
  readonly receiver: Partial<ReceiverOptions>
  /** How many code hashes run at once, and wait (the limits file's `verification`). */
  readonly verification?: Partial<HashLimits> | undefined
  /** The HTTP interface; undefined: none. */
  readonly api?: { readonly host: string, readonly port: number, readonly options: Partial<ApiOptions> } | undefined
  /** Cluster mode: the NATS servers, and this node's name. */
  readonly nats?: { readonly servers: readonly string[], readonly node: string } | undefined
  /** The outputs (checked): the configuration's `outputs` and the command line's shortcuts. */
  readonly outputs?: readonly unknown[] | undefined
}

/** Where the receiver journals and finds accounts: the data directory's, or the cluster's. */
interface Storage {
  readonly journal: Journal<JournalRecord>
  readonly position: () => CommittedPosition
  readonly accounts: AccountStore
  readonly close: () => Promise<void>
}

async function localStorage (o: ServeOptions, logger: Logger, accountOptions: { maxWindowSeconds: number, cacheEntries: number }): Promise<Storage> {
  const journal = await FileJournal.open<JournalRecord>(o.data, {
    fsync: o.fsync,
    segmentBytes: o.segmentBytes,
    toJson: journalJson,
    onRollError: (err) => { logger.error({ err: err.message }, 'journal: could not start a new segment; still writing to the current one') },
    onRecover: (r) => { if (r.cutBytes > 0) logger.warn({ segment: r.segment, cutBytes: r.cutBytes, records: r.records }, 'journal: torn tail cut on start (a write interrupted by a crash); every complete record kept') },
  })
  // The receiver looks accounts up through a bounded cache over the database: hot ones in memory, the rest read when they send.
  const accounts = new SqliteAccountStore(o.data, accountOptions)
  return { journal, position: () => journal.position, accounts, close: async () => { await journal.close(); accounts.close() } }
}

/**
 * The cluster's events stream and a replica of its accounts. The data directory is this node's
 * own: its lock (one receiver per directory), the replicas, the control socket.
 */
async function clusterStorage (o: ServeOptions, nats: NonNullable<ServeOptions['nats']>, accountOptions: { maxWindowSeconds: number, cacheEntries: number }): Promise<Storage> {
  mkdirSync(o.data, { recursive: true, mode: 0o700 })
  const lock = lockDataDir(o.data, 'this node\'s data directory')
  const nc = await connectCluster(nats.servers, { name: `${nats.node} receiver` }).catch((err: unknown) => {
    lock.release()
    throw new Error(`cannot reach the cluster (${nats.servers.join(',')}): ${(err as Error).message}`)
  })
  try {
    const missing = await checkLayout(nc)
    if (missing !== undefined) throw new Error(missing)
    const journal = await JetStreamJournal.open(nc)
    const state = new SharedState({ servers: nats.servers, name: `${nats.node} receiver`, dir: join(o.data, 'replica', 'receiver') })
    const { accounts } = openAccounts(state, accountOptions)
    return {
      journal,
      position: () => ({ lastId: journal.lastId, path: '', size: 0 }),
      accounts,
      close: async () => {
        await journal.close()
        state.close()
        await nc.close()
        lock.release()
      },
    }
  } catch (err) {
    await nc.close()
    lock.release()
    throw err
  }
}

/** Two accounts to try the receiver with: plain 1234 and AES-128 5678 (key written to a file, never printed). */
function demoAccounts (accounts: AccountStore, data: string): string[] {
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
  // The pepper keys every disarm-code hash: without it no code can be verified, so no start.
  if (o.demo && pepperFile(o.data, o.pepperFile) === undefined) {
    mkdirSync(o.data, { recursive: true, mode: 0o700 })
    writeFileSync(demoPepperPath(o.data), randomBytes(32), { mode: 0o600 })
  }
  const p = loadPepper(o.data, o.pepperFile)
  if (!p.ok) return fail(p.reason)
  const pepper = p.pepper
  // No account's timestamp window may be wider than the duplicate window: a frame replayed after
  // the receiver forgot it must fail its timestamp check. Accounts changed through the HTTP
  // interface are held to this receiver's window. One stored wider (by the CLI, which knows only
  // the default window, or before this rule) does not stop the start: a receiver that will not
  // start answers no panel at all. The receiver narrows its window to fit, and says so.
  const duplicateWindowMs = o.receiver.duplicateWindowMs ?? defaultOptions.duplicateWindowMs
  const maxWindowSeconds = Math.floor(duplicateWindowMs / 1000)
  const accountOptions = { maxWindowSeconds, cacheEntries: o.receiver.accountCacheEntries ?? defaultOptions.accountCacheEntries }
  let storage: Storage
  try {
    storage = o.nats === undefined ? await localStorage(o, logger, accountOptions) : await clusterStorage(o, o.nats, accountOptions)
  } catch (err) {
    return fail((err as Error).message)
  }
  const { journal, accounts } = storage
  const demo = o.demo ? demoAccounts(accounts, o.data) : []
  const widest = accounts.widestWindow()
  if (widest !== undefined && widest.seconds > maxWindowSeconds) {
    logger.warn({ account: widest.account, windowSeconds: widest.seconds, duplicateWindowMs },
      'an account\'s timestamp window is wider than the duplicate window: it is applied narrowed to fit (a frame replayed after the duplicate window must fail its timestamp check); narrow it with dc09 accounts update --window, or widen duplicateWindowMs')
  }
  if (!o.demo && pepperFile(o.data, o.pepperFile) === demoPepperPath(o.data)) {
    logger.warn('the pepper is the demo\'s, inside the data directory: a copy of the directory then holds everything needed to attack the code hashes; move it elsewhere and pass --pepper-file')
  }
  // The receiver's thread keeps the panels' side of the metrics; the interface's thread serves them.
  const metrics = new Metrics('receiver')
  let services: ServicesHost | undefined
  // Every commit is timed, and tells the services thread (the pipeline and the interface) where
  // the journal's committed end now is: they read it from there.
  // (In a cluster the services thread follows the stream itself: events come from every receiver.)
  const journalForReceiver = tapJournal(journal, o.nats === undefined ? () => services?.committed() : () => {}, (seconds) => metrics.commitSeconds.observe(seconds))
  if (o.nats !== undefined) logger.info({ node: o.nats.node, servers: o.nats.servers }, 'cluster mode: events go to the cluster\'s stream, accounts come from its shared state')
  try {
    // The pipeline and the HTTP interface run on a thread of their own: nothing of theirs
    // (stages, SQLite writes, code hashing, requests) runs on the loop that answers panels.
    services = await ServicesHost.start({
      data: o.data,
      logLevel: o.logLevel,
      pepper,
      pipeline: o.pipeline,
      cwd: process.cwd(),
      verification: o.verification,
      api: o.api,
      maxWindowSeconds,
      nats: o.nats,
      outputs: o.outputs,
    }, { journal: journalForReceiver, position: storage.position, accounts, metrics, log: logger })
  } catch (err) {
    await storage.close()
    return fail((err as Error).message)
  }
  const running = services
  // Without it, `dc09 verify` cannot journal while this receiver runs (it says so); panels are unaffected.
  const control = await startControl(o.data, journalForReceiver, logger).catch((err: unknown) => {
    logger.error({ err: (err as Error).message }, 'control socket: cannot listen; dc09 verify will not work while this receiver runs')
    return { close: async () => {} }
  })
  let server: ReceiverServer | undefined
  let stopping = false
  const stop = (signal: string, exitCode = 0): void => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping: no new connections; committing and answering what is in flight')
    ;(async () => {
      // The interface and the pipeline stop while the panels' last frames are committed and answered.
      await Promise.all([running.stop(server?.options.shutdownTimeoutMs ?? 15_000), server?.close()])
      await control.close()
      // A disk that hangs must not keep the process from exiting; what was not committed was
      // not acknowledged, and the panels will send it again.
      const closed = await Promise.race([
        storage.close().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), server?.options.shutdownTimeoutMs ?? 15_000).unref()),
      ])
      if (!closed) logger.error('the journal did not close in time; exiting anyway')
      destination.flushSync()
      process.exit(closed ? exitCode : 1)
    })().catch((err: unknown) => {
      // What an unhandled rejection would do, but said in the log first.
      logger.error({ err: (err as Error).message }, 'stopping failed; exiting')
      destination.flushSync()
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  try {
    server = await ReceiverServer.start({ journal: journalForReceiver, accounts, logger, options: o.receiver }, o)
  } catch (err) {
    process.stderr.write(`dc09 serve: cannot listen on ${o.host}:${o.port}: ${(err as Error).message}\n`)
    stop('listen failed', 1)
    return
  }
  if (stopping) {
    // A signal came while it was starting to listen.
    await server.close()
    return
  }
  const receiving = server
  metrics.setSources({
    receiverStats: () => receiving.receiver.stats,
    connections: () => receiving.connections,
  })
  if (o.demo) {
    const port = server.port === 9000 ? '' : ` --port ${server.port}`
    for (const line of [
      ...demo,
      `dc09 is receiving on ${o.host}:${server.port} (TCP and UDP); data in ${o.data}. Send events from another terminal:`,
      `  printf 'ADM-CID 1130 01 015\\nSIA-DCS Nri1/BA02\\nNULL\\n' | npx dc09 send${port} --account 1234`,
      `  printf 'ADM-CID 1401 01 003\\n' | npx dc09 send${port} --account 5678 --key-file ${join(o.data, 'demo-key.txt')} --key-format ascii`,
      `  npx dc09 journal export --data ${o.data}`,
      ...(running.apiPort === undefined
        ? []
        : [
            `the HTTP interface is on http://${o.api!.host}:${running.apiPort}; make a token and ask it:`,
            `  TOKEN=$(npx dc09 tokens create --data ${o.data} --role admin --name me)`,
            `  curl -s -H "Authorization: Bearer $TOKEN" http://${o.api!.host}:${running.apiPort}/v1/accounts`,
          ]),
    ]) process.stderr.write(line + '\n')
  }
}

/** The receiver's limits, under `api` the HTTP interface's, under `verification` the code hashing's, under `outputs` the outputs (unchecked). */
export function readLimits (file: string): { receiver: Partial<ReceiverOptions>, api: Partial<ApiOptions>, verification: Partial<HashLimits>, outputs: unknown[] } {
  const raw = readJsonFileOrThrow(file)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file} must hold a JSON object`)
  const { api, verification, outputs, ...receiver } = raw as Record<string, unknown>
  if (outputs !== undefined && !Array.isArray(outputs)) throw new Error(`${file}: outputs must be a list`)
  const v = validateOptions(receiver)
  if (!v.ok) throw new Error(`${file}: ${v.reason}`)
  const a = validateApiOptions(api ?? {})
  if (!a.ok) throw new Error(`${file}: api: ${a.reason}`)
  const h = validateHashLimits(verification ?? {})
  if (!h.ok) throw new Error(`${file}: verification: ${h.reason}`)
  return { receiver: v.value, api: a.value, verification: h.value, outputs: (outputs ?? []) as unknown[] }
}

interface ServeFlags {
  data: string, host: string, port: number, tcp: boolean, udp: boolean, demo?: boolean, unknownAccounts: ReceiverOptions['unknownAccounts'],
  silentUnreadable?: boolean, fsync: 'group' | 'each', config?: string, logLevel: string, segmentBytes: number, pepperFile?: string,
  pipeline?: string, apiHost: string, apiPort: number, api: boolean, nats?: string, node?: string
  surgardPort?: number, surgardHost?: string, mqtt?: string, webhook?: string, webhookSecretFile?: string
}

export function register (program: Command): void {
  program.command('serve')
    .description('run the receiver: TCP and UDP on one port, every event journaled before it is acknowledged')
    .option('--data <dir>', 'data directory (journal, accounts)', './data')
    .option('--host <address>', 'address to listen on (0.0.0.0 for all)', '127.0.0.1')
    .option('--port <port>', 'TCP and UDP port', parsePort, 9000)
    .option('--no-tcp', 'do not listen on TCP')
    .option('--no-udp', 'do not listen on UDP')
    .option('--demo', 'create two demo accounts if there are none, and say how to send them events')
    .addOption(new Option('--unknown-accounts <policy>', 'answer to unregistered accounts').choices(['nak', 'duh', 'quarantine']).default('nak'))
    .option('--silent-unreadable', 'send nothing (instead of NAK) for frames that cannot be read')
    .addOption(new Option('--fsync <policy>', 'one fdatasync per group of events, or per event').choices(['group', 'each']).default('group'))
    .option('--config <file>', 'JSON file with receiver limits (every name and limit: docs/configuration.md)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .addOption(new Option('--segment-bytes <n>', 'journal segment size (advanced)').argParser(parseCount).default(64 << 20, '64 MiB'))
    .option('--pepper-file <file>', 'the secret that keys disarm-code hashes (else DC09_PEPPER_FILE; --demo makes one)')
    .option('--pipeline <file>', 'JSON pipeline configuration; without it: classify, supervision, cases, jsonl to DATA/events.jsonl')
    .option('--api-host <address>', 'address the HTTP interface listens on', '127.0.0.1')
    .option('--api-port <port>', 'port of the HTTP interface (0: any free port)', parsePort, 9080)
    .option('--no-api', 'do not serve the HTTP interface')
    .option('--nats <urls>', 'cluster mode: the NATS servers (host:port,...; else DC09_NATS) holding the events stream and shared state')
    .option('--node <name>', 'cluster mode: this node\'s name (letters, digits, - and _)', hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 64))
    .option('--surgard-port <port>', 'Sur-Gard automation output: the port automation software connects to (1025 in the docs\' examples)', parsePort)
    .option('--surgard-host <address>', 'Sur-Gard automation output: the address it listens on', '127.0.0.1')
    .option('--mqtt <url>', 'MQTT output: mqtt:// or mqtts:// broker (credentials: DC09_MQTT_USERNAME, DC09_MQTT_PASSWORD or files in the configuration, never in the URL)')
    .option('--webhook <url>', 'webhook output: each event POSTed as signed JSON (needs --webhook-secret-file)')
    .option('--webhook-secret-file <file>', 'webhook output: the file holding the signing secret')
    .action(async (o: ServeFlags) => {
      let limits: Partial<ReceiverOptions> = {}
      let apiLimits: Partial<ApiOptions> = {}
      let hashLimits: Partial<HashLimits> = {}
      let outputs: unknown[] = []
      try {
        if (o.config !== undefined) ({ receiver: limits, api: apiLimits, verification: hashLimits, outputs } = readLimits(o.config))
        outputs = [...outputs, ...shortcutOutputs({ surgardPort: o.surgardPort, surgardHost: o.surgardPort === undefined ? undefined : o.surgardHost, mqtt: o.mqtt, webhook: o.webhook, webhookSecretFile: o.webhookSecretFile })]
        const checked = parseOutputs(outputs)
        if (!checked.ok) throw new Error(checked.reason)
        // Read here first so that a missing file is said before anything starts.
        if (o.pipeline !== undefined) readJsonFileOrThrow(o.pipeline)
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      let servers: string[] | undefined
      try {
        servers = natsFrom(o.nats)
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      if (servers !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(o.node ?? '')) program.error('error: --node must be 1 to 64 letters, digits, - or _', { exitCode: 2 })
      await serve({
        nats: servers === undefined ? undefined : { servers, node: o.node! },
        data: o.data, host: o.host, port: o.port, tcp: o.tcp, udp: o.udp, demo: o.demo === true, logLevel: o.logLevel, fsync: o.fsync, segmentBytes: Math.max(4096, o.segmentBytes),
        pepperFile: o.pepperFile, pipeline: o.pipeline, verification: hashLimits, outputs,
        api: o.api ? { host: o.apiHost, port: o.apiPort, options: apiLimits } : undefined,
        receiver: { ...limits, unknownAccounts: o.unknownAccounts, ...(o.silentUnreadable === true ? { nakUnreadable: false } : {}) },
      })
    })
}
