// POST /functions/index with the real index function and Postgres behind it: what a remote consumer or a Worker
// sees over HTTP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../adapters/http/app.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createSql } from '../../../adapters/postgres/client.ts';
import { post, write } from '../../helpers/events.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('http_index');
});
afterAll(async () => db.close());

function app(sqlOverride?: IndexDb['sql']) {
  const bundle = createMetrics({ hosts: [], streams: [] });
  return {
    bundle,
    app: createApp({
      auth: { dev: false, token: 'tok' },
      bodyLimitBytes: 1 << 20,
      ports: { ...db.ports, metrics: bundle.metrics, sql: sqlOverride ?? db.sql },
      metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() },
      readiness: [],
    }),
  };
}

const headers = { authorization: 'Bearer tok', 'content-type': 'application/json' };
const DID = 'did:plc:httpaaaaaaaaaaaaaaaaaaaa';

describe('POST /functions/index', () => {
  it('indexes the valid events, marks the malformed ones dead, and answers one outcome per event', async () => {
    const { app: a, bundle } = app();
    const good = write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'p1', rev: 1, record: post('over http') });
    const res = await a.request('/functions/index', { method: 'POST', headers, body: JSON.stringify({ events: [good, { type: 'create' }, { ...good, did: 'nope' }] }) });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.outcomes[0]).toEqual({ status: 'ok' });
    expect(body.outcomes[1]).toMatchObject({ status: 'dead', reason: 'invalid_event' });
    expect(body.outcomes[2]).toEqual({ status: 'dead', reason: 'invalid_syntax', message: 'invalid did "nope"' });
    expect(await db.sql.query(`select text from post`)).toEqual([{ text: 'over http' }]);
    expect(await bundle.registry.metrics()).toContain('skytide_index_batches_total{outcome="ok"} 1');
  });

  it('answers 503 with Retry-After when the database is down, so the caller waits and retries the batch', async () => {
    // A real client pointed at a port where no Postgres listens: the connection is refused for real.
    const unreachable = createSql('postgres://postgres@127.0.0.1:1/test', { max: 1 });
    const { app: a, bundle } = app(unreachable);
    const event = write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'p2', rev: 2, record: post('x') });
    const res = await a.request('/functions/index', { method: 'POST', headers, body: JSON.stringify({ events: [event] }) });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('10');
    expect(await res.json()).toEqual({ error: 'dependency_unavailable', dependency: 'postgres', message: 'postgres is unavailable; retry later' });
    expect(await bundle.registry.metrics()).toContain('skytide_index_batches_total{outcome="error"} 1');
    await unreachable.end();
  });

  it('refuses a record nested deeper than the data model allows as invalid, as the CBOR path does, never a 500', async () => {
    const { app: a, bundle } = app();
    // A record map holding `levels - 1` nested lists: `levels` containers in all (lex-cbor.ts refuses the 129th).
    const nested = (levels: number) => `{"$type":"app.bsky.feed.post","text":"deep","createdAt":"2024-01-01T00:00:00.000Z","x":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`;
    // Built as text: the deepest would overflow JSON.stringify here, as it did in the index function.
    const event = (rkey: string, rev: number, levels: number) => {
      const { record: _record, ...rest } = write({ did: DID, collection: 'app.bsky.feed.post', rkey, rev, record: post('') });
      return `${JSON.stringify(rest).slice(0, -1)},"record":${nested(levels)}}`;
    };
    const body = `{"events":[${event('d128', 10, 128)},${event('d129', 11, 129)},${event('d20000', 12, 20_000)}]}`;
    const res = await a.request('/functions/index', { method: 'POST', headers, body });
    expect(res.status).toBe(200);
    expect((await res.json()).outcomes).toEqual([{ status: 'ok' }, { status: 'ok' }, { status: 'ok' }]);
    const asked = ['d128', 'd129', 'd20000'].map((rkey) => `at://${DID}/app.bsky.feed.post/${rkey}`);
    const stored = checkRows(await db.sql.query(`select uri from record where uri = any($1::text[])`, [asked]), { uri: 'string' });
    expect(stored.map((r) => r.uri)).toEqual([asked[0]]);
    expect(await bundle.registry.metrics()).toContain('skytide_index_records_total{collection="post",outcome="invalid"} 2');
  });

  it('answers 500, not 503, when the function fails on a database that answers: that is no outage', async () => {
    // A healthy server whose schema has no AppView tables: the statement fails, the connection does not.
    const unmigrated = createSql(TEST_DATABASE_URL, { max: 1 });
    const { app: a } = app(unmigrated);
    const event = write({ did: DID, collection: 'app.bsky.feed.post', rkey: 'p3', rev: 3, record: post('y') });
    const res = await a.request('/functions/index', { method: 'POST', headers, body: JSON.stringify({ events: [event] }) });
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await res.json()).toEqual({ error: 'handler_error', message: 'the index function failed' });
    await unmigrated.end();
  });
});
