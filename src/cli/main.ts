#!/usr/bin/env node
/** The `dc09` command: parses arguments and calls into src/*, nothing else. */
import { createInterface } from 'node:readline'
import { Command, InvalidArgumentError, Option } from 'commander'
import { isCharset, isTimeZone, parseKey, type AesEngineName, type AesKey, type KeyFormat, type PanelClock, type TimestampWindow } from '../protocol/index.js'
import { readFileSync } from 'node:fs'
import { validateOptions, type ReceiverOptions } from '../receiver/options.js'
import { validateHashLimits, type HashLimits, type Policy } from '../verification/verifier.js'
import { validateApiOptions, type ApiOptions } from '../api/server.js'
import { supervisionSeconds } from '../accounts/supervision-presets.js'
import * as accounts from './commands/accounts.js'
import * as codes from './commands/codes.js'
import * as pipeline from './commands/pipeline.js'
import * as tokens from './commands/tokens.js'
import { runDecode } from './commands/decode.js'
import { exportJournal, verify } from './commands/journal.js'
import { runSend } from './commands/send.js'
import { serve } from './commands/serve.js'
import { runSimulate, writeFleet } from './commands/simulate.js'
import { readJsonFileOrThrow } from './read-file.js'
import { loadKey, packageVersion, parseCount, parseNow, parsePort, parsePositive, parseSeconds, parseWindow } from './options.js'

/** Receiver limits from a JSON file: names and types as in the README's limits table. */
/** The receiver's limits, under `api` the HTTP interface's, and under `verification` the code hashing's. */
function readLimits (file: string): { receiver: Partial<ReceiverOptions>, api: Partial<ApiOptions>, verification: Partial<HashLimits> } {
  const raw = readJsonFileOrThrow(file)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${file} must hold a JSON object`)
  const { api, verification, ...receiver } = raw as Record<string, unknown>
  const v = validateOptions(receiver)
  if (!v.ok) throw new Error(`${file}: ${v.reason}`)
  const a = validateApiOptions(api ?? {})
  if (!a.ok) throw new Error(`${file}: api: ${a.reason}`)
  const h = validateHashLimits(verification ?? {})
  if (!h.ok) throw new Error(`${file}: verification: ${h.reason}`)
  return { receiver: v.value, api: a.value, verification: h.value }
}

const readStdin = (): string => readFileSync(0, 'utf8')
const io: accounts.Io = { out: (s) => process.stdout.write(s), readStdin }
const codesIo: codes.Io = { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s), readStdin }

/** Seconds, or an EN 50136-1 category: SP2-SP6, DP1-DP4. */
function parseSupervision (v: string): number {
  const s = supervisionSeconds(v)
  if (s === undefined) throw new InvalidArgumentError('seconds, or a category: SP2 (25 h), SP3 (30 min), SP4 (3 min), SP5 (90 s), SP6 (20 s), DP1-DP4')
  return s
}

function parseUser (v: string): number {
  try {
    return codes.parseUser(v)
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message)
  }
}

export function buildProgram (): Command {
  const program = new Command()
    .name('dc09')
    .description('SIA DC-09 alarm receiver toolkit')
    .version(packageVersion())
    .showHelpAfterError()

  program.command('decode')
    .description('decode DC-09 frames from stdin, one per line (C-style escapes, or --hex; lines starting with # are comments), to one JSON object per line')
    .option('--key-file <file>', 'AES key for encrypted frames (else the DC09_KEY environment variable)')
    .addOption(new Option('--key-format <format>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--now <iso>', 'receiver time for the timestamp window check (skipped without it)', parseNow)
    .option('--window <+ahead,-behind>', 'timestamp window in seconds', parseWindow, { ahead: 20, behind: 40 })
    .option('--clock-offset <seconds>', 'the panel clock runs this many seconds ahead of UTC', parseSeconds)
    .option('--time-zone <zone>', 'the panel sends local time in this IANA zone')
    .option('--charset <name>', 'charset of text in the frame (default: UTF-8 if valid, else Windows-1252)', 'auto')
    .addOption(new Option('--aes <engine>', 'AES implementation').choices(['node', 'aes-js']).default('node'))
    .option('--hex', 'input lines are the hex of whole frames')
    .action(async (o: {
      keyFile?: string, keyFormat: KeyFormat, now?: number, window: TimestampWindow, clockOffset?: number,
      timeZone?: string, charset: string, aes: AesEngineName, hex?: boolean
    }) => {
      if (!isCharset(o.charset)) program.error(`error: unknown charset ${JSON.stringify(o.charset)}`, { exitCode: 2 })
      if (o.timeZone !== undefined && !isTimeZone(o.timeZone)) program.error(`error: unknown time zone ${JSON.stringify(o.timeZone)}`, { exitCode: 2 })
      let key: AesKey | undefined
      try {
        key = loadKey(o.keyFile, o.keyFormat, o.aes)
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      const clock: PanelClock | undefined = o.timeZone !== undefined
        ? { timeZone: o.timeZone }
        : o.clockOffset !== undefined ? { offsetSeconds: o.clockOffset } : undefined
      const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
      await runDecode(lines, { key, now: o.now, window: o.window, hex: o.hex, charset: o.charset, clock }, (s) => process.stdout.write(s))
    })

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
    .option('--config <file>', 'JSON file with receiver limits (names as in the README)')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .option('--segment-bytes <n>', 'journal segment size (advanced)', parseCount, 64 << 20)
    .option('--pepper-file <file>', 'the secret that keys disarm-code hashes (else DC09_PEPPER_FILE; --demo makes one)')
    .option('--pipeline <file>', 'JSON pipeline configuration (default: classify, supervision, cases, jsonl to DATA/events.jsonl)')
    .option('--api-host <address>', 'address the HTTP interface listens on', '127.0.0.1')
    .option('--api-port <port>', 'port of the HTTP interface (0: any free port)', parsePort, 9080)
    .option('--no-api', 'do not serve the HTTP interface')
    .action(async (o: { data: string, host: string, port: number, tcp: boolean, udp: boolean, demo?: boolean, unknownAccounts: ReceiverOptions['unknownAccounts'], silentUnreadable?: boolean, fsync: 'group' | 'each', config?: string, logLevel: string, segmentBytes: number, pepperFile?: string, pipeline?: string, apiHost: string, apiPort: number, api: boolean }) => {
      let limits: Partial<ReceiverOptions> = {}
      let apiLimits: Partial<ApiOptions> = {}
      let hashLimits: Partial<HashLimits> = {}
      try {
        if (o.config !== undefined) ({ receiver: limits, api: apiLimits, verification: hashLimits } = readLimits(o.config))
        // Read here first so that a missing file is said before anything starts.
        if (o.pipeline !== undefined) readJsonFileOrThrow(o.pipeline)
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      await serve({
        data: o.data, host: o.host, port: o.port, tcp: o.tcp, udp: o.udp, demo: o.demo === true, logLevel: o.logLevel, fsync: o.fsync, segmentBytes: Math.max(4096, o.segmentBytes),
        pepperFile: o.pepperFile, pipeline: o.pipeline, verification: hashLimits,
        api: o.api ? { host: o.apiHost, port: o.apiPort, options: apiLimits } : undefined,
        receiver: { ...limits, unknownAccounts: o.unknownAccounts, ...(o.silentUnreadable === true ? { nakUnreadable: false } : {}) },
      })
    })

  const acc = program.command('accounts').description('manage the accounts the receiver accepts (works while it runs)')
  const accountOptions = (c: Command) => c
    .requiredOption('--data <dir>', 'data directory')
    .requiredOption('--account <number>', 'account number (3-16 hex digits or letters)')
    .option('--key-stdin', 'read the AES key from standard input')
    .option('--key-file <file>', 'read the AES key from a file')
    .addOption(new Option('--key-format <format>', 'hex digits, or ASCII characters used as the key bytes').choices(['hex', 'ascii']))
    .option('--prefix <hex>', 'the account prefix (L) frames must carry ("" clears)')
    .option('--receiver <hex>', 'the receiver number (R) frames must carry ("" clears)')
    .option('--tenant <name>', 'the installer company that owns the account')
    .option('--supervision <interval>', 'expected reporting interval: seconds, or SP2-SP6, DP1-DP4 (EN 50136-1)', parseSupervision)
    .option('--encryption-required', 'refuse plain frames (the default when a key is set)')
    .option('--no-encryption-required', 'accept plain frames even with a key set')
    .option('--window <+ahead,-behind>', 'timestamp window in seconds', parseWindow)
    .option('--clock-offset <seconds>', 'the panel clock runs this many seconds ahead of UTC', parseSeconds)
    .option('--time-zone <zone>', 'the panel sends local time in this IANA zone')
    .option('--charset <name>', 'charset of text in its events')
    .option('--check-plain-timestamp', 'check the window on plain frames too')
    .option('--site-name <text>', 'the protected site\'s name ("" clears)')
    .option('--site-address <text>', 'the site\'s address ("" clears); keyholders come with accounts import')
    .option('--vip', 'a prominent person lives or works here (shown to operators and admins only)')
    .option('--no-vip', 'clear the prominent-person marker')
  accountOptions(acc.command('add').description('add an account'))
    .action((o: accounts.AccountFlags & { data: string, account: string }) => { process.exitCode = accounts.add(o.data, o.account, o, io) })
  accountOptions(acc.command('update').description('change an account (only the given fields)'))
    .option('--remove-key', 'remove the AES key')
    .action(async (o: accounts.AccountFlags & { data: string, account: string }) => { process.exitCode = await accounts.update(o.data, o.account, o, io, codes.actor(undefined)) })
  acc.command('remove').description('remove an account, its users and codes (closes its open case, if any)')
    .requiredOption('--data <dir>', 'data directory').requiredOption('--account <number>', 'account number')
    .action(async (o: { data: string, account: string }) => { process.exitCode = await accounts.remove(o.data, o.account, io, codes.actor(undefined)) })
  acc.command('purge').description('list, or delete, users and codes left under numbers without an account (a removal an older version did not finish)')
    .requiredOption('--data <dir>', 'data directory').option('--account <number>', 'purge this number').option('--all', 'purge every such number')
    .action(async (o: { data: string, account?: string, all?: boolean }) => { process.exitCode = await accounts.purge(o.data, { account: o.account, all: o.all === true }, io, codes.actor(undefined)) })
  acc.command('show').description('show an account (never its key: only whether one is set)')
    .requiredOption('--data <dir>', 'data directory').requiredOption('--account <number>', 'account number').option('--json', 'as JSON')
    .action((o: { data: string, account: string, json?: boolean }) => { process.exitCode = accounts.show(o.data, o.account, o.json === true, io) })
  acc.command('list').description('list accounts')
    .requiredOption('--data <dir>', 'data directory').option('--tenant <name>', 'only this tenant\'s').option('--json', 'as JSON lines')
    .action((o: { data: string, tenant?: string, json?: boolean }) => {
      process.exitCode = accounts.list(o.data, { json: o.json === true, ...(o.tenant === undefined ? {} : { tenant: o.tenant }) }, io)
    })
  acc.command('import').description('add or update accounts from a JSON array, all or nothing')
    .requiredOption('--data <dir>', 'data directory').argument('<file>', 'JSON array of accounts')
    .action(async (file: string, o: { data: string }) => { process.exitCode = await accounts.importFile(o.data, file, io, codes.actor(undefined)) })

  const journal = program.command('journal').description('read the event journal (works while the receiver runs)')
  journal.command('export').description('print every record as a JSON line')
    .requiredOption('--data <dir>', 'data directory').option('--from <id>', 'start at this journal id', parseCount, 1)
    .action(async (o: { data: string, from: number }) => { await exportJournal(o.data, o.from, (s) => process.stdout.write(s)) })
  journal.command('verify').description('check every record\'s checksum and report what was found')
    .requiredOption('--data <dir>', 'data directory')
    .action(async (o: { data: string }) => { process.exitCode = (await verify(o.data, (s) => process.stdout.write(s))) ? 0 : 1 })

  // Keyholders and their codes. Codes come from stdin only; --pepper-file or DC09_PEPPER_FILE.
  const common = (c: Command) => c
    .requiredOption('--data <dir>', 'data directory')
    .option('--pepper-file <file>', 'the pepper (else DC09_PEPPER_FILE, else the demo\'s DATA/pepper)')
    .option('--by <name>', 'who does this, for the audit trail (default cli:USER)')
  const users = program.command('users').description('the users (keyholders) of an account')
  common(users.command('add').description('add a user to an account'))
    .requiredOption('--account <number>', 'account number').requiredOption('--user <n>', 'user number (1-9999, as the panel reports it)', parseUser)
    .option('--name <name>', 'the user\'s name')
    .action((o: codes.Common & { account: string, user: number, name?: string }) => { process.exitCode = codes.usersAdd(o, codesIo) })
  common(users.command('list').description('list an account\'s users and whether each has a code (never the code)'))
    .requiredOption('--account <number>', 'account number').option('--json', 'as JSON lines')
    .action((o: codes.Common & { account: string, json?: boolean }) => { process.exitCode = codes.usersList(o, codesIo) })
  common(users.command('remove').description('remove a user and their codes'))
    .requiredOption('--account <number>', 'account number').requiredOption('--user <n>', 'user number', parseUser)
    .action((o: codes.Common & { account: string, user: number }) => { process.exitCode = codes.usersRemove(o, codesIo) })

  const codeCmd = program.command('codes').description('disarm and duress codes (write-only: stored as salted, peppered scrypt hashes)')
  common(codeCmd.command('set').description('set a user\'s disarm code (or duress code), read from standard input'))
    .requiredOption('--account <number>', 'account number').requiredOption('--user <n>', 'user number', parseUser)
    .option('--duress', 'set the duress code: it verifies like the disarm code and silently raises a duress event')
    .action(async (o: codes.Common & { account: string, user: number, duress?: boolean }) => { process.exitCode = await codes.codesSet(o, codesIo) })
  common(codeCmd.command('reset-all').description('make every code on every account invalid at once (a leak is suspected)'))
    .action((o: codes.Common) => { process.exitCode = codes.codesResetAll(o, codesIo) })
  common(codeCmd.command('policy').description('show or change the lockout and enrolment policy (audited; applies to every verification from then on)'))
    .option('--max-failures <n>', 'failures within the lock window that lock an account (default 5; a valid code does not clear them)', parseCount)
    .option('--lock-minutes <n>', 'how long the account stays locked (default 15)', parseCount)
    .option('--caller-max-failures <n>', 'failures one caller may have across accounts within its window (default 20)', parseCount)
    .option('--caller-window-minutes <n>', 'the caller\'s window (default 60)', parseCount)
    .option('--caller-lock-minutes <n>', 'how long a caller stays locked (default 60)', parseCount)
    .option('--min-length <n>', 'fewest digits of a new code (default 6, at least 4)', parseCount)
    .option('--json', 'as JSON')
    .action((o: codes.Common & Partial<Policy> & { json?: boolean }) => { process.exitCode = codes.codesPolicy(o, codesIo) })
  common(codeCmd.command('unlock').description('lift an account\'s verification lock after failed attempts (audited)'))
    .requiredOption('--account <number>', 'account number')
    .action((o: codes.Common & { account: string }) => { process.exitCode = codes.codesUnlock(o, codesIo) })

  common(program.command('verify').description('check a disarm code presented for an account (read from standard input); prints {"result": "valid"|"invalid"|"locked", ...}'))
    .requiredOption('--account <number>', 'account number')
    .option('--caller <id>', 'who presents the code (an operator, an IVR line): attempts are limited per caller')
    .action(async (o: codes.Common & { account: string, caller?: string }) => { process.exitCode = await codes.verifyCode(o, codesIo) })

  common(program.command('audit').description('the audit trail of users, codes and verifications (never a code)'))
    .option('--limit <n>', 'the last N entries', parseCount, 100).option('--json', 'as JSON lines')
    .action((o: codes.Common & { limit: number, json?: boolean }) => { process.exitCode = codes.auditList(o, codesIo) })

  const pipe = program.command('pipeline').description('the event pipeline\'s progress (works while the receiver runs)')
  pipe.command('status').description('where the pipeline is in the journal, and how many events are parked')
    .requiredOption('--data <dir>', 'data directory').option('--json', 'as JSON')
    .action(async (o: { data: string, json?: boolean }) => { process.exitCode = await pipeline.status(o.data, o.json === true, (s) => process.stdout.write(s)) })
  pipe.command('dead-letters').description('events a stage failed on after its retries, with the error')
    .requiredOption('--data <dir>', 'data directory').option('--json', 'as JSON lines')
    .action((o: { data: string, json?: boolean }) => { process.exitCode = pipeline.deadLetters(o.data, o.json === true, (s) => process.stdout.write(s)) })

  program.command('cases').description('alarm cases').command('list').description('open cases (or all with --all)')
    .requiredOption('--data <dir>', 'data directory').option('--all', 'closed cases too').option('--account <number>', 'only this account\'s').option('--json', 'as JSON lines')
    .action((o: { data: string, all?: boolean, account?: string, json?: boolean }) => { process.exitCode = pipeline.listCases(o.data, { all: o.all === true, account: o.account, json: o.json === true }, (s) => process.stdout.write(s)) })

  const tok = program.command('tokens').description('bearer tokens for the HTTP interface (stored only as hashes)')
  tok.command('create').description('make a token and print it, once, as the only output line')
    .requiredOption('--data <dir>', 'data directory')
    .addOption(new Option('--role <role>', 'what the token may do').choices(['admin', 'operator', 'installer']).makeOptionMandatory())
    .option('--tenant <name>', 'the tenant an installer token is bound to (registered if new)')
    .option('--name <text>', 'whose token it is, for lists and the audit trail')
    .option('--expires-days <n>', 'the token stops working after this many days', parsePositive)
    .option('--by <name>', 'who does this, for the audit trail (default cli:USER)')
    .action((o: { data: string, role: string, tenant?: string, name?: string, expiresDays?: number, by?: string }) => { process.exitCode = tokens.create(o, codesIo) })
  tok.command('list').description('the tokens: id, role, tenant, name, state (never a secret or hash)')
    .requiredOption('--data <dir>', 'data directory').option('--json', 'as JSON lines')
    .action((o: { data: string, json?: boolean }) => { process.exitCode = tokens.list(o, codesIo) })
  tok.command('revoke').description('revoke a token, for good')
    .requiredOption('--data <dir>', 'data directory').requiredOption('--id <id>', 'the token\'s id (dc09 tokens list)')
    .option('--by <name>', 'who does this, for the audit trail (default cli:USER)')
    .action((o: { data: string, id: string, by?: string }) => { process.exitCode = tokens.revoke(o, codesIo) })

  program.command('send')
    .description('send frames (C-escaped lines, or events with --account) to a receiver and check each answer')
    .option('--host <address>', 'receiver address', '127.0.0.1')
    .option('--port <port>', 'receiver port', parsePort, 9000)
    .option('--udp', 'send over UDP instead of TCP')
    .option('--timeout <ms>', 'how long to wait for each answer', parseCount, 5000)
    .option('--account <number>', 'build frames for this account from lines like "ADM-CID 1130 01 015", "SIA-DCS Nri1/BA01", "NULL"')
    .option('--key-file <file>', 'AES key to encrypt with (else the DC09_KEY environment variable)')
    .addOption(new Option('--key-format <format>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--prefix <hex>', 'account prefix (L) of built frames', '0')
    .option('--receiver <hex>', 'receiver number (R) of built frames')
    .option('--seq <n>', 'first sequence number', parseCount, 1)
    .action(async (o: { host: string, port: number, udp?: boolean, timeout: number, account?: string, keyFile?: string, keyFormat: KeyFormat, prefix: string, receiver?: string, seq: number }) => {
      let key: AesKey | undefined
      try {
        key = o.account === undefined ? undefined : loadKey(o.keyFile, o.keyFormat, 'node')
      } catch (err) {
        program.error(`error: ${(err as Error).message}`, { exitCode: 2 })
      }
      const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
      try {
        const ok = await runSend(lines, { host: o.host, port: o.port, udp: o.udp === true, timeoutMs: o.timeout, account: o.account, key, prefix: o.prefix, receiver: o.receiver, seq: o.seq }, (s) => process.stdout.write(s))
        process.exitCode = ok ? 0 : 1
      } catch (err) {
        process.stderr.write(`dc09 send: ${(err as Error).message}\n`)
        process.exitCode = 1
      }
    })

  program.command('simulate')
    .description('drive a receiver like many real panels: events, retries, faults, and a summary with ACK latency')
    .option('--host <address>', 'receiver address (loopback unless --allow-remote)', '127.0.0.1')
    .option('--port <port>', 'receiver port', parsePort, 9000)
    .addOption(new Option('--proto <proto>', 'transport').choices(['tcp', 'udp']).default('tcp'))
    .option('--connect-per-event', 'TCP: a new connection for every event, as some hubs do')
    .option('--panels <n>', 'number of panels', parseCount)
    .option('--account <number>', 'the account every panel reports as')
    .option('--key-stdin', 'read the AES key for --account from standard input')
    .option('--key-file <file>', 'read the AES key for --account from a file')
    .addOption(new Option('--key-format <format>', 'how the key is written').choices(['hex', 'ascii']).default('hex'))
    .option('--prefix <hex>', 'account prefix (L) with --account', '0')
    .option('--receiver <hex>', 'receiver number (R) with --account')
    .option('--accounts <file>', 'one panel per entry of a fleet file (the dc09 accounts import format)')
    .option('--events <n>', 'events per panel (default 10)', parseCount)
    .option('--duration <seconds>', 'run this long instead', parsePositive)
    .option('--rate <events/s>', 'events per second per panel (default: ping-pong, the next after each answer)', parsePositive)
    .option('--mix <weights>', 'kinds of event', 'cid=70,sia=20,null=10')
    .option('--scenario <file>', 'a JSON scenario each panel plays instead of random events')
    .option('--ack-timeout <ms>', 'how long a panel waits for its answer', parseCount, 5000)
    .option('--retries <n>', 'retransmissions of an unanswered or refused frame', parseCount, 3)
    .option('--clock-skew <seconds>', 'every panel clock runs this far off', parseSeconds, 0)
    .option('--faults <percentages>', `faults on demand: ${['bad-crc', 'wrong-key', 'skew', 'split', 'merge', 'slow', 'drop'].map((x) => `${x}=P`).join(',')}`)
    .option('--any-answer', 'count any CR-terminated line as the answer (for the benchmark\'s bare baseline server only)')
    .option('--allow-remote', 'allow a host that is not loopback')
    .option('--json', 'print the summary as one JSON object')
    .action(async (o: { host: string, port: number, proto: 'tcp' | 'udp', connectPerEvent?: boolean, panels?: number, account?: string, keyStdin?: boolean, keyFile?: string, keyFormat: KeyFormat, prefix: string, receiver?: string, accounts?: string, events?: number, duration?: number, rate?: number, mix: string, scenario?: string, ackTimeout: number, retries: number, clockSkew: number, faults?: string, anyAnswer?: boolean, allowRemote?: boolean, json?: boolean }) => {
      try {
        let key: AesKey | undefined
        if (o.keyStdin === true) {
          const text = readStdin().replace(/^\uFEFF/, '').replace(/[\r\n]+$/, '')
          const k = parseKey(text, o.keyFormat)
          if (!k.ok) throw new Error(`the key is not usable: ${k.reason}`)
          key = k.key
        } else if (o.account !== undefined) {
          key = loadKey(o.keyFile, o.keyFormat, 'node')
        }
        process.exitCode = await runSimulate({ ...o, key }, (s) => process.stdout.write(s), (s) => process.stderr.write(s))
      } catch (err) {
        process.stderr.write(`dc09 simulate: ${(err as Error).message}\n`)
        process.exitCode = 2
      }
    })

  program.command('fleet')
    .description('write a fleet file (the dc09 accounts import format) with fresh random keys, for the receiver and the simulator')
    .requiredOption('--count <n>', 'number of accounts', parseCount)
    .addOption(new Option('--key-format <format>', 'keys as hex or ASCII, or no keys').choices(['hex', 'ascii', 'none']).default('hex'))
    .requiredOption('--out <file>', 'where to write it (mode 0600: it holds keys)')
    .option('--first <n>', 'first account number', parseCount, 100000)
    .option('--tenant <name>', 'tenant of every account')
    .action((o: { count: number, keyFormat: KeyFormat | 'none', out: string, first: number, tenant?: string }) => {
      if (o.count < 1 || o.count > 1_000_000) program.error('error: --count is 1 to 1000000', { exitCode: 2 })
      writeFleet(o.count, o.keyFormat, o.out, o.first, o.tenant)
      process.stdout.write(`wrote ${o.count} account(s) to ${o.out}\n`)
    })

  return program
}

await buildProgram().parseAsync(process.argv)
