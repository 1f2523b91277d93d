import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 240_000,
    // Two cores in CI: run two files at a time; suites that start servers pick free ports.
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
