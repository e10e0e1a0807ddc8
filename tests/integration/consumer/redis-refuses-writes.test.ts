// Stream consumers while Redis refuses writes (out of memory at maxmemory with noeviction, as the compose file sets
// it; a read-only replica after a failover alike): an outage, waited out on the outage board, never a crash and never
// a verdict on the entries. On a redis-server of the test's own whose maxmemory is set below its use, so reads and
// acknowledgements pass while anything that grows memory is refused.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { runStreamConsumer, type StreamConsumerOptions } from '../../../long-runners/consumer/stream-consumer.ts';
import { emitToStream } from '../../../adapters/redis/emit-events.ts';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createOutageBoard, type OutageBoard } from '../../../adapters/observability/outage-board.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';
import { ok } from '../../../functions/result.ts';
import { account } from '../../helpers/events.ts';
import { startPrivateRedis, type PrivateRedis } from '../../helpers/private-services.ts';
import { waitFor } from '../../helpers/wait.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

let server: PrivateRedis;
let redis: Redis;
let keys: KeySpace;
let outages: OutageBoard;
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = new Redis(server.url);
});
afterEach(async () => {
  await stop?.();
  stop = undefined;
  await redis.config('SET', 'maxmemory', '0');
  await redis.flushall();
});
afterAll(async () => {
  redis?.disconnect();
  await server?.close();
});

/** A repo_backfill loop as the backfill consumers run it (a passing probe: Postgres answers), its function given. */
function startBackfillLoop(handle: StreamConsumerOptions<{ did: string }>['handle']): void {
  keys = createKeySpace('');
  outages = createOutageBoard({ log: silentLog, metrics: noMetrics });
  const controller = new AbortController();
  const loop = runStreamConsumer<{ did: string }>({
    redis, keys, stream: STREAMS.repoBackfill, group: GROUPS.repoBackfill, consumer: 'refusal-test', batchSize: 1,
    claimIdleMs: 150, maxAttempts: 2, parse: (fields) => ({ ok: true, value: JSON.parse(fields['repo'] ?? '{}') as { did: string } }),
    probe: async () => {}, outages, backoff: { baseMs: 10, maxMs: 50 }, handle, log: silentLog, metrics: noMetrics, signal: controller.signal,
  });
  stop = async () => {
    controller.abort();
    await loop;
  };
}

const queue = () => keys.stream(STREAMS.repoBackfill);
const redisWaits = () => outages.snapshot().find((o) => o.dependency === 'redis')?.waits ?? 0;

describe('a consumer started while Redis refuses writes', () => {
  it('waits to make its group (XGROUP CREATE is refused even when the group exists), then processes what waits', async () => {
    const k = createKeySpace('');
    await redis.xgroup('CREATE', k.stream(STREAMS.repoBackfill), GROUPS.repoBackfill, '0', 'MKSTREAM');
    await redis.multi().xadd(k.stream(STREAMS.repoBackfill), '*', 'repo', JSON.stringify({ did: DID })).config('SET', 'maxmemory', '1').exec();
    const handled: string[] = [];
    startBackfillLoop(async (items) => {
      handled.push(...items.map((i) => i.did));
      return items.map(() => ok);
    });
    await waitFor(redisWaits, (n) => n >= 3, 'three waits on redis');
    expect(handled).toEqual([]);
    await redis.config('SET', 'maxmemory', '0');
    await waitFor(() => redis.xlen(queue()), (n) => n === 0, 'the entry acknowledged');
    expect(handled).toEqual([DID]);
  });
});

describe('a backfill whose events Redis refuses (BACKFILLER_OUTPUT=stream)', () => {
  it('waits on redis with the entry claimed, dead-letters nothing, and lands the events once Redis takes writes', async () => {
    startBackfillLoop(async (items) => {
      await emitToStream(redis, keys.stream(STREAMS.firehoseBackfill), items.map((item) => account(item.did, true, undefined, 1)));
      return items.map(() => ok);
    });
    // The loop has made its group and reads; then the entry and Redis full in one MULTI.
    await waitFor(() => redis.xinfo('GROUPS', queue()).catch(() => []), (groups) => (groups as unknown[]).length > 0, 'the group');
    await redis.multi().xadd(queue(), '*', 'repo', JSON.stringify({ did: DID })).config('SET', 'maxmemory', '1').exec();
    // Past maxAttempts deliveries' worth of tries, had they counted.
    await waitFor(redisWaits, (n) => n >= 5, 'five waits on redis');
    expect(await redis.xlen(keys.dlq(STREAMS.repoBackfill))).toBe(0);
    expect(await redis.xlen(keys.stream(STREAMS.firehoseBackfill))).toBe(0);

    await redis.config('SET', 'maxmemory', '0');
    await waitFor(() => redis.xlen(keys.stream(STREAMS.firehoseBackfill)), (n) => n === 1, 'the events written');
    await waitFor(() => redis.xlen(queue()), (n) => n === 0, 'the entry acknowledged');
    expect(await redis.xlen(keys.dlq(STREAMS.repoBackfill))).toBe(0);
  });
});
