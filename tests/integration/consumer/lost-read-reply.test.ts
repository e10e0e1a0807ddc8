// A blocking XREADGROUP '>' whose reply is lost: the connection drops after Redis delivered (a failover, a NAT losing
// its state, our own event loop stalled past the socket timeout). ioredis sends the read again on the new connection,
// which returns only the entries after the lost ones; those stay pending to us, unseen, until XAUTOCLAIM takes them a
// claim later. Processed meanwhile, a DID's later event went in before its earlier one (here a post before the
// account's deactivation). Through a proxy that black-holes Redis's replies (lost-reply-proxy.ts).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { ok } from '../../../functions/result.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';
import { TEST_REDIS_URL, createTestRedis } from '../../helpers/services.ts';
import { startLostReplyProxy, type LostReplyProxy } from '../../helpers/lost-reply-proxy.ts';
import { account, post, write } from '../../helpers/events.ts';
import { waitFor } from '../../helpers/wait.ts';

const ALICE = 'did:plc:alice00000000000000000000';
let direct: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let proxy: LostReplyProxy;

beforeAll(async () => {
  ({ redis: direct, prefix, cleanup } = await createTestRedis('lost_read_reply'));
  const target = new URL(TEST_REDIS_URL);
  proxy = await startLostReplyProxy({ host: target.hostname, port: Number(target.port || 6379) });
});
afterAll(async () => {
  await proxy.close();
  await cleanup();
});

describe('a blocking read whose reply is lost', () => {
  it('reads the lost entries before those the resent read returned: the stream order holds', async () => {
    const db = new URL(TEST_REDIS_URL).pathname;
    const viaProxy = createRedis({ url: `${proxy.url}${db}`, log: silentLog, socketTimeoutMs: 1000 });
    const keys = createKeySpace(prefix);
    const stream = keys.stream(STREAMS.firehoseLive);
    const seen: string[] = [];
    const controller = new AbortController();
    const done = runStreamConsumer({
      redis: viaProxy, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: 'host-1-0', batchSize: 10, blockMs: 500,
      // Long: XAUTOCLAIM must not be what brings the lost entry back within the test.
      claimIdleMs: 120_000, maxAttempts: 5, parse: parseEventFields,
      handle: async (items) => {
        seen.push(...items.map((e) => e.type));
        return items.map(() => ok);
      },
      log: silentLog, metrics: noMetrics, signal: controller.signal, backoff: { baseMs: 10, maxMs: 40 },
    });
    try {
      await waitFor(async () => (await direct.xinfo('GROUPS', stream).catch(() => [])) as unknown[], (g) => g.length > 0, 'the group');
      await new Promise((r) => setTimeout(r, 300));
      // What Redis sends back on the connections open now is lost, the blocked read's among them.
      expect(proxy.blackhole('replies')).toBeGreaterThan(0);
      await direct.xadd(stream, '*', 'event', JSON.stringify(account(ALICE, false, 'deactivated', 11)));
      await waitFor(async () => Number(((await direct.xpending(stream, GROUPS.firehose)) as [number])[0]), (n) => n === 1, 'the deactivation delivered');
      await direct.xadd(stream, '*', 'event', JSON.stringify(write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaaab', rev: 12, record: post('after deactivation') })));
      await waitFor(async () => seen.length, (n) => n >= 2, 'both events processed', 20_000);
    } finally {
      controller.abort();
      await done;
      viaProxy.disconnect();
    }
    expect(seen).toEqual(['account', 'create']);
  }, 40_000);
});
