/**
 * Reporting intervals named after EN 50136-1's alarm transmission system categories: single path
 * (SP2-SP6) and dual path (DP1-DP4). A panel silent for longer than its interval is in
 * supervision failure.
 */
export const SUPERVISION_PRESETS: Readonly<Record<string, number>> = Object.freeze({
  SP2: 25 * 3600,
  SP3: 30 * 60,
  SP4: 3 * 60,
  SP5: 90,
  SP6: 20,
  DP1: 25 * 3600,
  DP2: 30 * 60,
  DP3: 3 * 60,
  DP4: 90,
})

/** `SP4`, `DP2` or a number of seconds; undefined when it is neither. */
export function supervisionSeconds (value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined
  const preset = SUPERVISION_PRESETS[value.trim().toUpperCase()]
  if (preset !== undefined) return preset
  return /^\d{1,8}$/.test(value.trim()) && Number(value) > 0 ? Number(value) : undefined
}
