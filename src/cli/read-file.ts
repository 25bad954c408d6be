/**
 * Reads the files a command is given (an import, a key, a pepper, limits, a pipeline, a fleet,
 * a scenario) with one set of messages: a missing file is "no such file", never "not valid JSON".
 * Messages name the file and never quote its content: such files hold keys.
 */
import { readFileSync } from 'node:fs'
import { err, ok, type Err, type Result } from '../result.js'

export type InputError = Err<'DC09_ERR_INPUT'>

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'no such file',
  EISDIR: 'not a file',
  EACCES: 'not readable',
  EPERM: 'not readable',
}

/** The bytes of `file`, or why it could not be read. */
export function readInputFile (file: string): Result<Buffer, InputError> {
  try {
    return ok(readFileSync(file))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? ''
    return err('DC09_ERR_INPUT', `${REASONS[code] ?? `cannot read (${code || 'error'})`}: ${file}`)
  }
}

/** The text of `file` as UTF-8, without a byte order mark. */
export function readTextFile (file: string): Result<string, InputError> {
  const r = readInputFile(file)
  return r.ok ? ok(r.value.toString('utf8').replace(/^\uFEFF/, '')) : r
}

/** The parsed JSON of `file`; a missing file and bad JSON are told apart. */
export function readJsonFile (file: string): Result<unknown, InputError> {
  const r = readTextFile(file)
  if (!r.ok) return r
  try {
    return ok(JSON.parse(r.value) as unknown)
  } catch {
    // Not the parser's message: it quotes the text around the error.
    return err('DC09_ERR_INPUT', `${file} is not valid JSON`)
  }
}

/** The same, for callers that report failures by throwing. */
export function readJsonFileOrThrow (file: string): unknown {
  const r = readJsonFile(file)
  if (!r.ok) throw new Error(r.reason)
  return r.value
}
