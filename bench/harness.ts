/**
 * A small benchmark harness: warm up, then time samples of many calls and report the median
 * rate with its spread. Written here rather than with `vitest bench` so that a script can write
 * the figures to docs/benchmarks.md.
 */
import { execSync } from 'node:child_process'
import { cpus, totalmem } from 'node:os'

export interface Result {
  readonly name: string
  /** Median operations per second over the samples. */
  readonly opsPerSec: number
  /** The fastest sample: on a shared machine noise only ever slows a sample down. */
  readonly bestPerSec: number
  /** Half the spread between the fastest and slowest sample, as % of the median. */
  readonly spreadPct: number
  readonly samples: number
}

export interface Case {
  readonly name: string
  readonly fn: () => unknown
  /** Operations per call of fn (e.g. frames in one pushed chunk). */
  readonly perCall?: number
}

/**
 * Measures all cases together: each is warmed up, then samples are taken round-robin, one
 * per case in turn, so that a noisy stretch of a shared machine touches every case alike
 * instead of ruining whichever ran during it.
 */
export function measureAll (cases: readonly Case[], opts: { sampleMs?: number, samples?: number, warmupMs?: number } = {}): Result[] {
  const sampleMs = opts.sampleMs ?? 150
  const samples = opts.samples ?? 21
  const batches = cases.map(({ fn }) => {
    // Warm up until the JIT has settled on the hot path; find a batch of ~1 ms.
    const warmEnd = performance.now() + (opts.warmupMs ?? 400)
    let batch = 1
    while (performance.now() < warmEnd) {
      const t0 = performance.now()
      for (let i = 0; i < batch; i++) fn()
      if (performance.now() - t0 < 1) batch <<= 1
    }
    return batch
  })
  const rates: number[][] = cases.map(() => [])
  for (let s = 0; s < samples; s++) {
    cases.forEach(({ fn, perCall }, c) => {
      const batch = batches[c]!
      let n = 0
      const t0 = performance.now()
      let t = t0
      while (t - t0 < sampleMs) {
        for (let i = 0; i < batch; i++) fn()
        n += batch
        t = performance.now()
      }
      rates[c]!.push((n * (perCall ?? 1)) / ((t - t0) / 1000))
    })
  }
  return cases.map(({ name }, c) => {
    const r = rates[c]!.sort((a, b) => a - b)
    const median = r[r.length >> 1]!
    return { name, opsPerSec: median, bestPerSec: r[r.length - 1]!, spreadPct: ((r[r.length - 1]! - r[0]!) / 2 / median) * 100, samples }
  })
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
