// A sweep while Redis refuses writes (out of memory at maxmemory with noeviction, as the compose file sets it; a
// read-only replica alike): the page waits, its lease kept (renewing shrinks nothing and passes), and is written once
// Redis takes writes; no host's sweep fails for it. On a redis-server of the test's own whose maxmemory is set below
// its use, a listRepos server on 127.0.0.1 and the test database.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { claimSweep, runSweep } from '../../../long-runners/sweeper/sweep.ts';
import { createKeySpace, SWEEP_DONE } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startPrivateRedis, type PrivateRedis } from '../../helpers/private-services.ts';
import { waitFor } from '../../helpers/wait.ts';
import { queuedDids, startFakeListRepos, type FakeListRepos } from '../../helpers/fake-list-repos.ts';

const DIDS = Array.from({ length: 5 }, (_, i) => `did:plc:refused${String.fromCharCode(97 + i).padStart(17, 'a')}`);

let server: PrivateRedis;
let redis: Redis;
let db: IndexDb;
let relay: FakeListRepos;
let host: string;

beforeAll(async () => {
  [server, db] = await Promise.all([startPrivateRedis(), createIndexDb('sweep_refused')]);
  redis = new Redis(server.url);
  relay = await startFakeListRepos({ dids: DIDS, pageSize: 2, entry: (did) => ({ did, rev: '3l2aaaaaaaaaa' }) });
  host = relay.url;
});
afterAll(async () => {
  await redis?.config('SET', 'maxmemory', '0').catch(() => {});
  redis?.disconnect();
  await relay?.close();
  await server?.close();
  await db?.close();
});

describe('a sweep while Redis refuses writes', () => {
  it('waits at the page it met, counted as a wait on redis, and queues every DID once Redis takes writes', async () => {
    const keys = createKeySpace('');
    const claim = await claimSweep(redis, keys, host, 'refused-test', 60_000, silentLog);
    if (claim.held === undefined) throw new Error('the lease was not taken');
    const bundle = createMetrics({ hosts: [], streams: [] });
    const waits = async () => Number(/skytide_outage_waits_total\{dependency="redis"\} (\d+)/.exec(await bundle.registry.metrics())?.[1] ?? 0);
    await redis.config('SET', 'maxmemory', '1');
    const running = runSweep({
      redis, keys, sql: db.sql, fetch: globalThis.fetch, host, highWaterMark: 1000, pageSize: 2, retryDelayMs: 5, outageMaxDelayMs: 50,
      lease: claim.held, log: silentLog, metrics: bundle.metrics, signal: AbortSignal.timeout(20_000),
    });
    running.catch(() => {});
    try {
      await waitFor(waits, (n) => n >= 3, 'three waits on redis');
      expect(await redis.xlen(keys.stream('repo_backfill'))).toBe(0);
      await redis.config('SET', 'maxmemory', '0');
      expect(await running).toMatchObject({ pages: 3, listed: 5, queued: 5, done: true });
      expect(await queuedDids(redis, keys)).toEqual(DIDS);
      expect(await redis.get(keys.cursor('repo_backfill', host))).toBe(SWEEP_DONE);
    } finally {
      await claim.held.release();
    }
  });
});
