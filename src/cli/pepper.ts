/** Where the pepper comes from: `--pepper-file`, else DC09_PEPPER_FILE, else the one `serve --demo` made. */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { readInputFile } from './read-file.js'
import { readPepper } from '../verification/verifier.js'

export const PEPPER_HELP = 'a pepper is needed for disarm codes: --pepper-file FILE or DC09_PEPPER_FILE=FILE (make one with: head -c 32 /dev/urandom > FILE; keep it outside the data directory, readable only by the receiver, and backed up)'

/** The demo's pepper, made by `serve --demo` in its data directory. */
export const demoPepperPath = (data: string): string => join(data, 'pepper')

export function pepperFile (data: string | undefined, flag: string | undefined): string | undefined {
  if (flag !== undefined) return flag
  const env = process.env.DC09_PEPPER_FILE
  if (env !== undefined && env !== '') return env
  return data !== undefined && existsSync(demoPepperPath(data)) ? demoPepperPath(data) : undefined
}

/** The pepper, or an error message that says how to provide one. */
export function loadPepper (data: string | undefined, flag: string | undefined): { ok: true, pepper: Buffer } | { ok: false, reason: string } {
  const file = pepperFile(data, flag)
  if (file === undefined) return { ok: false, reason: PEPPER_HELP }
  try {
    return { ok: true, pepper: readPepper(file) }
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === undefined) return { ok: false, reason: e.message }
    const r = readInputFile(file)
    return { ok: false, reason: r.ok ? e.message : r.reason }
  }
}
