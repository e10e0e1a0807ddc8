// The other writers on a real Redis Cluster with STREAM_SHARDS=4: a listRepos sweep queues each DID in its shard of
// repo_backfill (one MULTI per shard, then the cursor under the lease, all lease keys in one slot), and a consumer
// dead-letters an unreadable entry of a shard into that shard's DLQ in the same MULTI as its XACK and XDEL.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHandle } from '../../helpers/redis-cluster.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { waitFor } from '../../helpers/wait.ts';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { createKeySpace, GROUPS, STREAMS, SWEEP_DONE } from '../../../adapters/redis/keys.ts';
import { runSweep } from '../../../long-runners/sweeper/sweep.ts';
import { writeBatch } from '../../../adapters/redis/stream-writer.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';

const DIDS = Array.from({ length: 23 }, (_, i) => `did:plc:cluster${String(i).padStart(17, 'a')}`);
let cluster: RedisClusterHandle;
let redis: Redis;
let db: IndexDb;
let server: http.Server;
let host: string;

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  redis = createRedis({ url: 'redis://127.0.0.1:6379', clusterNodes: cluster.nodes, log: silentLog });
  db = await createIndexDb('cluster_paths');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const start = Number(url.searchParams.get('cursor') ?? '0');
    const limit = Number(url.searchParams.get('limit'));
    const repos = DIDS.slice(start, start + limit).map((did) => ({ did, head: 'bafy', rev: '3l3qo2vuowo2b', active: true }));
    const next = start + limit < DIDS.length ? String(start + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(next === undefined ? { repos } : { repos, cursor: next }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}, 60_000);
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await redis.quit();
  await db.close();
  await cluster.close();
});

describe('STREAM_SHARDS=4 on a Redis Cluster', () => {
  it('a sweep queues every DID in its own shard of repo_backfill and ends with the done sentinel', async () => {
    const keys = createKeySpace('sweep:', { shards: 4, cluster: true });
    const progress = await runSweep({ redis, keys, sql: db.sql, fetch: globalThis.fetch, host, highWaterMark: 1000, pageSize: 5, retryDelayMs: 5, log: silentLog, metrics: noMetrics, signal: new AbortController().signal });
    expect(progress).toMatchObject({ listed: DIDS.length, queued: DIDS.length, done: true });
    const seen: string[] = [];
    for (const shard of keys.shardsOf(STREAMS.repoBackfill)) {
      for (const [, fields] of await redis.xrange(keys.stream(shard), '-', '+')) {
        const did = (JSON.parse(fields[1]!) as { did: string }).did;
        expect(keys.shardFor(STREAMS.repoBackfill, did)).toBe(shard);
        seen.push(did);
      }
    }
    expect(seen.sort()).toEqual([...DIDS].sort());
    expect(await redis.get(keys.cursor(STREAMS.repoBackfill, host))).toBe(SWEEP_DONE);
  });

  it('label_live stays one stream, written with its cursor in one MULTI (the cursor takes the stream key as its tag)', async () => {
    const keys = createKeySpace('labels:', { shards: 4, cluster: true });
    const cursor = keys.cursor(STREAMS.labelLive, 'labeler.example');
    expect(cursor).toBe('{labels:label_live}:cursor:labeler.example');
    const result = await writeBatch(redis, { entries: [{ stream: keys.stream(STREAMS.labelLive), fields: { event: '{}' } }], seqCursor: { key: cursor, seq: 9 } });
    expect(result.seqCursor).toBe(9);
    expect(await redis.xlen(keys.stream(STREAMS.labelLive))).toBe(1);
  });

  it("dead-letters a shard's unreadable entry into that shard's DLQ", async () => {
    const keys = createKeySpace('dlq:', { shards: 4, cluster: true });
    const shard = keys.shardsOf(STREAMS.firehoseLive)[2]!;
    await redis.xadd(keys.stream(shard), '*', 'event', '{"not":"an event"}');
    const stop = new AbortController();
    const consumer = runStreamConsumer({
      redis, keys, stream: shard, metricStream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: 'c1', batchSize: 10,
      maxAttempts: 3, parse: parseEventFields, handle: async (items) => items.map(() => ({ status: 'ok' as const })),
      log: silentLog, metrics: noMetrics, signal: stop.signal, blockMs: 50,
    });
    await waitFor(() => redis.xlen(keys.dlq(shard)), (n) => n === 1, "the shard's DLQ");
    expect(await redis.xlen(keys.stream(shard))).toBe(0);
    stop.abort();
    await consumer;
  });
});
