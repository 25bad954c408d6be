/** The `dc09` program: each command registers itself from its own file under commands/. */
import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import type { CliDeps } from './deps.js'
import { configureHelp } from './help.js'
import { packageVersion } from './options.js'

const processDeps: CliDeps = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  readStdin: () => readFileSync(0, 'utf8'),
  stdin: process.stdin,
  stderrIsTTY: process.stderr.isTTY,
}

interface CommandFile {
  register (program: Command, deps: CliDeps): void
}

/**
 * The command files, in the order help lists them. Each is loaded only when needed: a short
 * command (send, decode) does not pay for loading the receiver, the HTTP interface and SQLite.
 */
const FILES = {
  decode: async () => await import('./commands/decode.js'),
  serve: async () => await import('./commands/serve.js'),
  accounts: async () => await import('./commands/accounts.js'),
  journal: async () => await import('./commands/journal.js'),
  codes: async () => await import('./commands/codes.js'),
  pipeline: async () => await import('./commands/pipeline.js'),
  outputs: async () => await import('./commands/outputs.js'),
  tokens: async () => await import('./commands/tokens.js'),
  cluster: async () => await import('./commands/cluster.js'),
  send: async () => await import('./commands/send.js'),
  simulate: async () => await import('./commands/simulate.js'),
  'surgard-client': async () => await import('./commands/surgard-client.js'),
} satisfies Record<string, () => Promise<CommandFile>>

/** The file that registers each command (some register several). */
const FILE_OF: Readonly<Record<string, keyof typeof FILES>> = {
  decode: 'decode',
  serve: 'serve',
  accounts: 'accounts',
  journal: 'journal',
  users: 'codes',
  codes: 'codes',
  verify: 'codes',
  audit: 'codes',
  pipeline: 'pipeline',
  cases: 'pipeline',
  outputs: 'outputs',
  tokens: 'tokens',
  cluster: 'cluster',
  send: 'send',
  simulate: 'simulate',
  fleet: 'simulate',
  'surgard-client': 'surgard-client',
}

/**
 * The program with every command, or, given the command-line words, with only the file of the
 * command they name (none for the version; all of them for the program's own help, an unknown
 * command or none).
 */
export async function buildProgram (deps: CliDeps = processDeps, args?: readonly string[]): Promise<Command> {
  const program = configureHelp(new Command())
    .name('dc09')
    .description('SIA DC-09 alarm receiver toolkit')
    .version(packageVersion())
    .showHelpAfterError()
  const first = args?.find((a) => !a.startsWith('-'))
  const only = first !== undefined && Object.hasOwn(FILE_OF, first) ? FILE_OF[first] : undefined
  const version = first === undefined && args !== undefined && args.some((a) => a === '-V' || a === '--version')
  const names = version ? [] : only === undefined ? Object.keys(FILES) as Array<keyof typeof FILES> : [only]
  const files = await Promise.all(names.map(async (n) => await FILES[n]()))
  for (const f of files) f.register(program, deps)
  return program
}
