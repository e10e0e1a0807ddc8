// A Redis that stops answering while its connections look up (a TCP proxy on 127.0.0.1 holding every byte, closing
// nothing) under the supervisor's watchdog, with `skytide run --only index`'s own wiring: its commands wait until
// REDIS_SOCKET_TIMEOUT_MS takes the connections for dead, after which Redis is down, an outage the watchdog waits out
// (`task watchdog paused`) rather than a hang of the consumers (SKYTIDE_TASK_STUCK_MS above the socket timeout and a
// blocking read, as parseConfig requires). Once it answers again the consumers go on, and a stop exits 0.
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { createResources } from '../../../long-runners/cli/resources.ts';
import { indexTasks } from '../../../long-runners/cli/tasks.ts';
import { supervise, type ProcessLike } from '../../../long-runners/supervisor.ts';
import { createTestRedis, createTestSchema, TEST_REDIS_URL } from '../../helpers/services.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';
import { waitFor } from '../../helpers/wait.ts';

/** The socket timeout, at its minimum; the stuck limit above it and a consumer's 1 s BLOCK, as parseConfig asks. */
const SOCKET_TIMEOUT_MS = 2000;
const STUCK_AFTER_MS = 5000;

let redis: Redis;
let prefix: string;
let cleanupRedis: () => Promise<void>;
let db: { url: string; drop: () => Promise<void> };
let proxy: TcpProxy;

beforeAll(async () => {
  ({ redis, prefix, cleanup: cleanupRedis } = await createTestRedis('redis_silent_watchdog'));
  db = await createTestSchema('redis_silent_watchdog');
  const target = new URL(TEST_REDIS_URL);
  proxy = await startTcpProxy({ target: { host: target.hostname, port: Number(target.port || 6379) } });
});
afterAll(async () => {
  await proxy?.close();
  await db?.drop();
  await cleanupRedis?.();
});

describe('a Redis that stops answering, under the task watchdog', () => {
  it('is an outage once REDIS_SOCKET_TIMEOUT_MS passes, waited out: no consumer is taken for hung', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({ level: 'info', component: 'test', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
    const proc = new EventEmitter() as EventEmitter & ProcessLike;
    const { config } = parseConfig({
      REDIS_URL: `redis://127.0.0.1:${proxy.port}`, REDIS_KEY_PREFIX: prefix, DATABASE_URL: db.url, REDIS_SOCKET_TIMEOUT_MS: String(SOCKET_TIMEOUT_MS),
      INDEXER_STREAMS: STREAMS.firehoseLive, INDEXER_CONCURRENCY: '1', INDEXER_CONSUMER: 'silent', LOG_LEVEL: 'error',
    });
    const r = createResources(config, 'silent');
    try {
      const done = supervise(indexTasks(r), { log, process: proc, stuckAfterMs: STUCK_AFTER_MS, shutdownTimeoutMs: 5000, excuse: () => r.redisWaiting() });
      const stream = r.keys.stream(STREAMS.firehoseLive);
      await waitFor(() => redis.xinfo('GROUPS', stream).then((g) => (g as unknown[]).length, () => 0), (n) => n === 1, 'the consumer group made');
      proxy.silence(true);
      await new Promise((resolve) => setTimeout(resolve, 3 * STUCK_AFTER_MS));
      expect(lines.filter((l) => l['msg'] === 'task stuck')).toEqual([]);
      // The consumer waits on its blocking reader's connection, which the socket timeout closed: that is the outage.
      expect(lines).toContainEqual(expect.objectContaining({ msg: 'task watchdog paused', why: expect.stringMatching(/^redis (reader )?connection /) }));
      proxy.silence(false);
      await waitFor(() => lines, (l) => l.some((line) => line['msg'] === 'task watchdog resumes'), 'the watchdog resuming', 15_000);
      proc.emit('SIGTERM');
      expect(await done).toBe(0);
      expect(lines.filter((l) => l['msg'] === 'task stuck')).toEqual([]);
    } finally {
      proxy.silence(false);
      await r.close();
    }
  }, 60_000);
});
