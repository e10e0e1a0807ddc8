// A relay whose numeric cursors are past 2^53 (a uint64 or a timestamp in nanoseconds), against a listRepos server on
// 127.0.0.1 and the real Redis and Postgres: a page there that keeps failing in itself is skipped, its range recorded
// with the cursor exactly, and retried from that very cursor once the listing ended. With Number arithmetic the range
// was recorded rounded, its parse refused it, and the retry dropped it as no range: its repos were never listed
// (review: huge-cursor.ts).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SWEEP_DONE, sweepSkippedKey } from '../../../adapters/redis/keys.ts';
import { useSweepSetup } from '../../helpers/fake-list-repos.ts';

const HUGE = '9007199254740993'; // 2^53 + 1
const AFTER = '9007199254741993'; // HUGE + the page size, 1000
const DIDS = Array.from({ length: 3 }, (_, i) => `did:plc:hugecursor${String.fromCharCode(97 + i).padStart(14, 'a')}`);
const s = useSweepSetup('sweep_huge_cursor', { dids: [] });

/** Requests per cursor asked (null: from the start). */
const asked = new Map<string | null, number>();
/** How many times the page at HUGE fails (400) before it comes. */
let failuresAtHuge = 0;
// The start lists DIDS[0] and sends the sweep to HUGE; HUGE lists DIDS[1] and AFTER lists DIDS[2], the listing's end.
const relay = http.createServer((req, res) => {
  const params = new URL(req.url ?? '/', 'http://x').searchParams;
  const cursor = params.get('cursor');
  const n = (asked.get(cursor) ?? 0) + 1;
  asked.set(cursor, n);
  const page = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  if (cursor === null) return page({ repos: [{ did: DIDS[0], rev: '3laaaaaaaaaaa' }], cursor: HUGE });
  if (cursor === HUGE && n > failuresAtHuge) return page({ repos: [{ did: DIDS[1], rev: '3laaaaaaaaaaa' }], cursor: AFTER });
  if (cursor === AFTER) return page({ repos: [{ did: DIDS[2], rev: '3laaaaaaaaaaa' }] });
  res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'InvalidRequest' }));
});
let host: string;
beforeAll(async () => {
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  host = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => {
  relay.closeAllConnections();
  relay.close(() => resolve());
}));

describe('a listRepos cursor past 2^53', () => {
  it('skipped, is recorded exactly and retried from that cursor once the listing ended: its page queued, the range cleared', async () => {
    asked.clear();
    failuresAtHuge = 2;
    const progress = await s.sweep({ host, pageSize: 1000, pageAttempts: 2, signal: AbortSignal.timeout(10_000) });
    expect(progress).toMatchObject({ done: true, skippedPages: 1, retriedRanges: 1, skippedRanges: 0, queued: 3 });
    expect(asked.get(HUGE)).toBe(3);
    expect((await s.queued()).sort()).toEqual([...DIDS].sort());
    expect(await s.redis.smembers(sweepSkippedKey(s.keys, host))).toEqual([]);
    expect(await s.redis.get(s.keys.cursor('repo_backfill', host))).toBe(SWEEP_DONE);
  });

  it('skipped and failing again, stays recorded exactly for the next pass', async () => {
    asked.clear();
    failuresAtHuge = 1_000;
    const progress = await s.sweep({ host, pageSize: 1000, pageAttempts: 2, signal: AbortSignal.timeout(10_000) });
    expect(progress).toMatchObject({ done: true, skippedPages: 1, retriedRanges: 0, skippedRanges: 1 });
    expect(await s.redis.smembers(sweepSkippedKey(s.keys, host))).toEqual([`${HUGE}-${AFTER}`]);
    expect(asked.get(HUGE)).toBe(4);
  });
});
