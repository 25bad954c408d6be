/**
 * The HTTP interface's limits and settings: their defaults, their bounds, and the check of the
 * `api` object of a limits file.
 */
import { isIP } from 'node:net'
import { DEFAULT_RECENT_BYTES } from './recent.js'

export interface ApiOptions {
  /** The largest request body, in bytes. */
  readonly bodyLimit: number
  /** Requests a token may make at once, and how fast that allowance refills (per second). */
  readonly rateBurst: number
  readonly ratePerSecond: number
  /** The most items a list returns (and its default). */
  readonly pageSize: number
  /** Accounts an installer's tenant (all its tokens) may read in a minute before a security event is journaled. */
  readonly bulkReadPerMinute: number
  /** How long resolving a case waits for the pipeline to close it before answering 202. */
  readonly resolveWaitMs: number
  /**
   * Codes an installer's tenant (all its tokens; an admin: its token) may have refused as already
   * in use on an account, per hour (each tells that a code is in use). Also how many code sets it
   * may have in flight at once (more are answered busy): each could end as such a refusal.
   */
  readonly codeConflictsPerHour: number
  /** Codes a tenant (an admin: its token) may set on one account, per hour. */
  readonly codeSetsPerAccountPerHour: number
  /** Numbers an installer's tenant may have refused as taken by another tenant, per hour (each tells that the number exists). */
  readonly takenNumbersPerHour: number
  /** Accounts an installer's tenant may have (an installer adds them at its token's rate otherwise). */
  readonly maxAccountsPerTenant: number
  /** Recent events kept in memory for GET .../events: per account, and in all. */
  readonly recentPerAccount: number
  readonly recentTotal: number
  /**
   * Addresses or networks (CIDR) of the reverse proxies in front of the interface: requests from
   * them are taken as from the client their X-Forwarded-For names (limits by address, the audit
   * trail). Empty: the header is ignored, the peer is the client.
   */
  readonly trustProxy: readonly string[]
  /** Estimated bytes of memory the recent events may take in all: the oldest go first beyond it, whatever their count. */
  readonly recentMaxBytes: number
}

export const defaultApiOptions: ApiOptions = Object.freeze({
  bodyLimit: 64 * 1024,
  rateBurst: 60,
  ratePerSecond: 10,
  pageSize: 100,
  bulkReadPerMinute: 100,
  resolveWaitMs: 3000,
  codeConflictsPerHour: 5,
  codeSetsPerAccountPerHour: 20,
  takenNumbersPerHour: 20,
  maxAccountsPerTenant: 100_000,
  recentPerAccount: 50,
  recentTotal: 50_000,
  trustProxy: Object.freeze([]) as readonly string[],
  recentMaxBytes: DEFAULT_RECENT_BYTES,
})

type NumericOption = Exclude<keyof ApiOptions, 'trustProxy'>

const API_BOUNDS: Readonly<Record<NumericOption, readonly [number, number]>> = {
  bodyLimit: [1024, 16 << 20],
  rateBurst: [1, 100_000],
  ratePerSecond: [1, 100_000],
  pageSize: [1, 999],
  bulkReadPerMinute: [1, 1_000_000],
  // Below the 30 s after which an idle connection is closed (which would read as the client hanging up).
  resolveWaitMs: [0, 20_000],
  codeConflictsPerHour: [1, 1000],
  codeSetsPerAccountPerHour: [1, 10_000],
  takenNumbersPerHour: [1, 100_000],
  maxAccountsPerTenant: [1, 10_000_000],
  recentPerAccount: [1, 1000],
  recentTotal: [1, 10_000_000],
  recentMaxBytes: [1 << 20, 64 * 2 ** 30],
}

/** The most trusted proxies: a list, not a way to trust the world address by address. */
const MAX_PROXIES = 64

/** Why a trustProxy value is not a list of addresses and CIDR networks, if it is not. */
function proxiesProblem (v: unknown): string | undefined {
  const problem = `trustProxy is a list of at most ${MAX_PROXIES} addresses or CIDR networks of reverse proxies (e.g. ["10.0.0.5", "192.168.0.0/16"])`
  if (!Array.isArray(v) || v.length > MAX_PROXIES) return problem
  for (const p of v) {
    if (typeof p !== 'string') return problem
    const [addr, bits, ...more] = p.split('/')
    const family = isIP(addr ?? '')
    if (family === 0 || more.length > 0) return problem
    if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128))) return problem
  }
  return undefined
}

/** Checks the `api` object of a limits file: known names, whole numbers within bounds, trusted proxies. */
export function validateApiOptions (raw: unknown): { ok: true, value: Partial<ApiOptions> } | { ok: false, reason: string } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'must be a JSON object' }
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'trustProxy') {
      const problem = proxiesProblem(v)
      if (problem !== undefined) return { ok: false, reason: problem }
      continue
    }
    const b = Object.hasOwn(API_BOUNDS, k) ? API_BOUNDS[k as NumericOption] : undefined
    if (b === undefined) return { ok: false, reason: `no setting ${k} (known: ${[...Object.keys(API_BOUNDS), 'trustProxy'].join(', ')})` }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < b[0] || v > b[1]) return { ok: false, reason: `${k} is a whole number from ${b[0]} to ${b[1]}` }
  }
  return { ok: true, value: raw as Partial<ApiOptions> }
}
