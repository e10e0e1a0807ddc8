// A consumer group keeps every consumer name that ever read from it, and a process's names change with each process
// (hostname-pid; a container's hostname with each one). Restarted for months, every process left its consumers in
// every group for good. A consumer that starts removes those idle past pruneIdleMs that hold nothing; one holding
// pending entries stays (its entries are claimed by XAUTOCLAIM first), and so does every live one. Real Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { listConsumers } from '../../../adapters/redis/group-consumers.ts';
import { createKeySpace, GROUPS } from '../../../adapters/redis/keys.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';
import { ok } from '../../../functions/result.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('dead_consumers'));
});
afterAll(async () => cleanup());

const STREAM = 'firehose_live';
const GROUP = GROUPS.firehose;
const RESTARTS = 8;
const PRUNE_IDLE_MS = 100;

describe('consumers of processes that are gone', () => {
  it(`${RESTARTS} restarts under new names leave the group at the live consumer and the one holding an entry`, async () => {
    const keys = createKeySpace(`${prefix}restarts:`);
    const key = keys.stream(STREAM);
    // A process that died holding an entry: its consumer must stay until the entry is claimed from it.
    await redis.xgroup('CREATE', key, GROUP, '0', 'MKSTREAM');
    await redis.xadd(key, '*', 'event', 'held');
    await redis.xreadgroup('GROUP', GROUP, 'crashed-holder', 'COUNT', 1, 'STREAMS', key, '>');
    let handled = 0;
    for (let i = 1; i <= RESTARTS; i++) {
      const controller = new AbortController();
      const done = runStreamConsumer<string>({
        redis, keys, stream: STREAM, group: GROUP, consumer: `host-${i}-1`, batchSize: 10, blockMs: 20,
        // The crashed holder's entry is not claimed during the test.
        claimIdleMs: 3_600_000, maxAttempts: 3, pruneIdleMs: PRUNE_IDLE_MS,
        parse: (fields) => ({ ok: true, value: fields['event'] ?? '' }),
        handle: async (items) => ((handled += items.length), items.map(() => ok)),
        log: silentLog, metrics: noMetrics, signal: controller.signal,
      });
      await redis.xadd(key, '*', 'event', String(i));
      await waitFor(() => handled, (n) => n >= i, `entry ${i} to be handled`);
      controller.abort();
      await done;
      // The process is gone; the next one starts under its own name once this one has been idle a while.
      await new Promise((r) => setTimeout(r, PRUNE_IDLE_MS + 20));
    }
    const names = (await listConsumers(redis, key, GROUP)).map((c) => c.name).sort();
    expect(names).toEqual(['crashed-holder', `host-${RESTARTS}-1`]);
  });

  it('a live consumer removed while its stream is quiet loses nothing: it holds nothing, and is made again by its next read', async () => {
    // Redis before 7.2 counts a consumer idle from the last read that delivered something, so a live consumer on a
    // quiet stream can pass the threshold and be removed by another one starting. Removal is checked against its
    // pending entries in the same script, and its next delivery makes it again.
    const keys = createKeySpace(`${prefix}live:`);
    const key = keys.stream(STREAM);
    const handled: string[] = [];
    const start = (consumer: string) => {
      const controller = new AbortController();
      const done = runStreamConsumer<string>({
        redis, keys, stream: STREAM, group: GROUP, consumer, batchSize: 10, blockMs: 20, claimIdleMs: 3_600_000, maxAttempts: 3,
        pruneIdleMs: PRUNE_IDLE_MS, parse: (fields) => ({ ok: true, value: fields['event'] ?? '' }),
        handle: async (items) => (handled.push(...items), items.map(() => ok)),
        log: silentLog, metrics: noMetrics, signal: controller.signal,
      });
      return async () => {
        controller.abort();
        await done;
      };
    };
    const stopA = start('live-a');
    await redis.xadd(key, '*', 'event', 'first');
    await waitFor(() => handled.length, (n) => n === 1, 'the first entry');
    await new Promise((r) => setTimeout(r, 3 * PRUNE_IDLE_MS));
    const stopB = start('live-b');
    const values = Array.from({ length: 50 }, (_, i) => `e${i}`);
    for (const v of values) await redis.xadd(key, '*', 'event', v);
    await waitFor(() => handled.length, (n) => n >= 51, 'every entry');
    await stopB();
    await stopA();
    expect([...handled].sort()).toEqual(['first', ...values].sort());
    const pending = (await redis.xpending(key, GROUP)) as [number, ...unknown[]];
    expect(pending[0]).toBe(0);
  });
});
