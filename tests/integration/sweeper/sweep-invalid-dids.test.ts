// Entries a listRepos page holds whose `did` is no DID, against a listRepos server on 127.0.0.1 and the real Redis and
// Postgres: they are dropped, counted and logged, and a page of only such entries, with a cursor, is not the end of
// the listing: the sweep follows its cursor and queues the pages after it.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runSweep } from '../../../long-runners/sweeper/sweep.ts';
import { createKeySpace, SWEEP_DONE, type KeySpace } from '../../../adapters/redis/keys.ts';
import { silentLog, type Log, type LogFields } from '../../../functions/ports.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';

const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:invalid${String.fromCharCode(97 + i).padStart(17, 'a')}`);
/** What the relay lists at each position instead of a valid DID's entry. */
let invalid = new Map<number, unknown>();
let server: http.Server;
let host: string;
let redis: Redis;
let cleanup: () => Promise<void>;
let db: IndexDb;
let keys: KeySpace;

beforeAll(async () => {
  ({ redis, cleanup } = await createTestRedis('sweep_invalid_dids'));
  db = await createIndexDb('sweep_invalid_dids');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const limit = Number(url.searchParams.get('limit'));
    const start = Number(url.searchParams.get('cursor') ?? '0');
    const repos = DIDS.slice(start, start + limit).map((did, i) => invalid.has(start + i) ? invalid.get(start + i) : { did, head: 'bafy', rev: '3laaaaaaaaaaa', active: true });
    const next = start + limit < DIDS.length ? String(start + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(next === undefined ? { repos } : { repos, cursor: next }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await cleanup();
  await db.close();
});
beforeEach(() => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  invalid = new Map();
});

const queued = async () => (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => JSON.parse(f[1]!).did as string);

describe('a listRepos page whose entries all have no valid DID', () => {
  it('is not the end of the listing: its cursor is followed, the pages after it queued, the entries dropped counted and logged', async () => {
    // The page at cursor 2: a did:web past the 2 KB a DID may have, and a did that is no DID at all.
    const long = `did:web:${'x'.repeat(3000)}.com`;
    invalid = new Map<number, unknown>([[2, { did: long, head: 'bafy', rev: '3laaaaaaaaaaa' }], [3, { did: 'not-a-did', head: 'bafy' }]]);
    const bundle = createMetrics({ hosts: [], streams: [] });
    const warnings: { msg: string; fields: LogFields }[] = [];
    const log: Log = { ...silentLog, warn: (msg, fields = {}) => void warnings.push({ msg, fields }), child: () => log };
    const progress = await runSweep({
      redis, keys, sql: db.sql, fetch: globalThis.fetch, host, highWaterMark: 1000, pageSize: 2, retryDelayMs: 5,
      log, metrics: bundle.metrics, signal: AbortSignal.timeout(20_000),
    });
    expect(progress).toMatchObject({ done: true, pages: 3, listed: 4, queued: 4, invalidDids: 2, skippedPages: 0 });
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5]]);
    expect(await redis.get(keys.cursor('repo_backfill', host))).toBe(SWEEP_DONE);
    expect(await bundle.registry.metrics()).toContain('skytide_sweep_problems_total{problem="invalid_syntax"} 2');
    // One line for the page, with an example cut short (a DID of 3,000 characters is not logged whole).
    const dropped = warnings.filter((w) => w.msg === 'listRepos entries without a valid DID dropped');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]!.fields).toMatchObject({ cursor: '2', dropped: 2 });
    expect(String(dropped[0]!.fields['example'])).toMatch(/^did:web:x{92}… \(3012 characters\)$/);
  });

  it('at the end of the listing is counted too, and the listing ends there', async () => {
    invalid = new Map<number, unknown>([[4, 'no object'], [5, { head: 'bafy' }]]);
    const bundle = createMetrics({ hosts: [], streams: [] });
    const progress = await runSweep({
      redis, keys, sql: db.sql, fetch: globalThis.fetch, host, highWaterMark: 1000, pageSize: 2, retryDelayMs: 5,
      log: silentLog, metrics: bundle.metrics, signal: AbortSignal.timeout(20_000),
    });
    expect(progress).toMatchObject({ done: true, pages: 3, listed: 4, queued: 4, invalidDids: 2 });
    expect(await queued()).toEqual(DIDS.slice(0, 4));
    expect(await bundle.registry.metrics()).toContain('skytide_sweep_problems_total{problem="invalid_syntax"} 2');
  });
});
