// The account rule per event (issue 8, item 2): a write counts exactly when its account is active at the write's own
// time, whatever the batch boundaries and whichever of two batches in flight commits first; #account changes apply in
// the order of their time, so an older one (a second relay, a redelivery) changes nothing; and the resync a change asked
// for is asked again when the same event comes again (migration 0010).
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import { HISTORY_LIMIT } from '../../../functions/index/account-state.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { account, at, del, post, profile, write } from '../../helpers/events.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const POST = 'app.bsky.feed.post';
const PROFILE = 'app.bsky.actor.profile';

let db: IndexDb;
beforeAll(async () => {
  db = await createIndexDb('account_rule');
});
afterAll(async () => db.close());
beforeEach(async () => {
  await db.sql.query(`truncate record, actor, actor_sync, post, feed_item, profile, post_agg, profile_agg, account_state, repo_sync`);
});

const texts = async () => (checkRows(await db.sql.query(`select text from post order by text`), { text: 'string' })).map((r) => r.text);
const displayName = async () => (checkRows(await db.sql.query(`select "displayName" as n from profile`), { n: 'string' }))[0]?.n;
const status = async () => (checkRows(await db.sql.query(`select "upstreamStatus" as s from actor where did = $1`, [ALICE]), { s: 'string?' }))[0]?.s;
/** A write whose time is `at(time)` (the helpers place a write at its rev's second unless told otherwise). */
const postAt = (rkey: string, rev: number, text: string) => write({ did: ALICE, collection: POST, rkey, rev, record: post(text) });
const profileAt = (rev: number, name: string) => write({ did: ALICE, collection: PROFILE, rkey: 'self', rev, record: profile(name), type: rev === 1 ? 'create' : 'update' });

describe('index: account status per event, not per batch', () => {
  it('a write after a deactivation is skipped even when a reactivation follows in the same batch', async () => {
    const result = await indexBatch([account(ALICE, false, 'deactivated', 10), postAt('p1', 11, 'while away'), account(ALICE, true, undefined, 12)], db.ports);
    expect(await texts()).toEqual([]);
    expect(await status()).toBeNull();
    expect(result.resync).toEqual([{ did: ALICE, reason: 'account_active' }]);
  });

  it('a write just before a deactivation in the same batch is indexed', async () => {
    await indexBatch([profileAt(1, 'v1')], db.ports);
    await indexBatch([profileAt(10, 'v2'), account(ALICE, false, 'deactivated', 11)], db.ports);
    expect(await displayName()).toBe('v2');
    expect(await status()).toBe('deactivated');
  });

  it('one batch holding write-deactivate-write-reactivate-write keeps exactly the writes made while active', async () => {
    await indexBatch(
      [postAt('a', 10, 'before'), account(ALICE, false, 'takendown', 11), postAt('b', 12, 'during'), account(ALICE, true, undefined, 13), postAt('c', 14, 'after')],
      db.ports,
    );
    expect(await texts()).toEqual(['after', 'before']);
  });

  it('an edit made while inactive does not hide the edit made before, in the same batch', async () => {
    await indexBatch([profileAt(10, 'before'), account(ALICE, false, 'deactivated', 11), profileAt(12, 'during')], db.ports);
    expect(await displayName()).toBe('before');
  });

  it('the same holds when the events come one batch each, and when the later batch commits first', async () => {
    // In order, one event per batch.
    for (const e of [postAt('a', 10, 'before'), account(ALICE, false, 'deactivated', 11), postAt('b', 12, 'during')]) await indexBatch([e], db.ports);
    expect(await texts()).toEqual(['before']);
    // Two batches in flight (INDEXER_CONCURRENCY=2): the deactivation's batch commits before the write's.
    await db.sql.query(`truncate record, actor, post, feed_item, profile_agg, account_state`);
    await indexBatch([account(ALICE, false, 'deactivated', 11)], db.ports);
    await indexBatch([postAt('a', 10, 'before')], db.ports);
    await indexBatch([postAt('b', 12, 'during')], db.ports);
    expect(await texts()).toEqual(['before']);
  });

  it('deletes always apply, whatever the account status', async () => {
    await indexBatch([postAt('a', 10, 'x'), account(ALICE, false, 'suspended', 11)], db.ports);
    await indexBatch([del({ did: ALICE, collection: POST, rkey: 'a', rev: 12 })], db.ports);
    expect(await texts()).toEqual([]);
  });
});

describe('index: an older #account change (by time) changes nothing', () => {
  it('from a second relay, in a later batch: the status stays and no resync is asked', async () => {
    await indexBatch([account(ALICE, false, 'takendown', 20)], db.ports);
    // The same account's earlier reactivation, delivered late by a lagging relay.
    const late = await indexBatch([account(ALICE, true, undefined, 15)], db.ports);
    expect(await status()).toBe('takendown');
    expect(late.resync).toEqual([]);
    await indexBatch([postAt('p', 21, 'hidden')], db.ports);
    expect(await texts()).toEqual([]);
  });

  it('the same event again (its batch retried after the commit, or redelivered) asks for its resync again; the same change from another relay does not', async () => {
    const batch = [account(ALICE, false, 'deactivated', 40), account(ALICE, true, undefined, 41)];
    expect((await indexBatch(batch, db.ports)).resync).toEqual([{ did: ALICE, reason: 'account_active' }]);
    // Its request may have been lost between that commit and the queue: the retry asks again.
    expect((await indexBatch(batch, db.ports)).resync).toEqual([{ did: ALICE, reason: 'account_active' }]);
    // Another relay's copy of the reactivation: the same change, another seq.
    expect((await indexBatch([{ ...account(ALICE, true, undefined, 41), seq: 9_041 }], db.ports)).resync).toEqual([]);
    // A later change that asks for nothing leaves nothing to ask again.
    await indexBatch([account(ALICE, false, 'deactivated', 42)], db.ports);
    expect((await indexBatch(batch, db.ports)).resync).toEqual([]);
  });

  it('a deletion asks again on a retry until the deletion is confirmed', async () => {
    const deletion = [account(ALICE, false, 'deleted', 50)];
    expect((await indexBatch(deletion, db.ports)).resync).toEqual([{ did: ALICE, reason: 'account_deleted' }]);
    expect((await indexBatch(deletion, db.ports)).resync).toEqual([{ did: ALICE, reason: 'account_deleted' }]);
    await db.sql.query(`insert into repo_sync (did, status, "updatedAt") values ($1, 'deleted', $2)`, [ALICE, at(51)]);
    expect((await indexBatch(deletion, db.ports)).resync).toEqual([]);
  });

  it('within one batch, a change older than one before it in the stream is ignored', async () => {
    await indexBatch([account(ALICE, true, undefined, 30), account(ALICE, false, 'deactivated', 25)], db.ports);
    expect(await status()).toBeNull();
    expect(await db.sql.query(`select active, status, "changedAt" from account_state`)).toEqual([{ active: true, status: null, changedAt: at(30) }]);
  });

  it('keeps a bounded history of changes', async () => {
    const events = Array.from({ length: HISTORY_LIMIT + 5 }, (_, i) => account(ALICE, i % 2 === 1, i % 2 === 1 ? undefined : 'deactivated', 100 + i));
    await indexBatch(events, db.ports);
    const [row] = checkRows(await db.sql.query(`select history from account_state`), { history: 'json' });
    expect(row?.history).toHaveLength(HISTORY_LIMIT);
  });
});
