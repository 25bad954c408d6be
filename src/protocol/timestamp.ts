/**
 * DC-09 timestamps: `_HH:MM:SS,MM-DD-YYYY`, UTC by the standard, 24-hour clock, month before
 * day. Nothing here reads the clock: `now` is always passed in.
 */
import { DIGIT_VALUE, UNDERSCORE } from './bytes.js'

/** Length of the timestamp including its leading underscore. */
export const TIMESTAMP_LENGTH = 20

/** Seconds a panel's timestamp may be ahead of (`ahead`) or behind (`behind`) the receiver. */
export interface TimestampWindow {
  readonly ahead: number
  readonly behind: number
}

/** +20 s / -40 s (PYSIA `allowed_timeband`, NRSU; believed to be the standard's). */
export const DEFAULT_WINDOW: TimestampWindow = Object.freeze({ ahead: 20, behind: 40 })

/**
 * How a panel's clock relates to UTC, for panels that send local time (Trikdis 1 h ahead,
 * Dahua drifting). `offsetSeconds`: panel clock minus UTC. `timeZone`: an IANA zone name.
 */
export type PanelClock = { readonly offsetSeconds: number } | { readonly timeZone: string }

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

function two (buf: Uint8Array, i: number): number {
  const a = DIGIT_VALUE[buf[i]!]!
  const b = DIGIT_VALUE[buf[i + 1]!]!
  return (a | b) < 0 ? -1 : a * 10 + b
}

/**
 * Reads a timestamp starting at the underscore at `offset`. Returns the wall-clock time it
 * names as epoch milliseconds read as UTC, or -1 when the form or a value is invalid.
 */
export function readTimestamp (buf: Uint8Array, offset: number): number {
  if (buf.length - offset < TIMESTAMP_LENGTH || buf[offset] !== UNDERSCORE) return -1
  const p = offset + 1
  if (buf[p + 2] !== 0x3a || buf[p + 5] !== 0x3a || buf[p + 8] !== 0x2c ||
      buf[p + 11] !== 0x2d || buf[p + 14] !== 0x2d) return -1
  const hh = two(buf, p)
  const mi = two(buf, p + 3)
  const ss = two(buf, p + 6)
  const mo = two(buf, p + 9)
  const dd = two(buf, p + 12)
  const yh = two(buf, p + 15)
  const yl = two(buf, p + 17)
  if ((hh | mi | ss | mo | dd | yh | yl) < 0) return -1
  const year = yh * 100 + yl
  // Leap second 60 is tolerated (it rolls over); a year before 1900 is no clock at all.
  if (hh > 23 || mi > 59 || ss > 60 || mo < 1 || mo > 12 || dd < 1 || year < 1900) return -1
  if (dd > DAYS_IN_MONTH[mo - 1]! || (mo === 2 && dd === 29 && !isLeap(year))) return -1
  return (daysFromCivil(year, mo, dd) * 86400 + hh * 3600 + mi * 60 + ss) * 1000
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil): Date.UTC without its cost. */
function daysFromCivil (y: number, m: number, d: number): number {
  if (m <= 2) y--
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

function isLeap (y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0
}

function pad2 (n: number): string {
  return n < 10 ? '0' + n : String(n)
}

let lastSecond = NaN
let lastText = ''

/** Formats epoch milliseconds (UTC) as `_HH:MM:SS,MM-DD-YYYY`. */
export function formatTimestamp (ms: number): string {
  // Answers within one second share a timestamp; keep the last one.
  const second = Math.floor(ms / 1000)
  if (second === lastSecond) return lastText
  const d = new Date(second * 1000)
  lastText = '_' + pad2(d.getUTCHours()) + ':' + pad2(d.getUTCMinutes()) + ':' + pad2(d.getUTCSeconds()) +
    ',' + pad2(d.getUTCMonth() + 1) + '-' + pad2(d.getUTCDate()) + '-' + String(d.getUTCFullYear()).padStart(4, '0')
  lastSecond = second
  return lastText
}

const zoneFormats = new Map<string, Intl.DateTimeFormat>()

function zoneFormat (timeZone: string): Intl.DateTimeFormat | undefined {
  let f = zoneFormats.get(timeZone)
  if (f === undefined) {
    if (!isTimeZone(timeZone)) return undefined
    f = new Intl.DateTimeFormat('en-US', {
      timeZone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric', second: 'numeric',
    })
    zoneFormats.set(timeZone, f)
  }
  return f
}

/** Whether `name` is an IANA time zone this runtime knows. */
export function isTimeZone (name: string): boolean {
  try {
    // The only way the platform offers to validate a zone name is to try it.

    new Intl.DateTimeFormat('en-US', { timeZone: name })
    return true
  } catch {
    return false
  }
}

/** Offset of `timeZone` from UTC at instant `utcMs`, in milliseconds. */
function zoneOffset (f: Intl.DateTimeFormat, utcMs: number): number {
  const v: Record<string, number> = {}
  for (const part of f.formatToParts(utcMs)) if (part.type !== 'literal') v[part.type] = Number(part.value)
  const wall = Date.UTC(v.year!, v.month! - 1, v.day!, v.hour!, v.minute!, v.second!)
  return wall - Math.floor(utcMs / 1000) * 1000
}

/**
 * Converts a panel's wall-clock reading (as returned by {@link readTimestamp}) to UTC.
 * Without a clock setting the panel is taken to send UTC, as the standard says.
 * An unknown time zone is treated as UTC (validate settings with {@link isTimeZone}).
 */
export function panelTimeToUtc (wallMs: number, clock?: PanelClock): number {
  if (clock === undefined) return wallMs
  if ('offsetSeconds' in clock) return wallMs - clock.offsetSeconds * 1000
  const f = zoneFormat(clock.timeZone)
  if (f === undefined) return wallMs
  // Two rounds settle the offset except inside a DST gap, where any answer is a guess.
  const first = wallMs - zoneOffset(f, wallMs)
  return wallMs - zoneOffset(f, first)
}

/**
 * Whether a panel time (UTC ms) is within `window` of `nowMs`: at most `ahead` seconds in the
 * future and at most `behind` seconds in the past.
 */
export function inWindow (utcMs: number, nowMs: number, window: TimestampWindow): boolean {
  const diff = utcMs - nowMs
  return diff <= window.ahead * 1000 && diff >= -window.behind * 1000
}
