/** Argument parsers shared by the `dc09` subcommands. They throw commander's InvalidArgumentError. */
import { existsSync, readFileSync } from 'node:fs'
import { InvalidArgumentError } from 'commander'
import { readTextFile } from './read-file.js'
import { aesEngine, parseKey, type AesEngineName, type AesKey, type KeyFormat, type TimestampWindow } from '../protocol/index.js'

/** `+20,-40`: seconds ahead, seconds behind. */
export function parseWindow (text: string): TimestampWindow {
  const m = /^\+?(\d{1,6}),-?(\d{1,6})$/.exec(text.trim())
  if (m === null) throw new InvalidArgumentError('expected +AHEAD,-BEHIND in seconds, e.g. +20,-40')
  return { ahead: Number(m[1]), behind: Number(m[2]) }
}

export function parseNow (text: string): number {
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) throw new InvalidArgumentError('expected an ISO-8601 time, e.g. 2024-01-15T12:00:00Z')
  return ms
}

export function parseSeconds (text: string): number {
  if (!/^-?\d{1,6}$/.test(text)) throw new InvalidArgumentError('expected whole seconds')
  return Number(text)
}

/**
 * Reads an AES key from a file or, without one, from the DC09_KEY environment variable; never
 * from an argument (argv is visible to every user of the machine). Errors never repeat the key.
 */
export function loadKey (file: string | undefined, format: KeyFormat, engine: AesEngineName, env = process.env): AesKey | undefined {
  let text: string | undefined
  // A BOM and the line ending an editor adds are not part of the key.
  if (file !== undefined) {
    const r = readTextFile(file)
    if (!r.ok) throw new InvalidArgumentError(r.reason)
    text = r.value.replace(/[\r\n]+$/, '')
  } else if (env.DC09_KEY !== undefined && env.DC09_KEY !== '') text = env.DC09_KEY
  if (text === undefined) return undefined
  const parsed = parseKey(text, format, aesEngine(engine))
  if (!parsed.ok) throw new InvalidArgumentError(`the key is not usable: ${parsed.reason}`)
  return parsed.value
}

/** The version in the package.json above this file (source or build). */
export function packageVersion (): string {
  let dir = new URL('.', import.meta.url)
  for (let i = 0; i < 5; i++) {
    const file = new URL('package.json', dir)
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version
    dir = new URL('..', dir)
  }
  return '0.0.0'
}

export function parsePort (text: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535')
  return Number(text)
}

export function parseCount (text: string): number {
  if (!/^\d{1,9}$/.test(text)) throw new InvalidArgumentError('expected a whole number')
  return Number(text)
}

export function parsePositive (text: string): number {
  if (!/^\d{1,7}(\.\d{1,20})?$/.test(text) || Number(text) <= 0) throw new InvalidArgumentError('expected a positive number')
  return Number(text)
}
