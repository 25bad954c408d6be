/**
 * Loading a pipeline: built-in stages by name, a user's own by module path, and every stage made
 * and checked at load time; reading the configuration file.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { MemoryAccountStore } from '../../../src/accounts/memory-store.js'
import { DEFAULT_PIPELINE, loadPipeline, PipelineConfigError, readPipelineConfig, type PipelineConfig } from '../../../src/pipeline/loader.js'
import type { StageEnvironment } from '../../../src/pipeline/stage.js'

const log = pino({ level: 'silent' })

let dir: string
let env: StageEnvironment
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dc09-loader-'))
  env = { accounts: new MemoryAccountStore(), isUser: () => false, dataDir: dir, log }
})
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** The PipelineConfigError a promise rejects with (or a synchronous call throws). */
async function configError (p: Promise<unknown> | (() => unknown)): Promise<PipelineConfigError> {
  const err = await (typeof p === 'function' ? Promise.resolve().then(p) : p).then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(PipelineConfigError)
  expect((err as PipelineConfigError).code).toBe('DC09_ERR_PIPELINE_CONFIG')
  return err as PipelineConfigError
}

const load = (stages: PipelineConfig['stages']) => loadPipeline({ stages }, env, dir)

/** A stage module in the temp directory. */
function writeModule (name: string, source: string): string {
  writeFileSync(join(dir, name), source)
  return `./${name}`
}

const FACTORY = `
export default function (options, env) {
  if (options.fail) throw new Error('mine: fail must not be set')
  return { name: options.name ?? 'mine', options, dataDir: env.dataDir, run () {} }
}
`

describe('loadPipeline: built-in stages', () => {
  it('loads classify, supervision, cases and jsonl by name, in order', async () => {
    const stages = await load(['classify', 'supervision', { name: 'cases', options: { cancelWindowSeconds: 60 } }, { name: 'jsonl', options: { file: 'out.jsonl' } }])
    expect(stages.map((s) => s.name)).toEqual(['classify', 'supervision', 'cases', 'jsonl'])
    expect(stages.every((s) => typeof s.run === 'function')).toBe(true)
    expect((await loadPipeline(DEFAULT_PIPELINE, env, dir)).map((s) => s.name)).toEqual(['classify', 'supervision', 'cases', 'jsonl'])
  })

  it('refuses an unknown name, saying which stage', async () => {
    const err = await configError(load(['classify', 'clasify']))
    expect(err.message).toMatch(/^stage 2: /)
    expect(err.message).toContain('"clasify"')
  })

  it('refuses a spec that is neither a name nor an object, and options that are not an object', async () => {
    await configError(load([null as unknown as string]))
    await configError(load([42 as unknown as string]))
    await configError(load([{}]))
    await configError(load([{ name: 'classify', options: [] as unknown as Record<string, unknown> }]))
  })

  it.each([
    ['supervision restoreAfter 0', { name: 'supervision', options: { restoreAfter: 0 } }],
    ['supervision restoreAfter 11', { name: 'supervision', options: { restoreAfter: 11 } }],
    ['supervision restoreAfter 1.5', { name: 'supervision', options: { restoreAfter: 1.5 } }],
    ['supervision scanSeconds 0', { name: 'supervision', options: { scanSeconds: 0 } }],
    ['cases cancelWindowSeconds 0', { name: 'cases', options: { cancelWindowSeconds: 0 } }],
    ['cases verificationWindowSeconds -5', { name: 'cases', options: { verificationWindowSeconds: -5 } }],
    ['cases cancelWindowSeconds "soon"', { name: 'cases', options: { cancelWindowSeconds: 'soon' } }],
    ['cases keepClosedDays -1', { name: 'cases', options: { keepClosedDays: -1 } }],
  ])('refuses bad built-in options at load: %s', async (_what, spec) => {
    const err = await configError(load(['classify', spec]))
    expect(err.message).toMatch(new RegExp(`^stage 2: ${spec.name}: `))
  })

  it('refuses two stages with the same name', async () => {
    const err = await configError(load(['classify', 'cases', 'classify']))
    expect(err.message).toMatch(/^stage 3: /)
    const mod = writeModule('cases-too.mjs', FACTORY)
    await configError(load(['cases', { module: mod, options: { name: 'cases' } }]))
  })

  it('refuses a stage named as a producer of events stages react to (accounts, api, verify)', async () => {
    const mod = writeModule('impostor.mjs', FACTORY)
    for (const name of ['accounts', 'api', 'verify']) {
      const err = await configError(load([{ module: mod, options: { name } }]))
      expect(err.message).toMatch(/reserved/)
    }
  })
})

describe('loadPipeline: stage modules', () => {
  it('loads a module relative to baseDir, passing it its options and the environment', async () => {
    const mod = writeModule('mine.mjs', FACTORY)
    const stages = await load(['classify', { module: mod, options: { limit: 3 } }])
    expect(stages.map((s) => s.name)).toEqual(['classify', 'mine'])
    expect(stages[1]).toMatchObject({ options: { limit: 3 }, dataDir: dir })
  })

  it('loads an absolute path, a createStage export, and an async factory', async () => {
    writeModule('named.mjs', 'export async function createStage () { return { name: \'named\', run () {} } }')
    const stages = await loadPipeline({ stages: [{ module: join(dir, 'named.mjs') }] }, env, '/nonexistent')
    expect(stages.map((s) => s.name)).toEqual(['named'])
  })

  it('refuses a module that cannot be loaded', async () => {
    const err = await configError(load([{ module: './missing.mjs' }]))
    expect(err.message).toMatch(/^stage 1: cannot load \.\/missing\.mjs/)
  })

  it('refuses a module without a factory', async () => {
    const mod = writeModule('nothing.mjs', 'export const name = \'nothing\'\n')
    await configError(load([{ module: mod }]))
  })

  it('runs the factory at load: options it rejects fail the load, with its reason', async () => {
    const mod = writeModule('mine.mjs', FACTORY)
    const err = await configError(load(['classify', { module: mod, options: { fail: true } }]))
    expect(err.message).toBe('stage 2: mine: fail must not be set')
  })

  it('refuses a factory that does not return a stage, or whose hooks are not functions', async () => {
    await configError(load([{ module: writeModule('no-run.mjs', 'export default () => ({ name: \'x\' })') }]))
    await configError(load([{ module: writeModule('no-name.mjs', 'export default () => ({ name: \'\', run () {} })') }]))
    await configError(load([{ module: writeModule('bad-due.mjs', 'export default () => ({ name: \'x\', run () {}, due: 5 })') }]))
  })
})

describe('readPipelineConfig', () => {
  const write = (name: string, text: string): string => {
    const file = join(dir, name)
    writeFileSync(file, text)
    return file
  }

  it('reads the stages and the directory that module paths are relative to', async () => {
    mkdirSync(join(dir, 'conf', 'stages'), { recursive: true })
    writeModule(join('conf', 'stages', 'mine.mjs'), FACTORY)
    const file = write(join('conf', 'pipeline.json'), JSON.stringify({ stages: ['classify', { module: './stages/mine.mjs' }] }))
    const { config, baseDir } = readPipelineConfig(file)
    expect(baseDir).toBe(join(dir, 'conf'))
    expect((await loadPipeline(config, env, baseDir)).map((s) => s.name)).toEqual(['classify', 'mine'])
  })

  it('says when the file is missing', async () => {
    const err = await configError(() => readPipelineConfig(join(dir, 'nope.json')))
    expect(err.message).toContain('no such file')
  })

  it('says when the file is not JSON', async () => {
    const err = await configError(() => readPipelineConfig(write('bad.json', '{"stages": [')))
    expect(err.message).toContain('not valid JSON')
  })

  it.each([['{}'], ['{"stages": []}'], ['{"stages": "classify"}'], ['["classify"]'], ['5']])('refuses the wrong shape: %s', async (text) => {
    const err = await configError(() => readPipelineConfig(write('shape.json', text)))
    expect(err.message).toContain('expected {"stages": [...]}')
  })

  // Suspected bug: `(raw as { stages?: unknown }).stages` is read without checking raw is an
  // object, so a file holding `null` throws a TypeError ("Cannot read properties of null") instead
  // of the PipelineConfigError every other wrong shape gets.
  it('refuses a file holding null as the wrong shape', async () => {
    const err = await configError(() => readPipelineConfig(write('null.json', 'null')))
    expect(err.message).toContain('expected {"stages": [...]}')
  })
})
