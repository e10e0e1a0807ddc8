// The firehose adapter whose stream key someone made with another type (a string here), against a real relay on
// 127.0.0.1 and real Redis: the batch script refuses the batch whole (once-batch-script.ts checks every key's type
// first), so the cursor is not raised past events never written; the write failure is counted by host as
// `stream_write_failed` and ends the task with an error naming the key.
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runFirehoseIngester } from '../../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { StreamWriteError } from '../../../adapters/redis/stream-writer.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { identityFrame } from '../../helpers/frames.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: KeySpace;
let relay: FakeRelay;

beforeAll(async () => {
  ({ redis, cleanup } = await createTestRedis('firehose_wrong_type'));
});
afterAll(async () => cleanup());
beforeEach(async () => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  relay = await startFakeRelay();
});
afterEach(async () => relay.close());

it('a firehose_live that is a string: nothing written, the cursor not raised, the failure counted', async () => {
  await redis.set(keys.stream('firehose_live'), 'made by hand');
  for (let seq = 1; seq <= 3; seq++) relay.append(seq, identityFrame(seq, DID));
  const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: ['firehose_live'] });
  const controller = new AbortController();
  const err = await runFirehoseIngester({
    redis, keys, host: relay.host, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 20, initialCursor: 0,
    log: silentLog, metrics: metrics.metrics, signal: controller.signal, lengthCheckIntervalMs: 20,
    backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 },
  }).then(() => undefined, (e: unknown) => e);
  controller.abort();
  expect(await redis.get(keys.cursor('firehose_live', relay.host))).toBeNull();
  expect(await redis.get(keys.stream('firehose_live'))).toBe('made by hand');
  expect(err).toBeInstanceOf(StreamWriteError);
  expect((err as Error).message).toContain(`WRONGTYPE step 1 needs ${keys.stream('firehose_live')} to be a stream but it is a string`);
  const text = await metrics.registry.metrics();
  expect(text).toContain(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="stream_write_failed"} 1`);
}, 20_000);
