// An updated follow, like or repost keeps the notifications its first version made, as the AppView's does (their
// recordCid and sortAt too; functions/index/kept-notifications.ts), while it names the same account or post, whatever
// the batch boundaries: for each history, every way of cutting it into batches leaves the same notification rows as
// one event per batch. The
// histories the AppView oracle cannot replay (it applies events in order, and has no rev rule): ops older than what
// is stored, a tombstone newer than some of a batch's ops, a subject changed and changed back.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { StreamEvent } from '../../../functions/events.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { del, write } from '../../helpers/events.ts';

const ANN = 'did:plc:annaaaaaaaaaaaaaaaaaaaaa';
const BEN = 'did:plc:benaaaaaaaaaaaaaaaaaaaaa';
const CAT = 'did:plc:cataaaaaaaaaaaaaaaaaaaaa';
const FOLLOW = 'app.bsky.graph.follow';
const LIKE = 'app.bsky.feed.like';
const REPOST = 'app.bsky.feed.repost';
const POST = 'app.bsky.feed.post';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('follow_notifications');
});
afterAll(async () => db?.close());
beforeEach(async () => {
  await db.sql.query(`truncate record, record_tombstone, post_removal, reply_gate, actor, actor_sync, post, feed_item, follow, "like", repost, post_agg, profile_agg, notification, duplicate_record, account_state, repo_sync`);
});

// createdAt a month per rev before the events' times: each version's sortAt is its own.
const follows = (rev: number, subject: string, type: 'create' | 'update' = 'create') =>
  write({ did: ANN, collection: FOLLOW, rkey: 'f1', rev, type, record: { $type: FOLLOW, subject, createdAt: `2025-${String(rev).padStart(2, '0')}-01T00:00:00.000Z` } });
const unfollows = (rev: number) => del({ did: ANN, collection: FOLLOW, rkey: 'f1', rev });

const NOTIFICATIONS = `select did, "recordUri", "recordCid", author, reason, "sortAt" from notification order by "recordUri", reason`;

async function notificationsAfter(batches: StreamEvent[][]): Promise<unknown[]> {
  await db.sql.query(`truncate record, record_tombstone, post_removal, reply_gate, actor, actor_sync, post, feed_item, follow, "like", repost, post_agg, profile_agg, notification, duplicate_record, account_state, repo_sync`);
  for (const batch of batches) await indexBatch(batch, db.ports);
  return db.sql.query(NOTIFICATIONS);
}

/** Every cut of `events` into consecutive batches. */
function cuts(events: StreamEvent[]): StreamEvent[][][] {
  const out: StreamEvent[][][] = [];
  for (let mask = 0; mask < 1 << (events.length - 1); mask++) {
    const batches: StreamEvent[][] = [[events[0]!]];
    for (let i = 1; i < events.length; i++) {
      if (mask & (1 << (i - 1))) batches.push([events[i]!]);
      else batches[batches.length - 1]!.push(events[i]!);
    }
    out.push(batches);
  }
  return out;
}

type Write = StreamEvent & { cid: string; record: { createdAt: string } };
/** The follow notification `source` makes. */
const followed = (source: StreamEvent, did: string) => {
  const w = source as Write;
  return { did, recordUri: `at://${ANN}/${FOLLOW}/f1`, recordCid: w.cid, author: ANN, reason: 'follow', sortAt: w.record.createdAt };
};

async function expectSameWhateverTheCuts(events: StreamEvent[], expected: unknown[]): Promise<void> {
  const oneByOne = await notificationsAfter(events.map((e) => [e]));
  expect(oneByOne).toEqual(expected);
  for (const batches of cuts(events)) {
    expect(await notificationsAfter(batches), `batches of ${batches.map((b) => b.length).join(', ')}`).toEqual(oneByOne);
  }
}

describe('an updated follow keeps its first notification, whatever the batches', () => {
  it('made, then updated twice: the first version notified', async () => {
    const first = follows(1, BEN);
    await expectSameWhateverTheCuts([first, follows(2, BEN, 'update'), follows(3, BEN, 'update')], [followed(first, BEN)]);
  });

  it('updates arriving before the op they follow (stale when they come): the version that was indexed first notified', async () => {
    const second = follows(2, BEN, 'update');
    await expectSameWhateverTheCuts([second, follows(1, BEN), follows(3, BEN, 'update')], [followed(second, BEN)]);
  });

  it('made again after a delete, with an op older than the delete among them: the version made again notified', async () => {
    const again = follows(5, BEN);
    await expectSameWhateverTheCuts([follows(1, BEN), unfollows(4), follows(3, BEN, 'update'), again, follows(6, BEN, 'update')], [followed(again, BEN)]);
  });

  it('a stale delete before an update does not break the run: the first version still notified', async () => {
    const first = follows(5, BEN);
    await expectSameWhateverTheCuts([first, unfollows(4), follows(6, BEN, 'update')], [followed(first, BEN)]);
  });

  it('updated to follow another account and back: the version that follows the same account since notified', async () => {
    const back = follows(3, BEN, 'update');
    await expectSameWhateverTheCuts([follows(1, BEN), follows(2, CAT, 'update'), back, follows(4, BEN, 'update')], [followed(back, BEN)]);
  });
});

// Ben's post; Cat's repost of it, through which Ann's like may come.
const benPost = { uri: `at://${BEN}/${POST}/p1`, cid: 'bafyreiea4drlhqplas6ozjbjmhd2lohxjerknwevkutvochxsvaqviplca' };
const catRepost = { uri: `at://${CAT}/${REPOST}/r1`, cid: 'bafyreiea4drlhqplas6ozjbjmhd2lohxjerknwevkutvochxsvaqviplca' };
const likes = (rev: number, via: boolean, type: 'create' | 'update' = 'create') =>
  write({ did: ANN, collection: LIKE, rkey: 'k1', rev, type, record: { $type: LIKE, subject: benPost, ...(via ? { via: catRepost } : {}), createdAt: `2025-${String(rev).padStart(2, '0')}-01T00:00:00.000Z` } });
const liked = (source: StreamEvent, reasons: ('like' | 'like-via-repost')[]) => {
  const w = source as Write;
  return reasons.map((reason) => ({
    did: reason === 'like' ? BEN : CAT, recordUri: `at://${ANN}/${LIKE}/k1`, recordCid: w.cid, author: ANN, reason, sortAt: w.record.createdAt,
  }));
};

describe('an updated like keeps its first notifications, whatever the batches', () => {
  it('made through a repost, updated without it and with it again: both of the first version stay', async () => {
    const first = likes(1, true);
    await expectSameWhateverTheCuts([first, likes(2, false, 'update'), likes(3, true, 'update')], liked(first, ['like', 'like-via-repost']));
  });

  it('made without a via, updated through a repost (arriving late, before the op it follows): the reposter is not notified', async () => {
    const first = likes(1, false);
    await expectSameWhateverTheCuts([first, likes(3, true, 'update'), likes(2, true, 'update')], liked(first, ['like']));
  });

  it('made again after a delete, with an update older than the delete among them: the version made again notified', async () => {
    const again = likes(5, true);
    await expectSameWhateverTheCuts([likes(1, false), del({ did: ANN, collection: LIKE, rkey: 'k1', rev: 4 }), likes(3, false, 'update'), again, likes(6, false, 'update')],
      liked(again, ['like', 'like-via-repost']));
  });
});
