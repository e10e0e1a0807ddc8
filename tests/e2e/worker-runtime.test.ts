// The Worker entry (wrangler.toml, adapters/runtime/worker.ts) under workerd, the Cloudflare Workers runtime, served
// locally by `wrangler dev`: the bundle loads (no I/O, timers or random values at module scope, which workerd
// forbids), the Hono app answers, and the index function writes to a real Postgres through postgres.js over the
// runtime's own sockets. The label function answers under workerd exactly as under Node for the same input, its
// signatures checked against DID documents fetched from a PLC stand-in on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIndexDatabase, createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { post, write } from '../helpers/events.ts';
import { startWranglerDev, type WranglerDev } from '../helpers/wrangler-dev.ts';
import { freePort } from '../helpers/free-port.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../helpers/fake-plc.ts';
import { labelEvent, labelKeypair, signLabel } from '../helpers/labels.ts';
import { createApp } from '../../adapters/http/app.ts';
import { createMetrics, declaredSeries } from '../../adapters/observability/metrics.ts';
import { parsePrometheusText, seriesKey } from '../helpers/prometheus-text.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';

const DID = 'did:plc:workerdaaaaaaaaaaaaaaaaa';

let db: IndexDb;
let plc: FakePlc;
let worker: WranglerDev;
let base: string;
const output = () => worker.output();

beforeAll(async () => {
  db = await createIndexDatabase('worker');
  plc = await startFakePlc();
  worker = await startWranglerDev({
    databaseUrl: db.url,
    vars: { SKYTIDE_API_TOKEN: 'worker-token', PLC_URL: plc.url, IDENTITY_ALLOW_PRIVATE: 'true' },
  });
  base = worker.base;
}, 120_000);

afterAll(async () => {
  await worker?.stop();
  await plc?.close();
  await db?.close();
});

describe('the Worker under workerd', () => {
  it('loads and answers health and readiness, Postgres included', async () => {
    expect(output()).not.toMatch(/Uncaught|Disallowed operation/);
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${base}/ready`)).json()).toEqual({ status: 'ready', checks: [{ name: 'postgres', ok: true }], degraded: [] });
  });

  it('runs the index function: valid events become rows, a malformed one is dead, a request without the token is refused', async () => {
    const events = [
      write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'p1', rev: 1, record: post('from a Worker') }),
      { type: 'create' },
      // The lexicon's grapheme limit, counted by workerd's Intl.Segmenter: 300 emoji of 4 UTF-16 units each pass,
      // 301 letters do not (the write is acknowledged and not indexed).
      write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'long1', rev: 2, record: post('\u{1F44D}\u{1F3FD}'.repeat(300)) }),
      write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'long2', rev: 3, record: post('x'.repeat(301)) }),
    ];
    const denied = await fetch(`${base}/functions/index`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ events }) });
    expect(denied.status).toBe(401);
    const res = await fetch(`${base}/functions/index`, {
      method: 'POST',
      headers: { authorization: 'Bearer worker-token', 'content-type': 'application/json' },
      body: JSON.stringify({ events }),
    });
    expect(res.status, output()).toBe(200);
    const body = (await res.json()) as { outcomes: { status: string; reason?: string }[] };
    expect(body.outcomes[0]).toEqual({ status: 'ok' });
    expect(body.outcomes[1]).toMatchObject({ status: 'dead', reason: 'invalid_event' });
    expect(body.outcomes.slice(2)).toEqual([{ status: 'ok' }, { status: 'ok' }]);
    expect(await db.sql.query(`select uri, length(text) as n from post order by uri`)).toEqual([
      { uri: `at://${DID}/app.bsky.feed.post/long1`, n: 600 },
      { uri: `at://${DID}/app.bsky.feed.post/p1`, n: 13 },
    ]);
    expect(await db.sql.query(`select "postsCount" from profile_agg where did = $1`, [DID])).toEqual([{ postsCount: 2 }]);
  });

  it('serves request after request: no connection is shared across requests, which workerd forbids', async () => {
    for (const rkey of ['p2', 'p3', 'p4']) {
      const res = await fetch(`${base}/functions/index`, {
        method: 'POST',
        headers: { authorization: 'Bearer worker-token', 'content-type': 'application/json' },
        body: JSON.stringify({ events: [write({ did: DID, collection: 'app.bsky.feed.post', rkey, rev: 2, record: post(rkey) })] }),
      });
      expect(res.status, output()).toBe(200);
    }
    expect(await db.sql.query(`select "postsCount" from profile_agg where did = $1`, [DID])).toEqual([{ postsCount: 5 }]);
  });

  it('serves /metrics without the pipeline-state gauges it never refreshes, which would read 0 whatever Postgres holds', async () => {
    await db.sql.query(`insert into repo_sync (did, status, "updatedAt") values ($1, 'synchronized', now()) on conflict do nothing`, [DID]);
    const text = await (await fetch(`${base}/metrics`)).text();
    // Its own counts since the isolate started are there...
    expect(text).toMatch(/skytide_index_events_total\{type="create",outcome="ok"\} \d+/);
    // ...but no state a Node status reader fills from Redis and Postgres at scrape time: here nothing fills it, so it
    // claimed 0 repos synchronized, counts 0 seconds old, an empty backfill stream.
    for (const gauge of ['skytide_repo_sync', 'skytide_repo_sync_age_seconds', 'skytide_labels', 'skytide_labels_age_seconds', 'skytide_stream_length', 'skytide_stream_pending', 'skytide_firehose_cursor', 'skytide_identity_waiting_dids']) {
      expect(text).not.toMatch(new RegExp(`^${gauge}[{ ]`, 'm'));
    }
    // Every declared series of its configuration (no relay, labeler or trusted source here), in a valid exposition.
    const shown = [...parsePrometheusText(text)].flatMap(([name, f]) => f.samples.map((s) => seriesKey(name, s.labels)));
    const declared = declaredSeries({ hosts: [], streams: ['repo_backfill'], stateGauges: [] });
    expect(shown.sort()).toEqual(declared.map((s) => seriesKey(s.name, s.labels)).sort());
  });
});

describe('the Worker under workerd with Postgres out of reach', () => {
  // workerd's sockets fail with a bare Error and no code ("connection attempt failed"), where node:net gives
  // ECONNREFUSED: read as a statement's own failure, it was a counted retry of every queued repo, towards the DLQ.
  it('answers the index function with 503 dependency_unavailable, an outage to wait out, not a failed batch', async () => {
    const down = await startWranglerDev({ databaseUrl: `postgres://postgres:x@127.0.0.1:${await freePort()}/postgres`, readyPath: '/health', vars: { SKYTIDE_API_TOKEN: 'worker-token' } });
    try {
      const res = await fetch(`${down.base}/functions/index`, {
        method: 'POST',
        headers: { authorization: 'Bearer worker-token', 'content-type': 'application/json' },
        body: JSON.stringify({ events: [write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'down1', rev: 9, record: post('down') })] }),
      });
      expect(res.status, down.output()).toBe(503);
      expect(await res.json()).toMatchObject({ error: 'dependency_unavailable' });
    } finally {
      await down.stop();
    }
  }, 120_000);
});

describe('the label function under workerd', () => {
  it('answers exactly as under Node for the same input: verdicts, rows and queryLabels', async () => {
    const LABELER = 'did:plc:workerlabelerworkerlabel';
    const HOST = 'mod.example';
    const key = await labelKeypair();
    plc.set(LABELER, labelerDoc({ did: LABELER, atproto: await labelKeypair(), label: key, labeler: `https://${HOST}` }));
    const subject = 'at://did:plc:workerdaaaaaaaaaaaaaaaaa/app.bsky.feed.post/p1';
    const events = [
      labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: subject, cid: 'bafyreihpbwrqsipbigarmwyqokkse4dtfpg3jkygvmizjp6anyopplx4om', val: 'spam', cts: '2026-01-01T00:00:00Z' })),
      labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: subject, cid: 'bafyreieznjaifhdvvsaohgg3pptul5mbmeqd6nijfittzzhftexpgcivxq', val: 'spam', neg: true, cts: '2026-01-01T00:00:01Z' })),
      labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: DID, val: 'rude', cts: '2026-01-01T00:00:00Z', exp: '2999-01-01T00:00:00Z' })),
      labelEvent(HOST, await signLabel(await labelKeypair(), { ver: 1, src: LABELER, uri: DID, val: 'forged', cts: '2026-01-01T00:00:00Z' })),
      labelEvent(HOST, { ver: 1, src: LABELER, uri: DID, val: 'unsigned', cts: '2026-01-01T00:00:00Z' }),
      { seq: 1, labels: [{ src: LABELER, uri: DID, cid: null, val: 'rsky', neg: null, cts: '2026-01-01 00:00:00 UTC' }] },
      { type: 'label' },
    ];
    const body = JSON.stringify({ events });
    const headers = { authorization: 'Bearer worker-token', 'content-type': 'application/json' };

    const res = await fetch(`${base}/functions/label`, { method: 'POST', headers, body });
    expect(res.status, output()).toBe(200);
    const fromWorker = await res.json();

    const nodeDb = await createIndexDb('worker_node');
    try {
      const bundle = createMetrics({ hosts: [], streams: [] });
      const app = createApp({
        auth: { dev: false, token: 'worker-token' },
        bodyLimitBytes: 10 << 20,
        ports: { ...nodeDb.ports, sql: nodeDb.sql, metrics: bundle.metrics },
        metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
        readiness: [],
        label: { identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), trustedSources: new Set() },
      });
      const fromNode = await (await app.request('/functions/label', { method: 'POST', headers, body })).json();
      expect(fromWorker).toEqual(fromNode);
      const verdicts = (fromWorker as { labels: { status: string; reason?: string }[][] }).labels.map((v) => v.map((x) => x.reason ?? x.status));
      expect(verdicts).toEqual([['label'], ['negation'], ['label'], ['bad_signature'], ['unsigned_label'], ['unsigned_label'], []]);
      const rows = 'select src, uri, cid, val, neg, cts, exp, "labelVer", "labelSig", "signingKey", "ctsKey", "expKey" from label_version order by src, uri, cid, val';
      expect(await db.sql.query(rows)).toEqual(await nodeDb.sql.query(rows));
      const query = `/xrpc/com.atproto.label.queryLabels?uriPatterns=*`;
      const workerAnswer = await (await fetch(`${base}${query}`)).json();
      expect(workerAnswer).toEqual(await (await app.request(query)).json());
      expect((workerAnswer as { labels: { val: string }[] }).labels.map((l) => l.val)).toEqual(['rude']);
    } finally {
      await nodeDb.close();
    }
  });
});
