// The index benchmark's baseline meets tables as large as skytide's (tests/bench/appview-indexer.ts, `mirror`): its
// tables get the rows skytide's hold for the same events, and the AppView's own indexer then goes on indexing on them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { TEST_DATABASE_URL } from '../../helpers/services.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { networkCorpus } from '../../bench/network-corpus.ts';
import { createAppViewIndexer, type AppViewIndexer } from '../../bench/appview-indexer.ts';

let db: IndexDb;
let appview: AppViewIndexer;
const sql = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
const corpus = networkCorpus(5);
const first = corpus.next(1_500);

beforeAll(async () => {
  [db, appview] = await Promise.all([createIndexDb('appview_mirror'), createAppViewIndexer()]);
  await indexBatch(first, db.ports);
}, 120_000);
afterAll(async () => {
  await appview?.close();
  await db?.close();
  await sql.end();
});

const count = async (schema: string, table: string, where = 'true') =>
  Number((await sql.unsafe(`select count(*)::int as n from "${schema}"."${table}" where ${where}`))[0]?.['n']);

describe("the AppView baseline on skytide's rows", () => {
  it('holds the same rows, and indexes the next events on them', async () => {
    await appview.mirror(db.schema);
    const schema = appview.schema;
    // The corpus deletes records: their revs are in record_tombstone, which the AppView has no table for.
    expect(await count(db.schema, 'record_tombstone')).toBeGreaterThan(0);
    for (const table of ['record', 'post', 'like', 'follow', 'repost', 'post_agg', 'profile_agg', 'actor_sync']) {
      expect(await count(schema, table), table).toBe(await count(db.schema, table));
    }
    // The same events' notifications, each with an id of the AppView's own sequence.
    expect(await count(schema, 'notification')).toBe(await count(db.schema, 'notification'));
    // Its indexer goes on from there (replies to mirrored posts, likes of them, deletes of mirrored records).
    const next = corpus.next(300);
    await appview.index(next);
    expect(await count(schema, 'record')).toBeGreaterThan(await count(db.schema, 'record'));
  }, 120_000);
});
