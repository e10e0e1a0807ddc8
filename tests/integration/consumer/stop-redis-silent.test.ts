// A stop during an outage takes back the deliveries of the entries it leaves pending (stream-consumer.ts); should Redis
// not answer at that moment (a TCP proxy on 127.0.0.1 holding every byte, closing nothing), the stop must not hang on
// it: it gives up after TAKE_BACK_TIMEOUT_MS, says so, and the entries keep their delivery, as after a crash.
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { createRedis } from '../../../adapters/redis/client.ts';
import { createKeySpace, GROUPS } from '../../../adapters/redis/keys.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { silentLog, type Log } from '../../../functions/ports.ts';
import { createTestRedis, TEST_REDIS_URL } from '../../helpers/services.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let proxy: TcpProxy;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('consumer_stop_silent'));
  const target = new URL(TEST_REDIS_URL);
  proxy = await startTcpProxy({ target: { host: target.hostname, port: Number(target.port || 6379) } });
});
afterAll(async () => {
  await proxy?.close();
  await cleanup?.();
});

it('a stop during an outage whose Redis does not answer ends within TAKE_BACK_TIMEOUT_MS, the entries keeping their delivery', async () => {
  const keys = createKeySpace(prefix);
  const stream = keys.stream('firehose_live');
  await redis.xadd(stream, '*', 'event', '1');
  await redis.xadd(stream, '*', 'event', '2');
  const warnings: string[] = [];
  const log: Log = { ...silentLog, warn: (msg) => warnings.push(msg), child: () => log };
  const client = createRedis({ url: `redis://127.0.0.1:${proxy.port}`, log: silentLog });
  const controller = new AbortController();
  let calls = 0;
  let sleeping = false;
  try {
    const done = runStreamConsumer<string>({
      redis: client, keys, stream: 'firehose_live', group: GROUPS.firehose, consumer: 'c1', batchSize: 10, blockMs: 50,
      claimIdleMs: 60_000, maxAttempts: 3, parse: (f) => ({ ok: true, value: f['event'] ?? '' }),
      handle: async () => {
        calls++;
        throw new DependencyError('postgres', 'connection refused');
      },
      log, metrics: { inc() {} }, signal: controller.signal, backoff: { baseMs: 60_000, maxMs: 60_000 },
      // A sleep beats as it starts: the batch has been kept claimed (through Redis) and now waits out the outage.
      beat: () => (sleeping ||= calls > 0),
    });
    await waitFor(() => sleeping, (s) => s, 'waiting out the outage');
    proxy.silence(true);
    controller.abort();
    // Without the bound, this never returns while the proxy holds every byte (the test's timeout would end it).
    await done;
    expect(warnings).toContain('taking back the deliveries of entries left at the stop timed out: they keep them');
    // As after a crash: still pending to c1, this delivery counted.
    const pending = (await redis.xpending(stream, GROUPS.firehose, '-', '+', 10)) as [string, string, number, number][];
    expect(pending.map(([, c, , d]) => [c, d])).toEqual([['c1', 1], ['c1', 1]]);
  } finally {
    // Closed before the held bytes are let through: the take-back Redis never got must not land later.
    client.disconnect();
    await proxy.close();
  }
});
