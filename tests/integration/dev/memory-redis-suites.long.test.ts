// The Redis adapters' own integration suites (and the Redis work queue's contract suite), run again against the in-process Redis of `skytide dev`
// (TEST_REDIS_URL pointed at it): what holds on the real Redis holds on it. Files whose setup reads REDIS_URL's
// default instead of TEST_REDIS_URL are not in the list (they would test the real Redis twice).
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';

const REPO = path.join(import.meta.dirname, '../../..');
const SUITES = [
  'tests/integration/redis', 'tests/integration/consumer/consumer-group.test.ts', 'tests/integration/consumer/stream-consumer.test.ts',
  'tests/integration/firehose', 'tests/integration/sweeper', 'tests/contract/redis-work-queue.test.ts',
];

// The server runs in a process of its own (as in `skytide dev`, where it shares the process with the pipeline).
let server: ChildProcess | undefined;
let url = '';
beforeAll(async () => {
  server = spawn(process.execPath, [path.join(REPO, 'long-runners/dev/memory-redis/main.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  url = await new Promise<string>((resolve) => server!.stdout!.once('data', (c: Buffer) => resolve(c.toString().trim())));
});
afterAll(() => {
  server?.kill('SIGTERM');
});

it('the Redis suites pass against the in-process Redis', async () => {
  const child = spawn(process.execPath, [path.join(REPO, 'node_modules/vitest/vitest.mjs'), 'run', ...SUITES], {
    cwd: REPO, env: { ...process.env, TEST_REDIS_URL: url }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', () => {});
  const status = await new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const run = { status, stdout };
  const summary = /tests: (\d+) passed, (\d+) failed/.exec(run.stdout);
  expect(run.status, run.stdout.slice(-4000)).toBe(0);
  expect(Number(summary?.[1])).toBeGreaterThan(50);
  expect(Number(summary?.[2])).toBe(0);
}, 25 * 60_000);
