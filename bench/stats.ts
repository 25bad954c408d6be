/** Statistics and tables for the timing benchmarks (bench:timing, bench:isolation). */

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
