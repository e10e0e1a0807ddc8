import { defineConfig } from 'vitest/config';

// `npm run test:long`: the suites that take minutes each (chaos, container, the newcomer e2e, long fuzz and soak).
// They are named *.long.test.ts, live with their kind in tests/, and run one file at a time: each starts private
// services (a Postgres cluster, a redis-server) and loads both cores on its own.
export default defineConfig({
  test: {
    include: ['tests/**/*.long.test.ts'],
    exclude: ['tests/bench/**', 'node_modules/**'],
    testTimeout: 30 * 60_000,
    hookTimeout: 10 * 60_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
  },
});
