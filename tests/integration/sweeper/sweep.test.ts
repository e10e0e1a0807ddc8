// The sweeper against a listRepos server on 127.0.0.1 and real Redis and Postgres: pages land with their cursor, a
// page that keeps failing is skipped whole and recorded, repos in sync (rev and account state) are not queued, and an
// opaque cursor that keeps failing stops the sweep where it can resume.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import { SWEEP_DONE } from '../../../adapters/redis/keys.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';
import { parseEventFilter } from '../../../functions/event-filter.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { LIST_REPOS_MAX_BYTES, listReposPage } from '../../../adapters/xrpc/list-repos.ts';
import { countingFetch } from '../../helpers/counting-fetch.ts';
import { startTcpProxy } from '../../helpers/tcp-proxy.ts';
import { waitFor } from '../../helpers/wait.ts';
import { createSql } from '../../../adapters/postgres/client.ts';

const DIDS = Array.from({ length: 7 }, (_, i) => `did:plc:sweep${String.fromCharCode(97 + i).padStart(19, 'a')}`);
/** A page bad in itself (a 5xx would be the relay failing, waited out rather than counted against the page). */
let failAt: string | undefined;
const s = useSweepSetup('sweep', {
  dids: DIDS,
  entry: (did, i) => ({ did, head: 'bafy', rev: `3l${i}aaaaaaaaaa`.slice(0, 13) }),
  fail: ({ cursor }) => (cursor === failAt ? { status: 400 } : undefined),
});
const { queued } = s;
/** What the relay lists as a DID's account state instead of `active: true` (`{}`: neither field, as older PDSes). */
const listedState = s.relay.states;
beforeEach(async () => {
  await s.db.sql.query('truncate repo_sync, account_state');
  failAt = undefined;
});

const sweep = () => s.sweep();

describe('sweeper', () => {
  it('queues every listed repo, page by page, and ends with the done sentinel', async () => {
    const progress = await sweep();
    expect(await queued()).toEqual(DIDS);
    expect(progress).toMatchObject({ pages: 4, listed: 7, queued: 7, skippedPages: 0, done: true });
    expect(await s.cursor()).toBe(SWEEP_DONE);
  });

  it('skips a page that keeps failing as a whole page and records its range', async () => {
    failAt = '2';
    const progress = await sweep();
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5], DIDS[6]]);
    expect(progress.skippedPages).toBe(1);
    expect(await s.redis.smembers(`${s.keys.stream('repo_backfill')}:skipped:${s.host.replace('http://', '')}`)).toEqual(['2-4']);
  });

  it('does not queue repos already synchronized at the listed rev', async () => {
    await s.db.sql.query(`insert into repo_sync (did, status, rev, "updatedAt") values ($1, 'synchronized', $2, 'x') on conflict (did) do update set status = excluded.status, rev = excluded.rev`, [DIDS[3]!, '3l3aaaaaaaaaa']);
    const progress = await sweep();
    expect(await queued()).not.toContain(DIDS[3]);
    expect(progress.skippedInSync).toBe(1);
  });

  it('queues a repo at the listed rev whose listed account state is not the one stored (a missed #account)', async () => {
    const synced = (did: string, rev: string) =>
      s.db.sql.query(`insert into repo_sync (did, status, rev, "updatedAt") values ($1, 'synchronized', $2, 'x')`, [did, rev]);
    const stored = (did: string, active: boolean, status: string | null) =>
      s.db.sql.query(
        `insert into account_state (did, active, status, "changedAt", history) values ($1, $2::boolean, $3::text, 't', jsonb_build_array(jsonb_build_object('time', 't', 'active', $2::boolean, 'status', $3::text)))`,
        [did, active, status],
      );
    for (let i = 0; i < 7; i++) await synced(DIDS[i]!, `3l${i}aaaaaaaaaa`.slice(0, 13));
    // Taken down, no #account seen: stored active (no account_state row).
    listedState.set(DIDS[0]!, { active: false, status: 'takendown' });
    // Reactivated, no #account seen: stored deactivated.
    await stored(DIDS[1]!, false, 'deactivated');
    // Suspended where we hold takendown.
    listedState.set(DIDS[2]!, { active: false, status: 'suspended' });
    await stored(DIDS[2]!, false, 'takendown');
    // In sync: takendown both; inactive with no claim why against any inactive status; no `active` (older PDS) against active.
    listedState.set(DIDS[3]!, { active: false, status: 'Takendown' });
    await stored(DIDS[3]!, false, 'takendown');
    listedState.set(DIDS[4]!, { active: false });
    await stored(DIDS[4]!, false, 'inactive');
    listedState.set(DIDS[5]!, {});
    // No `active` is active: a stored deactivation is out of sync.
    listedState.set(DIDS[6]!, {});
    await stored(DIDS[6]!, false, 'deactivated');
    const progress = await sweep();
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[2], DIDS[6]]);
    expect(progress).toMatchObject({ listed: 7, queued: 4, skippedInSync: 3 });
    // The entry carries the listed state for the backfill.
    const [, fields] = (await s.redis.xrange(s.keys.stream('repo_backfill'), '-', '+'))[0]!;
    expect(JSON.parse(fields[1]!)).toEqual({ did: DIDS[0], host: s.host, rev: '3l0aaaaaaaaaa', active: false, status: 'takendown' });
  });

  it('does not queue an account listed inactive and held inactive in the same state, whatever its rev: its PDS refuses it', async () => {
    const stored = (did: string, active: boolean, status: string | null) =>
      s.db.sql.query(
        `insert into account_state (did, active, status, "changedAt", history) values ($1, $2::boolean, $3::text, 't', jsonb_build_array(jsonb_build_object('time', 't', 'active', $2::boolean, 'status', $3::text)))`,
        [did, active, status],
      );
    // Its PDS answered RepoDeactivated: desynchronized, no rev held; the relay lists it deactivated at some rev.
    await s.db.sql.query(`insert into repo_sync (did, status, rev, reason, "updatedAt") values ($1, 'desynchronized', null, 'RepoDeactivated', 'x')`, [DIDS[0]!]);
    await stored(DIDS[0]!, false, 'deactivated');
    listedState.set(DIDS[0]!, { active: false, status: 'deactivated' });
    // Held deactivated, listed active again (a reactivation whose #account was missed): queued.
    await s.db.sql.query(`insert into repo_sync (did, status, rev, reason, "updatedAt") values ($1, 'desynchronized', null, 'RepoDeactivated', 'x')`, [DIDS[1]!]);
    await stored(DIDS[1]!, false, 'deactivated');
    // A deletion confirmed (repo_sync deleted), listed deleted: nothing to fetch.
    await s.db.sql.query(`insert into repo_sync (did, status, rev, reason, "updatedAt") values ($1, 'deleted', null, 'RepoNotFound', 'x')`, [DIDS[2]!]);
    await stored(DIDS[2]!, false, 'deleted');
    listedState.set(DIDS[2]!, { active: false, status: 'deleted' });
    const progress = await sweep();
    expect(await queued()).toEqual([DIDS[1], DIDS[3], DIDS[4], DIDS[5], DIDS[6]]);
    expect(progress).toMatchObject({ listed: 7, queued: 5, skippedInSync: 2 });
  });

  it('stops on an opaque cursor that keeps failing, and resumes from it next time', async () => {
    s.relay.opaque = true;
    failAt = 'o4';
    await expect(sweep()).rejects.toMatchObject({ reason: 'fetch_failed' });
    expect(await s.cursor()).toBe('o4');
    failAt = undefined;
    await sweep();
    expect(await queued()).toEqual(DIDS);
  });

  it('does not queue DIDs the filters drop (INGESTER_DIDS, INGESTER_EXCLUDE_DIDS)', async () => {
    const parsed = parseEventFilter({ dids: [DIDS[0]!, DIDS[1]!, DIDS[3]!, DIDS[4]!], excludeDids: [DIDS[5]!] });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const metrics = createMetrics({ hosts: [], streams: [] });
    const progress = await s.sweep({ metrics: metrics.metrics, filter: parsed.filter });
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[3], DIDS[4]]);
    expect(progress).toMatchObject({ listed: 7, queued: 4, filtered: 3, done: true });
    expect(await metrics.registry.metrics()).toContain('skytide_filtered_total{where="sweep",why="did"} 3');
  });
});

/** A server whose every answer is `behave`'s; closed after the test. */
async function serve(behave: (res: http.ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const s = http.createServer((_req, res) => behave(res));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: async () => {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    },
  };
}

describe('a listRepos page', () => {
  it('is read no further than its cap: an endless body is refused as no page, and the connection let go', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let closed!: () => void;
    const serverClosed = new Promise<void>((r) => (closed = r));
    const relay = await serve((res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"repos":[');
      const pump = () => {
        while (res.write(chunk)) {
          /* keep writing until the socket pushes back */
        }
      };
      res.on('drain', pump);
      res.on('close', closed);
      pump();
    });
    try {
      const read = { bytes: 0 };
      await expect(listReposPage(countingFetch(read), relay.url, undefined, 1000, AbortSignal.timeout(20_000))).rejects.toMatchObject({
        reason: 'fetch_failed', message: expect.stringContaining(`over ${LIST_REPOS_MAX_BYTES} bytes`),
      });
      expect(read.bytes).toBeGreaterThan(LIST_REPOS_MAX_BYTES);
      expect(read.bytes).toBeLessThanOrEqual(LIST_REPOS_MAX_BYTES + 256 * 1024);
      await serverClosed;
    } finally {
      await relay.close();
    }
  });

  it('that is not JSON is refused as no page (fetch_failed), not thrown as a SyntaxError', async () => {
    const relay = await serve((res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>maintenance</html>'));
    try {
      await expect(listReposPage(globalThis.fetch, relay.url, undefined, 10, AbortSignal.timeout(5_000))).rejects.toMatchObject({ reason: 'fetch_failed', message: 'listRepos: the page is not JSON' });
    } finally {
      await relay.close();
    }
  });
});

describe('a relay whose page sends the sweep back to a cursor it used', () => {
  it('ends the pass there: the page queued once, logged and counted, the next sweep starting over', async () => {
    let requests = 0;
    const relay = await serve((res) => {
      requests++;
      // Every page answers cursor "5", the page at "5" included.
      const did = DIDS[Math.min(requests - 1, 1)]!;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ repos: [{ did, rev: '3l2aaaaaaaaaa' }], cursor: '5' }));
    });
    try {
      const bundle = createMetrics({ hosts: [], streams: [] });
      const progress = await s.sweep({ host: relay.url, pageSize: 1, metrics: bundle.metrics, signal: AbortSignal.timeout(20_000) });
      expect(progress).toMatchObject({ pages: 2, listed: 2, queued: 2, done: true });
      expect(requests).toBe(2);
      expect(await queued()).toEqual([DIDS[0], DIDS[1]]);
      expect(await s.redis.get(s.keys.cursor('repo_backfill', relay.url))).toBe(SWEEP_DONE);
      expect(await bundle.registry.metrics()).toContain('skytide_sweep_problems_total{problem="repeated_cursor"} 1');
    } finally {
      await relay.close();
    }
  });
});

describe('a relay that is down', () => {
  it('is waited out, refusing connections and then answering 503 and 429: no page skipped, every DID queued', async () => {
    // A port that refuses connections for a while, then a relay on it that first answers 503 and 429 once each.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const relayHost = `http://127.0.0.1:${port}`;
    await s.redis.set(s.keys.cursor('repo_backfill', relayHost), '2');
    let answers = 0;
    const relay = http.createServer((req, res) => {
      answers++;
      if (answers === 1) return void res.writeHead(503).end('restarting');
      if (answers === 2) return void res.writeHead(429, { 'retry-after': '0' }).end('slow down');
      const start = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('cursor') ?? '0');
      const repos = DIDS.slice(start, start + 2).map((did) => ({ did, rev: '3l2aaaaaaaaaa' }));
      const next = start + 2 < DIDS.length ? String(start + 2) : undefined;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(next === undefined ? { repos } : { repos, cursor: next }));
    });
    // The relay comes up a second into the sweep (every page would have been skipped by then had it counted).
    const bundle = createMetrics({ hosts: [], streams: [] });
    const up = setTimeout(() => relay.listen(port, '127.0.0.1'), 1000);
    try {
      const progress = await s.sweep({ host: relayHost, outageMaxDelayMs: 100, metrics: bundle.metrics, signal: AbortSignal.timeout(20_000) });
      expect(progress).toMatchObject({ skippedPages: 0, done: true, listed: 5 });
      expect(await queued()).toEqual(DIDS.slice(2));
      expect(answers).toBe(5);
      // Refused at least once, then the 503 and the 429: each a wait, none an attempt of the page.
      expect(await bundle.registry.metrics()).toMatch(/skytide_sweep_problems_total\{problem="relay_unavailable"\} ([3-9]|\d\d+)\n/);
      expect(await s.redis.smembers(`${s.keys.stream('repo_backfill')}:skipped:127.0.0.1:${port}`)).toEqual([]);
    } finally {
      clearTimeout(up);
      relay.closeAllConnections();
      await new Promise((r) => relay.close(r));
    }
  });
});

describe('a Postgres that is down mid-sweep', () => {
  it('is waited out at the page it met: counted, nothing skipped or failed, every DID queued once it answers', async () => {
    // The repos in sync are read from Postgres for each page; here through a proxy that refuses for a while.
    const target = new URL(s.db.url);
    const proxy = await startTcpProxy({ target: { host: target.hostname, port: Number(target.port || 5432) } });
    const proxied = new URL(s.db.url);
    proxied.port = String(proxy.port);
    const sql = createSql(proxied.toString(), { max: 1 });
    const bundle = createMetrics({ hosts: [], streams: [] });
    const waits = async () => Number(/skytide_outage_waits_total\{dependency="postgres"\} (\d+)/.exec(await bundle.registry.metrics())?.[1] ?? 0);
    try {
      await proxy.setMode('refuse');
      const running = s.sweep({ sql, outageMaxDelayMs: 100, metrics: bundle.metrics, signal: AbortSignal.timeout(20_000) });
      running.catch(() => {});
      await waitFor(waits, (n) => n >= 2, 'the sweep waiting on postgres');
      expect(await queued()).toEqual([]);
      await proxy.setMode('open');
      const progress = await running;
      expect(progress).toMatchObject({ pages: 4, listed: 7, queued: 7, skippedPages: 0, done: true });
      expect(await queued()).toEqual(DIDS);
    } finally {
      await sql.end();
      await proxy.close();
    }
  });
});
