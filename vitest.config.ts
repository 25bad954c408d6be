import { defineConfig } from 'vitest/config'

/**
 * End-to-end tests that run the receiver in this process, over real sockets and timers: covered,
 * one file at a time. Any other e2e file runs in `spawned`.
 */
const E2E_IN_PROCESS = ['attacks', 'control', 'limits', 'receiver', 'simulator'].map((n) => `test/e2e/${n}.e2e.test.ts`)

/**
 * Not under coverage, one file at a time: tests that run the built CLI or other child processes
 * (coverage does not see inside them), the documentation's examples, and the tenant-isolation
 * test, which compares the response times of two paths (coverage instrumentation slows one more
 * than the other).
 */
const SPAWNED = ['test/e2e/**/*.e2e.test.ts', 'test/docs.test.ts', 'test/api/isolation.test.ts']

/**
 * `npm test` (scripts/test.mjs) runs the spawned tests in parts, named by DC09_TEST_LANE: `2`
 * runs these beside the cluster suite, `alone` the timing-sensitive ones at the end (the isolation
 * test's response times; the services test's clean stop, which once took an exit 1 on a CI run
 * with both lanes loading the machine), `1` the rest.
 */
const LANE_2 = ['test/docs.test.ts', 'test/e2e/crash.e2e.test.ts']
const ALONE = ['test/api/isolation.test.ts', 'test/e2e/services.e2e.test.ts']
const LANE = process.env.DC09_TEST_LANE
const SPAWNED_NOW = LANE === '2' ? LANE_2 : LANE === 'alone' ? ALONE : SPAWNED
const NOT_NOW = LANE === '1' ? [...LANE_2, ...ALONE] : []

/**
 * Tests that start real nats-server processes (a JetStream cluster): one file at a time, not
 * under coverage; `npm test` runs them beside the coverage run (scripts/test.mjs). Without
 * nats-server they are skipped, and test/cluster/setup.ts says so in one line.
 */
const CLUSTER = ['test/cluster/**/*.test.ts']

/** Unit tests that vi.mock a module: each runs with a module graph of its own. */
const MOCKS_A_MODULE = ['test/unit/cli/accounts-remove.test.ts']

export default defineConfig({
  test: {
    // Property tests run a few thousand cases each; keep the suite well under CI's budget.
    testTimeout: 30_000,
    // Harnesses built in beforeAll (an HTTP server, databases, hashed codes) on a loaded machine.
    hookTimeout: 30_000,
    projects: [
      {
        // One module graph for all unit files (isolate: false): importing it again for each file
        // took more than half of their time. Files that replace a module with vi.mock need a
        // graph of their own: list them in MOCKS_A_MODULE.
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...SPAWNED, ...MOCKS_A_MODULE, ...CLUSTER], isolate: false, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'unit-isolated', include: MOCKS_A_MODULE, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'e2e', include: E2E_IN_PROCESS, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
      {
        extends: true,
        test: { name: 'spawned', include: SPAWNED_NOW, exclude: [...E2E_IN_PROCESS, ...NOT_NOW], fileParallelism: false, sequence: { groupOrder: 2 } },
      },
      {
        extends: true,
        test: { name: 'cluster', include: CLUSTER, fileParallelism: false, sequence: { groupOrder: 3 }, globalSetup: ['test/cluster/setup.ts'] },
      },
    ],
    // `npm run coverage`: the unit and e2e projects, which run the code in this process.
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      exclude: ['src/protocol/codes/*.generated.ts'],
      reporter: ['text', 'json-summary'],
      // A failing test still leaves the report, to see what else fell.
      reportOnFailure: true,
      thresholds: {
        'src/protocol/**': { lines: 90 },
        'src/receiver/**': { lines: 90 },
        'src/journal/**': { lines: 90 },
        'src/verification/**': { lines: 90 },
      },
    },
  },
})
