#!/usr/bin/env node
/**
 * `npm test` after the build, in two lanes at once and a last step alone, to keep the whole suite
 * within about six minutes on two cores:
 *   lane 1: the in-process tests under coverage, then the heavier tests that spawn the built CLI;
 *   lane 2: the cluster suite (real NATS servers: it mostly waits on elections and timeouts),
 *           then the documentation's examples and the crash test;
 *   then, alone: the tenant-isolation test, which compares response times, and the services
 *   thread's restart test.
 * Lane 2's output is held and printed when it ends, not interleaved with lane 1's.
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const vitest = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url))
const children = new Set()

function run (args, { capture = false, lane } = {}) {
  // Which spawned files a run takes: vitest.config.ts reads DC09_TEST_LANE.
  const env = lane === undefined ? process.env : { ...process.env, DC09_TEST_LANE: lane }
  const child = spawn(process.execPath, [vitest, 'run', ...args], { cwd: root, env, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' })
  children.add(child)
  let out = ''
  if (capture) {
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
  }
  return new Promise((resolve) => child.on('close', (code) => { children.delete(child); resolve({ ok: code === 0, out }) }))
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => { for (const c of children) c.kill(sig); process.exit(130) })
}

const t0 = Date.now()
const say = (what, ok) => process.stdout.write(`\n[npm test] ${what}: ${ok ? 'passed' : 'FAILED'} (${Math.round((Date.now() - t0) / 1000)} s)\n`)

const lane2 = (async () => {
  const cluster = await run(['--project', 'cluster'], { capture: true })
  const spawned = await run(['--project', 'spawned'], { capture: true, lane: '2' })
  return { cluster, spawned }
})()

const coverage = await run(['--coverage', '--project', 'unit', '--project', 'unit-isolated', '--project', 'e2e'])
say('in-process tests under coverage', coverage.ok)
const spawned1 = await run(['--project', 'spawned'], { lane: '1' })
say('tests that spawn the CLI (lane 1)', spawned1.ok)
const l2 = await lane2
process.stdout.write(`\n[npm test] lane 2: the cluster suite, then the docs and crash tests\n${l2.cluster.out}${l2.spawned.out}`)
say('cluster suite', l2.cluster.ok)
say('docs and crash tests (lane 2)', l2.spawned.ok)
const alone = await run(['--project', 'spawned'], { lane: 'alone' })
say('tenant isolation and the services restart (alone)', alone.ok)
process.exit([coverage, spawned1, l2.cluster, l2.spawned, alone].every((r) => r.ok) ? 0 : 1)
