import { defineConfig } from 'vitest/config';

// Integration and e2e suites share one Postgres and one Redis; each file namespaces its own schema and key prefix,
// so files may run in parallel. Two cores: keep the worker count small.
export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // *.long.test.ts run in `npm run test:long` (vitest.long.config.ts).
    exclude: ['tests/bench/**', 'node_modules/**', 'tests/**/*.long.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
  },
});
