/**
 * Help conventions, the same on every command: a required option says "(required)"; a default
 * is shown only in commander's own form, "(default: x)"; flags for tests and benchmarks are
 * accepted but hidden.
 */
import { Help, type Command, type Option } from 'commander'

export const REQUIRED = '(required)'

/** Marks mandatory options; set on the program, every subcommand inherits it. */
export function configureHelp (program: Command): Command {
  return program.configureHelp({
    optionDescription (this: Help, option: Option): string {
      const text = Help.prototype.optionDescription.call(this, option)
      return option.mandatory ? `${text} ${REQUIRED}` : text
    },
  })
}

/** Options whose value came from their default, not the command line, read as not given. */
export function givenOnly<T extends object> (cmd: Command, o: T, names: ReadonlyArray<keyof T & string>): T {
  const out: Record<string, unknown> = { ...(o as Record<string, unknown>) }
  for (const n of names) if (cmd.getOptionValueSource(n) === 'default') delete out[n]
  return out as T
}
