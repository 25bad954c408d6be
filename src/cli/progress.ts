/**
 * What a long command says while it runs, on standard error: at the start how long it will take,
 * then a line every interval when nobody watches a terminal (a log file, CI), or one line drawn
 * again in place when someone does.
 */
import type { SimSummary } from '../sim/simulator.js'

export interface Plan {
  readonly panels: number
  readonly events?: number | undefined
  readonly rate?: number | undefined
  readonly durationMs?: number | undefined
  readonly scenario?: { readonly file: string, readonly steps: number, readonly lastAtSeconds: number } | undefined
}

/** `10 min 0 s`, `1 min 30 s`, `10 s`. */
export function formatSeconds (seconds: number): string {
  const s = Math.round(seconds)
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`
}

/** How long a run will take, when that is known: a scenario's last step, a duration, events at a rate. */
export function plannedMs (p: Plan): number | undefined {
  if (p.scenario !== undefined) return p.scenario.lastAtSeconds * 1000
  if (p.durationMs !== undefined) return p.durationMs
  if (p.events !== undefined && p.rate !== undefined) return (p.events / p.rate) * 1000
  return undefined
}

export function describePlan (p: Plan): string {
  const ms = plannedMs(p)
  const about = ms === undefined ? '' : `, so this runs about ${formatSeconds(ms / 1000)}`
  if (p.scenario !== undefined) return `${p.panels} panel(s) play ${p.scenario.file}: ${p.scenario.steps} steps, the last at ${p.scenario.lastAtSeconds} s${about}`
  if (p.durationMs !== undefined) return `${p.panels} panel(s) for ${p.durationMs / 1000} s${about}`
  if (p.rate !== undefined) return `${p.panels} panel(s), ${p.events ?? 0} event(s) each at ${p.rate}/s${about}`
  return `${p.panels} panel(s), ${p.events ?? 0} event(s) each, each sent when the one before is answered`
}

/** Called with the running totals (every second); writes what a reader should see. */
export function progressReporter (o: { tty: boolean, totalMs: number | undefined, everyMs: number, write: (s: string) => void }): (s: SimSummary) => void {
  let reported = 0
  const of = o.totalMs === undefined ? '' : ` of about ${Math.round(o.totalMs / 1000)} s`
  return (s) => {
    const elapsed = `${Math.round(s.durationMs / 1000)} s`
    if (o.tty) {
      // The first seconds of a short run need no line.
      if (s.durationMs >= 3000) o.write(`\rsimulate: ${elapsed}${of}: ${s.acknowledged} acknowledged, ${s.framesPerSecond}/s, p99 ${s.latencyMs.p99} ms, ${s.failed} failed   `)
      return
    }
    const due = Math.floor(s.durationMs / o.everyMs)
    if (due <= reported) return
    reported = due
    o.write(`simulate: ${elapsed}${of}: ${s.acknowledged} acknowledged, ${s.failed} failed\n`)
  }
}
