/**
 * The help of every command and subcommand, built from the program itself: required options say
 * so, defaults have one form, flags for tests and benchmarks are hidden, and commands that only
 * read do not offer flags for what they do not do.
 */
import type { Command, Option } from 'commander'
import { describe, expect, it } from 'vitest'
import { buildProgram } from '../../../src/cli/program.js'
import type { CliDeps } from '../../../src/cli/deps.js'

const deps: CliDeps = { out: () => {}, err: () => {}, readStdin: () => '', stdin: process.stdin, stderrIsTTY: false }

/** Every command under the program, by its full name (`codes set`). */
function commands (c: Command, prefix = ''): Array<[string, Command]> {
  return c.commands.flatMap((sub) => {
    const name = `${prefix}${sub.name()}`
    return [[name, sub] as [string, Command], ...commands(sub, `${name} `)]
  })
}

const program = await buildProgram(deps)
const all = commands(program)
const leaves = all.filter(([, c]) => c.commands.length === 0)
const option = (c: Command, long: string): Option | undefined => c.options.find((o) => o.long === long)

/** Flags for benchmarks and tests: accepted, never shown. */
const HIDDEN: Record<string, string[]> = { simulate: ['--any-answer'] }
/** Commands that only read: nothing is audited (--by) and no code is hashed (--pepper-file). */
const READ_ONLY = ['accounts show', 'accounts list', 'journal export', 'journal verify', 'users list', 'audit', 'pipeline status', 'pipeline dead-letters', 'cases list', 'tokens list', 'decode']
/** The only commands that hash or check a code. */
const PEPPERED = ['codes set', 'verify']

describe('dc09 --help, every command', () => {
  it('walks them all', () => {
    expect(leaves.map(([n]) => n)).toEqual(expect.arrayContaining(['decode', 'serve', 'accounts add', 'codes policy', 'tokens create', 'send', 'simulate', 'fleet']))
    expect(leaves.length).toBeGreaterThan(25)
  })

  it.each(all)('%s: every required option says "(required)", and only those', (_name, c) => {
    const help = c.createHelp()
    for (const o of help.visibleOptions(c)) {
      expect(help.optionDescription(o).endsWith('(required)'), o.flags).toBe(o.mandatory)
    }
    const text = c.helpInformation()
    for (const o of c.options.filter((x) => x.mandatory)) expect(text).toMatch(new RegExp(`${o.long!}[^\\n]*(\\n {10,}[^\\n]*)*\\(required\\)`))
  })

  it.each(all)('%s: defaults only in commander\'s form "(default: x)"', (_name, c) => {
    // A hand-written "default 5" or "(default: ...)" in a description is a second format.
    for (const o of c.options) expect(o.description, o.flags).not.toMatch(/default/i)
    expect(c.description()).not.toMatch(/default/i)
    const help = c.createHelp()
    for (const o of help.visibleOptions(c)) {
      const text = help.optionDescription(o)
      // Commander's own: "(default: x)", or "(choices: ..., default: x)".
      for (const m of text.matchAll(/default/gi)) expect(text.slice(m.index - 2, m.index + 9), o.flags).toMatch(/^(.\(|, )default: $/)
    }
  })

  it.each(all)('%s: an option with a value and a default shows it', (_name, c) => {
    const help = c.createHelp()
    for (const o of help.visibleOptions(c)) {
      if (o.defaultValue !== undefined && (o.required || o.optional)) expect(help.optionDescription(o), o.flags).toMatch(/(\(|, )default: /)
    }
  })

  it('hides the benchmark flags but still accepts them', async () => {
    for (const [name, flags] of Object.entries(HIDDEN)) {
      const c = all.find(([n]) => n === name)![1]
      for (const f of flags) {
        expect(option(c, f)?.hidden, f).toBe(true)
        expect(c.helpInformation()).not.toContain(f)
      }
    }
    // Parsed like any flag (the action is not reached: --help is not given, so parse only).
    const sim = all.find(([n]) => n === 'simulate')![1]
    expect(sim.parseOptions(['--any-answer']).unknown).toEqual([])
  })

  it('simulate --panels shows its default', () => {
    const sim = all.find(([n]) => n === 'simulate')![1]
    expect(sim.helpInformation()).toMatch(/--panels <n>\s+number of panels \(default: 1/)
  })

  /** Offered: the option is there and shown. */
  const offered = (c: Command, long: string): boolean => option(c, long) !== undefined && option(c, long)!.hidden !== true

  it.each(READ_ONLY)('%s: offers no --by, no --pepper-file', (name) => {
    const c = all.find(([n]) => n === name)?.[1]
    expect(c, name).toBeDefined()
    expect(offered(c!, '--by')).toBe(false)
    expect(offered(c!, '--pepper-file')).toBe(false)
    expect(c!.helpInformation()).not.toMatch(/--by|--pepper-file/)
  })

  it('offers --pepper-file only where a code is hashed or checked', () => {
    expect(leaves.filter(([, c]) => offered(c, '--pepper-file')).map(([n]) => n).sort()).toEqual([...PEPPERED, 'serve'].sort())
  })

  it('still accepts the flags it stopped offering, so that scripts keep working', () => {
    for (const name of ['users list', 'users add', 'audit', 'codes policy']) {
      const c = all.find(([n]) => n === name)![1]
      expect(c.parseOptions(['--pepper-file', 'p', '--by', 'x']).unknown, name).toEqual([])
    }
  })
})
