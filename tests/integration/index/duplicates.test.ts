// One row per subject, as the AppView keeps it (functions/index/duplicates.ts): a repo's second like of a post, second
// follow of an account, ... is a duplicate, kept in duplicate_record, and counts, lists and notifies nothing; the
// smallest URI holds the subject whatever the order of arrival, and when it goes the next one takes its place.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import { purgeAccount } from '../../../functions/index/account-deletion.ts';
import type { StreamEvent } from '../../../functions/events.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { beforeMigration } from '../../helpers/migration-step.ts';
import { block, del, fakeCid, follow, like, post, repost, uriOf, write } from '../../helpers/events.ts';

const ANN = 'did:plc:annaaaaaaaaaaaaaaaaaaaaa';
const BEN = 'did:plc:benaaaaaaaaaaaaaaaaaaaaa';
const POST = 'app.bsky.feed.post';
const LIKE = 'app.bsky.feed.like';
const REPOST = 'app.bsky.feed.repost';
const FOLLOW = 'app.bsky.graph.follow';
const BLOCK = 'app.bsky.graph.block';
const annPost = uriOf(ANN, POST, 'p1');

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('duplicates');
});
afterAll(async () => db?.close());
beforeEach(async () => {
  await db.sql.query(`truncate record, record_tombstone, post_removal, reply_gate, actor, actor_sync, post, feed_item, "like", repost, follow, actor_block,
    post_agg, profile_agg, notification, duplicate_record, account_state, repo_sync, deleted_subject`);
  await indexBatch([write({ did: ANN, collection: POST, rkey: 'p1', rev: 1, record: post('hello') })], db.ports);
});

const index = async (...batches: StreamEvent[][]) => {
  for (const batch of batches) await indexBatch(batch, db.ports);
};
const q = (text: string, params: string[] = []) => db.sql.query(text, params);
const likeOf = (rkey: string, rev: number) => write({ did: BEN, collection: LIKE, rkey, rev, record: like(annPost, fakeCid('p1')) });

describe('one row per subject', () => {
  for (const [name, split] of [['in one batch', false], ['one event per batch', true]] as const) {
    it(`a second like of the same post is a duplicate; the smaller URI holds it, whichever came first (${name})`, async () => {
      const events = [likeOf('3lzz', 2), likeOf('3laa', 3)];
      await index(...(split ? events.map((e) => [e]) : [events]));
      expect(await q(`select uri from "like"`)).toEqual([{ uri: uriOf(BEN, LIKE, '3laa') }]);
      expect(await q(`select "likeCount" from post_agg where uri = $1`, [annPost])).toEqual([{ likeCount: 1 }]);
      expect(await q(`select "recordUri", reason from notification`)).toEqual([{ recordUri: uriOf(BEN, LIKE, '3laa'), reason: 'like' }]);
      expect(await q(`select uri, "duplicateOf" from duplicate_record`)).toEqual([{ uri: uriOf(BEN, LIKE, '3lzz'), duplicateOf: uriOf(BEN, LIKE, '3laa') }]);
      // Both records are still the repo's: `record` has them.
      expect(await q(`select count(*)::int as n from record where did = $1`, [BEN])).toEqual([{ n: 2 }]);
    });
  }

  it('deleting the holder hands the subject to its duplicate, with its count and notification', async () => {
    await index([likeOf('3laa', 2)], [likeOf('3lbb', 3)], [likeOf('3lcc', 4)]);
    await index([del({ did: BEN, collection: LIKE, rkey: '3laa', rev: 5 })]);
    expect(await q(`select uri from "like"`)).toEqual([{ uri: uriOf(BEN, LIKE, '3lbb') }]);
    expect(await q(`select "likeCount" from post_agg where uri = $1`, [annPost])).toEqual([{ likeCount: 1 }]);
    expect(await q(`select "recordUri" from notification`)).toEqual([{ recordUri: uriOf(BEN, LIKE, '3lbb') }]);
    expect(await q(`select uri, "duplicateOf" from duplicate_record`)).toEqual([{ uri: uriOf(BEN, LIKE, '3lcc'), duplicateOf: uriOf(BEN, LIKE, '3lbb') }]);
    // And the last one, once both others are gone.
    await index([del({ did: BEN, collection: LIKE, rkey: '3lbb', rev: 6 })]);
    expect(await q(`select uri from "like"`)).toEqual([{ uri: uriOf(BEN, LIKE, '3lcc') }]);
    expect(await q(`select count(*)::int as n from duplicate_record`)).toEqual([{ n: 0 }]);
    await index([del({ did: BEN, collection: LIKE, rkey: '3lcc', rev: 7 })]);
    expect(await q(`select count(*)::int as n from "like"`)).toEqual([{ n: 0 }]);
    expect(await q(`select "likeCount" from post_agg where uri = $1`, [annPost])).toEqual([{ likeCount: 0 }]);
  });

  it('reposts keep one feed item, follows one count, blocks one row', async () => {
    await index(
      [write({ did: BEN, collection: REPOST, rkey: '3lbb', rev: 2, record: repost(annPost, fakeCid('p1')) })],
      [write({ did: BEN, collection: REPOST, rkey: '3laa', rev: 3, record: repost(annPost, fakeCid('p1')) }),
        write({ did: BEN, collection: FOLLOW, rkey: '3laa', rev: 3, record: follow(ANN) }),
        write({ did: BEN, collection: FOLLOW, rkey: '3lbb', rev: 3, record: follow(ANN) }),
        write({ did: BEN, collection: BLOCK, rkey: '3laa', rev: 3, record: block(ANN) })],
      [write({ did: BEN, collection: BLOCK, rkey: '3lbb', rev: 4, record: block(ANN) })],
    );
    expect(await q(`select uri, type from feed_item where type = 'repost'`)).toEqual([{ uri: uriOf(BEN, REPOST, '3laa'), type: 'repost' }]);
    expect(await q(`select "repostCount" from post_agg where uri = $1`, [annPost])).toEqual([{ repostCount: 1 }]);
    expect(await q(`select uri from follow`)).toEqual([{ uri: uriOf(BEN, FOLLOW, '3laa') }]);
    expect(await q(`select "followersCount" from profile_agg where did = $1`, [ANN])).toEqual([{ followersCount: 1 }]);
    expect(await q(`select "followsCount" from profile_agg where did = $1`, [BEN])).toEqual([{ followsCount: 1 }]);
    expect(await q(`select uri from actor_block`)).toEqual([{ uri: uriOf(BEN, BLOCK, '3laa') }]);
    expect(await q(`select reason, count(*)::int as n from notification group by reason order by reason`)).toEqual([{ reason: 'follow', n: 1 }, { reason: 'repost', n: 1 }]);
    expect(await q(`select count(*)::int as n from duplicate_record`)).toEqual([{ n: 3 }]);
  });

  it('an account purge takes its duplicates too', async () => {
    await index([likeOf('3laa', 2), likeOf('3lbb', 3)]);
    await purgeAccount(db.sql, BEN, new Date().toISOString(), 'RepoNotFound');
    expect(await q(`select count(*)::int as n from duplicate_record`)).toEqual([{ n: 0 }]);
    expect(await q(`select count(*)::int as n from "like"`)).toEqual([{ n: 0 }]);
  });

  it('migration 0009 settles rows indexed before it: one per subject, counts and notifications with them', async () => {
    await beforeMigration('0009_unique_subjects.sql', async (sql, migrate) => {
      const l1 = uriOf(BEN, LIKE, '3laa');
      const l2 = uriOf(BEN, LIKE, '3lbb');
      const f1 = uriOf(BEN, FOLLOW, '3laa');
      const f2 = uriOf(BEN, FOLLOW, '3lbb');
      const t = '2026-01-01T00:00:00.000Z';
      await sql.query(`insert into "like" (uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt") values
        ($1, 'c1', $3, $4, 'cp', $5, $5), ($2, 'c2', $3, $4, 'cp', $5, $5)`, [l2, l1, BEN, annPost, t]);
      await sql.query(`insert into follow (uri, cid, creator, "subjectDid", "createdAt", "indexedAt") values
        ($1, 'c3', $3, $4, $5, $5), ($2, 'c4', $3, $4, $5, $5)`, [f1, f2, BEN, ANN, t]);
      const r1 = uriOf(BEN, REPOST, '3laa');
      const r2 = uriOf(BEN, REPOST, '3lbb');
      const b1 = uriOf(BEN, BLOCK, '3laa');
      const b2 = uriOf(BEN, BLOCK, '3lbb');
      await sql.query(`insert into repost (uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt") values
        ($1, 'c5', $3, $4, 'cp', $5, $5), ($2, 'c6', $3, $4, 'cp', $5, $5)`, [r2, r1, BEN, annPost, t]);
      await sql.query(`insert into feed_item (uri, cid, type, "postUri", "originatorDid", "sortAt") values
        ($1, 'c5', 'repost', $3, $4, $5), ($2, 'c6', 'repost', $3, $4, $5)`, [r2, r1, annPost, BEN, t]);
      await sql.query(`insert into actor_block (uri, cid, creator, "subjectDid", "createdAt", "indexedAt") values
        ($1, 'c7', $3, $4, $5, $5), ($2, 'c8', $3, $4, $5, $5)`, [b2, b1, BEN, ANN, t]);
      await sql.query(`insert into post_agg (uri, "likeCount", "repostCount") values ($1, 2, 2)`, [annPost]);
      await sql.query(`insert into profile_agg (did, "followersCount", "followsCount") values ($1, 2, 0), ($2, 0, 2)`, [ANN, BEN]);
      await sql.query(`insert into notification (did, "recordUri", "recordCid", author, reason, "reasonSubject", "sortAt") values
        ($1, $2, 'c1', $4, 'like', $5, $6), ($1, $3, 'c2', $4, 'like', $5, $6)`, [ANN, l1, l2, BEN, annPost, t]);
      expect(await migrate()).toEqual(['0009_unique_subjects.sql']);
      expect(await sql.query(`select uri from "like"`)).toEqual([{ uri: l1 }]);
      expect(await sql.query(`select uri from follow`)).toEqual([{ uri: f1 }]);
      expect(await sql.query(`select "likeCount", "repostCount" from post_agg`)).toEqual([{ likeCount: 1, repostCount: 1 }]);
      expect(await sql.query(`select uri from repost`)).toEqual([{ uri: r1 }]);
      expect(await sql.query(`select uri from feed_item`)).toEqual([{ uri: r1 }]);
      expect(await sql.query(`select uri from actor_block`)).toEqual([{ uri: b1 }]);
      expect(await sql.query(`select did, "followersCount", "followsCount" from profile_agg order by did`))
        .toEqual([{ did: ANN, followersCount: 1, followsCount: 0 }, { did: BEN, followersCount: 0, followsCount: 1 }]);
      expect(await sql.query(`select "recordUri" from notification`)).toEqual([{ recordUri: l1 }]);
      expect(await sql.query(`select uri, "duplicateOf" from duplicate_record order by uri`))
        .toEqual([{ uri: l2, duplicateOf: l1 }, { uri: r2, duplicateOf: r1 }, { uri: b2, duplicateOf: b1 }, { uri: f2, duplicateOf: f1 }]);
      // The constraint holds from now on.
      await expect(sql.query(`insert into "like" (uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt") values ('at://x/y/z', 'c', $1, $2, 'cp', $3, $3)`, [BEN, annPost, t]))
        .rejects.toThrow(/like_unique_subject/);
    });
  });
});
