// GET / is the status page for a browser and the JSON status for anything else; the page's script, samples and the
// simulation's controls are served by the app itself (no CDN), and the controls need the bearer outside dev mode.
import { describe, expect, it } from 'vitest';
import { createApp, type AppDeps } from '../../../adapters/http/app.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createStatusHistory } from '../../../adapters/observability/status-history.ts';
import type { DevControls } from '../../../adapters/http/routes/status-page.ts';
import { silentLog, systemClock, type Sql } from '../../../functions/ports.ts';

const noSql = { query: async () => [], transaction: async () => [] } as unknown as Sql;

function build(overrides: Partial<AppDeps> = {}) {
  const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
  return {
    bundle,
    app: createApp({
      auth: { dev: false, token: 's3cret' },
      bodyLimitBytes: 1024,
      ports: { clock: systemClock, log: silentLog, metrics: bundle.metrics, sql: noSql },
      metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
      readiness: [],
      status: async () => ({ streams: [{ stream: 'firehose_live', length: 3, pending: 1, dlq: 0 }] }),
      ...overrides,
    }),
  };
}

describe('status page', () => {
  it('serves HTML to a browser, JSON to curl and at /status.json', async () => {
    const { app } = build();
    const html = await app.request('/', { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(html.headers.get('content-type')).toMatch(/text\/html/);
    const page = await html.text();
    expect(page).toContain('<script src="/status/chart.js">');
    expect(page).not.toMatch(/https?:\/\//); // nothing fetched from elsewhere: works offline
    for (const accept of [undefined, '*/*', 'application/json']) {
      const res = await app.request('/', accept === undefined ? {} : { headers: { accept } });
      expect(await res.json()).toEqual({ name: 'skytide', status: { streams: [{ stream: 'firehose_live', length: 3, pending: 1, dlq: 0 }] } });
    }
    expect(await (await app.request('/status.json')).json()).toEqual(expect.objectContaining({ name: 'skytide' }));
    const js = await app.request('/status/chart.js');
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toContain('window.SkytideChart');
  });

  it('serves the samples: rates from counter deltas, stream gauges, per-function latency', async () => {
    let t = 1_000_000;
    const bundle = createMetrics({ hosts: ['relay.example'], streams: ['firehose_live'] });
    const history = createStatusHistory({
      registry: bundle.registry, now: () => t,
      read: async () => ({ streams: [{ stream: 'firehose_live', length: 5, pending: 2, dlq: 1 }], cursors: { 'firehose_live:cursor:relay.example': '42' }, repoSync: { synchronized: 3 } }),
    });
    await history.sample();
    bundle.metrics.inc('skytide_firehose_events_total', { host: 'relay.example', type: 'create' }, 20);
    bundle.metrics.inc('skytide_function_calls_total', { stream: 'firehose_live' }, 4);
    bundle.metrics.inc('skytide_function_seconds_total', { stream: 'firehose_live' }, 0.2);
    t += 2000;
    const s = await history.sample();
    expect(s.series).toEqual(expect.objectContaining({
      'in:relay.example': 10, 'length:firehose_live': 5, 'pending:firehose_live': 2, 'dlq:firehose_live': 1,
      'cursor:relay.example': 42, 'sync:synchronized': 3,
    }));
    expect(s.series['latency:firehose_live']).toBeCloseTo(50);
    const { app } = build({ history: () => history.samples() });
    const body = (await (await app.request('/status/history.json')).json()) as { samples: unknown[]; controls: unknown };
    expect(body.samples).toHaveLength(2);
    expect(body.controls).toBeNull();
    // A `since` that is not a time is the caller's mistake, said as such, not an empty history.
    const bad = await app.request('/status/history.json?since=abc');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('drives the simulation with the bearer, and refuses without it or with a bad value', async () => {
    const calls: string[] = [];
    const controls: DevControls = {
      state: () => ({ rate: 2, faults: ['disconnect'] }),
      setRate: (r) => void calls.push(`rate ${r}`),
      injectFault: async (k) => (calls.push(`fault ${k}`), { subscribers: 1 }),
    };
    const { app } = build({ devControls: controls });
    const post = (path: string, body: unknown, auth = true) =>
      app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...(auth ? { authorization: 'Bearer s3cret' } : {}) } });
    expect((await post('/dev/rate', { rate: 7 }, false)).status).toBe(401);
    expect((await post('/dev/rate', { rate: -1 })).status).toBe(400);
    expect((await post('/dev/rate', { rate: 7 })).status).toBe(200);
    expect((await post('/dev/fault', { kind: 'nope' })).status).toBe(400);
    expect(await (await post('/dev/fault', { kind: 'disconnect' })).json()).toEqual({ injected: 'disconnect', result: { subscribers: 1 } });
    expect(calls).toEqual(['rate 7', 'fault disconnect']);
    expect(((await (await app.request('/status/history.json')).json()) as { controls: unknown }).controls).toEqual({ rate: 2, faults: ['disconnect'] });
  });

  it('answers /dev/truth with the reason when the simulated network cannot be read', async () => {
    const controls: DevControls = {
      state: () => ({ rate: 0, faults: [] }),
      setRate: () => undefined,
      injectFault: async () => ({}),
      truth: async () => {
        throw new Error('did:plc:abc is still deactivated');
      },
    };
    const res = await build({ devControls: controls }).app.request('/dev/truth');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: 'truth_unreadable', message: 'Error: did:plc:abc is still deactivated' });
  });
});
