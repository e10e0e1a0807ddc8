// A Redis Cluster primary gone for longer than ioredis retries a command (maxRedirections, ~1.6 s): a crash, a restart,
// the seconds before a replica takes over. ioredis then fails the batch's write with "Too many Cluster redirections.
// Last error: ..."; the subscription must wait it out like any Redis outage, not count stream_write_failed and end its
// task (the supervisor exited 1 on it, a crash loop until the failover ended). On a real 3-primary cluster: the
// primary of the stream's slot is killed, and started again once the subscription says its batch waits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHandle } from '../../helpers/redis-cluster.ts';
import { waitFor } from '../../helpers/wait.ts';
import { encodeFrame } from '../../helpers/frames.ts';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { createKeySpace, hostKey } from '../../../adapters/redis/keys.ts';
import { entriesHandler, runSubscription } from '../../../long-runners/subscription/subscription.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { startFakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { silentLog, type Log } from '../../../functions/ports.ts';

let cluster: RedisClusterHandle;
let redis: Redis;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  redis = createRedis({ url: 'redis://127.0.0.1:6379', clusterNodes: cluster.nodes, log: silentLog });
}, 60_000);
afterAll(async () => {
  redis?.disconnect();
  await cluster?.close();
});

describe('a subscription on a Redis Cluster whose primary for its stream goes away', () => {
  it('waits the outage out and writes the batch once the primary is back', async () => {
    const relay = await startFakeRelay();
    const keys = createKeySpace('', { cluster: true });
    const stream = keys.stream('firehose_live:{0}');
    const cursorKey = keys.cursor('firehose_live:{0}', relay.host);
    const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: [] });
    const waits: string[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields) => void (msg.includes('batch waits') && waits.push(String(fields?.['err']))), child: () => log };
    const controller = new AbortController();
    const frame = (seq: number) => encodeFrame({ op: 1, t: '#thing' }, { seq, value: `event-${seq}` });
    let ended: unknown;
    const done = runSubscription({
      redis, host: relay.host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey, highWaterMark: 1000, batchSize: 1,
      batchTimeoutMs: 50, initialCursor: 0, maxFrameBytes: 1 << 20, log, metrics: metrics.metrics, signal: controller.signal,
      counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
      refusalBackoff: { baseMs: 50, maxMs: 200 },
      shards: { cursorKeys: [cursorKey], streams: [stream], shardOf: () => 0, tagged: true },
    }, entriesHandler((m) => [{ stream, fields: { event: String(m.body['value']) } }])).then(() => (ended = 'returned'), (err: unknown) => (ended = err));
    try {
      relay.append(1, frame(1));
      await waitFor(async () => (await redis.get(cursorKey)) === '1', (ok) => ok, 'seq 1 written', 15_000);
      const owner = await cluster.ownerOf(stream);
      await cluster.killNode(owner);
      relay.append(2, frame(2));
      // ioredis gives the write up after its redirections; the subscription holds the batch instead of ending.
      await waitFor(async () => waits.length > 0 || ended !== undefined, (ok) => ok, 'the batch waiting out the dead primary', 20_000);
      expect(ended).toBeUndefined();
      expect(waits[0]).toMatch(/Too many Cluster redirections|Connection is closed|CLUSTERDOWN/);
      await cluster.startNode(owner);
      await waitFor(async () => (await redis.get(cursorKey).catch(() => null)) === '2' || ended !== undefined, (ok) => ok, 'seq 2 written', 30_000);
      expect(ended).toBeUndefined();
      // The restarted primary kept nothing (no persistence): its cursor went back, which the subscription sees before
      // it writes, and it asks the relay again from there (eb64dc5): every event once, none lost.
      expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['event-1', 'event-2']);
      const exposition = await metrics.registry.metrics();
      expect(exposition).not.toMatch(/reason="stream_write_failed"[^\n]* [1-9]/);
      expect(exposition).toMatch(/reason="cursor_rolled_back"[^\n]* 1\n/);
    } finally {
      controller.abort();
      await done;
      await relay.close();
    }
  }, 90_000);
});
