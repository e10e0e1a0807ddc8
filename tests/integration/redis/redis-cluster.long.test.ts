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
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createProcessPool, type ProcessPool } from '../../helpers/process-pool.ts';
import { buildSocialWorkload, expectedAggregates, type Workload } from '../../helpers/social-workload.ts';
import { uniqueName } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';
import { Redis as NodeClient } from 'ioredis';
import { startPrivatePostgres } from '../../helpers/private-services.ts';
import { cpuSeconds, treeCpuSeconds } from '../../helpers/cpu-time.ts';
import { createSql } from '../../../adapters/postgres/client.ts';
import { applyMigrations } from '../../../adapters/postgres/migrate.ts';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../../adapters/redis/keys.ts';
import { silentLog } from '../../../functions/ports.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

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
  db: Pick<IndexDb, 'sql' | 'url'>;
  shardStreams: string[];
  totalLength(): Promise<number>;
  pending(): Promise<number>;
  cursorsDone(total: number): Promise<boolean>;
}

async function startRun(label: string, workload: Workload, database?: Pick<IndexDb, 'sql' | 'url'>): Promise<Run> {
  relay = await startFakeRelay();
  workload.frames.forEach((frame, i) => relay.append(i + 1, frame));
  const prefix = `${uniqueName(label)}:`;
  const keys = createKeySpace(prefix, { shards: SHARDS, cluster: true });
  let db = database;
  if (db === undefined) {
    const made = await createIndexDb(label);
    dbs.push(made);
    db = made;
  }
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
    const records = checkRows(await sql.query(`select uri, cid from record order by uri`), { uri: 'string', cid: 'string' });
    expect(new Map(records.map((r) => [r.uri, r.cid]))).toEqual(new Map([...workload.truth.records].sort(([a], [b]) => (a < b ? -1 : 1))));
    const likes = checkRows(await sql.query(`select uri, subject from "like"`), { uri: 'string', subject: 'string' });
    expect(new Map(likes.map((r) => [r.uri, r.subject]))).toEqual(workload.truth.likes);
    const follows = checkRows(await sql.query(`select uri, "subjectDid" from follow`), { uri: 'string', subjectDid: 'string' });
    expect(new Map(follows.map((r) => [r.uri, r.subjectDid]))).toEqual(workload.truth.follows);
    const posts = checkRows(await sql.query(`select uri from post`), { uri: 'string' });
    expect(new Set(posts.map((r) => r.uri))).toEqual(workload.truth.posts);
    const { likeCount, profile } = expectedAggregates(workload.truth, workload.dids);
    const postAgg = checkRows(await sql.query(`select uri, "likeCount" from post_agg where "likeCount" <> 0`), { uri: 'string', likeCount: 'number' });
    const liveAgg = new Map(postAgg.filter((r) => workload.truth.posts.has(r.uri)).map((r) => [r.uri, Number(r.likeCount)]));
    expect(liveAgg).toEqual(likeCount);
    const profileAgg = checkRows(await sql.query(
      `select did, "followersCount", "followsCount", "postsCount" from profile_agg`), { did: 'string', followersCount: 'number', followsCount: 'number', postsCount: 'number' });
    const actual = new Map(profileAgg.map((r) => [r.did, { followersCount: Number(r.followersCount), followsCount: Number(r.followsCount), postsCount: Number(r.postsCount) }]));
    for (const [did, want] of profile) expect(actual.get(did) ?? { followersCount: 0, followsCount: 0, postsCount: 0 }).toEqual(want);
    await finish(run, 'cluster');
    const exits = run.pool.auditExits();
    for (const e of exits) expect(e.explained, `${e.id}: ${e.cause}`).toBe(true);
  }, 600_000);

  it('measures index throughput and CPU per event with one and with two consumer processes (printed)', async () => {
    const workload = await buildSocialWorkload({ repos: 200, events: BENCH_EVENTS, seed: 11 });
    const nodes = cluster.ports.map((port) => new NodeClient({ port, host: '127.0.0.1', maxRetriesPerRequest: 3 }));
    const redisCpu = async () => {
      let total = 0;
      for (const n of nodes) {
        const info = await n.info('cpu');
        total += Number(/used_cpu_sys:([\d.]+)/.exec(info)?.[1] ?? 0) + Number(/used_cpu_user:([\d.]+)/.exec(info)?.[1] ?? 0);
      }
      return total;
    };
    const figures: Record<string, unknown>[] = [];
    for (const processes of [1, 2]) {
      // A Postgres of its own per run, so its CPU is this run's alone (the machine's is shared with other tests).
      const pg = await startPrivatePostgres();
      const sql = createSql(pg.url, { max: 2 });
      await applyMigrations(sql);
      const run = await startRun(`bench${processes}`, workload, { sql, url: pg.url });
      const firehose = run.pool.start('firehose');
      await waitFor(() => run.cursorsDone(BENCH_EVENTS), (done) => done, 'the shards filled', 180_000);
      const firehoseCpu = cpuSeconds(firehose.pid);
      await run.pool.stopAll(30_000);
      const indexers = Array.from({ length: processes }, () => run.pool.start('index'));
      // Timed from the first entry acknowledged (process start-up excluded) to the last.
      await waitFor(() => run.totalLength(), (n) => n < BENCH_EVENTS, 'the first acknowledgement', 120_000);
      const started = performance.now();
      const startLength = await run.totalLength();
      const cpu0 = { index: indexers.reduce((a, p) => a + cpuSeconds(p.pid), 0), pg: treeCpuSeconds(pg.pid ?? -1), redis: await redisCpu() };
      // What the busy Postgres backends wait on, sampled while the consumers work: Lock means transactions queue
      // behind each other's row locks (shared aggregate rows), none means they run (or wait for a core).
      const waits: Record<string, number> = {};
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const rows = checkRows(await sql.query(
            `select coalesce(wait_event_type || ':' || wait_event, 'running') as w, count(*)::int as n from pg_stat_activity
             where state = 'active' and backend_type = 'client backend' and pid <> pg_backend_pid() group by 1`), { w: 'string', n: 'number' });
          for (const r of rows) waits[r.w] = (waits[r.w] ?? 0) + Number(r.n);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      await waitFor(async () => (await run.totalLength()) + (await run.pending()), (n) => n === 0, 'drained', 600_000);
      sampling = false;
      await sampler;
      const seconds = (performance.now() - started) / 1000;
      const cpu1 = { index: indexers.reduce((a, p) => a + cpuSeconds(p.pid), 0), pg: treeCpuSeconds(pg.pid ?? -1), redis: await redisCpu() };
      const perK = (a: number, b: number) => Math.round(((b - a) / startLength) * 1000 * 1000);
      figures.push({
        processes,
        eventsPerSecond: Math.round(startLength / seconds),
        cpuMsPer1000Events: { index: perK(cpu0.index, cpu1.index), postgres: perK(cpu0.pg, cpu1.pg), redis: perK(cpu0.redis, cpu1.redis) },
        firehoseCpuMsPer1000Events: Math.round((firehoseCpu / BENCH_EVENTS) * 1000 * 1000),
        postgresActiveBackendSamples: waits,
      });
      await finish(run, `bench${processes}`);
      const rows = checkRows(await sql.query(`select count(*)::int as n from record`), { n: 'number' });
      expect(Number(rows[0]?.n)).toBeGreaterThan(0);
      await sql.end();
      await pg.close();
    }
    for (const n of nodes) n.disconnect();
    console.log(`index throughput on the cluster (STREAM_SHARDS=${SHARDS}, ${BENCH_EVENTS} events): ${JSON.stringify(figures)}`);
  }, 1_200_000);
});
