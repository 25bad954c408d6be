/** The `dc09` program: each command registers itself from its own file under commands/. */
import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import * as accounts from './commands/accounts.js'
import * as codes from './commands/codes.js'
import * as decode from './commands/decode.js'
import * as journal from './commands/journal.js'
import * as pipeline from './commands/pipeline.js'
import * as send from './commands/send.js'
import * as serve from './commands/serve.js'
import * as simulate from './commands/simulate.js'
import * as tokens from './commands/tokens.js'
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

export function buildProgram (deps: CliDeps = processDeps): Command {
  const program = configureHelp(new Command())
    .name('dc09')
    .description('SIA DC-09 alarm receiver toolkit')
    .version(packageVersion())
    .showHelpAfterError()
  decode.register(program, deps)
  serve.register(program)
  accounts.register(program, deps)
  journal.register(program, deps)
  codes.register(program, deps)
  pipeline.register(program, deps)
  tokens.register(program, deps)
  send.register(program, deps)
  simulate.register(program, deps)
  return program
}
