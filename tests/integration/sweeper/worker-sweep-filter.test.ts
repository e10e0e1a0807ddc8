// The Worker's listRepos sweep (adapters/runtime/worker-sweep.ts) against a listRepos server on 127.0.0.1 and a real
// Postgres: DIDs the filters drop are listed but never sent to the backfill queue, as with the Redis sweeper.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sweepTick } from '../../../adapters/runtime/worker-sweep.ts';
import { parseEventFilter } from '../../../functions/event-filter.ts';
import type { RepoBackfillEntry } from '../../../functions/events.ts';
import { silentLog, type Metrics } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakeListRepos, type FakeListRepos } from '../../helpers/fake-list-repos.ts';

const DIDS = Array.from({ length: 5 }, (_, i) => `did:plc:wsweep${String.fromCharCode(97 + i).padStart(18, 'a')}`);
let relay: FakeListRepos;
let host: string;
let db: IndexDb;

beforeAll(async () => {
  db = await createIndexDb('worker_sweep_filter');
  relay = await startFakeListRepos({ dids: DIDS, entry: (did) => ({ did, head: 'bafy', rev: '3l3qo2vuowo2b' }) });
  host = relay.url;
});
afterAll(async () => {
  await relay.close();
  await db.close();
});

describe('worker sweep filters', () => {
  it('sends only the DIDs the filters keep, and counts those it drops', async () => {
    const counted: string[] = [];
    const metrics: Metrics = { inc: (name, labels) => void counted.push(`${name} ${JSON.stringify(labels)}`) };
    const parsed = parseEventFilter({ excludeDids: [DIDS[1]!, DIDS[3]!] });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const sent: RepoBackfillEntry[] = [];
    const ticks = await sweepTick({
      sql: db.sql, fetch: globalThis.fetch, queue: { send: async (bodies) => void sent.push(...bodies) }, hosts: [host],
      pageSize: 2, pageTimeoutMs: 5000, pagesPerTick: 10, pageAttempts: 3, everyMs: 60_000, leaseMs: 60_000, holder: 'test', now: Date.now,
      log: silentLog, metrics, filter: parsed.filter,
    });
    expect(sent.map((e) => e.did)).toEqual([DIDS[0], DIDS[2], DIDS[4]]);
    expect(ticks[0]).toMatchObject({ host, listed: 5, queued: 3 });
    expect(counted.filter((c) => c.startsWith('skytide_filtered_total'))).toEqual(Array(2).fill('skytide_filtered_total {"where":"sweep","why":"did"}'));
  });
});
