/**
 * A small benchmark harness: warm up, then time samples of many calls and report the median
 * rate with its spread. Written here rather than with `vitest bench` so that a script can write
 * the figures to bench/RESULTS.md.
 */
import { execSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'

export interface Result {
  readonly name: string
  /** Median operations per second over the samples. */
  readonly opsPerSec: number
  /** Half the spread between the fastest and slowest sample, as % of the median. */
  readonly spreadPct: number
  readonly samples: number
}

export function measure (name: string, fn: () => unknown, opts: { sampleMs?: number, samples?: number, warmupMs?: number } = {}): Result {
  const sampleMs = opts.sampleMs ?? 250
  const samples = opts.samples ?? 12
  // Warm up until the JIT has settled on the hot path.
  const warmEnd = performance.now() + (opts.warmupMs ?? 500)
  let batch = 1
  while (performance.now() < warmEnd) {
    for (let i = 0; i < batch; i++) fn()
    if (batch < 1 << 14) batch <<= 1
  }
  const rates: number[] = []
  for (let s = 0; s < samples; s++) {
    let n = 0
    const t0 = performance.now()
    let t = t0
    while (t - t0 < sampleMs) {
      for (let i = 0; i < batch; i++) fn()
      n += batch
      t = performance.now()
    }
    rates.push(n / ((t - t0) / 1000))
  }
  rates.sort((a, b) => a - b)
  const median = rates[rates.length >> 1]!
  return { name, opsPerSec: median, spreadPct: ((rates.at(-1)! - rates[0]!) / 2 / median) * 100, samples }
}

export function machine (): string {
  const cpu = cpus()
  let rev = 'unknown'
  try {
    rev = execSync('git rev-parse --short HEAD', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim()
    if (execSync('git status --porcelain', { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== '') rev += ' (with uncommitted changes)'
  } catch { /* not a git checkout */ }
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; Node ${process.version}; ${process.platform}/${process.arch}; git ${rev}; ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

export function fmt (n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
