// A Postgres connection whose peer goes silent (a failover's old primary gone without FIN or RST, a NAT flow dropped)
// while fresh connections work, through a proxy that black-holes the connections open at a moment. /ready's probe was
// shared while in flight and never given up on, so /ready stayed 503 for as long as TCP took to give the connection
// up (about 15 minutes), and queryLabels, bounded only by the server's statement_timeout, which a silent connection
// never hears, did not answer at all.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../adapters/http/app.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startLostReplyProxy, type LostReplyProxy } from '../../helpers/lost-reply-proxy.ts';
import { waitFor } from '../../helpers/wait.ts';

let db: IndexDb;
let proxy: LostReplyProxy;
let sql: PostgresSql;

beforeAll(async () => {
  db = await createIndexDb('silent_postgres');
  const target = new URL(db.url);
  proxy = await startLostReplyProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const through = new URL(db.url);
  through.host = `127.0.0.1:${proxy.port}`;
  sql = createSql(through.href, { max: 5 });
});
afterAll(async () => {
  await proxy.close();
  await sql.end().catch(() => {});
  await db.close();
});

function app() {
  const bundle = createMetrics({ hosts: [], streams: [] });
  return createApp({
    auth: { dev: false, token: 'tok' }, bodyLimitBytes: 1 << 20, labelQueryTimeoutMs: 500,
    ports: { ...db.ports, metrics: bundle.metrics, sql },
    metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
    readiness: [{ name: 'postgres', check: async () => void (await sql.query('select 1')) }],
  });
}

describe('a Postgres connection gone silent', () => {
  it('queryLabels answers 503 past its timeout, and /ready is 200 again once a fresh connection answers', async () => {
    const a = app();
    expect((await a.request('/ready')).status).toBe(200);
    // Two connections open (both go silent), so queryLabels and the next probe each take one of them.
    await Promise.all([sql.query('select pg_sleep(0.05)'), sql.query('select pg_sleep(0.05)')]);
    expect(proxy.blackhole('both')).toBe(2);
    // Bounded here as well as by the server's statement_timeout, which the silent connection never hears.
    const labels = await a.request('/xrpc/com.atproto.label.queryLabels?uriPatterns=*');
    expect(labels.status).toBe(503);
    expect(await labels.json()).toMatchObject({ error: 'dependency_unavailable', dependency: 'postgres' });
    const stuck = await a.request('/ready');
    expect(stuck.status).toBe(503);
    // The probe stuck on the silent connection is given up on: a fresh one goes out on a new connection.
    await waitFor(async () => (await a.request('/ready')).status, (status) => status === 200, '/ready 200 again', 20_000);
  }, 40_000);
});
