// A backfill consumer runs for months on one stop signal (its task's), and each repo it backfills derives the
// download's signal from it. Whatever that derivation leaves on the stop signal stays for the life of the process:
// Node's AbortSignal.any left one composite per repo (about 1.7 KB each, never freed: nodejs/node#55351), so a sweep
// of the network's millions of repos grew the process by gigabytes. After any number of backfills, the stop signal
// must hold nothing for them. A signed repo on a fake PDS and PLC on 127.0.0.1, into a real Postgres schema.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRepos } from '../../../functions/backfill-repo/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog, systemClock } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc, startFakePds, type FakePds } from '../../helpers/fake-pds.ts';
import { buildSyntheticRepo } from '../../helpers/synthetic-repo.ts';
import { signalHolds } from '../../helpers/signal-dependants.ts';

const DIDS = ['did:plc:growthgrowthgrowthgrowta', 'did:plc:growthgrowthgrowthgrowtb'];
/** Backfills made on one stop signal. */
const ROUNDS = 40;
let db: IndexDb;
let plc: FakePlc;
let pds: FakePds;

beforeAll(async () => {
  db = await createIndexDb('backfill_stop_growth');
  plc = await startFakePlc();
  pds = await startFakePds();
  for (const did of DIDS) {
    const repo = await buildSyntheticRepo(did, 5, DIDS);
    pds.set(did, repo.car);
    plc.set(did, repoDoc(did, repo.didKey, pds.url));
  }
});
afterAll(async () => {
  await pds.close();
  await plc.close();
  await db.close();
});

describe('backfill on a long-lived stop signal', () => {
  it(`leaves nothing on the stop signal after ${ROUNDS} rounds of backfills (nor while one is in flight beyond its own)`, async () => {
    const stop = new AbortController();
    const ports = {
      clock: systemClock, log: silentLog, metrics: createMetrics({ hosts: [], streams: [] }).metrics, sql: db.sql, fetch: globalThis.fetch,
      timeoutMs: 60_000, stop: stop.signal, concurrency: 2,
      identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }),
    };
    for (let i = 0; i < ROUNDS; i++) {
      const { outcomes, reports } = await backfillRepos(DIDS.map((did) => ({ did })), ports);
      expect(outcomes).toEqual([{ status: 'ok' }, { status: 'ok' }]);
      expect(reports.map((r) => r.status)).toEqual(['synchronized', 'synchronized']);
    }
    expect(pds.requests.get(DIDS[0]!)).toBe(ROUNDS);
    expect(signalHolds(stop.signal)).toEqual({ listeners: 0, dependants: 0 });
  });
});
