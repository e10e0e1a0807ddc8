// Batches in flight at once (INDEXER_CONCURRENCY loops, shards, or the HTTP function called twice) end as if indexed
// one after another.
// - Two that write the same record: the second batch's upsert waits for the row the first wrote until the first
//   commits. Its removal of the record's old typed rows once ran in the upsert's own statement, whose snapshot
//   predates that wait: it did not see the like the first batch had committed, and left it behind the delete, with
//   its notification and its count.
// - Two that hold a reply and its parent (different repos): each transaction missed the other's uncommitted post, and
//   the reply stayed an invalid reply root without its reply notification, until the posts were judged again after
//   commit (functions/index/cross-repo.ts). That re-judgement runs again when its batch is retried after it failed.
// Each test has a database of its own: the index's advisory locks are per database, and a transaction held open here
// would stall the other test files' batches on the shared one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { Sql, SqlExecutor } from '../../../functions/ports.ts';
import { createIndexDatabase, type IndexDb } from '../../helpers/index-db.ts';
import { account, del, like, post, tid, uriOf, write } from '../../helpers/events.ts';
import { dumpIndex } from '../../helpers/index-db.ts';
import { didShard } from '../../../adapters/redis/keys.ts';
import { networkCorpus } from '../../bench/network-corpus.ts';
import type { StreamEvent } from '../../../functions/events.ts';
import { waitFor } from '../../helpers/wait.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDatabase('concurrent_batches');
});
afterAll(async () => db?.close());

/** A Sql port whose transactions stop before their last statement (the actors and counts) until released. */
function heldAtTheEnd(sql: Sql): { sql: Sql; reached: Promise<void>; release: () => void } {
  let reached!: () => void;
  let release!: () => void;
  const atEnd = new Promise<void>((resolve) => (reached = resolve));
  const go = new Promise<void>((resolve) => (release = resolve));
  const hold = (tx: SqlExecutor): SqlExecutor => ({
    async query(text, params) {
      if (text.includes('insert into actor ')) {
        reached();
        await go;
      }
      return tx.query(text, params);
    },
  });
  return { sql: { query: (t, p) => sql.query(t, p), transaction: (fn) => sql.transaction((tx) => fn(hold(tx))) }, reached: atEnd, release };
}

/** `sql` whose second transaction fails: a batch's re-judgement after its commit, as when Postgres goes away between the two. */
function failingSecondTransaction(sql: Sql): Sql {
  let transactions = 0;
  return {
    query: (t, p) => sql.query(t, p),
    transaction: (fn) => (++transactions === 2 ? Promise.reject(new Error('connection lost')) : sql.transaction(fn)),
  };
}

/**
 * A reply's batch and `other` both stop before committing, each blind to the other. The reply's batch ends first (its
 * re-judgement still blind to `other`), then `other` commits and its re-judgement fails; resolves once it threw.
 */
async function replyThenFailedRejudge(reply: StreamEvent[], other: StreamEvent[]): Promise<void> {
  const replying = heldAtTheEnd(db.sql);
  const holding = heldAtTheEnd(db.sql);
  const first = indexBatch(reply, { ...db.ports, sql: replying.sql });
  await replying.reached;
  const second = indexBatch(other, { ...db.ports, sql: failingSecondTransaction(holding.sql) });
  await holding.reached;
  replying.release();
  await first;
  holding.release();
  await expect(second).rejects.toThrow('connection lost');
}

describe('index: batches in flight at once', () => {
  it('a delete that waited for the create\'s batch removes the like it committed, its notification and its count', async () => {
    const p = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'p1', rev: 1, record: post('hello') });
    await indexBatch([p], db.ports);
    const postUri = uriOf(ALICE, 'app.bsky.feed.post', 'p1');
    const create = write({ did: BOB, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 2, record: like(postUri, p.cid) });
    const remove = del({ did: BOB, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 3 });

    // The create's batch has written its record row and its like, and stops before committing.
    const first = heldAtTheEnd(db.sql);
    const creating = indexBatch([create], { ...db.ports, sql: first.sql });
    await first.reached;
    // The delete's batch upserts the same record row: it waits for the first batch's commit.
    const deleting = indexBatch([remove], db.ports);
    await waitFor(() => db.sql.query(`select 1 from pg_locks where locktype = 'transactionid' and not granted`), (rows) => rows.length > 0, 'the delete waiting on the row lock');
    first.release();
    await Promise.all([creating, deleting]);

    expect(await db.sql.query(`select uri from "like"`)).toEqual([]);
    expect(await db.sql.query(`select reason from notification where reason = 'like'`)).toEqual([]);
    expect(await db.sql.query(`select "likeCount"::int from post_agg where uri = $1`, [postUri])).toEqual([{ likeCount: 0 }]);
    expect(await db.sql.query(`select uri from record where uri = $1`, [uriOf(BOB, 'app.bsky.feed.like', 'l1')])).toEqual([]);
    expect(await db.sql.query(`select rev from record_tombstone where uri = $1`, [uriOf(BOB, 'app.bsky.feed.like', 'l1')])).toEqual([{ rev: tid(3) }]);
  });

  it("an older create that waited for a delete's batch does not bring the record back", async () => {
    const p = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'p2', rev: 1, record: post('hello again') });
    await indexBatch([p], db.ports);
    const postUri = uriOf(ALICE, 'app.bsky.feed.post', 'p2');
    const likeUri = uriOf(CAROL, 'app.bsky.feed.like', 'l2');
    // The delete (rev 5) runs first and holds before its commit, its tombstone already moved out of `record`; the
    // older create (rev 4, a backfill racing the live stream) then upserts the same URI and waits for it. When the
    // delete commits, the create's upsert finds no row and inserts; its snapshot never saw the tombstone.
    const first = heldAtTheEnd(db.sql);
    const deleting = indexBatch([del({ did: CAROL, collection: 'app.bsky.feed.like', rkey: 'l2', rev: 5 })], { ...db.ports, sql: first.sql });
    await first.reached;
    const creating = indexBatch([write({ did: CAROL, collection: 'app.bsky.feed.like', rkey: 'l2', rev: 4, record: like(postUri, p.cid) })], db.ports);
    await waitFor(() => db.sql.query(`select 1 from pg_locks where locktype = 'transactionid' and not granted`), (rows) => rows.length > 0, 'the create waiting on the row lock');
    first.release();
    await Promise.all([deleting, creating]);

    expect(await db.sql.query(`select uri from record where uri = $1`, [likeUri])).toEqual([]);
    expect(await db.sql.query(`select rev from record_tombstone where uri = $1`, [likeUri])).toEqual([{ rev: tid(5) }]);
    expect(await db.sql.query(`select uri from "like" where uri = $1`, [likeUri])).toEqual([]);
    expect(await db.sql.query(`select "recordUri" from notification where "recordUri" = $1`, [likeUri])).toEqual([]);
    expect(await db.sql.query(`select coalesce(sum("likeCount"), 0)::int as n from post_agg where uri = $1`, [postUri])).toEqual([{ n: 0 }]);
  });

  it('a batch split by repo into concurrent transactions ends in the same tables as the batch in one', async () => {
    const events: StreamEvent[] = networkCorpus(11).next(3000);
    const dids = [...new Set(events.map((e) => e.did))].slice(0, 6);
    dids.forEach((did, i) => {
      events.splice(400 * (i + 1), 0, account(did, false, 'deactivated', 900_000 + 2 * i));
      events.splice(400 * (i + 1) + 50, 0, account(did, true, undefined, 900_001 + 2 * i));
    });
    const [whole, split] = await Promise.all([createIndexDatabase('concurrent_whole'), createIndexDatabase('concurrent_split')]);
    try {
      for (let i = 0; i < events.length; i += 500) {
        const batch = events.slice(i, i + 500);
        await indexBatch(batch, whole.ports);
        // Three transactions at once, no repo in two of them: replies and their parents land in different ones.
        const parts = [0, 1, 2].map((k) => batch.filter((e) => didShard(e.did, 3) === k));
        expect(parts.every((p) => p.length > 0)).toBe(true);
        await Promise.all(parts.map((p) => indexBatch(p, split.ports)));
      }
      const [a, b] = await Promise.all([dumpIndex(whole.sql), dumpIndex(split.sql)]);
      expect(a['post']!.filter((p) => (p as { invalidReplyRoot: boolean | null }).invalidReplyRoot === true).length).toBeGreaterThan(0);
      expect(b).toEqual(a);
      const notifications = (x: IndexDb) => x.sql.query(`select did, "recordUri", reason, "reasonSubject" from notification order by 1, 2, 3`);
      expect(await notifications(split)).toEqual(await notifications(whole));
    } finally {
      await Promise.all([whole.close(), split.close()]);
    }
  });

  it('a reply whose re-judgement after commit failed is judged again when its batch is retried', async () => {
    const parent = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'rj-parent', rev: 20, record: post('parent') });
    const parentRef = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'rj-parent'), cid: parent.cid };
    const reply = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'rj-reply', rev: 21, record: post('child', { reply: { root: parentRef, parent: parentRef } }) });
    const replyUri = uriOf(BOB, 'app.bsky.feed.post', 'rj-reply');
    const verdict = () => db.sql.query(`select "invalidReplyRoot" from post where uri = $1`, [replyUri]);
    // The reply's batch judges it (its parent not committed: invalid) and stops before committing; the parent's batch
    // runs whole without seeing the reply. The reply's re-judgement after its commit, which would find the parent,
    // then fails, as when Postgres goes away between the batch's two transactions.
    const first = heldAtTheEnd(db.sql);
    const failing = failingSecondTransaction(first.sql);
    const replying = indexBatch([reply], { ...db.ports, sql: failing });
    await first.reached;
    await indexBatch([parent], db.ports);
    first.release();
    await expect(replying).rejects.toThrow('connection lost');
    expect(await verdict()).toEqual([{ invalidReplyRoot: true }]);

    // The consumer retries the batch (or another claims it after a crash there): its ops are already stored, so the
    // rev gate changes nothing, and the re-judgement runs all the same.
    await indexBatch([reply], db.ports);
    expect(await verdict()).toEqual([{ invalidReplyRoot: null }]);
    expect(await db.sql.query(`select did from notification where "recordUri" = $1 and reason = 'reply'`, [replyUri])).toEqual([{ did: ALICE }]);
  });

  it('a reply whose parent\'s delete failed its re-judgement is judged again when the delete\'s batch is retried', async () => {
    const parent = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'rd-parent', rev: 30, record: post('parent') });
    await indexBatch([parent], db.ports);
    const parentRef = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'rd-parent'), cid: parent.cid };
    const reply = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'rd-reply', rev: 31, record: post('child', { reply: { root: parentRef, parent: parentRef } }) });
    const removal = [del({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'rd-parent', rev: 32 })];
    const verdict = () => db.sql.query(`select "invalidReplyRoot" from post where uri = $1`, [uriOf(BOB, 'app.bsky.feed.post', 'rd-reply')]);
    // The reply's batch finds its parent (valid) and the delete's finds no reply to judge; the delete's re-judgement,
    // which would find the reply, fails.
    await replyThenFailedRejudge([reply], removal);
    expect(await verdict()).toEqual([{ invalidReplyRoot: null }]);

    // Retried, the delete changes nothing (its tombstone is stored) and its post is judged again all the same.
    await indexBatch(removal, db.ports);
    expect(await verdict()).toEqual([{ invalidReplyRoot: true }]);
  });

  it('a thread gate whose re-judgement failed judges the replies under it when its batch is retried', async () => {
    const T = (n: number) => new Date(Date.parse('2026-04-01T00:00:00.000Z') + n * 1000).toISOString();
    const root = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'rg-root', rev: 40, record: post('gated', { createdAt: T(0) }) });
    await indexBatch([root], db.ports);
    const rootRef = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'rg-root'), cid: root.cid };
    // The gate allows nobody and was made before the reply: the reply breaks it.
    const gate = [write({ did: ALICE, collection: 'app.bsky.feed.threadgate', rkey: 'rg-root', rev: 41, record: { $type: 'app.bsky.feed.threadgate', post: rootRef.uri, allow: [], createdAt: T(1) } })];
    const reply = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'rg-reply', rev: 42, record: post('let me in', { reply: { root: rootRef, parent: rootRef }, createdAt: T(2) }) });
    const verdict = () => db.sql.query(`select "violatesThreadGate" from post where uri = $1`, [uriOf(BOB, 'app.bsky.feed.post', 'rg-reply')]);
    // The reply's batch finds no gate; the gate's finds no reply, and its re-judgement, which would, fails.
    await replyThenFailedRejudge([reply], gate);
    expect(await verdict()).toEqual([{ violatesThreadGate: null }]);

    await indexBatch(gate, db.ports);
    expect(await verdict()).toEqual([{ violatesThreadGate: true }]);
    expect(await db.sql.query(`select "replyCount"::int from post_agg where uri = $1`, [rootRef.uri])).toEqual([{ replyCount: 0 }]);
  });

  /** `held`'s batch stops before its commit while `other`'s runs whole; then the quoted post has no quote row or count. */
  async function quoteAndRemovalInFlight([held, other]: [StreamEvent[], StreamEvent[]], subject: string): Promise<void> {
    const first = heldAtTheEnd(db.sql);
    const holding = indexBatch(held, { ...db.ports, sql: first.sql });
    await first.reached;
    await indexBatch(other, db.ports);
    first.release();
    await holding;
    expect(await db.sql.query(`select uri from quote where subject = $1`, [subject])).toEqual([]);
    expect(await db.sql.query(`select "quoteCount"::int from post_agg where uri = $1`, [subject])).toEqual([{ quoteCount: 0 }]);
  }

  // A quote, then the delete of the post it quotes, in two batches in flight (the AppView's deleteFn takes the quote
  // rows naming the post): neither transaction sees the other's row, so whichever commits last deletes the quote row
  // after its commit, the quote's batch (the delete's tombstone is newer) or the delete's (the quote is older).
  for (const last of ['quote', 'delete'] as const) {
    it(`a quote whose subject a later delete removed in a batch in flight loses its row and count (${last} commits last)`, async () => {
      const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `q-${last}`, rev: 20, record: post('soon gone') });
      await indexBatch([subject], db.ports);
      const ref = { uri: uriOf(ALICE, 'app.bsky.feed.post', `q-${last}`), cid: subject.cid };
      const quote = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: `q-${last}`, rev: 21, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) });
      const gone = del({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `q-${last}`, rev: 22 });
      await quoteAndRemovalInFlight(last === 'quote' ? [[quote], [gone]] : [[gone], [quote]], ref.uri);
    });
  }

  // The same with a delete and the same record written again after it, in one batch: no tombstone is left, yet the
  // delete took the quote (the AppView's deleteFn), whichever batch commits last.
  for (const last of ['quote', 'delete'] as const) {
    it(`a quote whose subject was deleted and written again in a batch in flight loses its row and count (${last} commits last)`, async () => {
      const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `a-${last}`, rev: 20, record: post('said twice') });
      await indexBatch([subject], db.ports);
      const ref = { uri: uriOf(ALICE, 'app.bsky.feed.post', `a-${last}`), cid: subject.cid };
      const quote = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: `a-${last}`, rev: 21, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) });
      const again = [del({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `a-${last}`, rev: 22 }),
        write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `a-${last}`, rev: 23, record: subject.record, cid: subject.cid })];
      await quoteAndRemovalInFlight(last === 'quote' ? [[quote], again] : [again, [quote]], ref.uri);
      expect(await db.sql.query(`select cid from post where uri = $1`, [ref.uri])).toEqual([{ cid: subject.cid }]);
    });
  }

  // The same with an edit of the quoted post (a write of another CID: the AppView's update runs its deleteFn): the
  // quote of the old version loses its row whichever batch commits last; a rewrite of the same CID keeps a quote of the
  // new version.
  for (const last of ['quote', 'edit'] as const) {
    it(`a quote whose subject a later edit replaced in a batch in flight loses its row and count (${last} commits last)`, async () => {
      const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `e-${last}`, rev: 30, record: post('first words') });
      await indexBatch([subject], db.ports);
      const ref = { uri: uriOf(ALICE, 'app.bsky.feed.post', `e-${last}`), cid: subject.cid };
      const quote = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: `e-${last}`, rev: 31, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) });
      const edit = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `e-${last}`, rev: 32, type: 'update', record: post('second thoughts') });
      await quoteAndRemovalInFlight(last === 'quote' ? [[quote], [edit]] : [[edit], [quote]], ref.uri);
      // The edited post written again at its CID (a backfill) keeps a quote of that version made after it.
      const later = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: `e2-${last}`, rev: 33, record: post('quoting the new', { embed: { $type: 'app.bsky.embed.record', record: { uri: ref.uri, cid: edit.cid } } }) });
      await indexBatch([later], db.ports);
      await indexBatch([write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: `e-${last}`, rev: 34, type: 'update', cid: edit.cid, record: post('second thoughts') })], db.ports);
      expect(await db.sql.query(`select uri from quote where subject = $1`, [ref.uri])).toEqual([{ uri: uriOf(BOB, 'app.bsky.feed.post', `e2-${last}`) }]);
    });
  }

  // The same with the removal older than its repo's verified snapshot (a backfill holds the post's last version; the
  // stream brings the ops before it afterwards): the delete or edit writes no row, yet takes the older quote a batch
  // in flight beside it wrote, whichever commits last (an edit's own batch must commit last: a quote committed after
  // it finds no trace of an edit that wrote no row).
  for (const [kind, last] of [['delete', 'quote'], ['delete', 'removal'], ['edit', 'removal']] as const) {
    it(`a quote older than ${kind === 'edit' ? 'an' : 'a'} ${kind} below its repo's snapshot, in a batch in flight, loses its row and count (${last} commits last)`, async () => {
      const did = `did:plc:snapshot${kind}${last}`.padEnd(32, 'x');
      const rkey = 'p';
      const first = write({ did, collection: 'app.bsky.feed.post', rkey, rev: 10, record: post('first words') });
      const ref = { uri: uriOf(did, 'app.bsky.feed.post', rkey), cid: first.cid };
      const removal = kind === 'delete' ? del({ did, collection: 'app.bsky.feed.post', rkey, rev: 50 })
        : write({ did, collection: 'app.bsky.feed.post', rkey, rev: 50, type: 'update', record: post('second thoughts') });
      // The post as the snapshot holds it (made again after the delete, or the edit's version), then the repo's floor.
      const held = removal.type === 'delete' ? first : removal;
      await indexBatch([write({ did, collection: 'app.bsky.feed.post', rkey, rev: 100, record: held.record, cid: held.cid })], db.ports);
      await db.sql.query(`insert into repo_sync (did, status, rev, "updatedAt") values ($1, 'synchronized', $2, $3)`, [did, tid(100), new Date().toISOString()]);
      const quote = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: `snap-${kind}-${last}`, rev: 40, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) });
      await quoteAndRemovalInFlight(last === 'quote' ? [[quote], [removal]] : [[removal], [quote]], ref.uri);
    });
  }

  // A lane that lags (another consumer ran ahead, or the removal's batch was delivered again after a crash): the quote
  // comes after the removal in the stream but commits first. The removal must not take it (found by the chaos suite:
  // a quote of a post deleted just before it lost its row and count). Event times stand in for the stream's order.
  it('a quote later in the stream than the delete of the post it quotes keeps its row when its batch committed first', async () => {
    const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'lag-d', rev: 50, record: post('soon gone') });
    await indexBatch([subject], db.ports);
    const ref = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'lag-d'), cid: subject.cid };
    const gone = del({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'lag-d', rev: 52 });
    const quote = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'lag-d', rev: 53, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) });
    const earlier = write({ did: CAROL, collection: 'app.bsky.feed.post', rkey: 'lag-d', rev: 51, record: post('quoting first', { embed: { $type: 'app.bsky.embed.record', record: ref } }) });
    await indexBatch([earlier], db.ports);
    await indexBatch([quote], db.ports);
    await indexBatch([gone], db.ports);
    // The quote made before the delete goes with it; the one made after stays, counted.
    expect(await db.sql.query(`select uri from quote where subject = $1`, [ref.uri])).toEqual([{ uri: uriOf(BOB, 'app.bsky.feed.post', 'lag-d') }]);
    expect(await db.sql.query(`select "quoteCount"::int from post_agg where uri = $1`, [ref.uri])).toEqual([{ quoteCount: 1 }]);
  });

  // Found by the chaos suite: a quote first written by a backfill (its live create stale by then) was dated by the
  // backfill, after its subject's delete, and kept its row where the stream's order took it. A backfill's write is
  // dated by its TID rkey where that is earlier (`madeAt`).
  it('a quote a backfill writes after its subject\'s delete goes when it was made before the delete', async () => {
    const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'bf-q', rev: 90, record: post('soon gone') });
    await indexBatch([subject], db.ports);
    const ref = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'bf-q'), cid: subject.cid };
    await indexBatch([del({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'bf-q', rev: 92 })], db.ports);
    const quoting = (rkey: string, madeRev: number) => ({
      ...write({ did: BOB, collection: 'app.bsky.feed.post', rkey, rev: 99, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) }),
      seq: -2, madeAt: write({ did: BOB, collection: 'x', rkey: 'x', rev: madeRev, record: {} }).time,
    });
    // Made before the delete (rev 91's time) and after it (rev 93's), both read by a backfill later (rev 99's time).
    await indexBatch([quoting('bf-before', 91), quoting('bf-after', 93)], db.ports);
    expect(await db.sql.query(`select uri from quote where subject = $1`, [ref.uri])).toEqual([{ uri: uriOf(BOB, 'app.bsky.feed.post', 'bf-after') }]);
  });

  it('an edit whose batch commits after quotes later in the stream keeps them, and a quote of the new version whatever its time', async () => {
    const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'lag-e', rev: 60, record: post('first words') });
    await indexBatch([subject], db.ports);
    const uri = uriOf(ALICE, 'app.bsky.feed.post', 'lag-e');
    const edit = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'lag-e', rev: 62, type: 'update', record: post('second thoughts') });
    const quoting = (did: string, rev: number, cid: string) =>
      write({ did, collection: 'app.bsky.feed.post', rkey: 'lag-e', rev, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: { uri, cid } } }) });
    // Before the edit, of the old version (goes); after it, of the old version (stays); of the new version, with an
    // event time before the edit's (another PDS's clock), which must have come after it (stays).
    await indexBatch([quoting(BOB, 61, subject.cid)], db.ports);
    await indexBatch([quoting(CAROL, 63, subject.cid)], db.ports);
    const ALICE2 = 'did:plc:alice20000000000000000000';
    await indexBatch([quoting(ALICE2, 61, edit.cid)], db.ports);
    await indexBatch([edit], db.ports);
    expect(await db.sql.query(`select uri from quote where subject = $1 order by uri`, [uri])).toEqual([
      { uri: uriOf(ALICE2, 'app.bsky.feed.post', 'lag-e') }, { uri: uriOf(CAROL, 'app.bsky.feed.post', 'lag-e') },
    ]);
    expect(await db.sql.query(`select "quoteCount"::int from post_agg where uri = $1`, [uri])).toEqual([{ quoteCount: 2 }]);
  });

  it('a rewrite of the CID a post has (a backfill) takes no quote of its earlier version made after the edit', async () => {
    // Not a removal: the quote row stays, as the edit left it (found reviewing the purge's removal times).
    const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'rw', rev: 70, record: post('first words') });
    await indexBatch([subject], db.ports);
    const edit = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'rw', rev: 72, type: 'update', record: post('second thoughts') });
    await indexBatch([edit], db.ports);
    const ref = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'rw'), cid: subject.cid };
    await indexBatch([write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'rw', rev: 73, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) })], db.ports);
    await indexBatch([write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'rw', rev: 74, type: 'update', cid: edit.cid, record: post('second thoughts') })], db.ports);
    expect(await db.sql.query(`select uri from quote where subject = $1`, [ref.uri])).toEqual([{ uri: uriOf(BOB, 'app.bsky.feed.post', 'rw') }]);
    expect(await db.sql.query(`select "quoteCount"::int from post_agg where uri = $1`, [ref.uri])).toEqual([{ quoteCount: 1 }]);
  });

  it('a quote of the old version indexed after the edit committed keeps its row, whatever its event time', async () => {
    // As the AppView, indexing the edit then the quote: only a transaction in flight beside the quote's is taken for one
    // that missed it. Here the quote's event time is before the edit's (another PDS's clock), yet it came after.
    const subject = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'e-seq', rev: 40, record: post('first words') });
    await indexBatch([subject], db.ports);
    await indexBatch([write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'e-seq', rev: 42, type: 'update', record: post('second thoughts') })], db.ports);
    const ref = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'e-seq'), cid: subject.cid };
    await indexBatch([write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'e-seq', rev: 41, record: post('quoting', { embed: { $type: 'app.bsky.embed.record', record: ref } }) })], db.ports);
    expect(await db.sql.query(`select uri from quote where subject = $1`, [ref.uri])).toEqual([{ uri: uriOf(BOB, 'app.bsky.feed.post', 'e-seq') }]);
  });

  it('a reply whose batch commits after the thread gate\'s batch is judged by that gate, its count and notification too', async () => {
    const T = (n: number) => new Date(Date.parse('2026-03-01T00:00:00.000Z') + n * 1000).toISOString();
    const root = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'g-root', rev: 10, record: post('gated', { createdAt: T(0) }) });
    await indexBatch([root], db.ports);
    const rootRef = { uri: uriOf(ALICE, 'app.bsky.feed.post', 'g-root'), cid: root.cid };
    // The gate allows nobody, and was made before the reply: the reply breaks it.
    const gate = write({ did: ALICE, collection: 'app.bsky.feed.threadgate', rkey: 'g-root', rev: 11, record: { $type: 'app.bsky.feed.threadgate', post: rootRef.uri, allow: [], createdAt: T(1) } });
    const reply = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: 'g-reply', rev: 12, record: post('let me in', { reply: { root: rootRef, parent: rootRef }, createdAt: T(2) }) });

    // The reply's batch judges it (no gate committed yet) and stops before committing; the gate's batch runs whole.
    const first = heldAtTheEnd(db.sql);
    const replying = indexBatch([reply], { ...db.ports, sql: first.sql });
    await first.reached;
    await indexBatch([gate], db.ports);
    first.release();
    await replying;

    const replyUri = uriOf(BOB, 'app.bsky.feed.post', 'g-reply');
    expect(await db.sql.query(`select "violatesThreadGate", "hasThreadGate" from post where uri = $1`, [replyUri])).toEqual([{ violatesThreadGate: true, hasThreadGate: null }]);
    expect(await db.sql.query(`select "hasThreadGate" from post where uri = $1`, [rootRef.uri])).toEqual([{ hasThreadGate: true }]);
    expect(await db.sql.query(`select "replyCount"::int from post_agg where uri = $1`, [rootRef.uri])).toEqual([{ replyCount: 0 }]);
    expect(await db.sql.query(`select reason from notification where "recordUri" = $1 and reason = 'reply'`, [replyUri])).toEqual([]);
  });

  it('a reply deleted by another lane while a gate\'s re-judgement holds it counts once: replyCount is not taken below its replies', async () => {
    // Lane A (the author) gates the post (allow: []) and reads the reply, judged violating now; lane B (the replier)
    // deletes the reply and commits before A's update of the flag. The -1 was counted from the read, on top of the
    // delete's own: replyCount -1 with no reply left, where the stream in order leaves 0.
    const pk = tid(7_000_001);
    const rk = tid(7_000_002);
    const parent = write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: pk, rev: 10, seq: 1, record: post('parent') });
    const postUri = uriOf(ALICE, 'app.bsky.feed.post', pk);
    const ref = { uri: postUri, cid: parent.cid };
    const reply = write({ did: BOB, collection: 'app.bsky.feed.post', rkey: rk, rev: 11, seq: 2, record: { ...post('reply'), reply: { root: ref, parent: ref } } });
    await indexBatch([parent], db.ports);
    await indexBatch([reply], db.ports);
    const gate = write({ did: ALICE, collection: 'app.bsky.feed.threadgate', rkey: pk, rev: 13, seq: 4, record: { $type: 'app.bsky.feed.threadgate', post: postUri, createdAt: '2026-01-01T00:00:00.000Z', allow: [] } });
    let reached!: () => void;
    let go!: () => void;
    const atFlag = new Promise<void>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (go = resolve));
    const paused: Sql = {
      query: (text, params) => db.sql.query(text, params),
      transaction: (fn) => db.sql.transaction((tx) => fn({
        ...(tx.copyRows === undefined ? {} : { copyRows: tx.copyRows.bind(tx), copyMinRows: tx.copyMinRows }),
        async query(text, params) {
          if (/^update post set .*violatesThreadGate/s.test(text)) {
            reached();
            await released;
          }
          return tx.query(text, params);
        },
      })),
    };
    const laneA = indexBatch([gate], { ...db.ports, sql: paused });
    await atFlag;
    await indexBatch([del({ did: BOB, collection: 'app.bsky.feed.post', rkey: rk, rev: 12, seq: 3 })], db.ports);
    go();
    await laneA;
    expect(await db.sql.query(`select count(*)::int as n from post where "replyParent" = $1`, [postUri])).toEqual([{ n: 0 }]);
    expect(await db.sql.query(`select "replyCount"::int from post_agg where uri = $1`, [postUri])).toEqual([{ replyCount: 0 }]);
  });
});
