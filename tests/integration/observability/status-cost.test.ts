// `GET /`, `skytide status` and each `GET /metrics` scrape cost O(1) in the size of the network: the same Redis
// commands whatever the number of repos (counted with INFO commandstats deltas on a redis-server of this test's own,
// so no other test's commands are counted), never a SCAN or KEYS, and no count over repo_sync or label while the
// cached counts are younger than their stated age.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from '../../helpers/private-services.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createStatusReader } from '../../../adapters/observability/pipeline-status.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createKeySpace, STREAMS } from '../../../adapters/redis/keys.ts';
import type { Clock, SqlExecutor } from '../../../functions/ports.ts';
import { silentLog } from '../../../functions/ports.ts';

let server: PrivateRedis;
let db: IndexDb;
let redis: Redis;
let stats: Redis;

beforeAll(async () => {
  server = await startPrivateRedis();
  db = await createIndexDb('status_cost');
  redis = new Redis(server.url, { maxRetriesPerRequest: 3 });
  stats = new Redis(server.url, { maxRetriesPerRequest: 3 });
  await Promise.all([redis.ping(), stats.ping()]);
}, 60_000);
afterAll(async () => {
  await redis.quit();
  await stats.quit();
  await db.close();
  await server.close();
});

async function commandCalls(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await stats.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m !== null && m[1] !== 'info') out.set(m[1]!, Number(m[2]));
  }
  return out;
}

async function commandsDuring(work: () => Promise<unknown>): Promise<Map<string, number>> {
  const before = await commandCalls();
  await work();
  const after = await commandCalls();
  const delta = new Map<string, number>();
  for (const [name, n] of after) if (n - (before.get(name) ?? 0) > 0) delta.set(name, n - (before.get(name) ?? 0));
  return delta;
}

async function growNetwork(repos: number, from: number): Promise<void> {
  const pipeline = redis.pipeline();
  for (let i = from; i < from + repos; i++) pipeline.set(`repo_state:did:plc:${String(i).padStart(24, 'a')}`, '{"rev":"3l3qo2vuowo2b"}');
  await pipeline.exec();
  await db.sql.query(
    `insert into repo_sync (did, status, "updatedAt") select 'did:plc:' || lpad(g::text, 24, 'b'), 'synchronized', '2026-12-04T00:00:00Z' from generate_series($1::int, $2::int) g`,
    [from, from + repos - 1],
  );
}

describe('status and metrics cost', () => {
  it('issue the same commands for 10 or 5,000 repos, no SCAN, and count Postgres only when the cache is older than its age', async () => {
    const keys = createKeySpace('');
    await redis.set(keys.cursor(STREAMS.firehoseLive, 'relay.example'), '42');
    await redis.set(keys.cursor(STREAMS.labelLive, 'labeler.example'), '7');
    const queries: string[] = [];
    const sql: SqlExecutor = { query: (text, params) => (queries.push(text), db.sql.query(text, params)) };
    let now = Date.parse('2026-12-04T00:00:00Z');
    const clock: Clock = { now: () => now };
    const status = createStatusReader({ redis, sql: () => sql, keys, hosts: ['https://relay.example'], labelerHosts: ['labeler.example'], clock, log: silentLog });
    const { gauges } = createMetrics({ hosts: ['relay.example'], streams: Object.values(STREAMS) });

    await growNetwork(10, 0);
    const first = await status.read();
    expect(first.repoSync?.['synchronized']).toBe(10);
    expect(first.cursors).toEqual({ 'firehose_live:cursor:relay.example': '42', 'label_live:cursor:labeler.example': '7' });
    const counted = queries.length;
    expect(counted).toBeGreaterThan(0);

    const small = await commandsDuring(async () => {
      await status.read();
      await status.refreshGauges(gauges);
    });
    await growNetwork(5000, 10);
    const large = await commandsDuring(async () => {
      await status.read();
      await status.refreshGauges(gauges);
    });
    expect(large).toEqual(small);
    for (const scanning of ['scan', 'keys', 'hscan', 'sscan', 'zscan']) expect(large.has(scanning)).toBe(false);
    // Within the cache's age: no count of any table.
    expect(queries.length).toBe(counted);
    const cached = await status.read();
    expect(cached.repoSync?.['synchronized']).toBe(10);
    expect(cached.repoSyncAge).toEqual({ asOf: '2026-12-04T00:00:00.000Z', ageSeconds: 0 });

    // Past its age the count is redone beside the read (the read still answers the last count, with its age).
    now += 61_000;
    const stale = await status.read();
    expect(stale.repoSync?.['synchronized']).toBe(10);
    expect(stale.repoSyncAge?.ageSeconds).toBe(61);
    await expect.poll(async () => (await status.read()).repoSync?.['synchronized']).toBe(5010);
    expect((await status.read()).repoSyncAge?.ageSeconds).toBe(0);
  });
});
