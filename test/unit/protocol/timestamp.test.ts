import { describe, expect, it } from 'vitest'
import {
  DEFAULT_WINDOW, formatTimestamp, inWindow, isTimeZone, panelTimeToUtc, readTimestamp,
} from '../../../src/protocol/timestamp.js'

const ts = (s: string) => readTimestamp(Buffer.from(s, 'latin1'), 0)

describe('timestamps', () => {
  it('reads _HH:MM:SS,MM-DD-YYYY as UTC, month before day', () => {
    expect(ts('_14:12:04,09-25-2019')).toBe(Date.UTC(2019, 8, 25, 14, 12, 4))
    expect(ts('_00:00:00,01-01-2024')).toBe(Date.UTC(2024, 0, 1))
  })

  it('rejects wrong shapes and impossible values with -1', () => {
    for (const bad of [
      '14:12:04,09-25-2019', '_14:12:04.09-25-2019', '_24:00:00,01-01-2024', '_12:60:00,01-01-2024',
      '_12:00:00,13-01-2024', '_12:00:00,00-01-2024', '_12:00:00,02-30-2024', '_12:00:00,02-29-2023',
      '_12:00:00,04-31-2024', '_1a:00:00,01-01-2024', '_12:00:00,01-01-0099', '_12:00:00,01-01-202',
    ]) expect(ts(bad), bad).toBe(-1)
    expect(ts('_12:00:00,02-29-2024')).toBe(Date.UTC(2024, 1, 29, 12))
  })

  it('formats UTC with zero padding, and round-trips', () => {
    const ms = Date.UTC(2025, 11, 31, 23, 59, 59)
    expect(formatTimestamp(ms)).toBe('_23:59:59,12-31-2025')
    expect(ts(formatTimestamp(ms))).toBe(ms)
    expect(formatTimestamp(Date.UTC(2024, 0, 5, 1, 2, 3))).toBe('_01:02:03,01-05-2024')
  })

  it('window: at most 20 s ahead and 40 s behind by default, bounds included', () => {
    const now = Date.UTC(2024, 0, 15, 12)
    expect(DEFAULT_WINDOW).toEqual({ ahead: 20, behind: 40 })
    expect(inWindow(now + 20_000, now, DEFAULT_WINDOW)).toBe(true)
    expect(inWindow(now + 21_000, now, DEFAULT_WINDOW)).toBe(false)
    expect(inWindow(now - 40_000, now, DEFAULT_WINDOW)).toBe(true)
    expect(inWindow(now - 41_000, now, DEFAULT_WINDOW)).toBe(false)
    expect(inWindow(now - 100_000, now, { ahead: 0, behind: 120 })).toBe(true)
  })

  it('corrects a panel clock by a fixed offset', () => {
    const wall = Date.UTC(2023, 8, 7, 18, 1, 50)
    // Trikdis capture of pysiaalarm #52: panel 1 h ahead of UTC.
    expect(panelTimeToUtc(wall, { offsetSeconds: 3600 })).toBe(Date.UTC(2023, 8, 7, 17, 1, 50))
    expect(panelTimeToUtc(wall)).toBe(wall)
  })

  it('converts local time in an IANA zone to UTC, across DST', () => {
    // Europe/Vilnius: UTC+3 in summer, UTC+2 in winter.
    expect(panelTimeToUtc(Date.UTC(2023, 6, 1, 12), { timeZone: 'Europe/Vilnius' })).toBe(Date.UTC(2023, 6, 1, 9))
    expect(panelTimeToUtc(Date.UTC(2023, 0, 1, 12), { timeZone: 'Europe/Vilnius' })).toBe(Date.UTC(2023, 0, 1, 10))
    expect(panelTimeToUtc(Date.UTC(2023, 0, 1, 12), { timeZone: 'America/New_York' })).toBe(Date.UTC(2023, 0, 1, 17))
    expect(panelTimeToUtc(Date.UTC(2023, 0, 1, 12), { timeZone: 'UTC' })).toBe(Date.UTC(2023, 0, 1, 12))
  })

  it('validates zone names without throwing', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true)
    expect(isTimeZone('Mars/Olympus')).toBe(false)
    expect(panelTimeToUtc(1000, { timeZone: 'Mars/Olympus' })).toBe(1000)
  })
})

describe('readTimestamp arithmetic', () => {
  it('agrees with Date.UTC on every day from 1900 to 2100 and on every field bound', () => {
    for (let t = Date.UTC(1900, 0, 1); t < Date.UTC(2101, 0, 1); t += 86_400_000 + 3_723_000) {
      const d = new Date(t)
      const text = formatTimestamp(t)
      expect(readTimestamp(Buffer.from(text, 'latin1'), 0), text).toBe(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()))
    }
  })
})
