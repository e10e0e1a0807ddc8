// REDIS_URL naming a database the server does not have (redis://host:6379/99, past its `databases`): ioredis logged the
// failed SELECT and ran every command on database 0, another deployment's data (a `dlq purge` aimed at database 99
// emptied database 0's DLQ). The client closes at once instead, no command run, and the process exits 1 naming REDIS_URL.
import { spawnSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { createRedis } from '../../../adapters/redis/client.ts';
import { ConfigError } from '../../../adapters/config/parse.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { startPrivateRedis, type PrivateRedis } from '../../helpers/private-services.ts';
import { freePort } from '../../helpers/free-port.ts';
import { waitFor } from '../../helpers/wait.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;

let server: PrivateRedis;
let db0: Redis;

beforeAll(async () => {
  server = await startPrivateRedis();
  db0 = new Redis(server.url);
});
afterAll(async () => {
  db0.disconnect();
  await server.close();
});

describe('redis client: a database the server refuses', () => {
  it('is a configuration error naming REDIS_URL, reported once, with no command run on database 0', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', component: 'test', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const fatal: ConfigError[] = [];
    const client = createRedis({ url: `redis://:hunter2@127.0.0.1:${server.port}/99`, log, onFatal: (err) => fatal.push(err) });
    const reader = client.duplicate();
    // Queued before the connection is up, as a long-runner's first commands are.
    const writes = [client.set('refused:cursor', '12345'), reader.xadd('refused:stream', '*', 'a', '1')].map((p) => p.then(() => 'ran', () => 'refused'));
    try {
      await waitFor(() => [client.status, reader.status], (s) => s.every((x) => x === 'end'), 'both connections closed');
      expect(await Promise.all(writes)).toEqual(['refused', 'refused']);
      expect(fatal).toHaveLength(1);
      expect(fatal[0]).toBeInstanceOf(ConfigError);
      expect(fatal[0]?.problems).toEqual([`REDIS_URL names database 99, which the Redis at 127.0.0.1:${server.port} refuses (ERR DB index is out of range)`]);
      expect(lines).toContainEqual(expect.objectContaining({ level: 'error', msg: 'redis refuses the configured database', err: expect.stringContaining('REDIS_URL names database 99') }));
      expect(JSON.stringify(lines)).not.toContain('hunter2');
      expect(await db0.exists('refused:cursor', 'refused:stream')).toBe(0);
    } finally {
      client.disconnect();
      reader.disconnect();
    }
  });

  it('uses a database the server has', async () => {
    const log = createLogger({ level: 'info', component: 'test', write: () => {} });
    const fatal: ConfigError[] = [];
    const client = createRedis({ url: `${server.url}/7`, log, onFatal: (err) => fatal.push(err) });
    try {
      await client.set('kept:in-7', 'v');
      expect(await db0.exists('kept:in-7')).toBe(0);
      expect(await db0.select(7).then(() => db0.get('kept:in-7'))).toBe('v');
      expect(fatal).toEqual([]);
    } finally {
      await db0.select(0);
      client.disconnect();
    }
  });

  it('ends a one-shot command with exit 1 naming REDIS_URL, database 0 untouched', async () => {
    await db0.xadd('firehose_live_dlq', '*', 'event', '{"type":"delete"}', 'reason', 'handler_error', 'attempts', '5');
    const out = spawnSync(process.execPath, [CLI, 'dlq', 'purge', 'firehose_live', '--yes'], {
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: `${server.url}/99` }, encoding: 'utf8', timeout: 60_000,
    });
    expect(out.status).toBe(1);
    expect(out.stderr).toContain('REDIS_URL names database 99');
    expect(await db0.xlen('firehose_live_dlq')).toBe(1);
  }, 70_000);

  it('stops `skytide run` through its supervisor: exit 1, the cause logged naming REDIS_URL', async () => {
    const before = (await db0.keys('*')).sort();
    const child = spawn(process.execPath, [CLI, 'run', '--only', 'firehose'], {
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: `${server.url}/99`, INGESTER_RELAY_HOSTS: `http://127.0.0.1:${await freePort()}`, HTTP_PORT: '0', SKYTIDE_API_TOKEN: 't' },
    });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', () => {});
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      // Bounded: without the fix the process runs on database 0 and never exits.
      const code = await Promise.race([exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), 45_000))]);
      expect(code).toBe(1);
      const crash = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'uncaught error');
      expect(String(crash?.['err'])).toContain('ConfigError: invalid configuration: REDIS_URL names database 99');
      expect((await db0.keys('*')).sort()).toEqual(before);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});
