// A backfilled repo goes through the same lexicon checks as the live stream: a signed repo served over HTTP on
// 127.0.0.1 (a fake PDS and PLC) holding records that fail their lexicons is verified whole and indexed, except those
// records, of which nothing is written; they are counted as invalid.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { parseEventFilter } from '../../../functions/event-filter.ts';
import { silentLog, systemClock } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc, startFakePds, type FakePds } from '../../helpers/fake-pds.ts';
import { buildSyntheticRepo, type SyntheticRepo } from '../../helpers/synthetic-repo.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { tid } from '../../helpers/events.ts';

const CAROL = 'did:plc:carolcarolcarolcarolcaro';
const AT = '2026-01-01T00:00:00.000Z';
const REFUSED = [
  { collection: 'app.bsky.feed.post', rkey: tid(9_000_001), record: { $type: 'app.bsky.feed.post', text: 'x'.repeat(301), createdAt: AT } },
  { collection: 'app.bsky.feed.post', rkey: tid(9_000_002), record: { $type: 'app.bsky.feed.post', text: 'hi', langs: ['not a language'], createdAt: AT } },
  { collection: 'app.bsky.graph.follow', rkey: tid(9_000_003), record: { $type: 'app.bsky.graph.follow', subject: 'carol', createdAt: AT } },
  { collection: 'app.bsky.feed.like', rkey: tid(9_000_004), record: { $type: 'app.bsky.feed.like', subject: { uri: `at://${CAROL}/app.bsky.feed.post/x`, cid: 'not-a-cid' }, createdAt: AT } },
];

let db: IndexDb;
let plc: FakePlc;
let pds: FakePds;
let repo: SyntheticRepo;

beforeAll(async () => {
  db = await createIndexDb('backfill_lexicon');
  plc = await startFakePlc();
  pds = await startFakePds();
  repo = await buildSyntheticRepo(CAROL, 40, [CAROL], REFUSED);
  pds.set(CAROL, repo.car);
  plc.set(CAROL, repoDoc(CAROL, repo.didKey, pds.url));
});
afterAll(async () => {
  await pds?.close();
  await plc?.close();
  await db?.close();
});

describe('backfill and lexicons', () => {
  it('indexes every record of a verified repo but those their lexicons refuse, and counts those', async () => {
    const filter = parseEventFilter({});
    if (!filter.ok) throw new Error(filter.problems.join('; '));
    const metrics = createMetrics({ hosts: [], streams: [] });
    const ports: BackfillPorts = {
      clock: systemClock, log: silentLog, metrics: metrics.metrics, sql: db.sql, fetch: globalThis.fetch, timeoutMs: 10_000,
      identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), filter: filter.filter,
    };
    const result = await backfillRepos([{ did: CAROL }], ports);
    expect(result.outcomes).toEqual([{ status: 'ok' }]);
    const refused = REFUSED.map((r) => `at://${CAROL}/${r.collection}/${r.rkey}`);
    expect(await db.sql.query(`select uri from record where uri = any($1)`, [refused])).toEqual([]);
    const [row] = checkRows(await db.sql.query(`select count(*)::int as n from record where did = $1`, [CAROL]), { n: 'number' });
    expect(row?.n).toBe(40);
    const text = await metrics.registry.metrics();
    const invalid = (family: string) => Number(text.match(new RegExp(`skytide_index_records_total\\{collection="${family}",outcome="invalid"\\} (\\d+)`))?.[1]);
    expect([invalid('post'), invalid('follow'), invalid('like')]).toEqual([2, 1, 1]);
  });
});
