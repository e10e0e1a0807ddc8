// A listRepos page the relay fails as an outage would (a 500, a deadline) while it answers every other page, against a
// listRepos server on 127.0.0.1 and the real Redis and Postgres: the failure is the page's own (the relay answers
// listRepos from the start meanwhile), so it counts toward SWEEP_PAGE_ATTEMPTS and the page is skipped whole, as a 4xx
// page is, and the sweep ends; waited out instead, it held the host's lease forever. A relay that fails every request,
// that one included, is down: waited out, nothing skipped, and so is a 429 (the relay asking us to slow down).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runSweep, type SweepOptions } from '../../../long-runners/sweeper/sweep.ts';
import { createKeySpace, sweepSkippedKey, SWEEP_DONE, type KeySpace } from '../../../adapters/redis/keys.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';

const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:failing${String.fromCharCode(97 + i).padStart(17, 'a')}`);
/**
 * How the relay answers a request instead of its page (`cursor` null: from the start, as the probe asks), given how
 * often that cursor was asked; undefined: the page. 'hang': never answers.
 */
let answer: (cursor: string | null, asked: number) => { status: number; headers?: Record<string, string> } | 'hang' | undefined = () => undefined;
let opaque = false;
let asked = new Map<string | null, number>();
let server: http.Server;
let host: string;
let redis: Redis;
let cleanup: () => Promise<void>;
let db: IndexDb;
let keys: KeySpace;

beforeAll(async () => {
  ({ redis, cleanup } = await createTestRedis('sweep_failing_page'));
  db = await createIndexDb('sweep_failing_page');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const limit = Number(url.searchParams.get('limit'));
    const cursor = url.searchParams.get('cursor');
    const n = (asked.get(cursor) ?? 0) + 1;
    asked.set(cursor, n);
    const instead = answer(cursor, n);
    if (instead === 'hang') return;
    if (instead !== undefined) return void res.writeHead(instead.status, { 'content-type': 'application/json', ...instead.headers }).end(JSON.stringify({ error: 'DatabaseError' }));
    const start = Number((cursor ?? '0').replace('o', ''));
    const repos = DIDS.slice(start, start + limit).map((did) => ({ did, head: 'bafy', rev: '3laaaaaaaaaaa', active: true }));
    const next = start + limit < DIDS.length ? `${opaque ? 'o' : ''}${start + limit}` : undefined;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(next === undefined ? { repos } : { repos, cursor: next }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await cleanup();
  await db.close();
});
beforeEach(() => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  answer = () => undefined;
  opaque = false;
  asked = new Map();
});

const queued = async () => (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => JSON.parse(f[1]!).did as string);
const skipped = async () => (await redis.smembers(sweepSkippedKey(keys, host))).sort();
/** A sweep in pages of 2, two attempts a page, fast retries; stopped after 10 s (a sweep that waits forever). */
async function sweep(overrides: Partial<SweepOptions> = {}) {
  const bundle = createMetrics({ hosts: [], streams: [] });
  const progress = await runSweep({
    redis, keys, sql: db.sql, fetch: globalThis.fetch, host, highWaterMark: 1000, pageSize: 2, pageAttempts: 2, retryDelayMs: 5,
    outageMaxDelayMs: 50, log: silentLog, metrics: bundle.metrics, signal: AbortSignal.timeout(10_000), ...overrides,
  });
  const unavailable = Number(/skytide_sweep_problems_total\{problem="relay_unavailable"\} (\d+)/.exec(await bundle.registry.metrics())?.[1]);
  return { progress, unavailable };
}

describe('a listRepos page the relay fails every time while it answers the others', () => {
  it('answering 500: counted toward its attempts, skipped whole and recorded as a 4xx page is, and the sweep ends', async () => {
    answer = (cursor) => (cursor === '2' ? { status: 500 } : undefined);
    const { progress, unavailable } = await sweep();
    expect(progress).toMatchObject({ done: true, pages: 2, listed: 4, queued: 4, skippedPages: 1, retriedRanges: 0, skippedRanges: 1 });
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5]]);
    expect(await skipped()).toEqual(['2-4']);
    expect(await redis.get(keys.cursor('repo_backfill', host))).toBe(SWEEP_DONE);
    // Two attempts in the listing, two more in the retry of the range once it ended; no wait for a relay that is up.
    expect(asked.get('2')).toBe(4);
    expect(unavailable).toBe(0);
  });

  it('past its deadline: counted and skipped the same way', async () => {
    answer = (cursor) => (cursor === '2' ? 'hang' : undefined);
    const { progress, unavailable } = await sweep({ pageTimeoutMs: 300 });
    expect(progress).toMatchObject({ done: true, queued: 4, skippedPages: 1, skippedRanges: 1 });
    expect(await queued()).toEqual([DIDS[0], DIDS[1], DIDS[4], DIDS[5]]);
    expect(await skipped()).toEqual(['2-4']);
    expect(unavailable).toBe(0);
  });

  it('at an opaque cursor: the sweep stops with fetch_failed where the next one resumes, rather than wait forever', async () => {
    opaque = true;
    answer = (cursor) => (cursor === 'o2' ? { status: 500 } : undefined);
    await expect(sweep()).rejects.toMatchObject({ reason: 'fetch_failed' });
    expect(await redis.get(keys.cursor('repo_backfill', host))).toBe('o2');
    expect(asked.get('o2')).toBe(2);
  });
});

describe('a relay that is down', () => {
  it('answering 503 to every request, the one asking from the start included, is waited out: no page skipped, every DID queued once it is back', async () => {
    // Down from the first ask of page 2 for a second: with two attempts and 5 ms retries every page would have been
    // skipped by then had the failures counted.
    let downUntil: number | undefined;
    answer = (cursor) => {
      if (cursor === '2' && downUntil === undefined) downUntil = Date.now() + 1000;
      return downUntil !== undefined && Date.now() < downUntil ? { status: 503 } : undefined;
    };
    const { progress, unavailable } = await sweep();
    expect(progress).toMatchObject({ done: true, queued: 6, skippedPages: 0, skippedRanges: 0 });
    expect(await queued()).toEqual(DIDS);
    expect(await skipped()).toEqual([]);
    expect(unavailable).toBeGreaterThanOrEqual(3);
    // Each wait asked the relay from the start too, and was refused: the page was never held to blame.
    expect(asked.get(null)! - 1).toBeGreaterThanOrEqual(3);
  });

  it('answering one page 429 (slow down) is waited out, Retry-After honoured, without asking whether the relay is up', async () => {
    answer = (cursor, n) => (cursor === '2' && n <= 5 ? { status: 429, headers: { 'retry-after': '0' } } : undefined);
    const { progress, unavailable } = await sweep();
    expect(progress).toMatchObject({ done: true, queued: 6, skippedPages: 0 });
    expect(await queued()).toEqual(DIDS);
    expect(unavailable).toBe(5);
    // Only the first page asked from the start: no probe.
    expect(asked.get(null)).toBe(1);
  });
});
