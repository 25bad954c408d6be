/**
 * A fleet of panels, in the same JSON form as `dc09 accounts import`, so that one file sets up
 * both the receiver and the simulator.
 */
import { randomBytes, randomInt } from 'node:crypto'
import { readJsonFileOrThrow } from '../cli/read-file.js'
import { aesEngine, parseKey, type AesKey, type KeyFormat } from '../protocol/index.js'

export interface PanelSpec {
  readonly account: string
  readonly key?: string | undefined
  readonly keyFormat?: KeyFormat | undefined
  readonly prefix?: string | undefined
  readonly receiver?: string | undefined
}

/** A panel's settings, key expanded. */
export interface PanelConfig {
  readonly account: string
  readonly key: AesKey | undefined
  readonly prefix: string | undefined
  readonly receiver: string | undefined
}

export function panelConfig (spec: PanelSpec): PanelConfig {
  let key: AesKey | undefined
  if (spec.key !== undefined) {
    const k = parseKey(spec.key, spec.keyFormat ?? 'hex', aesEngine('node'))
    if (!k.ok) throw new Error(`account ${spec.account}: ${k.reason}`)
    key = k.value
  }
  return { account: spec.account, key, prefix: spec.prefix, receiver: spec.receiver }
}

/** Reads a fleet file; every entry needs an account, keys are checked here. */
export function readFleet (file: string): PanelConfig[] {
  const raw = readJsonFileOrThrow(file)
  if (!Array.isArray(raw) || raw.length === 0) throw new Error(`${file} must hold a JSON array of accounts`)
  return raw.map((e: unknown, i) => {
    const o = e as Partial<Record<string, unknown>>
    if (typeof o !== 'object' || o === null || typeof o.account !== 'string') throw new Error(`${file}: entry ${i} has no account`)
    return panelConfig({
      account: o.account,
      key: typeof o.key === 'string' ? o.key : undefined,
      keyFormat: o.keyFormat === 'ascii' ? 'ascii' : o.keyFormat === 'hex' ? 'hex' : undefined,
      prefix: typeof o.prefix === 'string' ? o.prefix : '0',
      receiver: typeof o.receiver === 'string' ? o.receiver : undefined,
    })
  })
}

const ASCII = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789'

/** `count` accounts from `first` upward, each with a fresh random AES-128 key (or none). */
export function makeFleet (count: number, keyFormat: KeyFormat | 'none', first = 100000, extra: { prefix?: string, tenant?: string } = {}): object[] {
  return Array.from({ length: count }, (_, i) => {
    const key = keyFormat === 'hex'
      ? randomBytes(16).toString('hex').toUpperCase()
      : keyFormat === 'ascii' ? Array.from({ length: 16 }, () => ASCII[randomInt(ASCII.length)]).join('') : undefined
    return {
      account: String(first + i),
      ...(key === undefined ? {} : { key, keyFormat }),
      prefix: extra.prefix ?? '0',
      ...(extra.tenant === undefined ? {} : { tenant: extra.tenant }),
    }
  })
}
