// Issue 10, item 2: the Worker (adapters/runtime/worker.ts) under workerd (`wrangler dev --test-scheduled`, its
// Postgres through the local Hyperdrive binding, its queue the local Cloudflare Queue) writes exactly the rows the
// Node runtime writes for the same input, against a real PDS and PLC directory (@atproto/dev-env). Each step runs on
// both: POST /functions/index, POST /functions/label, a cron tick (GET /__scheduled) whose queue messages backfill
// every account (Node: backfill-repo over the same accounts), and POST /reprocess/:did after edits on the PDS. After
// each, every table of the two databases is compared, row by row, the processing times aside (`indexedAt`, the
// `sortAt` derived from it, `updatedAt`, the times a backfill observed an account at in account_state). Tables only the Worker writes (sweep_state) are checked on their own.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hono } from 'hono';
import { createApp } from '../../adapters/http/app.ts';
import { createMetrics } from '../../adapters/observability/metrics.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import { createHandleResolver } from '../../adapters/identity/handle-resolver.ts';
import { createGuardedFetch } from '../../adapters/xrpc/guarded-fetch.ts';
import { silentLog, systemClock, type Sql } from '../../functions/ports.ts';
import { startDevNetwork, type DevNetwork, type DevUser } from '../helpers/dev-network.ts';
import { createIndexDatabase, type IndexDb } from '../helpers/index-db.ts';
import { seedContent } from '../helpers/seed.ts';
import { waitFor } from '../helpers/wait.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';
import { follow, like, post, write } from '../helpers/events.ts';
import { labelerDoc } from '../helpers/fake-plc.ts';
import { labelEvent, labelKeypair, signLabel } from '../helpers/labels.ts';
import { checkRows } from '../../functions/sql-rows.ts';

const TOKEN = 'parity-token';
const headers = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
/** Processing times: when a row was written, not what it says. */
const PROCESSING_TIMES = new Set(['indexedAt', 'sortAt', 'updatedAt']);
/** Surrogate keys count inserts in arrival order (a queue backfills accounts in its own order): left out. */
const SURROGATE_KEYS = new Set(['notification.id']);
/**
 * account_state records when a backfill observed the account (its `changedAt` and each change's `time`), and a profile
 * without createdAt takes its indexedAt: processing times too, so those are compared without them.
 */
const NORMALISED: Record<string, string> = {
  // A profile record without createdAt takes its indexedAt (functions/index/plugins/profile.ts).
  profile: `select uri, cid, creator, "displayName", description, "avatarCid", "bannerCid", "joinedViaStarterPackUri", "pinnedPost",
    "pinnedPostCid", case when "createdAt" = "indexedAt" then '(indexedAt)' else "createdAt" end as "createdAt" from profile`,
  account_state: `select did, active, status, (select jsonb_agg(h - 'time') from jsonb_array_elements(history) h) as history from account_state`,
  // A tick is the order handles were stored and documents fetched in (handle_clock, migration 0013).
  live_handle: `select did from live_handle`,
  // A notification's id is the order rows were written in (the queue and backfill-repo take accounts in different orders).
  notification: `select did, "recordUri", "recordCid", author, reason, "reasonSubject" from notification`,
};
/** Written by the Worker's sweep alone (the Node sweeper keeps its cursor in Redis). */
const WORKER_ONLY = new Set(['sweep_state', 'skytide_migrations']);

/** The real PLC directory, except for DIDs given a document here (a labeler, which dev-env cannot make). */
async function startPlcOverlay(upstream: string): Promise<{ url: string; set(did: string, doc: unknown): void; failing: Set<string>; close(): Promise<void> }> {
  const docs = new Map<string, unknown>();
  const failing = new Set<string>();
  const server = http.createServer((req, res) => {
    const did = decodeURIComponent((req.url ?? '/').slice(1));
    if (failing.has(did)) return void res.writeHead(503).end('down');
    if (docs.has(did)) return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(docs.get(did)));
    fetch(`${upstream}${req.url ?? '/'}`).then(
      async (up) => res.writeHead(up.status, { 'content-type': up.headers.get('content-type') ?? 'application/json' }).end(Buffer.from(await up.arrayBuffer())),
      () => res.writeHead(502).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    set: (did, doc) => void docs.set(did, doc),
    failing,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A second relay for the cron: listRepos fails (500) until `repos` is set, then lists them in one page. */
async function startRelay(): Promise<{ url: string; repos: string[] | undefined; close(): Promise<void> }> {
  const relay = { url: '', repos: undefined as string[] | undefined, close: async () => {} };
  const server = http.createServer((req, res) => {
    const cursor = new URL(req.url ?? '/', 'http://x').searchParams.get('cursor');
    if (relay.repos === undefined) return void res.writeHead(500).end();
    const body = cursor === null ? { repos: relay.repos.map((did) => ({ did, active: true })), cursor: '1' } : { repos: [] };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  relay.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  relay.close = () => new Promise((resolve) => server.close(() => resolve()));
  return relay;
}

/** Every table of the database, its rows without processing times, in a stable order. */
async function dumpTables(sql: Sql): Promise<Record<string, string[]>> {
  const columns = checkRows(await sql.query(
    `select table_name, column_name from information_schema.columns where table_schema = 'public' order by table_name, ordinal_position`,
  ), { table_name: 'string', column_name: 'string' });
  const byTable = new Map<string, string[]>();
  for (const c of columns) {
    if (PROCESSING_TIMES.has(c.column_name) || SURROGATE_KEYS.has(`${c.table_name}.${c.column_name}`)) continue;
    byTable.set(c.table_name, [...(byTable.get(c.table_name) ?? []), c.column_name]);
  }
  const out: Record<string, string[]> = {};
  for (const [table, cols] of byTable) {
    if (WORKER_ONLY.has(table)) continue;
    const rows = await sql.query(NORMALISED[table] ?? `select ${cols.map((c) => `"${c}"`).join(', ')} from "${table}"`);
    out[table] = rows.map((r) => JSON.stringify(r)).sort();
  }
  return out;
}

let network: DevNetwork;
let users: DevUser[];
let plc: Awaited<ReturnType<typeof startPlcOverlay>>;
let relay: Awaited<ReturnType<typeof startRelay>>;
let workerDb: IndexDb;
let nodeDb: IndexDb;
let worker: WranglerDev;
let node: Hono;
const figures: Record<string, { tables: number; rows: number; perTable: Record<string, number> }> = {};

async function expectSameRows(step: string): Promise<void> {
  const [w, n] = await Promise.all([dumpTables(workerDb.sql), dumpTables(nodeDb.sql)]);
  expect(Object.keys(w).sort()).toEqual(Object.keys(n).sort());
  const perTable: Record<string, number> = {};
  for (const table of Object.keys(n)) {
    expect(w[table], `${step}: table ${table}`).toEqual(n[table]);
    if (n[table]!.length > 0) perTable[table] = n[table]!.length;
  }
  figures[step] = { tables: Object.keys(n).length, rows: Object.values(perTable).reduce((a, b) => a + b, 0), perTable };
}

beforeAll(async () => {
  [network, workerDb, nodeDb] = await Promise.all([startDevNetwork(), createIndexDatabase('worker_parity_w'), createIndexDatabase('worker_parity_n')]);
  users = [];
  for (const name of ['wanda', 'wes', 'wynn']) users.push(await network.createUser(name));
  await seedContent(users);
  plc = await startPlcOverlay(network.plcUrl);
  relay = await startRelay();
  worker = await startWranglerDev({
    databaseUrl: workerDb.url,
    testScheduled: true,
    vars: {
      SKYTIDE_API_TOKEN: TOKEN, PLC_URL: plc.url, IDENTITY_ALLOW_PRIVATE: 'true', HANDLE_RESOLVER_URL: network.pdsUrl,
      INGESTER_RELAY_HOSTS: `${network.pdsUrl},${relay.url}`, WORKER_OUTAGE_DELAY_MS: '1000', BACKFILLER_MAX_RETRIES: '2',
    },
  });
  const bundle = createMetrics({ hosts: [], streams: [] });
  const guarded = createGuardedFetch({ allowPrivate: true });
  node = createApp({
    auth: { dev: false, token: TOKEN },
    bodyLimitBytes: 10 << 20,
    ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: nodeDb.sql },
    metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
    readiness: [],
    label: { identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), trustedSources: new Set() },
    backfill: {
      clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: nodeDb.sql, fetch: guarded,
      identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true, webFetch: guarded }),
      handles: createHandleResolver({ fetch: guarded, serviceUrl: network.pdsUrl }),
      concurrency: 1,
    },
  });
}, 180_000);

afterAll(async () => {
  if (Object.keys(figures).length > 0) console.log(`worker parity rows compared: ${JSON.stringify(figures)}`);
  await worker?.stop();
  await Promise.all([network?.close(), plc?.close(), relay?.close(), workerDb?.close(), nodeDb?.close()]);
});

async function both(path: string, body: unknown): Promise<[unknown, unknown]> {
  const init = { method: 'POST', headers, body: JSON.stringify(body) };
  const w = await fetch(`${worker.base}${path}`, init);
  const n = await node.request(path, init);
  expect(w.status, worker.output()).toBe(n.status);
  return [await w.json(), await n.json()];
}

describe('the Worker writes what Node writes, for the same input', () => {
  it('POST /functions/index', async () => {
    const [a, b, c] = users.map((u) => u.did) as [string, string, string];
    const events = [
      write({ did: a, collection: 'app.bsky.feed.post', rkey: 'wp1', rev: 1, record: post('parity one') }),
      write({ did: b, collection: 'app.bsky.feed.post', rkey: 'wp2', rev: 1, record: post('parity two') }),
      write({ did: c, collection: 'app.bsky.feed.like', rkey: 'wl1', rev: 2, record: like(`at://${a}/app.bsky.feed.post/wp1`, 'bafyreihpbwrqsipbigarmwyqokkse4dtfpg3jkygvmizjp6anyopplx4om') }),
      write({ did: c, collection: 'app.bsky.graph.follow', rkey: 'wf1', rev: 3, record: follow(a) }),
      { type: 'create' },
    ];
    const [w, n] = await both('/functions/index', { events });
    expect(w).toEqual(n);
    await expectSameRows('index');
  });

  it('POST /functions/label', async () => {
    const LABELER = 'did:plc:parityparitylabelerlabel';
    const HOST = 'mod.parity.test';
    const key = await labelKeypair();
    plc.set(LABELER, labelerDoc({ did: LABELER, atproto: await labelKeypair(), label: key, labeler: `https://${HOST}` }));
    const subject = `at://${users[0]!.did}/app.bsky.feed.post/wp1`;
    const events = [
      labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: subject, val: 'spam', cts: '2026-01-01T00:00:00Z' })),
      labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: users[1]!.did, val: 'rude', cts: '2026-01-01T00:00:00Z', exp: '2999-01-01T00:00:00Z' })),
      labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: subject, val: 'spam', neg: true, cts: '2026-01-01T00:00:01Z' })),
      labelEvent(HOST, await signLabel(await labelKeypair(), { ver: 1, src: LABELER, uri: subject, val: 'forged', cts: '2026-01-01T00:00:00Z' })),
    ];
    const [w, n] = await both('/functions/label', { events });
    expect(w).toEqual(n);
    await expectSameRows('label');
  });

  it('a cron tick sweeps listRepos into the queue, whose messages backfill every account', async () => {
    const tick = await fetch(`${worker.base}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
    expect(tick.status, worker.output()).toBe(200);
    const dids = users.map((u) => u.did).sort();
    await waitFor(
      async () => checkRows(await workerDb.sql.query(`select did from repo_sync where status = 'synchronized' order by did`), { did: 'string' }),
      (rows) => rows.length === dids.length,
      'the Worker queue to backfill every account',
      60_000,
    );
    // The pass ended (its last page is the empty one after the cursor), its lease released.
    expect(await workerDb.sql.query(`select host, cursor, listed::int, queued::int, holder, "doneAt" is not null as done from sweep_state where host = $1`, [network.pdsUrl])).toEqual([
      { host: network.pdsUrl, cursor: null, listed: dids.length, queued: dids.length, holder: null, done: true },
    ]);
    const [{ pages }] = (checkRows(await workerDb.sql.query(`select pages::int from sweep_state where host = $1`, [network.pdsUrl]), { pages: 'number' })) as [{ pages: number }];
    // Node: the same accounts through the same function.
    const res = await node.request('/functions/backfill-repo', { method: 'POST', headers, body: JSON.stringify({ repos: dids.map((did) => ({ did, host: network.pdsUrl })) }) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { outcomes: { status: string }[] }).outcomes.map((o) => o.status)).toEqual(dids.map(() => 'ok'));
    await expectSameRows('cron backfill');
    // The next tick within WORKER_SWEEP_EVERY_MS starts no new pass.
    await fetch(`${worker.base}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
    expect(await workerDb.sql.query(`select pages::int from sweep_state where host = $1`, [network.pdsUrl])).toEqual([{ pages }]);
  });

  it('POST /functions/backfill-repo', async () => {
    const repos = [{ did: users[2]!.did }, { did: 'not-a-did' }];
    const [w, n] = await both('/functions/backfill-repo', { repos });
    const strip = (r: unknown) => ({ ...(r as object), reports: (r as { reports: ({ durationMs?: number } | null)[] }).reports.map((x) => (x === null ? x : { ...x, durationMs: 0 })) });
    expect(strip(w)).toEqual(strip(n));
    await expectSameRows('backfill-repo');
  });

  it('POST /reprocess/:did after edits and deletes on the PDS', async () => {
    const user = users[0]!;
    await user.agent.post({ text: 'written after the backfill', createdAt: new Date().toISOString() });
    const listed = await user.agent.com.atproto.repo.listRecords({ repo: user.did, collection: 'app.bsky.feed.post', limit: 100 });
    const oldest = listed.data.records.at(-1)!;
    await user.agent.deletePost(oldest.uri);
    const [w, n] = (await both(`/reprocess/${user.did}`, {})) as [Record<string, unknown>, Record<string, unknown>];
    expect({ ...w, durationMs: 0 }).toEqual({ ...n, durationMs: 0 });
    expect(w.status).toBe('synchronized');
    await expectSameRows('reprocess');
  });

  it('serves /metrics from the same registry as Node: every series at zero from the isolate start, counted since', async () => {
    const text = await (await fetch(`${worker.base}/metrics`)).text();
    expect(text).toContain('skytide_worker_repos_refused_total{reason="too_large_for_worker"} 0');
    expect(text).toMatch(/skytide_work_queue_messages_total\{queue="repo_backfill",outcome="dead"\} 0/);
    expect(text).toMatch(/skytide_outage_waits_total\{dependency="postgres"\} 0/);
  });

  it('waits out a PLC outage of a queued backfill: sent again without an attempt counted, past max retries, never dead', async () => {
    const metric = async (outcome: string) => {
      const text = await (await fetch(`${worker.base}/metrics`)).text();
      return Number(new RegExp(`skytide_work_queue_messages_total\\{queue="repo_backfill",outcome="${outcome}"\\} (\\d+)`).exec(text)?.[1]);
    };
    const late = await network.createUser('wolf');
    plc.failing.add(late.did);
    relay.repos = [late.did];
    const acked = await metric('ack');
    const tick = await fetch(`${worker.base}/__scheduled?cron=${encodeURIComponent('*/5 * * * *')}`);
    expect(tick.status).toBe(200);
    // BACKFILLER_MAX_RETRIES is 2 here: more outages than that, and the message is still not dead.
    await waitFor(() => metric('outage'), (n) => n >= 3, 'the message to come back through several outages', 60_000);
    expect(await metric('dead')).toBe(0);
    expect(await metric('retry')).toBe(0);
    expect(await workerDb.sql.query(`select status from repo_sync where did = $1`, [late.did])).toEqual([{ status: 'in-progress' }]);
    plc.failing.delete(late.did);
    await waitFor(
      async () => checkRows(await workerDb.sql.query(`select status from repo_sync where did = $1`, [late.did]), { status: 'string' }),
      (rows) => rows[0]?.status === 'synchronized',
      'the backfill once the directory answers',
      30_000,
    );
    expect(await metric('ack')).toBe(acked + 1);
    expect(await metric('dead')).toBe(0);
  }, 90_000);
});
