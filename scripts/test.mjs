#!/usr/bin/env node
/**
 * `npm test` after the build: the in-process tests under coverage and, at the same time, the
 * cluster suite (real NATS servers; it mostly waits on elections and timeouts, so it fits beside
 * the coverage run on the second core); then the tests that spawn the built CLI. The cluster
 * suite's output is held and printed after the coverage run's, not interleaved with it.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url))
const children = new Set()

function run (args, { capture = false } = {}) {
  const child = spawn(process.execPath, [vitest, 'run', ...args], { cwd: root, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', env: { ...process.env, ...(capture ? { FORCE_COLOR: process.stdout.isTTY ? '1' : '0' } : {}) } })
  children.add(child)
  let out = ''
  if (capture) {
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
  }
  return new Promise((resolve) => child.on('close', (code, signal) => { children.delete(child); resolve({ code: code ?? (signal === null ? 1 : 128), out }) }))
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { for (const c of children) c.kill(sig); process.exit(130) })
}

const t0 = Date.now()
const seconds = () => `${Math.round((Date.now() - t0) / 1000)} s`
const cluster = run(['--project', 'cluster'], { capture: true })
const coverage = await run(['--coverage', '--project', 'unit', '--project', 'unit-isolated', '--project', 'e2e'])
process.stdout.write(`\n[npm test] in-process tests under coverage: ${coverage.code === 0 ? 'passed' : 'FAILED'} (${seconds()}); the cluster suite:\n`)
const c = await cluster
process.stdout.write(c.out)
process.stdout.write(`\n[npm test] cluster suite: ${c.code === 0 ? 'passed' : 'FAILED'} (${seconds()})\n`)
const spawned = await run(['--project', 'spawned'])
process.stdout.write(`\n[npm test] spawned tests: ${spawned.code === 0 ? 'passed' : 'FAILED'} (${seconds()})\n`)
process.exit(coverage.code !== 0 || c.code !== 0 || spawned.code !== 0 ? 1 : 0)
