/**
 * The harness as a stage author gets it: the built package linked into a project of their own
 * (node_modules/dc09, as `npm link dc09` makes it), imported by its export names from a test run
 * with `node --test`, and type-checked from TypeScript. Needs the build (`npm run build`).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = new URL('../../../', import.meta.url).pathname
let dir: string

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/src/pipeline/testing.js'))) throw new Error('dist/src/pipeline/testing.js is missing: run `npm run build` first')
  dir = mkdtempSync(join(tmpdir(), 'dc09-harness-package-'))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(ROOT, join(dir, 'node_modules', 'dc09'), 'dir')
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'my-stages', private: true, type: 'module' }))
  writeFileSync(join(dir, 'door-watch.mjs'), `
import { isAccountRemoved } from 'dc09/pipeline'
export default function createStage (options = {}) {
  const limit = options.limit ?? 2
  return {
    name: 'door-watch',
    run ({ record }, ctx) {
      if (isAccountRemoved(record)) { ctx.state.delete(record.account); return }
      if (record.type !== 'frame') return
      const n = (ctx.state.get(record.account) ?? 0) + 1
      ctx.state.set(record.account, n)
      if (n === limit) return { emit: [{ kind: 'door-busy', account: record.account, data: { n } }] }
    },
  }
}
`)
}, 30_000)

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
})

describe('dc09/pipeline/testing, imported by its package name', () => {
  it('runs a stage author\'s node --test file', () => {
    writeFileSync(join(dir, 'door-watch.test.mjs'), `
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHarness, HarnessError } from 'dc09/pipeline/testing'
import createStage from './door-watch.mjs'

test('door-busy on the second report', async (t) => {
  const h = await createHarness({ stages: [{ factory: createStage, options: { limit: 2 } }] })
  t.after(() => h.close())
  assert.deepEqual((await h.contactId('1234', '1400 01 003')).emitted, [])
  const second = await h.sia('1234', 'Nri1/OP003')
  assert.deepEqual(second.emitted.map((e) => [e.kind, e.data]), [['door-busy', { n: 2 }]])
  assert.deepEqual(h.state('door-watch'), { 1234: 2 })
  await assert.rejects(h.contactId('1234', 'nonsense'), HarnessError)
})
`)
    const r = spawnSync(process.execPath, ['--test', 'door-watch.test.mjs'], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
    expect(r.stdout + r.stderr).toMatch(/# pass 1\n# fail 0/)
    expect(r.status).toBe(0)
  }, 70_000)

  it('gives TypeScript the types of the stage interface and the harness', () => {
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, skipLibCheck: true, types: [] },
      files: ['typed.ts'],
    }))
    writeFileSync(join(dir, 'typed.ts'), `
import type { Stage, StageFactory } from 'dc09/pipeline'
import { createHarness, type Fed } from 'dc09/pipeline/testing'
export const factory: StageFactory = () => ({ name: 'typed', run: ({ record }) => ({ add: { seen: record.id } }) }) satisfies Stage
export async function check (): Promise<number> {
  const h = await createHarness({ stages: [{ factory }] })
  const fed: Fed = await h.linkTest('1234')
  // @ts-expect-error the harness has no such method
  h.feedAnything()
  await h.close()
  return fed.id
}
`)
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc')
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: dir, encoding: 'utf8', timeout: 60_000 })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  }, 70_000)
})
