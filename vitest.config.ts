import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Property tests run a few thousand cases each; keep the suite well under CI's budget.
    testTimeout: 30_000,
  },
})
