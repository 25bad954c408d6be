/** Statistics and tables for the timing benchmarks (bench:timing, bench:isolation). */
import { randomInt } from 'node:crypto'

export interface Moments { n: number, mean: number, variance: number }

/** Mean and sample variance of the values at or below `limit` (Welford). */
export function moments (xs: Float64Array, limit = Infinity): Moments {
  let n = 0
  let mean = 0
  let m2 = 0
  for (const x of xs) {
    if (x > limit) continue
    n++
    const d = x - mean
    mean += d / n
    m2 += d * (x - mean)
  }
  return { n, mean, variance: n > 1 ? m2 / (n - 1) : 0 }
}

/** Welch's t: the difference of the means over its standard error, variances not assumed equal. */
export function welch (a: Moments, b: Moments): number {
  const se = Math.sqrt(a.variance / a.n + b.variance / b.n)
  return se === 0 ? 0 : (a.mean - b.mean) / se
}

/** The p-th percentile (0–100) of sorted values, nearest rank. */
export function percentile (sorted: Float64Array, p: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export function textTable (head: string[], rows: string[][]): string {
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)))
  const line = (r: string[]) => r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ')
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n')
}

export function mdTable (head: string[], rows: string[][]): string {
  return [`| ${head.join(' | ')} |`, `| ${head.map((_, c) => (c === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

/** `n` of each of `classes` classes (their indexes), shuffled: the order to run them in, so noise falls on all alike. */
export function interleaved (n: number, classes: number): Uint8Array {
  const s = new Uint8Array(n * classes)
  for (let i = 0; i < s.length; i++) s[i] = i % classes
  for (let i = s.length - 1; i > 0; i--) {
    const j = randomInt(i + 1)
    const t = s[i]!
    s[i] = s[j]!
    s[j] = t
  }
  return s
}

/** The pooled percentiles of every class's samples: dudect's crop thresholds. */
export function cropThresholds (samples: readonly Float64Array[], crops: readonly number[]): number[] {
  const pooled = new Float64Array(samples.reduce((n, s) => n + s.length, 0))
  let at = 0
  for (const s of samples) { pooled.set(s, at); at += s.length }
  pooled.sort()
  return crops.map((p) => percentile(pooled, p))
}

/** Welch's t of two classes, raw and then cropped at each threshold. */
export function pairT (a: Float64Array, b: Float64Array, cropAt: readonly number[]): number[] {
  return [Infinity, ...cropAt].map((limit) => welch(moments(a, limit), moments(b, limit)))
}
