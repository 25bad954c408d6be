/**
 * Every TCP connection is an open file, so the process's limit on open files (RLIMIT_NOFILE)
 * bounds the connections as surely as maxConnections does: past it, accepting fails (EMFILE)
 * whatever maxConnections says. On Linux the limit is read once at start from /proc/self/limits
 * (Node has raised its soft limit to the hard one by then); elsewhere it is not checked.
 */
import { readFileSync } from 'node:fs'

/** Files a receiver needs besides its panels' connections: journal segments, databases, log, listeners, the HTTP interface's clients. */
export const FILES_BESIDES_CONNECTIONS = 256

/** The soft limit from the text of /proc/self/limits; undefined when unlimited or not there. */
export function parseFileLimit (text: string): number | undefined {
  const m = /^Max open files\s+(\d+)\s/m.exec(text)
  return m === null ? undefined : Number(m[1])
}

/** This process's limit on open files, where it can be read cheaply (Linux). */
export function openFileLimit (): number | undefined {
  try {
    return parseFileLimit(readFileSync('/proc/self/limits', 'latin1'))
  } catch {
    return undefined
  }
}

export interface FileLimitWarning {
  readonly maxConnections: number
  readonly fileLimit: number
  /** The connections the limit leaves room for. */
  readonly connectionsThatFit: number
}

/** What to warn about when maxConnections does not fit the file limit; undefined when it fits or the limit is unknown. */
export function fileLimitWarning (maxConnections: number, fileLimit: number | undefined): FileLimitWarning | undefined {
  if (fileLimit === undefined || maxConnections + FILES_BESIDES_CONNECTIONS <= fileLimit) return undefined
  return { maxConnections, fileLimit, connectionsThatFit: Math.max(0, fileLimit - FILES_BESIDES_CONNECTIONS) }
}
