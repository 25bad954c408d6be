/**
 * A hand-made StageContext for stage unit tests: state in a map (values copied as JSON, as the
 * pipeline store does), timers recorded by key, `now` as the test sets it.
 */
import pino from 'pino'
import type { Emit, Stage, StageContext, StageState } from '../../../src/pipeline/stage.js'

const silent = pino({ level: 'silent' })

export function stageContext (values: Map<string, unknown>, timers: Map<string, number>, now: number, log = silent): StageContext {
  const copy = <T>(v: unknown): T => JSON.parse(JSON.stringify(v)) as T
  const state: StageState = {
    get: <T>(key: string) => (values.has(key) ? copy<T>(values.get(key)) : undefined),
    set: (key, value) => { values.set(key, copy(value)) },
    delete: (key) => { values.delete(key) },
    list: <T>(prefix: string) => [...values].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]): [string, T] => [k, copy<T>(v)]),
  }
  return {
    state,
    now,
    schedule: (key, at) => { timers.set(key, at) },
    scheduled: (key) => timers.has(key),
    cancel: (key) => { timers.delete(key) },
    log,
  }
}

/**
 * A stage with a context the test drives: state in a map, timers recorded by key, what it
 * emitted, and `now` set by the test. Each stage's tests extend it with their own set-up.
 */
export class StageHarness {
  readonly values = new Map<string, unknown>()
  readonly timers = new Map<string, number>()
  readonly emitted: Emit[] = []
  /** What the stage logs through its context (silent unless a test sets one). */
  log = silent

  constructor (readonly stage: Stage, public now: number) {}

  get ctx (): StageContext {
    return stageContext(this.values, this.timers, this.now, this.log)
  }

  /** Fires every timer due up to `until`, earliest first, each with its due time as `now` (as the runner does). */
  async advance (until: number): Promise<void> {
    for (;;) {
      const next = [...this.timers].filter(([, at]) => at <= until).sort(([, a], [, b]) => a - b)[0]
      if (next === undefined) break
      const [key, at] = next
      this.timers.delete(key)
      this.now = at
      const result = await this.stage.due!(key, this.ctx)
      this.emitted.push(...(result?.emit ?? []))
    }
    this.now = until
  }
}
