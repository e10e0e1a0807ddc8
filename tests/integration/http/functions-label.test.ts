// POST /functions/label and GET /xrpc/com.atproto.label.queryLabels with the real label function, Postgres and
// identity resolver behind them: what a remote consumer, a Worker or a person checking a subject sees over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Keypair } from '@atproto/crypto';
import { createApp } from '../../../adapters/http/app.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createSql } from '../../../adapters/postgres/client.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { labelerDoc, startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { labelEvent, labelKeypair, signLabel } from '../../helpers/labels.ts';
import { createTestRedis, TEST_REDIS_URL } from '../../helpers/services.ts';
import { freePort } from '../../helpers/free-port.ts';
import { waitFor } from '../../helpers/wait.ts';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';

const LABELER = 'did:plc:httplabelerhttplabelerxx';
const HOST = 'mod.example';
const SUBJECT = 'at://did:plc:subjectsubjectsubjectsub/app.bsky.feed.post/1';
let db: IndexDb;
let plc: FakePlc;
let key: Keypair;

beforeAll(async () => {
  db = await createIndexDb('http_label');
  plc = await startFakePlc();
  key = await labelKeypair();
  plc.set(LABELER, labelerDoc({ did: LABELER, atproto: await labelKeypair(), label: key, labeler: `https://${HOST}` }));
});
afterAll(async () => {
  await plc?.close();
  await db?.close();
});

function app(options: { sql?: IndexDb['sql']; label?: boolean; bodyLimitBytes?: number; labelQueryTimeoutMs?: number } = {}) {
  const bundle = createMetrics({ hosts: [], streams: [], labelHosts: [HOST] });
  const identity = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true });
  return {
    bundle,
    app: createApp({
      auth: { dev: false, token: 'tok' },
      bodyLimitBytes: options.bodyLimitBytes ?? 1 << 20,
      ports: { ...db.ports, metrics: bundle.metrics, sql: options.sql ?? db.sql },
      metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
      readiness: [],
      ...(options.labelQueryTimeoutMs === undefined ? {} : { labelQueryTimeoutMs: options.labelQueryTimeoutMs }),
      ...(options.label === false ? {} : { label: { identity, trustedSources: new Set<string>() } }),
    }),
  };
}

const headers = { authorization: 'Bearer tok', 'content-type': 'application/json' };

describe('POST /functions/label', () => {
  it('stores the good labels and answers an outcome per item and a verdict per label', async () => {
    const { app: a, bundle } = app();
    const good = labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: SUBJECT, val: 'spam', cts: '2026-01-01T00:00:00Z' }));
    const forged = labelEvent(HOST, await signLabel(await labelKeypair(), { ver: 1, src: LABELER, uri: SUBJECT, val: 'forged', cts: '2026-01-01T00:00:00Z' }));
    const res = await a.request('/functions/label', { method: 'POST', headers, body: JSON.stringify({ events: [good, { type: 'create' }, forged] }) });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      outcomes: [{ status: 'ok' }, { status: 'dead', reason: 'invalid_event', message: expect.any(String) }, { status: 'ok' }],
      labels: [[{ status: 'label', src: LABELER }], [], [{ status: 'rejected', reason: 'bad_signature', message: expect.any(String) }]],
    });
    expect(await db.sql.query('select val from label')).toEqual([{ val: 'spam' }]);
    expect(await bundle.registry.metrics()).toContain(`skytide_labels_rejected_total{host="${HOST}",reason="bad_signature"} 1`);
  });

  it('has the same auth and limits as POST /functions/index', async () => {
    const body = JSON.stringify({ events: [] });
    expect((await app().app.request('/functions/label', { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status).toBe(401);
    const big = await app({ bodyLimitBytes: 1024 }).app.request('/functions/label', { method: 'POST', headers, body: JSON.stringify({ events: ['x'.repeat(2048)] }) });
    expect(big.status).toBe(413);
    expect((await app().app.request('/functions/label', { method: 'POST', headers, body: '{' })).status).toBe(400);
    expect((await app().app.request('/functions/label', { method: 'POST', headers, body: '{"labels":[]}' })).status).toBe(400);
    expect((await app({ label: false }).app.request('/functions/label', { method: 'POST', headers, body })).status).toBe(503);
  });

  it('answers 503 dependency_unavailable with Retry-After when the database is down, as the other function routes do', async () => {
    const unreachable = createSql('postgres://postgres@127.0.0.1:1/test', { max: 1 });
    const good = labelEvent(HOST, await signLabel(key, { ver: 1, src: LABELER, uri: SUBJECT, val: 'later', cts: '2026-01-01T00:00:00Z' }));
    const res = await app({ sql: unreachable }).app.request('/functions/label', { method: 'POST', headers, body: JSON.stringify({ events: [good] }) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
    expect(await res.json()).toEqual({ error: 'dependency_unavailable', dependency: 'postgres', message: 'postgres is unavailable; retry later' });
    await unreachable.end();
  });
});

describe('GET /xrpc/com.atproto.label.queryLabels', () => {
  const get = (qs: string) => app().app.request(`/xrpc/com.atproto.label.queryLabels?${qs}`);

  it('is public and answers the lexicon shape', async () => {
    const res = await get(`uriPatterns=${encodeURIComponent(SUBJECT)}&sources=${LABELER}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { labels: Record<string, unknown>[]; cursor?: string };
    expect(body.cursor).toBeUndefined();
    expect(body.labels).toEqual([{ ver: 1, src: LABELER, uri: SUBJECT, val: 'spam', cts: '2026-01-01T00:00:00Z', sig: { $bytes: expect.any(String) } }]);
  });

  it('gives a cursor when a page is full, and the next page from it', async () => {
    const first = (await (await get('uriPatterns=*&limit=1')).json()) as { labels: unknown[]; cursor?: string };
    expect(first.labels).toHaveLength(1);
    expect(typeof first.cursor).toBe('string');
    const second = (await (await get(`uriPatterns=*&limit=1&cursor=${first.cursor}`)).json()) as { labels: unknown[]; cursor?: string };
    expect(second.labels).toEqual([]);
  });

  it('answers 503 dependency_unavailable with Retry-After when Postgres is unreachable', async () => {
    const unreachable = createSql('postgres://postgres@127.0.0.1:1/test', { max: 1 });
    try {
      const res = await app({ sql: unreachable }).app.request(`/xrpc/com.atproto.label.queryLabels?uriPatterns=${encodeURIComponent(SUBJECT)}`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('10');
      expect(await res.json()).toEqual({ error: 'dependency_unavailable', dependency: 'postgres', message: 'postgres is unavailable; retry later' });
    } finally {
      await unreachable.end();
    }
  });

  it('answers 503 dependency_unavailable with Retry-After when Postgres does not answer within the statement timeout (a lock held on label_version)', async () => {
    // Another session holds `label` locked (a migration, a VACUUM FULL): without a statement timeout the query waits
    // for it, and the request with it, for as long as the lock is held.
    const locker = createSql(db.url, { max: 1 });
    let unlock = (): void => {};
    const locked = new Promise<void>((resolve) => (unlock = resolve));
    let held = (): void => {};
    const holding = new Promise<void>((resolve) => (held = resolve));
    const lock = locker.transaction(async (tx) => {
      await tx.query('lock table label_version in access exclusive mode');
      held();
      await locked;
    });
    try {
      await holding;
      const started = Date.now();
      const answer = app({ labelQueryTimeoutMs: 300 }).app.request(`/xrpc/com.atproto.label.queryLabels?uriPatterns=${encodeURIComponent(SUBJECT)}`);
      const res = await Promise.race([answer, new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 5000))]);
      expect(res).not.toBe('no answer');
      const response = res as Response;
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('10');
      expect(await response.json()).toEqual({ error: 'dependency_unavailable', dependency: 'postgres', message: 'postgres did not answer within 300 ms; retry later' });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      unlock();
      await lock;
      await locker.end();
    }
    // The timeout was the transaction's own: the pooled connection answers as before once the lock is gone.
    const again = await get(`uriPatterns=${encodeURIComponent(SUBJECT)}&sources=${LABELER}`);
    expect(again.status).toBe(200);
    expect(((await db.sql.query('show statement_timeout')) as { statement_timeout: string }[])[0]?.statement_timeout).toBe('0');
  });

  it.each([
    ['', 'uriPatterns is required'],
    ['uriPatterns=at://*/x', 'invalid pattern'],
    ['uriPatterns=*&limit=0', 'limit must be'],
    ['uriPatterns=*&limit=251', 'limit must be'],
    ['uriPatterns=*&limit=ten', 'limit must be'],
    ['uriPatterns=*&sources=mod.example', 'sources must be DIDs'],
    ['uriPatterns=*&cursor=nonsense', 'invalid cursor'],
  ])('answers 400 InvalidRequest for %j', async (qs, message) => {
    const res = await get(qs);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('InvalidRequest');
    expect(body.message).toContain(message);
  });
});

describe('LABEL_QUERY_TIMEOUT_MS, as `skytide run --only http` wires it', () => {
  it('bounds queryLabels: past it the answer is 503 naming the timeout, the lock on label_version still held', async () => {
    const redis = await createTestRedis('http_label_timeout');
    const port = await freePort();
    const { config } = parseConfig({
      DATABASE_URL: db.url, REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: redis.prefix, HTTP_PORT: String(port), LOG_LEVEL: 'error',
      SKYTIDE_ENV: 'dev', LABEL_QUERY_TIMEOUT_MS: '300',
    });
    const r = createResources(config, 'label-query-timeout-test');
    const stop = new AbortController();
    const running = buildTasks(r, ['http']).map((t) => t.run(stop.signal));
    const locker = createSql(db.url, { max: 1 });
    let unlock = (): void => {};
    const locked = new Promise<void>((resolve) => (unlock = resolve));
    let held = (): void => {};
    const holding = new Promise<void>((resolve) => (held = resolve));
    const lock = locker.transaction(async (tx) => {
      await tx.query('lock table label_version in access exclusive mode');
      held();
      await locked;
    });
    try {
      await holding;
      const url = `http://127.0.0.1:${port}/xrpc/com.atproto.label.queryLabels?uriPatterns=${encodeURIComponent(SUBJECT)}`;
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined))?.ok === true, (up) => up, 'the http task listening');
      const started = Date.now();
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('10');
      expect(await res.json()).toEqual({ error: 'dependency_unavailable', dependency: 'postgres', message: 'postgres did not answer within 300 ms; retry later' });
      // The default, 10 s, would still be waiting.
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      unlock();
      await lock;
      await locker.end();
      stop.abort();
      await Promise.allSettled(running);
      await r.close();
      await redis.cleanup();
    }
  });
});
