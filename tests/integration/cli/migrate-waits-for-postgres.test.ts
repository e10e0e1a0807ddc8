// `skytide run --migrate`, the container's default command, started while Postgres is down (it starts after skytide,
// or restarts): the migrations wait for it, logged, and the process goes on once it answers, instead of exiting 1 and
// being restarted in a loop until then. Postgres is cut off by a TCP proxy in front of the machine's server.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestRedis, createTestSchema, TEST_REDIS_URL } from '../../helpers/services.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';
import { waitFor } from '../../helpers/wait.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;

let db: Awaited<ReturnType<typeof createTestSchema>>;
let redis: Awaited<ReturnType<typeof createTestRedis>>;
let proxy: TcpProxy;
const children: ChildProcessWithoutNullStreams[] = [];

beforeAll(async () => {
  db = await createTestSchema('migrate_waits');
  redis = await createTestRedis('migrate_waits');
  const target = new URL(db.url);
  proxy = await startTcpProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
});
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});
afterAll(async () => {
  await proxy?.close();
  await redis?.cleanup();
  await db?.drop();
});

describe('skytide run --migrate with Postgres down', () => {
  it('waits for Postgres, logging it, then migrates and runs; SIGTERM then exits 0', async () => {
    await proxy.setMode('refuse');
    const url = new URL(db.url);
    url.port = String(proxy.port);
    const child = spawn(process.execPath, [CLI, 'run', '--only', 'index', '--migrate'], {
      env: { PATH: process.env['PATH'] ?? '', DATABASE_URL: url.toString(), REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redis.prefix, HTTP_PORT: '0', LOG_LEVEL: 'info' },
    });
    children.push(child);
    const lines: Record<string, unknown>[] = [];
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() ?? '';
      for (const p of parts) if (p.startsWith('{')) lines.push(JSON.parse(p) as Record<string, unknown>);
    });
    child.stderr.on('data', () => {});
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let exitCode: number | null | undefined;
    void exited.then((code) => (exitCode = code));

    await waitFor(() => lines, (l) => l.some((line) => line['msg'] === 'postgres unavailable: migrations wait for it'), 'the wait logged');
    expect(lines.find((l) => l['msg'] === 'postgres unavailable: migrations wait for it')).toMatchObject({ level: 'warn', task: 'migrate' });
    expect(exitCode).toBeUndefined();

    await proxy.setMode('open');
    await waitFor(() => lines, (l) => l.some((line) => line['msg'] === 'migrations applied'), 'the migrations applied', 30_000);
    await waitFor(() => lines, (l) => l.filter((line) => line['msg'] === 'consumer started').length === 2, 'the consumers started');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(lines.some((l) => l['msg'] === 'command failed')).toBe(false);
  }, 60_000);
});
