// Past one machine, run for real: a Redis Cluster of three primaries on loopback (tests/helpers/redis-cluster.ts),
// the firehose adapter (`skytide run --only firehose`) writing a fake relay's commits into STREAM_SHARDS=4 shards by
// DID, and the index consumers in two processes (`skytide run --only index`) in the same groups. One consumer process
// is SIGKILLed mid-stream while it holds pending entries; the other claims them, and the database ends equal to the
// source's truth (every live record, like and follow, and exact aggregates), with every shard drained and no DLQ.
// Then the consumer throughput with one and with two processes, printed (never asserted: tests do not assert on time).
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedisCluster, type RedisClusterHandle } from '../../helpers/redis-cluster.ts';
import { startFakeRelay, type FakeRelay } from '../../helpers/fake-relay.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createProcessPool, type ProcessPool } from '../../helpers/process-pool.ts';
import { buildSocialWorkload, expectedAggregates, type Workload } from '../../helpers/social-workload.ts';
import { uniqueName } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../../adapters/redis/keys.ts';
import { silentLog } from '../../../functions/ports.ts';

const CLI = new URL('../../../long-runners/cli/main.ts', import.meta.url).pathname;
const SHARDS = 4;
const EVENTS = Number(process.env['CLUSTER_EVENTS'] ?? 8000);
const BENCH_EVENTS = Number(process.env['CLUSTER_BENCH_EVENTS'] ?? 20000);

let cluster: RedisClusterHandle;
let relay: FakeRelay;
let redis: Redis;
const pools: ProcessPool[] = [];
const dbs: IndexDb[] = [];

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  redis = createRedis({ url: 'redis://127.0.0.1:6379', clusterNodes: cluster.nodes, log: silentLog });
}, 60_000);
afterAll(async () => {
  for (const p of pools) await p.stopAll(10_000);
  await relay?.close();
  await redis?.quit();
  for (const db of dbs) await db.close();
  await cluster?.close();
}, 60_000);

interface Run {
  keys: KeySpace;
  pool: ProcessPool;
  db: IndexDb;
  shardStreams: string[];
  totalLength(): Promise<number>;
  pending(): Promise<number>;
  cursorsDone(total: number): Promise<boolean>;
}

async function startRun(label: string, workload: Workload): Promise<Run> {
  relay = await startFakeRelay();
  workload.frames.forEach((frame, i) => relay.append(i + 1, frame));
  const prefix = `${uniqueName(label)}:`;
  const keys = createKeySpace(prefix, { shards: SHARDS, cluster: true });
  const db = await createIndexDb(label);
  dbs.push(db);
  const pool = createProcessPool({
    cli: CLI,
    logDir: mkdtempSync(path.join(os.tmpdir(), `skytide-${label}-`)),
    env: {
      PATH: process.env['PATH'] ?? '', LOG_LEVEL: 'info', REDIS_CLUSTER_NODES: cluster.nodes.join(','), REDIS_KEY_PREFIX: prefix,
      STREAM_SHARDS: String(SHARDS), DATABASE_URL: db.url, DATABASE_POOL_MAX: '8', INGESTER_RELAY_HOSTS: relay.host,
      FIREHOSE_INITIAL_CURSOR: '0', INGESTER_TRUST_UPSTREAM: 'true', INGESTER_BATCH_SIZE: '500', INGESTER_BATCH_TIMEOUT_MS: '50',
      INDEXER_STREAMS: 'firehose_live', INDEXER_BATCH_SIZE: '200', INDEXER_CLAIM_IDLE_MS: '3000', INDEXER_CONCURRENCY: '1',
      HTTP_PORT: '0',
    },
  });
  pools.push(pool);
  const shardStreams = keys.shardsOf(STREAMS.firehoseLive).map((s) => keys.stream(s));
  return {
    keys, pool, db, shardStreams,
    totalLength: async () => (await Promise.all(shardStreams.map((s) => redis.xlen(s)))).reduce((a, b) => a + b, 0),
    pending: async () => {
      let n = 0;
      for (const s of shardStreams) {
        try {
          n += Number(((await redis.xpending(s, GROUPS.firehose)) as [number])[0]);
        } catch {
          // NOGROUP: no consumer yet.
        }
      }
      return n;
    },
    cursorsDone: async (total) => {
      const values = await Promise.all(keys.shardsOf(STREAMS.firehoseLive).map((s) => redis.get(keys.cursor(s, relay.host))));
      return values.every((v) => v === String(total));
    },
  };
}

/** Entries each consumer holds pending, over every shard. */
async function pendingByConsumer(run: Run): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const s of run.shardStreams) {
    let reply: unknown;
    try {
      reply = await redis.xpending(s, GROUPS.firehose);
    } catch {
      continue;
    }
    const owners = (reply as [number, string | null, string | null, [string, string][] | null])[3] ?? [];
    for (const [name, n] of owners) out.set(name, (out.get(name) ?? 0) + Number(n));
  }
  return out;
}

async function finish(run: Run, label: string) {
  await run.pool.stopAll(30_000);
  relay.close().catch(() => {});
  return label;
}

describe('past one machine: STREAM_SHARDS=4 on a Redis Cluster of three primaries', () => {
  it('two index processes share the shards; one is SIGKILLed, the other claims its entries; the index equals the truth', async () => {
    const workload = await buildSocialWorkload({ repos: 60, events: EVENTS, seed: 7 });
    const run = await startRun('cluster', workload);
    run.pool.start('firehose');
    await waitFor(() => run.cursorsDone(EVENTS), (done) => done, `every shard's cursor at ${EVENTS}`, 120_000);
    // Every shard got its DIDs' events, in the cluster's different slots.
    const lengths = await Promise.all(run.shardStreams.map((s) => redis.xlen(s)));
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(EVENTS);
    for (const n of lengths) expect(n).toBeGreaterThan(0);

    const victim = run.pool.start('index');
    const survivor = run.pool.start('index');
    // Kill the victim once it holds entries it has not acknowledged.
    await waitFor(async () => {
      const held = await pendingByConsumer(run);
      return [...held.entries()].filter(([name, n]) => name.endsWith(`-${victim.pid}-0`) && n > 0).length;
    }, (n) => n > 0, 'the victim holding pending entries', 60_000);
    await run.pool.sigkill(victim.id);
    const orphaned = [...(await pendingByConsumer(run)).entries()].filter(([name]) => name.includes(`-${victim.pid}-`)).reduce((a, [, n]) => a + n, 0);
    expect(orphaned).toBeGreaterThan(0);

    await waitFor(async () => ({ length: await run.totalLength(), pending: await run.pending() }), (s) => s.length === 0 && s.pending === 0, 'every shard drained', 180_000);
    const claimed = run.pool.logLines((l) => l.msg === 'claimed idle entries').filter((l) => l.id === survivor.id);
    expect(claimed.length).toBeGreaterThan(0);
    for (const s of run.keys.shardsOf(STREAMS.firehoseLive)) expect(await redis.xlen(run.keys.dlq(s))).toBe(0);
    // Nothing left pending to the dead consumer.
    for (const [name, n] of await pendingByConsumer(run)) if (name.includes(`-${victim.pid}-`)) expect(n).toBe(0);

    const sql = run.db.sql;
    const records = await sql.query<{ uri: string; cid: string }>(`select uri, cid from record where json <> '' order by uri`);
    expect(new Map(records.map((r) => [r.uri, r.cid]))).toEqual(new Map([...workload.truth.records].sort(([a], [b]) => (a < b ? -1 : 1))));
    const likes = await sql.query<{ uri: string; subject: string }>(`select uri, subject from "like"`);
    expect(new Map(likes.map((r) => [r.uri, r.subject]))).toEqual(workload.truth.likes);
    const follows = await sql.query<{ uri: string; subjectDid: string }>(`select uri, "subjectDid" from follow`);
    expect(new Map(follows.map((r) => [r.uri, r.subjectDid]))).toEqual(workload.truth.follows);
    const posts = await sql.query<{ uri: string }>(`select uri from post`);
    expect(new Set(posts.map((r) => r.uri))).toEqual(workload.truth.posts);
    const { likeCount, profile } = expectedAggregates(workload.truth, workload.dids);
    const postAgg = await sql.query<{ uri: string; likeCount: number }>(`select uri, "likeCount" from post_agg where "likeCount" <> 0`);
    const liveAgg = new Map(postAgg.filter((r) => workload.truth.posts.has(r.uri)).map((r) => [r.uri, Number(r.likeCount)]));
    expect(liveAgg).toEqual(likeCount);
    const profileAgg = await sql.query<{ did: string; followersCount: number; followsCount: number; postsCount: number }>(
      `select did, "followersCount", "followsCount", "postsCount" from profile_agg`);
    const actual = new Map(profileAgg.map((r) => [r.did, { followersCount: Number(r.followersCount), followsCount: Number(r.followsCount), postsCount: Number(r.postsCount) }]));
    for (const [did, want] of profile) expect(actual.get(did) ?? { followersCount: 0, followsCount: 0, postsCount: 0 }).toEqual(want);
    await finish(run, 'cluster');
    const exits = run.pool.auditExits();
    for (const e of exits) expect(e.explained, `${e.id}: ${e.cause}`).toBe(true);
  }, 600_000);

  it('measures index throughput with one and with two consumer processes (printed)', async () => {
    const workload = await buildSocialWorkload({ repos: 200, events: BENCH_EVENTS, seed: 11 });
    const figures: Record<string, number> = {};
    for (const processes of [1, 2]) {
      const run = await startRun(`bench${processes}`, workload);
      run.pool.start('firehose');
      await waitFor(() => run.cursorsDone(BENCH_EVENTS), (done) => done, 'the shards filled', 180_000);
      await run.pool.stopAll(30_000);
      // Timed from the first entry acknowledged (process start-up excluded) to the last.
      for (let i = 0; i < processes; i++) run.pool.start('index');
      await waitFor(() => run.totalLength(), (n) => n < BENCH_EVENTS, 'the first acknowledgement', 120_000);
      const started = performance.now();
      const startLength = await run.totalLength();
      await waitFor(async () => (await run.totalLength()) + (await run.pending()), (n) => n === 0, 'drained', 600_000);
      const seconds = (performance.now() - started) / 1000;
      figures[`${processes} process${processes === 1 ? '' : 'es'}`] = Math.round(startLength / seconds);
      await finish(run, `bench${processes}`);
      const rows = await run.db.sql.query<{ n: number }>(`select count(*)::int as n from record`);
      expect(Number(rows[0]?.n)).toBeGreaterThan(0);
    }
    console.log(`index throughput on the cluster (STREAM_SHARDS=${SHARDS}, ${BENCH_EVENTS} events, events/s): ${JSON.stringify(figures)}`);
  }, 1_200_000);
});
