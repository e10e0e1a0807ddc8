// The Worker's cron sweep (adapters/runtime/worker-sweep.ts) against the real Postgres and a listRepos server on
// 127.0.0.1: a tick sweeps at most pagesPerTick pages and the next resumes from the cursor in sweep_state; repos
// synchronized at the listed rev, in the listed account state, are not queued; a finished pass starts again only everyMs after it started; a row
// held by another tick is left to it (busy), and a tick that lost its row writes no cursor (lease_lost); a tick that
// outlasts its lease keeps it, renewed with each page. The queue is the work-queue port itself (what a tick sends is
// what the test reads).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sweepTick, type WorkerSweepOptions } from '../../../adapters/runtime/worker-sweep.ts';
import type { WorkQueue } from '../../../adapters/queue/work-queue.ts';
import type { RepoBackfillEntry } from '../../../functions/events.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { fakeListRepos } from '../../helpers/fake-list-repos.ts';

const DIDS = Array.from({ length: 5 }, (_, i) => `did:plc:wsweep${String(i).padStart(18, 'a')}`);
const PAGE = 2;
let host: string;
let db: IndexDb;
let sent: RepoBackfillEntry[];
/** Called before a page is answered: lets a test act mid-tick. */
let onPage: (cursor: string) => Promise<void> = async () => {};
/** A page answered with this status instead (a 400 is the page's own failure; `*`: every page, the relay down). */
let failAt: { cursor: string; status: number } | undefined;
// listRepos over DIDS, PAGE at a time, each page naming the next cursor (the listing ends with an empty page).
const relay = fakeListRepos({
  dids: DIDS, pageSize: PAGE, cursorPastEnd: true,
  entry: (did, i) => ({ did, rev: `3laaaaaaaaaa${'abcde'[i]}` }),
  onPage: ({ cursor }) => onPage(cursor ?? '0'),
  fail: ({ cursor }) => (failAt !== undefined && ((cursor ?? '0') === failAt.cursor || failAt.cursor === '*') ? { status: failAt.status } : undefined),
});
/** What the relay lists as a DID's account state instead of `active: true`. */
const listedState = relay.states;
const queue: WorkQueue<RepoBackfillEntry> = { send: async (bodies) => void sent.push(...bodies) };

beforeAll(async () => {
  db = await createIndexDb('worker_sweep');
  host = await relay.listen();
});

afterAll(async () => {
  await relay.close();
  await db.close();
});

beforeEach(async () => {
  sent = [];
  onPage = async () => {};
  failAt = undefined;
  relay.reset();
  await db.sql.query('truncate sweep_state, repo_sync, account_state');
});

let clock = Date.parse('2026-12-04T00:00:00Z');
function options(overrides: Partial<WorkerSweepOptions> = {}): WorkerSweepOptions {
  return {
    sql: db.sql, fetch: globalThis.fetch, queue, hosts: [host], pageSize: PAGE, pageTimeoutMs: 5_000, pagesPerTick: 2, pageAttempts: 2,
    everyMs: 3_600_000, leaseMs: 60_000, holder: 'tick-a', now: () => clock, log: silentLog, metrics: noMetrics, ...overrides,
  };
}

describe('the Worker cron sweep', () => {
  it('sweeps pagesPerTick pages a tick, resumes from the stored cursor, and ends the pass', async () => {
    expect(await sweepTick(options())).toEqual([{ host, state: 'swept', pages: 2, listed: 4, queued: 4 }]);
    expect(await db.sql.query(`select cursor, "doneAt", holder from sweep_state`)).toEqual([{ cursor: '4', doneAt: null, holder: null }]);
    // The next tick goes on from cursor 4: the last repo, then the empty page that ends the listing.
    expect(await sweepTick(options())).toEqual([{ host, state: 'done', pages: 2, listed: 1, queued: 1 }]);
    expect(sent.map((e) => e.did)).toEqual(DIDS);
    expect(sent[0]).toEqual({ did: DIDS[0], host, rev: '3laaaaaaaaaaa', active: true });
    expect(await db.sql.query(`select cursor, pages::int, listed::int, queued::int, "doneAt" is not null as done from sweep_state`)).toEqual([
      { cursor: null, pages: 4, listed: 5, queued: 5, done: true },
    ]);
  });

  it('starts a new pass only everyMs after the last one started, and skips repos synchronized at the listed rev', async () => {
    await sweepTick(options({ pagesPerTick: 10 }));
    sent = [];
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]?.state).toBe('waiting');
    expect(sent).toEqual([]);
    await db.sql.query(`insert into repo_sync (did, status, rev, "updatedAt") values ($1, 'synchronized', '3laaaaaaaaaaa', 'x'), ($2, 'synchronized', 'older', 'x')`, [DIDS[0]!, DIDS[1]!]);
    clock += 3_600_000;
    expect(await sweepTick(options({ pagesPerTick: 10 }))).toEqual([{ host, state: 'done', pages: 4, listed: 5, queued: 4 }]);
    expect(sent.map((e) => e.did)).toEqual(DIDS.slice(1));
  });

  it('sends a repo at the listed rev whose listed account state is not the one stored (a missed #account), as the Redis sweeper does', async () => {
    await db.sql.query(
      `insert into repo_sync (did, status, rev, "updatedAt") select did, 'synchronized', '3laaaaaaaaaa' || substr('abcde', n::int, 1), 'x'
       from unnest($1::text[]) with ordinality as x(did, n)`,
      [DIDS],
    );
    await db.sql.query(
      `insert into account_state (did, active, status, "changedAt", history) values
         ($1, false, 'deactivated', 't', '[{"time":"t","active":false,"status":"deactivated"}]'),
         ($2, false, 'takendown', 't', '[{"time":"t","active":false,"status":"takendown"}]')`,
      [DIDS[1]!, DIDS[2]!],
    );
    // Taken down with no #account seen (stored: no row, active); reactivated likewise (stored deactivated); in sync.
    listedState.set(DIDS[0]!, { active: false, status: 'takendown' });
    listedState.set(DIDS[2]!, { active: false, status: 'takendown' });
    expect(await sweepTick(options({ pagesPerTick: 10 }))).toEqual([{ host, state: 'done', pages: 4, listed: 5, queued: 2 }]);
    expect(sent).toEqual([
      { did: DIDS[0], host, rev: '3laaaaaaaaaaa', active: false, status: 'takendown' },
      { did: DIDS[1], host, rev: '3laaaaaaaaaab', active: true },
    ]);
  });

  it('leaves a row another tick holds to it, and a tick that lost its row stores no cursor', async () => {
    // Tick B takes the row while tick A waits on its first page.
    let stolen = false;
    onPage = async () => {
      if (stolen) return;
      stolen = true;
      await db.sql.query(`update sweep_state set holder = 'tick-b', "leaseUntil" = now() + interval '1 minute'`);
    };
    const [a] = await sweepTick(options());
    expect(a).toMatchObject({ host, state: 'failed' });
    expect(a?.error).toMatch(/lost its row/);
    expect(await db.sql.query(`select cursor, holder from sweep_state`)).toEqual([{ cursor: null, holder: 'tick-b' }]);
    // While B holds it, another tick is busy and sends nothing.
    sent = [];
    expect(await sweepTick(options({ holder: 'tick-c' }))).toEqual([{ host, state: 'busy', pages: 0, listed: 0, queued: 0 }]);
    expect(sent).toEqual([]);
    // An expired lease (B died) is taken over, and the pass goes on.
    await db.sql.query(`update sweep_state set "leaseUntil" = now() - interval '1 second'`);
    expect((await sweepTick(options({ holder: 'tick-c' })))[0]).toMatchObject({ state: 'swept', pages: 2 });
  });
});

describe('a tick longer than its lease', () => {
  it('renews the lease with each page it stores: a tick started meanwhile finds the row busy, the first ends unhurt', async () => {
    // Lease 2 s, each page 1.2 s: by the third page the lease taken at the start has expired; the renewals made at
    // the first two cursors stored keep it held (Postgres's own clock).
    const leaseMs = 2_000;
    let competing: Awaited<ReturnType<typeof sweepTick>> | undefined;
    let nested = false;
    onPage = async (cursor) => {
      if (nested) return;
      await new Promise((r) => setTimeout(r, 1_200));
      if (cursor !== '4') return;
      nested = true;
      competing = await sweepTick(options({ holder: 'tick-b', leaseMs }));
      nested = false;
    };
    const [a] = await sweepTick(options({ pagesPerTick: 3, leaseMs }));
    expect(competing).toEqual([{ host, state: 'busy', pages: 0, listed: 0, queued: 0 }]);
    expect(a).toEqual({ host, state: 'swept', pages: 3, listed: 5, queued: 5 });
    expect(sent.map((e) => e.did)).toEqual(DIDS);
    expect(await db.sql.query(`select cursor, holder from sweep_state`)).toEqual([{ cursor: '6', holder: null }]);
  }, 15_000);

  it('renews the lease between a failed page and the probe of the relay, so the lease need only outlast one request', async () => {
    // Lease 2 s; the failing page answers after 1.2 s and the probe (the listing from its start) after 1.2 s more:
    // a tick started during the probe, 2.4 s in, finds the row busy. Renewed only when a page is stored, the lease
    // had expired then, and the second tick swept the same host at the same time.
    const leaseMs = 2_000;
    await sweepTick(options({ pagesPerTick: 1 }));
    failAt = { cursor: '2', status: 500 };
    let competing: Awaited<ReturnType<typeof sweepTick>> | undefined;
    let nested = false;
    onPage = async (cursor) => {
      if (nested) return;
      await new Promise((r) => setTimeout(r, 1_200));
      if (cursor !== '0') return;
      nested = true;
      competing = await sweepTick(options({ holder: 'tick-b', leaseMs }));
      nested = false;
    };
    const [a] = await sweepTick(options({ pagesPerTick: 3, leaseMs }));
    expect(competing).toEqual([{ host, state: 'busy', pages: 0, listed: 0, queued: 0 }]);
    expect(a).toMatchObject({ host, state: 'failed', error: expect.stringContaining('HTTP 500') });
    expect(await db.sql.query(`select cursor, failures, holder from sweep_state`)).toEqual([{ cursor: '2', failures: 1, holder: null }]);
  }, 15_000);
});

describe('a relay whose page sends the sweep back to a cursor it used', () => {
  it('ends the pass there: each page sent once, logged and counted, the next pass starting over', async () => {
    const repeating = http.createServer((req, res) => {
      const cursor = new URL(req.url ?? '/', 'http://x').searchParams.get('cursor');
      // The first page, then page "5" forever: each answers cursor "5".
      const repos = [{ did: cursor === null ? DIDS[0] : DIDS[1], rev: '3laaaaaaaaaaa' }];
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ repos, cursor: '5' }));
    });
    await new Promise<void>((r) => repeating.listen(0, '127.0.0.1', () => r()));
    const relay = `http://127.0.0.1:${(repeating.address() as AddressInfo).port}`;
    try {
      const bundle = createMetrics({ hosts: [], streams: [] });
      const [tick] = await sweepTick(options({ hosts: [relay], pagesPerTick: 10, metrics: bundle.metrics }));
      expect(tick).toMatchObject({ host: relay, state: 'done', pages: 2, listed: 2, queued: 2, error: expect.stringContaining('cursor 5') });
      expect(sent.map((e) => e.did)).toEqual([DIDS[0], DIDS[1]]);
      expect(await bundle.registry.metrics()).toContain('skytide_sweep_problems_total{problem="repeated_cursor"} 1');
      expect(await db.sql.query(`select cursor, "doneAt" is not null as done from sweep_state where host = $1`, [relay])).toEqual([{ cursor: null, done: true }]);
    } finally {
      await new Promise((r) => repeating.close(r));
    }
  });
});

describe('a page whose entries all have no valid DID', () => {
  it('is not the end of the pass: the tick follows its cursor to the pages after it (passCursors, shared with the Redis sweeper)', async () => {
    const relayOf = http.createServer((req, res) => {
      const start = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('cursor') ?? '0');
      // Page "2" lists two entries whose did is no DID.
      const repos = start === 2 ? [{ did: 'not-a-did', rev: '3laaaaaaaaaaa' }, { did: `did:web:${'x'.repeat(3000)}.com` }] : DIDS.slice(start, start + PAGE).map((did) => ({ did, rev: '3laaaaaaaaaaa' }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(start + PAGE < DIDS.length ? { repos, cursor: String(start + PAGE) } : { repos }));
    });
    await new Promise<void>((r) => relayOf.listen(0, '127.0.0.1', () => r()));
    const relay = `http://127.0.0.1:${(relayOf.address() as AddressInfo).port}`;
    try {
      const bundle = createMetrics({ hosts: [], streams: [] });
      const [tick] = await sweepTick(options({ hosts: [relay], pagesPerTick: 10, metrics: bundle.metrics }));
      expect(tick).toMatchObject({ host: relay, state: 'done', pages: 3, listed: 3, queued: 3 });
      expect(sent.map((e) => e.did)).toEqual([DIDS[0], DIDS[1], DIDS[4]]);
      // Dropped, never queued, and counted as the Redis sweeper counts them.
      expect(await bundle.registry.metrics()).toContain('skytide_sweep_problems_total{problem="invalid_syntax"} 2');
    } finally {
      await new Promise((r) => relayOf.close(r));
    }
  });
});

describe('a page that keeps failing', () => {
  it('is skipped whole after pageAttempts ticks failed on it in itself, its range recorded', async () => {
    failAt = { cursor: '2', status: 400 };
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'failed', error: expect.stringContaining('HTTP 400') });
    expect(await db.sql.query(`select cursor, failures, skipped from sweep_state`)).toEqual([{ cursor: '2', failures: 1, skipped: [] }]);
    // The second tick failing on it skips it and goes on.
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'done', skippedPages: 1, listed: 1, queued: 1 });
    expect(sent.map((e) => e.did)).toEqual([DIDS[0], DIDS[1], DIDS[4]]);
    expect(await db.sql.query(`select cursor, failures, skipped from sweep_state`)).toEqual([{ cursor: null, failures: 0, skipped: ['2-4'] }]);
  });

  it('is retried by the ticks after the pass ended: its page sent and its range cleared; a range it overlaps is replaced', async () => {
    failAt = { cursor: '2', status: 400 };
    await sweepTick(options({ pagesPerTick: 10 }));
    // A range an earlier pass recorded at another cursor, overlapping the one this pass skips.
    await db.sql.query(`update sweep_state set skipped = '{1-3}'`);
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'done', skippedPages: 1 });
    expect(await db.sql.query(`select skipped, retrying from sweep_state`)).toEqual([{ skipped: ['2-4'], retrying: ['2-4'] }]);
    failAt = undefined;
    sent = [];
    // The next tick retries it before anything else, then finds the next pass not due.
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'waiting', retriedRanges: 1, pages: 1, listed: 2, queued: 2 });
    expect(sent.map((e) => e.did)).toEqual([DIDS[2], DIDS[3]]);
    expect(await db.sql.query(`select skipped, retrying, failures from sweep_state`)).toEqual([{ skipped: [], retrying: [], failures: 0 }]);
  });

  it('that fails again pageAttempts ticks stays recorded, retried no more in this pass', async () => {
    failAt = { cursor: '2', status: 400 };
    await sweepTick(options({ pagesPerTick: 10 }));
    await sweepTick(options({ pagesPerTick: 10 }));
    sent = [];
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'failed' });
    expect(await db.sql.query(`select skipped, retrying, failures from sweep_state`)).toEqual([{ skipped: ['2-4'], retrying: ['2-4'], failures: 1 }]);
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'waiting', keptRanges: 1 });
    expect(await db.sql.query(`select skipped, retrying, failures from sweep_state`)).toEqual([{ skipped: ['2-4'], retrying: [], failures: 0 }]);
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toEqual({ host, state: 'waiting', pages: 0, listed: 0, queued: 0 });
    expect(sent).toEqual([]);
  });

  it('is skipped whole after pageAttempts ticks when it answers 500 every time while the relay answers others (asked from the start)', async () => {
    failAt = { cursor: '2', status: 500 };
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'failed', error: expect.stringContaining('HTTP 500') });
    expect(await db.sql.query(`select cursor, failures, skipped from sweep_state`)).toEqual([{ cursor: '2', failures: 1, skipped: [] }]);
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'done', skippedPages: 1 });
    expect(sent.map((e) => e.did)).toEqual([DIDS[0], DIDS[1], DIDS[4]]);
    expect(await db.sql.query(`select cursor, failures, skipped from sweep_state`)).toEqual([{ cursor: null, failures: 0, skipped: ['2-4'] }]);
  });

  it('is never skipped while the relay is down (503 to every request): the ticks fail, count nothing, and the page comes when it is back', async () => {
    await sweepTick(options({ pagesPerTick: 1 }));
    failAt = { cursor: '*', status: 503 };
    for (let i = 0; i < 4; i++) expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'failed' });
    expect(await db.sql.query(`select cursor, failures, skipped from sweep_state`)).toEqual([{ cursor: '2', failures: 0, skipped: [] }]);
    failAt = undefined;
    expect((await sweepTick(options({ pagesPerTick: 10 })))[0]).toMatchObject({ state: 'done' });
    expect(sent.map((e) => e.did)).toEqual(DIDS);
  });
});
