import { describe, expect, it } from 'vitest';
import { createApp, createOperationsApp, type AppDeps } from '../../../adapters/http/app.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createOutageBoard, outagesDegradedCheck } from '../../../adapters/observability/outage-board.ts';
import { noMetrics, silentLog, systemClock, type Sql } from '../../../functions/ports.ts';
import { SkytideError } from '../../../functions/errors.ts';
import { MAX_REPOS_PER_REQUEST } from '../../../adapters/http/routes/functions.ts';

// These routes must answer without touching the database; a Sql port that fails on use proves they do not.
const untouchable: Sql = {
  query: async () => {
    throw new Error('the database must not be touched by this route');
  },
  transaction: async () => {
    throw new Error('the database must not be touched by this route');
  },
};

function build(overrides: Partial<AppDeps> = {}) {
  const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
  return createApp({
    auth: { dev: false, token: 's3cret' },
    bodyLimitBytes: 1024,
    ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: untouchable },
    metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
    readiness: [],
    ...overrides,
  });
}

describe('HTTP app', () => {
  it('answers liveness without dependencies', async () => {
    const res = await build().request('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('reports not ready, naming the failing check', async () => {
    const app = build({
      readiness: [
        { name: 'redis', check: async () => {} },
        { name: 'postgres', check: async () => { throw new Error('connect ECONNREFUSED'); } },
      ],
    });
    const res = await app.request('/ready');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: 'not_ready',
      checks: [
        { name: 'redis', ok: true },
        { name: 'postgres', ok: false, error: 'Error: connect ECONNREFUSED' },
      ],
      degraded: [],
    });
  });

  it('answers /ready and /metrics while a dependency never answers: 503 naming the check, and the counters', async () => {
    // What the Redis client does while Redis is down: a command waits for the reconnect, however long that takes.
    const never = () => new Promise<never>(() => {});
    let refreshes = 0;
    const bundle = createMetrics({ hosts: [], streams: ['firehose_live'] });
    bundle.metrics.inc('skytide_index_batches_total', { outcome: 'ok' });
    const app = createOperationsApp({
      ports: { log: silentLog },
      metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
      readiness: [{ name: 'redis', check: never }, { name: 'postgres', check: async () => {} }],
      degraded: [{ name: 'identity_wait', check: never }],
      refreshGauges: () => {
        refreshes++;
        return never();
      },
    });
    const [ready, metrics, again] = await Promise.all([app.request('/ready'), app.request('/metrics'), app.request('/metrics')]);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({
      status: 'not_ready',
      checks: [{ name: 'redis', ok: false, error: 'DeadlineError: redis did not answer within 2000 ms' }, { name: 'postgres', ok: true }],
      degraded: [{ name: 'identity_wait', error: 'DeadlineError: identity_wait did not answer within 2000 ms' }],
    });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('skytide_index_batches_total{outcome="ok"} 1');
    expect(again.status).toBe(200);
    // The second scrape joined the refresh still pending, rather than leaving one more behind.
    expect(refreshes).toBe(1);
  }, 10_000);

  it('stays ready while DIDs wait out an identity outage, listing them under degraded', async () => {
    const app = build({
      readiness: [{ name: 'redis', check: async () => {} }],
      degraded: [
        { name: 'identity_wait', check: async () => ({ waitingDids: { 'relay.example': 3 } }) },
        { name: 'quiet', check: async () => undefined },
      ],
    });
    const res = await app.request('/ready');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ready',
      checks: [{ name: 'redis', ok: true }],
      degraded: [{ name: 'identity_wait', waitingDids: { 'relay.example': 3 } }],
    });
  });

  it('stays ready while a consumer waits out an outage, and says what it waits on since when', async () => {
    const board = createOutageBoard({ log: silentLog, metrics: createMetrics({ hosts: [], streams: [] }).metrics, now: () => Date.parse('2025-01-02T03:04:05.000Z') });
    const app = build({ readiness: [{ name: 'redis', check: async () => {} }], degraded: [outagesDegradedCheck(board)] });
    expect(await (await app.request('/ready')).json()).toEqual({ status: 'ready', checks: [{ name: 'redis', ok: true }], degraded: [] });
    board.waiting('firehose_live:c1', 'postgres');
    const res = await app.request('/ready');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      status: 'ready',
      checks: [{ name: 'redis', ok: true }],
      degraded: [{
        name: 'outages',
        waiting: ['waiting on postgres since 2025-01-02T03:04:05.000Z'],
        outages: [{ dependency: 'postgres', since: '2025-01-02T03:04:05.000Z', waiters: ['firehose_live:c1'], waits: 1 }],
      }],
    });
  });

  it('exposes every counter at zero before anything happened', async () => {
    const text = await (await build().request('/metrics')).text();
    expect(text).toContain('skytide_firehose_errors_total{host="relay.example",reason="invalid_frame"} 0');
    expect(text).toContain('skytide_consumer_entries_total{stream="firehose_live",outcome="dlq"} 0');
    expect(text).toContain('skytide_consumer_entries_total{stream="firehose_live",outcome="deleted"} 0');
    expect(text).toContain('skytide_index_batches_total{outcome="error"} 0');
    expect(text).toContain('skytide_stream_length{stream="firehose_live"} 0');
    expect(text).toContain('skytide_firehose_errors_total{host="relay.example",reason="seq_not_increasing"} 0');
    expect(text).toContain('skytide_firehose_errors_total{host="relay.example",reason="cursor_reset"} 0');
    expect(text).toContain('skytide_identity_waits_total{host="relay.example",on="plc"} 0');
    expect(text).toContain('skytide_identity_waiting_dids{host="relay.example"} 0');
    for (const dependency of ['postgres', 'redis', 'plc', 'dns']) expect(text).toContain(`skytide_outage_waits_total{dependency="${dependency}"} 0`);
  });

  it('refuses a mutating route without the bearer token', async () => {
    const app = build();
    const none = await app.request('/functions/index', { method: 'POST', body: '{"events":[]}' });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: 'unauthorized', message: 'a valid bearer token is required' });
    const wrong = await app.request('/functions/index', { method: 'POST', body: '{"events":[]}', headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: 'unauthorized', message: 'a valid bearer token is required' });
    // A header that is not a bearer token at all is refused the same way (hono's bearerAuth would answer 400), with
    // hono's RFC 6750 challenge.
    const basic = await app.request('/functions/index', { method: 'POST', body: '{"events":[]}', headers: { authorization: 'Basic czNjcmV0' } });
    expect(basic.status).toBe(401);
    expect(await basic.json()).toEqual({ error: 'unauthorized', message: 'a valid bearer token is required' });
    expect(basic.headers.get('www-authenticate')).toBe('Bearer error="invalid_request"');
  });

  it('keeps mutating routes closed when no token is configured outside dev mode', async () => {
    const res = await build({ auth: { dev: false, token: undefined } }).request('/functions/index', { method: 'POST', body: '{}' });
    expect(res.status).toBe(503);
    expect((await res.json()).error).toBe('auth_not_configured');
  });

  it('rejects an oversized body before the handler runs', async () => {
    const res = await build().request('/functions/index', {
      method: 'POST',
      body: JSON.stringify({ events: ['x'.repeat(4096)] }),
      headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect((await res.json()).error).toBe('body_too_large');
  });

  it('counts an oversized body as body_too_big (zero from start-up)', async () => {
    const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
    const app = build({ ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: untouchable } });
    // Every route behind the body limit, not only the one refused below.
    for (const route of ['/functions/index', '/functions/label', '/functions/backfill-repo']) {
      expect(await bundle.registry.metrics()).toContain(`skytide_http_refused_total{route="${route}",reason="body_too_big"} 0`);
    }
    const res = await app.request('/functions/index', {
      method: 'POST',
      body: JSON.stringify({ events: ['x'.repeat(4096)] }),
      headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(413);
    expect(await bundle.registry.metrics()).toContain('skytide_http_refused_total{route="/functions/index",reason="body_too_big"} 1');
  });

  it('rejects a body that is not JSON or not an event batch with 400', async () => {
    const app = build();
    const headers = { authorization: 'Bearer s3cret', 'content-type': 'application/json' };
    const notJson = await app.request('/functions/index', { method: 'POST', body: '{', headers });
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).error).toBe('invalid_json');
    const wrongShape = await app.request('/functions/index', { method: 'POST', body: '{"event":1}', headers });
    expect(wrongShape.status).toBe(400);
    expect(await wrongShape.json()).toEqual({ error: 'invalid_request', message: 'body must be {"events": [...]}' });
  });

  it('counts a body that is not JSON or not a batch as invalid_json or invalid_request, every series at zero from start-up', async () => {
    const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
    const app = build({ ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: untouchable } });
    const routes = ['/functions/index', '/functions/label', '/functions/backfill-repo'];
    for (const route of routes) {
      for (const reason of ['invalid_json', 'invalid_request']) {
        expect(await bundle.registry.metrics()).toContain(`skytide_http_refused_total{route="${route}",reason="${reason}"} 0`);
      }
    }
    const headers = { authorization: 'Bearer s3cret', 'content-type': 'application/json' };
    expect((await app.request('/functions/index', { method: 'POST', body: '{', headers })).status).toBe(400);
    expect((await app.request('/functions/index', { method: 'POST', body: '', headers })).status).toBe(400);
    expect((await app.request('/functions/index', { method: 'POST', body: 'null', headers })).status).toBe(400);
    const text = await bundle.registry.metrics();
    expect(text).toContain('skytide_http_refused_total{route="/functions/index",reason="invalid_json"} 2');
    expect(text).toContain('skytide_http_refused_total{route="/functions/index",reason="invalid_request"} 1');
  });

  it('refuses a backfill request of more repos than one request may carry, counted, fetching none', async () => {
    let asked = 0;
    const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
    const backfill: AppDeps['backfill'] = {
      clock: systemClock, log: silentLog, metrics: noMetrics, sql: untouchable,
      fetch: async () => { asked++; throw new Error('nothing may be fetched'); },
      identity: { resolve: async () => { asked++; throw new Error('no identity may be resolved'); } },
    };
    const app = build({ backfill, bodyLimitBytes: 1 << 20, ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: untouchable } });
    const repos = Array.from({ length: MAX_REPOS_PER_REQUEST + 1 }, (_, i) => ({ did: `did:plc:${String(i).padStart(24, 'a')}` }));
    const res = await app.request('/functions/backfill-repo', {
      method: 'POST',
      body: JSON.stringify({ repos }),
      headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' },
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('invalid_request');
    expect(body.message).toContain(`at most ${MAX_REPOS_PER_REQUEST} repos per request`);
    expect(asked).toBe(0);
    expect(await bundle.registry.metrics()).toContain('skytide_http_refused_total{route="/functions/backfill-repo",reason="invalid_request"} 1');
  });

  it('refuses POST /reprocess/:did with 400 invalid_did for a DID that can never resolve, asking no one', async () => {
    let asked = 0;
    const backfill: AppDeps['backfill'] = {
      clock: systemClock, log: silentLog, metrics: noMetrics, sql: untouchable,
      fetch: async () => { asked++; throw new Error('nothing may be fetched'); },
      identity: { resolve: async () => { asked++; throw new Error('no identity may be resolved'); } },
    };
    const app = build({ backfill });
    const headers = { authorization: 'Bearer s3cret' };
    for (const [did, why] of [
      ['did:example:abc', 'only did:plc and did:web are supported'],
      ['did:plc:ABCDEFGHIJKLMNOPQRSTUVWX', 'a did:plc identifier is 24 characters of base32'],
      ['did:web:127.0.0.1', 'a did:web identifier is a hostname'],
      ['did:web:pds.local', 'reserved TLD'],
    ] as const) {
      const res = await app.request(`/reprocess/${did}`, { method: 'POST', headers });
      expect(res.status, did).toBe(400);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe('invalid_did');
      expect(body.message).toContain(why);
    }
    expect(asked).toBe(0);
  });

  it('takes a did:web with a port as sent (did:web:localhost%3A2583), not decoded into a DID that never resolves', async () => {
    // The router decodes %3A into a colon: the DID was refused with 400 unless the client encoded it twice (%253A).
    const asked: string[] = [];
    const quiet: Sql = { query: async (text) => (text.includes('handle_clock') ? [{ tick: '1' }] : []), transaction: async (fn) => fn(quiet) };
    const backfill: AppDeps['backfill'] = {
      clock: systemClock, log: silentLog, metrics: noMetrics, sql: quiet,
      fetch: async () => { throw new Error('nothing may be fetched'); },
      identity: { resolve: async (did: string) => { asked.push(did); throw new SkytideError('identity_failed', 'no document here'); } },
    };
    const app = build({ backfill });
    const headers = { authorization: 'Bearer s3cret' };
    for (const path of ['/reprocess/did:web:localhost%3A2583', '/reprocess/did%3Aweb%3Alocalhost%253A2583']) {
      const res = await app.request(path, { method: 'POST', headers });
      expect(res.status, path).toBe(502);
      expect(((await res.json()) as { error: string }).error, path).toBe('identity_failed');
    }
    expect(asked).toEqual(['did:web:localhost%3A2583', 'did:web:localhost%3A2583']);
  });

  it('counts the 400s of reprocess (invalid_did) and queryLabels (invalid_request), every series at zero from start-up', async () => {
    // They answered 400 and moved no counter: a client sending bad requests in a loop showed nowhere.
    const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
    const backfill: AppDeps['backfill'] = {
      clock: systemClock, log: silentLog, metrics: noMetrics, sql: untouchable,
      fetch: async () => { throw new Error('nothing may be fetched'); },
      identity: { resolve: async () => { throw new Error('no identity may be resolved'); } },
    };
    const app = build({ backfill, ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: untouchable } });
    const before = await bundle.registry.metrics();
    expect(before).toContain('skytide_http_refused_total{route="/reprocess/:did",reason="invalid_did"} 0');
    expect(before).toContain('skytide_http_refused_total{route="/xrpc/com.atproto.label.queryLabels",reason="invalid_request"} 0');
    const headers = { authorization: 'Bearer s3cret' };
    expect((await app.request('/reprocess/not-a-did', { method: 'POST', headers })).status).toBe(400);
    expect((await app.request('/reprocess/did:example:abc', { method: 'POST', headers })).status).toBe(400);
    expect((await app.request('/xrpc/com.atproto.label.queryLabels')).status).toBe(400);
    const after = await bundle.registry.metrics();
    expect(after).toContain('skytide_http_refused_total{route="/reprocess/:did",reason="invalid_did"} 2');
    expect(after).toContain('skytide_http_refused_total{route="/xrpc/com.atproto.label.queryLabels",reason="invalid_request"} 1');
  });

  it('answers unknown routes with a JSON 404', async () => {
    const res = await build().request('/nope');
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found', message: 'no route for GET /nope' });
  });
});
