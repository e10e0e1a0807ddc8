// The Worker's listRepos sweep (adapters/runtime/worker-sweep.ts) against a listRepos server on 127.0.0.1 and a real
// Postgres: DIDs the filters drop are listed but never sent to the backfill queue, as with the Redis sweeper.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepTick } from '../../../adapters/runtime/worker-sweep.ts';
import { parseEventFilter } from '../../../functions/event-filter.ts';
import type { RepoBackfillEntry } from '../../../functions/events.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

const DIDS = Array.from({ length: 5 }, (_, i) => `did:plc:wsweep${String.fromCharCode(97 + i).padStart(18, 'a')}`);
let server: http.Server;
let host: string;
let db: IndexDb;

beforeAll(async () => {
  db = await createIndexDb('worker_sweep_filter');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const start = Number(url.searchParams.get('cursor') ?? '0');
    const limit = Number(url.searchParams.get('limit'));
    const repos = DIDS.slice(start, start + limit).map((did) => ({ did, head: 'bafy', rev: '3l3qo2vuowo2b', active: true }));
    const next = start + limit < DIDS.length ? String(start + limit) : undefined;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(next === undefined ? { repos } : { repos, cursor: next }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  host = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await db.close();
});

describe('worker sweep filters', () => {
  it('sends only the DIDs the filters keep', async () => {
    const parsed = parseEventFilter({ excludeDids: [DIDS[1]!, DIDS[3]!] });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const sent: RepoBackfillEntry[] = [];
    const ticks = await sweepTick({
      sql: db.sql, fetch: globalThis.fetch, queue: { send: async (bodies) => void sent.push(...bodies) }, hosts: [host],
      pageSize: 2, pageTimeoutMs: 5000, pagesPerTick: 10, pageAttempts: 3, everyMs: 60_000, leaseMs: 60_000, holder: 'test', now: Date.now,
      log: silentLog, metrics: noMetrics, filter: parsed.filter,
    });
    expect(sent.map((e) => e.did)).toEqual([DIDS[0], DIDS[2], DIDS[4]]);
    expect(ticks[0]).toMatchObject({ host, listed: 5, queued: 3 });
  });
});
