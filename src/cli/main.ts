#!/usr/bin/env node
/** The `dc09` command. */
import { buildProgram } from './program.js'

/** Errors that say the cluster cannot be used (unreachable, or without its streams): one line, not a stack trace. */
const CLUSTER_CODES: readonly unknown[] = ['DC09_ERR_CLUSTER_UNAVAILABLE', 'DC09_ERR_CLUSTER_LAYOUT']

const program = await buildProgram(undefined, process.argv.slice(2))
try {
  await program.parseAsync(process.argv)
} catch (err) {
  const e = err as { code?: unknown, message?: unknown }
  if (!CLUSTER_CODES.includes(e?.code)) throw err
  process.stderr.write(`dc09: ${String(e.message)} (${String(e.code)})\n`)
  process.exitCode = 1
}
