// A confirmed deletion at the function level (issue 8, items 7 and 8): the purge of an account larger than one chunk,
// other accounts' likes racing it, and the restore that recounts its subjects from the rows.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import { PURGE_CHUNK, purgeAccount, restoreAccount } from '../../../functions/index/account-deletion.ts';
import type { StreamEvent } from '../../../functions/events.ts';
import type { Sql, SqlExecutor, SqlValue } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { fakeCid, follow, like, post, uriOf, write } from '../../helpers/events.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

const XAVI = 'did:plc:xavi000000000000000000000';
const YUKI = 'did:plc:yuki000000000000000000000';
/** Yuki's friends: one like per post and account (a second like of the same post by one account is a duplicate). */
const LIKERS = [YUKI, 'did:plc:zora000000000000000000000', 'did:plc:wren000000000000000000000', 'did:plc:vera000000000000000000000'];
const POST = 'app.bsky.feed.post';
const LIKE = 'app.bsky.feed.like';
const now = () => new Date().toISOString();

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('account_deletion');
});
afterAll(async () => db.close());
beforeEach(async () => {
  await db.sql.query(`truncate record, record_tombstone, post_removal, reply_gate, actor, actor_sync, post, feed_item, "like", follow, thread_gate, gate_version, post_agg, profile_agg, account_state, repo_sync, deleted_subject`);
});

const count = async (text: string, params: SqlValue[] = []) => (checkRows(await db.sql.query(text, params), { n: 'number' }))[0]?.n;
const xaviPost = (i: number) => uriOf(XAVI, POST, `p${i}`);

async function indexInBatches(events: StreamEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) await indexBatch(events.slice(i, i + 1000), db.ports);
}

describe('purgeAccount', () => {
  it('removes an account larger than one chunk, and corrects the counts it fed on others', async () => {
    const posts = Math.floor(PURGE_CHUNK * 2.5);
    const events: StreamEvent[] = [write({ did: YUKI, collection: POST, rkey: 'y1', rev: 1, record: post('yuki') })];
    for (let i = 0; i < posts; i++) events.push(write({ did: XAVI, collection: POST, rkey: `p${i}`, rev: 2 + i, record: post(`x${i}`) }));
    events.push(write({ did: XAVI, collection: LIKE, rkey: 'l1', rev: posts + 2, record: like(uriOf(YUKI, POST, 'y1'), fakeCid('y1')) }));
    events.push(write({ did: XAVI, collection: 'app.bsky.graph.follow', rkey: 'f1', rev: posts + 3, record: follow(YUKI) }));
    for (let i = 0; i < 10; i++) events.push(write({ did: YUKI, collection: LIKE, rkey: `yl${i}`, rev: posts + 4 + i, record: like(xaviPost(i), fakeCid('x')) }));
    await indexInBatches(events);
    expect(await count(`select "likeCount"::int as n from post_agg where uri = $1`, [uriOf(YUKI, POST, 'y1')])).toBe(1);

    expect(await purgeAccount(db.sql, XAVI, now(), 'RepoNotFound')).toBe(posts + 2);
    expect(await count(`select count(*)::int as n from record where did = $1`, [XAVI])).toBe(0);
    expect(await count(`select count(*)::int as n from post where creator = $1`, [XAVI])).toBe(0);
    expect(await count(`select count(*)::int as n from feed_item where "originatorDid" = $1`, [XAVI])).toBe(0);
    expect(await count(`select count(*)::int as n from post_agg where split_part(uri, '/', 3) = $1`, [XAVI])).toBe(0);
    expect(await count(`select count(*)::int as n from profile_agg where did = $1`, [XAVI])).toBe(0);
    expect(await count(`select count(*)::int as n from actor where did = $1`, [XAVI])).toBe(0);
    // What its records fed on Yuki is gone: the like of Yuki's post, the follow of Yuki.
    expect(await db.sql.query(`select "likeCount" from post_agg where uri = $1`, [uriOf(YUKI, POST, 'y1')])).toEqual([{ likeCount: 0 }]);
    expect(await db.sql.query(`select "followersCount", "postsCount" from profile_agg where did = $1`, [YUKI])).toEqual([{ followersCount: 0, postsCount: 1 }]);
    // Yuki's likes stay (they are Yuki's records), without counts, and their subjects are remembered.
    expect(await count(`select count(*)::int as n from "like" where creator = $1`, [YUKI])).toBe(10);
    expect(await count(`select count(*)::int as n from deleted_subject where did = $1`, [XAVI])).toBe(10);
  });

  it('is exact against likes of its records indexed at the same time, and a restore recounts them from the rows', async () => {
    const events: StreamEvent[] = [];
    for (let i = 0; i < 20; i++) events.push(write({ did: XAVI, collection: POST, rkey: `p${i}`, rev: 1 + i, record: post(`x${i}`) }));
    await indexInBatches(events);
    // Yuki and three friends keep liking Xavi's posts, each in batches of its own, while the deletion is confirmed.
    const likes = (liker: number) => Array.from({ length: 20 }, (_, i) => write({ did: LIKERS[liker]!, collection: LIKE, rkey: `yl${i}`, rev: 100 + i, record: like(xaviPost(i), fakeCid('x')) }));
    await Promise.all([purgeAccount(db.sql, XAVI, now(), 'RepoNotFound'), ...[0, 1, 2, 3].map((liker) => indexBatch(likes(liker), db.ports))]);
    expect(await count(`select count(*)::int as n from post_agg where split_part(uri, '/', 3) = $1`, [XAVI])).toBe(0);
    expect(await count(`select count(*)::int as n from "like" where creator = any($1::text[])`, [LIKERS])).toBe(80);

    expect(await restoreAccount(db.sql, XAVI, now())).toBe(true);
    expect(await restoreAccount(db.sql, XAVI, now())).toBe(false);
    // Every one of Xavi's posts was liked four times; Xavi's own rows come back with its repo, not with the recount.
    expect(await db.sql.query(`select count(*)::int as n, min("likeCount")::int as lo, max("likeCount")::int as hi from post_agg where split_part(uri, '/', 3) = $1`, [XAVI]))
      .toEqual([{ n: 20, lo: 4, hi: 4 }]);
    await indexBatch([...events.map((e) => ({ ...e, seq: -2 })), write({ did: 'did:plc:tess000000000000000000000', collection: LIKE, rkey: 'late', rev: 500, record: like(xaviPost(0), fakeCid('x')) })], db.ports);
    expect(await db.sql.query(`select "likeCount" from post_agg where uri = $1`, [xaviPost(0)])).toEqual([{ likeCount: 5 }]);
    expect(await db.sql.query(`select "postsCount" from profile_agg where did = $1`, [XAVI])).toEqual([{ postsCount: 20 }]);
  });
  it('a restore recounts the replies to its posts as the AppView counts them: not those that break a thread gate', async () => {
    const ZORA = LIKERS[1]!;
    const root = { uri: uriOf(YUKI, POST, 'r'), cid: fakeCid('r') };
    const reply = { uri: xaviPost(0), cid: fakeCid('x') };
    // Yuki's thread lets nobody reply: Xavi's reply, and Zora's reply to Xavi's, both break the gate. Yuki likes
    // Xavi's reply, so it has a count row when the deletion is confirmed.
    const xavis = write({ did: XAVI, collection: POST, rkey: 'p0', rev: 3, record: post('x', { reply: { root, parent: root } }) });
    await indexBatch([
      write({ did: YUKI, collection: POST, rkey: 'r', rev: 1, record: post('r') }),
      write({ did: YUKI, collection: 'app.bsky.feed.threadgate', rkey: 'r', rev: 2, record: { $type: 'app.bsky.feed.threadgate', post: root.uri, allow: [], createdAt: '2026-01-01T00:00:00.000Z' } }),
      xavis,
      write({ did: ZORA, collection: POST, rkey: 'z', rev: 4, record: post('z', { reply: { root, parent: reply } }) }),
      write({ did: YUKI, collection: LIKE, rkey: 'l', rev: 5, record: like(reply.uri, reply.cid) }),
    ], db.ports);
    const counts = `select "likeCount", "replyCount" from post_agg where uri = $1`;
    expect(await db.sql.query(counts, [reply.uri])).toEqual([{ likeCount: 1, replyCount: 0 }]);

    await purgeAccount(db.sql, XAVI, now(), 'RepoNotFound');
    expect(await restoreAccount(db.sql, XAVI, now())).toBe(true);
    await indexBatch([{ ...xavis, seq: -2 }], db.ports);
    expect(await db.sql.query(counts, [reply.uri])).toEqual([{ likeCount: 1, replyCount: 0 }]);
  });

  // Found in review: the purge judged the replies under the account's roots again, without its gates, but left their
  // reply_gate rows naming the purged gate; once the account was restored and the same gate written again, the gate
  // in force equalled the stale row and the reply, now breaking it, was never judged again.
  it('a restore that writes the same thread gate again judges the other accounts\' replies under it again', async () => {
    const root = { uri: xaviPost(0), cid: fakeCid('root') };
    const gate = write({ did: XAVI, collection: 'app.bsky.feed.threadgate', rkey: 'p0', rev: 2, record: { $type: 'app.bsky.feed.threadgate', post: root.uri, allow: [], createdAt: '2026-01-01T00:00:00.000Z' } });
    const xavis = [write({ did: XAVI, collection: POST, rkey: 'p0', rev: 1, record: post('r'), cid: root.cid }), gate];
    await indexBatch([...xavis, write({ did: YUKI, collection: POST, rkey: 'y', rev: 3, record: post('y', { reply: { root, parent: root } }) })], db.ports);
    const verdict = `select "violatesThreadGate" from post where uri = $1`;
    expect(await db.sql.query(verdict, [uriOf(YUKI, POST, 'y')])).toEqual([{ violatesThreadGate: true }]);
    await purgeAccount(db.sql, XAVI, now(), 'RepoNotFound');
    expect(await db.sql.query(verdict, [uriOf(YUKI, POST, 'y')])).toEqual([{ violatesThreadGate: false }]);
    expect(await restoreAccount(db.sql, XAVI, now())).toBe(true);
    await indexBatch(xavis.map((e) => ({ ...e, seq: -2 })), db.ports);
    expect(await db.sql.query(verdict, [uriOf(YUKI, POST, 'y')])).toEqual([{ violatesThreadGate: true }]);
  });

  it('a count applied while the deletion commits cannot bring an aggregate row back (the index lock orders them)', async () => {
    // Xavi's post, already liked once by Yuki: it has a post_agg row. Then a friend's like races the purge.
    await indexBatch([write({ did: XAVI, collection: POST, rkey: 'p0', rev: 1, record: post('x') }), write({ did: YUKI, collection: LIKE, rkey: 'l0', rev: 2, record: like(xaviPost(0), fakeCid('x')) })], db.ports);
    // The worst interleaving: Yuki's next like reaches its count statement just as the purge has deleted the row but
    // not yet committed. Each side waits for the other's signal, or goes on after a second.
    let purgeDeleted: () => void = () => {};
    const deleted = new Promise<void>((resolve) => (purgeDeleted = resolve));
    const likeWaits = (text: string) => (text.includes('insert into post_agg') ? Promise.race([deleted, sleep(1000)]) : Promise.resolve());
    const purgeWaits = async (text: string) => {
      if (!text.startsWith('delete from actor where')) return;
      purgeDeleted();
      await sleep(300);
    };
    await Promise.all([
      indexBatch([write({ did: LIKERS[1]!, collection: LIKE, rkey: 'l1', rev: 3, record: like(xaviPost(0), fakeCid('x')) })], { ...db.ports, sql: pausing(db.sql, likeWaits) }),
      sleep(100).then(() => purgeAccount(pausing(db.sql, purgeWaits), XAVI, now(), 'RepoNotFound')),
    ]);
    expect(await db.sql.query(`select uri from post_agg where split_part(uri, '/', 3) = $1`, [XAVI])).toEqual([]);
    expect(await restoreAccount(db.sql, XAVI, now())).toBe(true);
    expect(await db.sql.query(`select "likeCount" from post_agg where uri = $1`, [xaviPost(0)])).toEqual([{ likeCount: 2 }]);
  });
});

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The Sql port, with a wait before each statement a transaction runs (to force an interleaving). */
function pausing(inner: Sql, before: (text: string) => Promise<void>): Sql {
  return {
    query: (text, params) => inner.query(text, params),
    transaction: (fn) => inner.transaction((tx) => fn({ query: async (text, params) => { await before(text.trim()); return tx.query(text, params); } } as SqlExecutor)),
  };
}
