/**
 * A hand-made StageContext for stage unit tests: state in a map (values copied as JSON, as the
 * pipeline store does), timers recorded by key, `now` as the test sets it.
 */
import pino from 'pino'
import type { StageContext, StageState } from '../../../src/pipeline/stage.js'

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
