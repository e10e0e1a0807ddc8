// The filters in backfill-repo, with signed repos served over HTTP on 127.0.0.1 (a fake PDS and PLC) into a real
// Postgres schema: a kept DID is verified whole and only its kept collections are indexed; a dropped DID is never
// fetched nor marked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { parseEventFilter, type EventFilter, type EventFilterInput } from '../../../functions/event-filter.ts';
import { silentLog, systemClock } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc, startFakePds, type FakePds } from '../../helpers/fake-pds.ts';
import { buildSyntheticRepo, type SyntheticRepo } from '../../helpers/synthetic-repo.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

const ALICE = 'did:plc:alicealicealicealicealic';
const BOB = 'did:plc:bobbobbobbobbobbobbobbob';
let db: IndexDb;
let plc: FakePlc;
let pds: FakePds;
const repos = new Map<string, SyntheticRepo>();

beforeAll(async () => {
  db = await createIndexDb('backfill_filters');
  plc = await startFakePlc();
  pds = await startFakePds();
  for (const did of [ALICE, BOB]) {
    const repo = await buildSyntheticRepo(did, 120, [ALICE, BOB]);
    repos.set(did, repo);
    pds.set(did, repo.car);
    plc.set(did, repoDoc(did, repo.didKey, pds.url));
  }
});
afterAll(async () => {
  await pds.close();
  await plc.close();
  await db.close();
});

function filterOf(input: EventFilterInput): EventFilter {
  const parsed = parseEventFilter(input);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.filter;
}

function ports(filter: EventFilter, metrics = createMetrics({ hosts: [], streams: [] })): BackfillPorts {
  return {
    clock: systemClock, log: silentLog, metrics: metrics.metrics, sql: db.sql, fetch: globalThis.fetch, timeoutMs: 10_000,
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), filter,
  };
}

const collections = async (did: string) =>
  Object.fromEntries((checkRows(await db.sql.query(
    `select split_part(uri, '/', 4) as collection, count(*)::int as n from record where did = $1 group by 1 order by 1`, [did],
  ), { collection: 'string', n: 'number' })).map((r) => [r.collection, r.n]));

describe('backfill filters', () => {
  it('a feed generator: the repo is verified whole, only posts and likes are indexed; a dropped DID is never fetched', async () => {
    const metrics = createMetrics({ hosts: [], streams: [] });
    const { outcomes, reports } = await backfillRepos([{ did: ALICE }, { did: BOB }], ports(filterOf({ collections: ['app.bsky.feed.post', 'app.bsky.feed.like'], excludeDids: [BOB] }), metrics));
    expect(outcomes).toEqual([{ status: 'ok' }, { status: 'ok' }]);
    const alice = repos.get(ALICE)!.counts;
    expect(await collections(ALICE)).toEqual({ 'app.bsky.feed.like': alice['app.bsky.feed.like'], 'app.bsky.feed.post': alice['app.bsky.feed.post'] });
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: alice['app.bsky.feed.like']! + alice['app.bsky.feed.post']!, filtered: 120 - alice['app.bsky.feed.like']! - alice['app.bsky.feed.post']! });
    expect(await db.sql.query(`select count(*)::int as n from post`)).toEqual([{ n: alice['app.bsky.feed.post'] }]);
    expect(await db.sql.query(`select count(*)::int as n from follow`)).toEqual([{ n: 0 }]);
    expect(reports[1]).toMatchObject({ did: BOB, status: 'filtered' });
    expect(pds.requests.get(BOB)).toBeUndefined();
    expect(await db.sql.query(`select did from repo_sync order by did`)).toEqual([{ did: ALICE }]);
    const text = await metrics.registry.metrics();
    expect(text).toContain('skytide_filtered_total{where="backfill",why="did"} 1');
    expect(text).toContain(`skytide_filtered_total{where="backfill",why="collection"} ${120 - alice['app.bsky.feed.like']! - alice['app.bsky.feed.post']!}`);
  });

  it('widening the filter later indexes the rest, and narrowing it leaves rows of dropped collections alone', async () => {
    await backfillRepos([{ did: ALICE }], ports(filterOf({ collections: ['app.bsky.*'] })));
    const all = repos.get(ALICE)!.counts;
    expect(await collections(ALICE)).toEqual(Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1))));
    // Back to follows only: nothing is tombstoned for being outside the filter.
    const { reports } = await backfillRepos([{ did: ALICE }], ports(filterOf({ collections: ['app.bsky.graph.follow'] })));
    expect(reports[0]).toMatchObject({ status: 'synchronized', deleted: 0, unchanged: all['app.bsky.graph.follow'] });
    expect(await collections(ALICE)).toEqual(Object.fromEntries(Object.entries(all).sort(([a], [b]) => (a < b ? -1 : 1))));
  });

  it('a community AppView: its members only', async () => {
    const { reports } = await backfillRepos([{ did: BOB }], ports(filterOf({ dids: [ALICE] })));
    expect(reports[0]).toMatchObject({ status: 'filtered' });
    expect(await collections(BOB)).toEqual({});
    const kept = await backfillRepos([{ did: BOB }], ports(filterOf({ dids: [ALICE, BOB] })));
    expect(kept.reports[0]).toMatchObject({ status: 'synchronized', created: 120 });
  });

  it('a repo listed at the rev it was synchronized at under a narrower filter is fetched again once the filter widened', async () => {
    // After the community test, which indexed Bob whole: the likes are there, and a fetch finds them unchanged.
    const narrow = await backfillRepos([{ did: BOB }], ports(filterOf({ collections: ['app.bsky.feed.post'] })));
    const rev = narrow.reports[0]!.rev!;
    expect(await db.sql.query('select collections from repo_sync where did = $1', [BOB])).toEqual([{ collections: 'app.bsky.feed.post' }]);
    // Listed again at that rev under the same filter: held, nothing fetched.
    const fetches = pds.requests.get(BOB);
    const same = await backfillRepos([{ did: BOB, rev }], ports(filterOf({ collections: ['app.bsky.feed.post'] })));
    expect(same.reports[0]).toMatchObject({ alreadySynchronized: true });
    expect(pds.requests.get(BOB)).toBe(fetches);
    // Widened: the rev held says nothing of the likes left out; fetched (here they are found unchanged).
    const wide = await backfillRepos([{ did: BOB, rev }], ports(filterOf({ collections: ['app.bsky.feed.post', 'app.bsky.feed.like'] })));
    const bob = repos.get(BOB)!.counts;
    expect(wide.reports[0]).toMatchObject({ status: 'synchronized', unchanged: bob['app.bsky.feed.like']! + bob['app.bsky.feed.post']! });
    expect(wide.reports[0]).not.toHaveProperty('alreadySynchronized');
    expect(pds.requests.get(BOB)).toBe(fetches! + 1);
    expect(await db.sql.query('select collections from repo_sync where did = $1', [BOB])).toEqual([{ collections: 'app.bsky.feed.like,app.bsky.feed.post' }]);
  });
});
