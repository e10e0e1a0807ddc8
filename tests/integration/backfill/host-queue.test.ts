// Our own per-host queue (BACKFILLER_PER_HOST) is never charged to the PDS. Two repos of one PDS are backfilled at
// once, as two backfill loops do, through `skytide run`'s own ports (parseConfig, createResources' backfillPorts) on the
// real Redis and Postgres, from a PDS on 127.0.0.1 that streams each CAR steadily (never silent for long): with one
// download per host, the second repo waits for the first one's whole download before its getRepo is sent. That wait
// is ours: it must neither be cut as a stall (BACKFILLER_STALL_MS) nor count against the download's deadline
// (BACKFILLER_TIMEOUT_MS). Both repos are synchronized and the PDS sees each getRepo once, one at a time. Before the
// fix the limit sat inside the fetch, below the stall timer and the deadline: the second repo was cut as "stalled:
// nothing received" (fetch_failed, a counted delivery, towards the DLQ) without its request ever being sent.
// Also: a repo waiting for its slot beats (onProgress), so the supervisor's watchdog never takes the wait for a hang.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createGuardedFetch } from '../../../adapters/xrpc/guarded-fetch.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { backfillRepos, type RepoProgress } from '../../../functions/backfill-repo/handler.ts';
import { noMetrics, silentLog, systemClock, type HostSlots } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc } from '../../helpers/fake-pds.ts';
import { buildSyntheticRepo } from '../../helpers/synthetic-repo.ts';
import { plcDid } from '../../helpers/dids.ts';
import { createTestRedis, TEST_REDIS_URL } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';

/** Each CAR in CHUNKS pieces CHUNK_EVERY_MS apart: 3 s per download, never silent for more than 50 ms. */
const CHUNKS = 60;
const CHUNK_EVERY_MS = 50;
const DOWNLOAD_MS = CHUNKS * CHUNK_EVERY_MS;

/** A getRepo server that streams each repo's CAR steadily, and counts the requests it answers at once. */
interface SteadyPds {
  url: string;
  serve(did: string, car: Uint8Array): void;
  requests: Map<string, number>;
  maxInFlight(): number;
  close(): Promise<void>;
}

async function startSteadyPds(): Promise<SteadyPds> {
  const repos = new Map<string, Uint8Array>();
  const requests = new Map<string, number>();
  let inFlight = 0;
  let max = 0;
  const server: Server = createServer(async (req, res) => {
    const did = new URL(req.url ?? '/', 'http://x').searchParams.get('did') ?? '';
    requests.set(did, (requests.get(did) ?? 0) + 1);
    const car = repos.get(did);
    if (car === undefined) return void res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'RepoNotFound' }));
    inFlight++;
    max = Math.max(max, inFlight);
    try {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' });
      const size = Math.ceil(car.length / CHUNKS);
      for (let at = 0; at < car.length; at += size) {
        if (res.destroyed) return;
        res.write(car.subarray(at, at + size));
        await new Promise((r) => setTimeout(r, CHUNK_EVERY_MS));
      }
      res.end();
    } finally {
      inFlight--;
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve: (did, car) => void repos.set(did, car),
    requests,
    maxInFlight: () => max,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

let prefix: string;
let cleanupRedis: () => Promise<void>;
let db: IndexDb;
let plc: FakePlc;
let pds: SteadyPds;

beforeAll(async () => {
  ({ prefix, cleanup: cleanupRedis } = await createTestRedis('backfill_host_queue'));
  db = await createIndexDb('backfill_host_queue');
  plc = await startFakePlc();
  pds = await startSteadyPds();
});
afterAll(async () => {
  await pds?.close();
  await plc?.close();
  await db?.close();
  await cleanupRedis?.();
});

/** The resources of `skytide run --only backfill` with one download per PDS host. */
function resources(timing: { stallMs: number; timeoutMs: number }): Resources {
  const { config, unknown } = parseConfig({
    REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, DATABASE_URL: db.url, PLC_URL: plc.url, IDENTITY_ALLOW_PRIVATE: 'true',
    BACKFILLER_PER_HOST: '1', BACKFILLER_STALL_MS: String(timing.stallMs), BACKFILLER_TIMEOUT_MS: String(timing.timeoutMs),
    SKYTIDE_TASK_STUCK_MS: '0', INDEXER_CONSUMER: 'host-queue', LOG_LEVEL: 'error',
  });
  expect(unknown).toEqual([]);
  return createResources(config, 'host-queue');
}

async function servedRepo(did: string): Promise<void> {
  const repo = await buildSyntheticRepo(did, 40);
  expect(repo.car.length).toBeGreaterThan(CHUNKS);
  plc.set(did, repoDoc(did, repo.didKey, pds.url));
  pds.serve(did, repo.car);
}

const syncOf = async (did: string) => (await db.sql.query(`select status, reason from repo_sync where did = $1`, [did]))[0];

/** Two backfill loops, one repo each, both of the same PDS, at once; each repo's outcome, report and duration. */
async function twoLoops(r: Resources, dids: readonly string[]) {
  const ports = r.backfillPorts();
  return Promise.all(dids.map(async (did) => {
    const { outcomes, reports } = await backfillRepos([{ did }], ports);
    return { did, outcome: outcomes[0], report: reports[0] };
  }));
}

/** Both repos synchronized, each getRepo sent once, one at a time: the second only once the first was read whole. */
async function expectBothServedInTurn(dids: string[], results: Awaited<ReturnType<typeof twoLoops>>): Promise<void> {
  for (const { did, outcome, report } of results) {
    expect(outcome, did).toEqual({ status: 'ok' });
    expect(report, did).toMatchObject({ status: 'synchronized' });
    expect(await syncOf(did), did).toMatchObject({ status: 'synchronized', reason: null });
  }
  expect(dids.map((did) => pds.requests.get(did))).toEqual([1, 1]);
  expect(pds.maxInFlight()).toBe(1);
}

describe('a repo waiting for its PDS host slot (BACKFILLER_PER_HOST=1)', () => {
  it('is not cut as stalled while the download ahead of it streams for longer than BACKFILLER_STALL_MS', async () => {
    const r = resources({ stallMs: 1000, timeoutMs: 30_000 });
    const dids = [plcDid('queuestalla'), plcDid('queuestallb')];
    try {
      for (const did of dids) await servedRepo(did);
      // The second waited a whole download (longer than the stall limit) for its slot, as maxInFlight 1 shows.
      await expectBothServedInTurn(dids, await twoLoops(r, dids));
    } finally {
      await r.close();
    }
  }, 30_000);

  it('does not count its wait against its download deadline (BACKFILLER_TIMEOUT_MS)', async () => {
    // The wait (one download, 3 s) is below the stall limit, so only the deadline is at stake: 5 s from the slot is
    // plenty for a 3 s download, while 5 s from the repo's start ends before the second download does (6 s).
    const r = resources({ stallMs: DOWNLOAD_MS + 1000, timeoutMs: DOWNLOAD_MS + 2000 });
    const dids = [plcDid('queuedeadlinea'), plcDid('queuedeadlineb')];
    try {
      for (const did of dids) await servedRepo(did);
      await expectBothServedInTurn(dids, await twoLoops(r, dids));
    } finally {
      await r.close();
    }
  }, 30_000);
});

describe('a repo waiting for its host slot under the watchdog', () => {
  it('reports progress every 10 s while it waits, and stops once its download has the slot', async () => {
    const did = plcDid('queuebeat');
    await servedRepo(did);
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => (grant = resolve));
    let waiting = false;
    // Slots whose one host is busy until the test says otherwise.
    const hostSlots: HostSlots = {
      run: async (_url, download) => {
        waiting = true;
        await granted;
        waiting = false;
        return download();
      },
    };
    const progress: RepoProgress[] = [];
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const done = backfillRepos([{ did }], {
        clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: createGuardedFetch({ allowPrivate: true }), hostSlots,
        identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }),
        stallMs: 1000, onProgress: (p) => void progress.push(p),
      });
      await waitFor(() => waiting, (w) => w, 'the repo waiting for its slot');
      const before = progress.length;
      vi.advanceTimersByTime(25_000);
      expect(progress.slice(before)).toEqual([{ did, phase: 'download' }, { did, phase: 'download' }]);
      grant();
      const { outcomes } = await done;
      expect(outcomes[0]).toEqual({ status: 'ok' });
      const after = progress.length;
      vi.advanceTimersByTime(60_000);
      expect(progress.length).toBe(after);
    } finally {
      vi.useRealTimers();
    }
  }, 30_000);
});
