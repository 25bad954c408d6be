/**
 * The pipeline from its configuration: a list of stages, built-in ones by name, a user's own by
 * module path (a module that exports a factory, default or `createStage`). Every stage is made
 * and checked here, when the pipeline is loaded, not on the first event.
 *
 *   { "stages": ["classify", "supervision", { "name": "cases", "options": { "cancelWindowSeconds": 300 } },
 *                { "module": "./my-stage.js", "options": { ... } }, { "name": "jsonl", "options": { "file": "-" } }] }
 */
import { readFileSync } from 'node:fs'
import type { AccountStore } from '../accounts/account-store.js'
import type { Account } from '../accounts/account.js'
import { dirname, isAbsolute, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { ACCOUNT_REMOVED, type Stage, type StageEnvironment, type StageFactory } from './stage.js'
import { cases } from './stages/cases.js'
import { classify } from './stages/classify.js'
import { jsonl } from './stages/jsonl.js'
import { supervision } from './stages/supervision.js'

/** The names events outside the stages are journaled under. */
const RESERVED: readonly string[] = [ACCOUNT_REMOVED.stage, 'api', 'verify']

export type StageSpec = string | { readonly name?: string, readonly module?: string, readonly options?: Record<string, unknown> }

export interface PipelineConfig {
  readonly stages: readonly StageSpec[]
}

export const BUILT_IN: Readonly<Record<string, StageFactory>> = {
  classify: () => classify(),
  supervision: (o, env) => supervision(o, env),
  cases: (o, env) => cases(o, env),
  jsonl: (o, env) => jsonl(o, env),
}

/** Without a configuration: classify, supervision, cases, and every event to `events.jsonl` in the data directory. */
export const DEFAULT_PIPELINE: PipelineConfig = { stages: ['classify', 'supervision', 'cases', 'jsonl'] }

export class PipelineConfigError extends Error {
  readonly code = 'DC09_ERR_PIPELINE_CONFIG'
}

export function readPipelineConfig (file: string): { config: PipelineConfig, baseDir: string } {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (err) {
    throw new PipelineConfigError(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not valid JSON'}`)
  }
  const stages = typeof raw === 'object' && raw !== null ? (raw as { stages?: unknown }).stages : undefined
  if (!Array.isArray(stages) || stages.length === 0) throw new PipelineConfigError(`${file}: expected {"stages": [...]} with at least one stage`)
  return { config: { stages: stages as StageSpec[] }, baseDir: dirname(resolve(file)) }
}

/** Accounts remembered within one turn of the event loop at most (a batch of events and its due timers touch fewer). */
const MAX_MEMO_ACCOUNTS = 10_000

/**
 * The account store as the stages see it: `get` remembered until the event loop's next turn.
 * Several stages look up the account of every event (a SQLite read and a row mapped, each time);
 * a batch of events runs within one turn, so each account is read once a batch. What the stages
 * see may be one turn old: a change made meanwhile by another thread or process is seen from the
 * next batch on, as it would be had the batch run a moment earlier.
 */
export function memoAccounts (accounts: AccountStore): AccountStore {
  const memo = new Map<string, Account | undefined>()
  let clearing = false
  const clear = (): void => { memo.clear(); clearing = false }
  const get = (account: string): Account | undefined => {
    let a = memo.get(account)
    if (a !== undefined || memo.has(account)) return a
    a = accounts.get(account)
    if (memo.size >= MAX_MEMO_ACCOUNTS) memo.clear()
    memo.set(account, a)
    if (!clearing) {
      clearing = true
      setImmediate(clear)
    }
    return a
  }
  return new Proxy(accounts, {
    get (target, prop) {
      if (prop === 'get') return get
      const v = Reflect.get(target, prop, target) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
}

/** Makes and checks every stage; throws a PipelineConfigError that says which and why. */
export async function loadPipeline (config: PipelineConfig, env: StageEnvironment, baseDir = process.cwd()): Promise<Stage[]> {
  env = { ...env, accounts: memoAccounts(env.accounts) }
  const stages: Stage[] = []
  for (const [i, spec] of config.stages.entries()) {
    const where = `stage ${i + 1}`
    const s = typeof spec === 'string' ? { name: spec } : spec
    if (typeof s !== 'object' || s === null) throw new PipelineConfigError(`${where}: a name or {"name"|"module", "options"}`)
    const options = s.options ?? {}
    if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new PipelineConfigError(`${where}: options must be an object`)
    let factory: StageFactory
    if (s.module !== undefined) {
      const path = isAbsolute(s.module) ? s.module : resolve(baseDir, s.module)
      let mod: { default?: unknown, createStage?: unknown }
      try {
        mod = await import(pathToFileURL(path).href) as { default?: unknown, createStage?: unknown }
      } catch (err) {
        throw new PipelineConfigError(`${where}: cannot load ${s.module}: ${(err as Error).message}`)
      }
      const f = mod.createStage ?? mod.default
      if (typeof f !== 'function') throw new PipelineConfigError(`${where}: ${s.module} exports no stage factory (default export or createStage)`)
      factory = f as StageFactory
    } else {
      const f = s.name === undefined ? undefined : BUILT_IN[s.name]
      if (f === undefined) throw new PipelineConfigError(`${where}: no built-in stage ${JSON.stringify(s.name)} (there are ${Object.keys(BUILT_IN).join(', ')})`)
      factory = f
    }
    let stage: Stage
    try {
      stage = await factory(options, env)
    } catch (err) {
      throw new PipelineConfigError(`${where}: ${(err as Error).message}`)
    }
    if (typeof stage !== 'object' || stage === null || typeof stage.name !== 'string' || stage.name === '' || typeof stage.run !== 'function') {
      throw new PipelineConfigError(`${where}: the factory must return { name, run(event, ctx) }`)
    }
    for (const hook of ['start', 'due', 'flush', 'close'] as const) {
      if (stage[hook] !== undefined && typeof stage[hook] !== 'function') throw new PipelineConfigError(`${where} (${stage.name}): ${hook} must be a function`)
    }
    // Events of these producers change what stages keep (a removal, a resolution, a code): a stage
    // of the same name would never see them, and what it made would pass for theirs.
    if (RESERVED.includes(stage.name)) throw new PipelineConfigError(`${where}: the stage name ${JSON.stringify(stage.name)} is reserved`)
    if (stages.some((x) => x.name === stage.name)) throw new PipelineConfigError(`${where}: a second stage named ${JSON.stringify(stage.name)}`)
    stages.push(stage)
  }
  return stages
}
