// A repo download under the supervisor's watchdog, through `skytide run --only backfill`'s own wiring (parseConfig,
// createResources, backfillTasks) on the real Redis and Postgres, from a PDS on 127.0.0.1 that serves the CAR a chunk
// at a time: a download that keeps receiving bytes for three times the stuck limit (its deadline longer still) beats
// as each chunk arrives and is left alone, and the repo is synchronized; one whose PDS stops sending is cut as stalled
// (BACKFILLER_STALL_MS, below the limit), the repo's failure recorded, and no task is taken for hung.
import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { backfillTasks } from '../../../long-runners/cli/tasks.ts';
import { supervise, type ProcessLike } from '../../../long-runners/supervisor.ts';
import { repoBackfillJson } from '../../../functions/events.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc } from '../../helpers/fake-pds.ts';
import { buildSyntheticRepo } from '../../helpers/synthetic-repo.ts';
import { plcDid } from '../../helpers/dids.ts';
import { createTestRedis, TEST_REDIS_URL } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Short enough for a test; production's default is 10 minutes. */
const STUCK_AFTER_MS = 2000;
/** BACKFILLER_STALL_MS here: below the stuck limit, as parseConfig requires of production's values. */
const STALL_MS = 1000;
/** The slow download's pace: 24 chunks, one every 300 ms, 7 s in all (over three times the stuck limit). */
const CHUNKS = 24;
const CHUNK_EVERY_MS = 300;

/** A getRepo server that sends each repo's CAR in CHUNKS pieces CHUNK_EVERY_MS apart, or only its first piece. */
interface SlowPds {
  url: string;
  serve(did: string, car: Uint8Array, how: 'slowly' | 'then-stall'): void;
  requests: Map<string, number>;
  close(): Promise<void>;
}

async function startSlowPds(): Promise<SlowPds> {
  const repos = new Map<string, { car: Uint8Array; how: 'slowly' | 'then-stall' }>();
  const requests = new Map<string, number>();
  const server: Server = createServer(async (req, res) => {
    const did = new URL(req.url ?? '/', 'http://x').searchParams.get('did') ?? '';
    requests.set(did, (requests.get(did) ?? 0) + 1);
    const repo = repos.get(did);
    if (repo === undefined) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'RepoNotFound' }));
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' });
    const size = Math.ceil(repo.car.length / CHUNKS);
    for (let at = 0; at < repo.car.length; at += size) {
      if (res.destroyed) return;
      res.write(repo.car.subarray(at, at + size));
      // A stalled PDS: the connection stays open, nothing more comes.
      if (repo.how === 'then-stall') return;
      await new Promise((r) => setTimeout(r, CHUNK_EVERY_MS));
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve: (did, car, how) => void repos.set(did, { car, how }),
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

let redis: Redis;
let prefix: string;
let cleanupRedis: () => Promise<void>;
let db: IndexDb;
let plc: FakePlc;
let pds: SlowPds;

beforeAll(async () => {
  ({ redis, prefix, cleanup: cleanupRedis } = await createTestRedis('backfill_watchdog'));
  db = await createIndexDb('backfill_watchdog');
  plc = await startFakePlc();
  pds = await startSlowPds();
});
afterAll(async () => {
  await pds?.close();
  await plc?.close();
  await db?.close();
  await cleanupRedis?.();
});

/** The resources of `skytide run --only backfill`, one loop, a download deadline far past the stuck limit. */
function resources(): Resources {
  const { config } = parseConfig({
    REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, DATABASE_URL: db.url, PLC_URL: plc.url, IDENTITY_ALLOW_PRIVATE: 'true',
    BACKFILLER_CONCURRENCY: '1', BACKFILLER_TIMEOUT_MS: '30000', BACKFILLER_STALL_MS: String(STALL_MS), SKYTIDE_TASK_STUCK_MS: '0',
    INDEXER_CONSUMER: 'watchdog', LOG_LEVEL: 'error',
  });
  return createResources(config, 'watchdog');
}

function harness() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', component: 'test', write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  const proc = new EventEmitter() as EventEmitter & ProcessLike;
  return { lines, log, proc };
}

async function queueRepo(r: Resources, did: string, how: 'slowly' | 'then-stall'): Promise<void> {
  const repo = await buildSyntheticRepo(did, 400);
  plc.set(did, repoDoc(did, repo.didKey, pds.url));
  pds.serve(did, repo.car, how);
  await redis.xadd(r.keys.stream(STREAMS.repoBackfill), '*', 'repo', repoBackfillJson({ did }));
}

const syncOf = async (did: string) => (await db.sql.query(`select status, reason from repo_sync where did = $1`, [did]))[0] as { status: string; reason: string | null } | undefined;
/** The repo's repo_sync row; throws once the watchdog named a task, rather than wait for a row it stopped. */
const syncUnlessStuck = (lines: readonly Record<string, unknown>[], did: string) => async () => {
  const stuck = lines.find((l) => l['msg'] === 'task stuck');
  if (stuck !== undefined) throw new Error(`the watchdog took a task for hung: ${JSON.stringify(stuck)}`);
  return syncOf(did);
};

describe('a repo download under the task watchdog', () => {
  it('leaves alone a download that keeps receiving bytes for over three times the limit: each chunk beats', async () => {
    const { lines, log, proc } = harness();
    const r = resources();
    const did = plcDid('slowdownload');
    try {
      await queueRepo(r, did, 'slowly');
      const started = Date.now();
      const done = supervise(backfillTasks(r), { log, process: proc, stuckAfterMs: STUCK_AFTER_MS, shutdownTimeoutMs: 5000 });
      await waitFor(syncUnlessStuck(lines, did), (s) => s?.status === 'synchronized', 'the slow repo synchronized', 20_000);
      expect(Date.now() - started).toBeGreaterThanOrEqual((CHUNKS - 1) * CHUNK_EVERY_MS);
      proc.emit('SIGTERM');
      expect(await done).toBe(0);
      expect(lines.filter((l) => l['msg'] === 'task stuck')).toEqual([]);
      expect(pds.requests.get(did)).toBe(1);
    } finally {
      await r.close();
    }
  }, 30_000);

  it('cuts a download whose PDS stops sending at BACKFILLER_STALL_MS: the repo fails (fetch_failed), no task is hung', async () => {
    const { lines, log, proc } = harness();
    const r = resources();
    const did = plcDid('stalleddownload');
    try {
      await queueRepo(r, did, 'then-stall');
      const done = supervise(backfillTasks(r), { log, process: proc, stuckAfterMs: STUCK_AFTER_MS, shutdownTimeoutMs: 5000 });
      await waitFor(syncUnlessStuck(lines, did), (s) => s?.reason === 'fetch_failed', 'the stalled repo failed', 10_000);
      // Three times the limit with the entry pending for its next delivery: the loop's reads beat.
      await new Promise((resolve) => setTimeout(resolve, 3 * STUCK_AFTER_MS));
      proc.emit('SIGTERM');
      expect(await done).toBe(0);
      expect(lines.filter((l) => l['msg'] === 'task stuck')).toEqual([]);
      expect(await syncOf(did)).not.toMatchObject({ status: 'synchronized' });
    } finally {
      await r.close();
    }
  }, 30_000);
});
