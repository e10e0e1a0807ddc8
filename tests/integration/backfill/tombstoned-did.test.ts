// An account deleted on the network usually has its did:plc tombstoned in the PLC directory (410 Gone), so the
// resync of its #account deleted cannot ask its PDS for RepoNotFound: the tombstone itself confirms the deletion, and
// the account is purged, its likes with the counts they fed on other accounts' posts. A 404 (the directory does not
// know the DID) confirms nothing (backfill-repo/account.ts). Real Postgres, a fake PLC directory and PDS on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { noMetrics, silentLog, systemClock, type Fetch } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { startFakePds, type FakePds } from '../../helpers/fake-pds.ts';
import { plcDid } from '../../helpers/dids.ts';
import { account, like, post, uriOf, write } from '../../helpers/events.ts';

let db: IndexDb;
let plc: FakePlc;
let pds: FakePds;

beforeAll(async () => {
  db = await createIndexDb('backfill_tombstoned_did');
  plc = await startFakePlc();
  pds = await startFakePds();
});
afterAll(async () => {
  await pds?.close();
  await plc?.close();
  await db?.close();
});

function ports(fetch: Fetch = globalThis.fetch): BackfillPorts {
  return {
    clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch, timeoutMs: 10_000,
    identity: createIdentityResolver({ fetch, plcUrl: plc.url, allowPrivate: true }),
  };
}

/** `author` posts, `liker` likes it (live events); the post's like count is 1. Returns the post's URI. */
async function likedPost(author: string, liker: string): Promise<string> {
  const uri = uriOf(author, 'app.bsky.feed.post', '3jzfcijpj2z2a');
  const made = write({ did: author, collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a', rev: 1, record: post('liked') });
  const liked = write({ did: liker, collection: 'app.bsky.feed.like', rkey: '3jzfcijpj2z2b', rev: 2, record: like(uri, made.cid) });
  expect((await indexBatch([made, liked], db.ports)).outcomes).toEqual([{ status: 'ok' }, { status: 'ok' }]);
  expect(await likes(uri)).toBe(1);
  return uri;
}

const likes = async (uri: string) => {
  const rows = await db.sql.query(`select "likeCount" from post_agg where uri = $1`, [uri]);
  return Number((rows[0] as { likeCount?: number } | undefined)?.likeCount ?? 0);
};
const syncOf = (did: string) => db.sql.query(`select status, reason from repo_sync where did = $1`, [did]);
const rowsOf = async (did: string) => (await db.sql.query(`select uri from record where did = $1`, [did])).length;

describe('a backfill meeting a tombstoned DID', () => {
  it('purges a deleted account whose DID the directory tombstoned: its like no longer counts', async () => {
    const liker = plcDid('tombstonedliker');
    const uri = await likedPost(plcDid('tombstonedauthor'), liker);
    const { resync } = await indexBatch([account(liker, false, 'deleted', 3)], db.ports);
    expect(resync).toEqual([{ did: liker, reason: 'account_deleted' }]);
    plc.tombstone(liker);

    const { outcomes, reports } = await backfillRepos([{ did: liker, reason: 'account_deleted' }], ports());
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(reports[0]).toMatchObject({ status: 'unavailable', reason: 'DidTombstoned', deleted: 1 });
    expect(await likes(uri)).toBe(0);
    expect(await rowsOf(liker)).toBe(0);
    expect(await syncOf(liker)).toEqual([{ status: 'deleted', reason: 'DidTombstoned' }]);
    // No PDS to ask: the directory named none.
    expect(pds.requests.get(liker)).toBeUndefined();
    // A second delivery (the entry met twice) changes nothing.
    expect((await backfillRepos([{ did: liker, reason: 'account_deleted' }], ports())).outcomes).toEqual([{ status: 'ok' }]);
    expect(await likes(uri)).toBe(0);
  });

  it('purges an account stored active whose DID was tombstoned before the directory was asked', async () => {
    const liker = plcDid('tombstonedactive');
    const uri = await likedPost(plcDid('tombstonedauthortwo'), liker);
    plc.tombstone(liker);
    const { outcomes } = await backfillRepos([{ did: liker }], ports());
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(await likes(uri)).toBe(0);
    expect(await db.sql.query(`select active, status from account_state where did = $1`, [liker])).toEqual([{ active: false, status: 'deleted' }]);
  });

  it('leaves an account reactivated after the directory answered: the newer #account stands', async () => {
    const liker = plcDid('tombstonedreactivated');
    const uri = await likedPost(plcDid('tombstonedauthorthree'), liker);
    expect((await indexBatch([account(liker, false, 'deleted', 3)], db.ports)).outcomes).toEqual([{ status: 'ok' }]);
    plc.tombstone(liker);
    // The live path indexes a reactivation just after the directory answered the backfill.
    let fired = false;
    const fetch: Fetch = async (input, init) => {
      const res = await globalThis.fetch(input, init);
      if (!fired) {
        fired = true;
        await new Promise((resolve) => setTimeout(resolve, 5));
        const reactivated = { type: 'account' as const, seq: 4, time: new Date().toISOString(), did: liker, active: true };
        expect((await indexBatch([reactivated], db.ports)).resync).toEqual([{ did: liker, reason: 'account_active' }]);
      }
      return res;
    };
    const { outcomes, reports } = await backfillRepos([{ did: liker, reason: 'account_deleted' }], ports(fetch));
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(reports[0]).toMatchObject({ status: 'unavailable', reason: 'DidTombstoned', deleted: 0 });
    expect(await likes(uri)).toBe(1);
    expect(await syncOf(liker)).toEqual([{ status: 'desynchronized', reason: 'DidTombstoned' }]);
    expect(await db.sql.query(`select active from account_state where did = $1`, [liker])).toEqual([{ active: true }]);
    // Its own resync asks the directory again, later than the reactivation: still tombstoned, now purged.
    expect((await backfillRepos([{ did: liker, reason: 'account_active' }], ports())).outcomes).toEqual([{ status: 'ok' }]);
    expect(await likes(uri)).toBe(0);
  });

  it('does not purge a deleted account the directory does not know (404): identity_failed, retried', async () => {
    const liker = plcDid('unknownliker');
    const uri = await likedPost(plcDid('unknownauthor'), liker);
    expect((await indexBatch([account(liker, false, 'deleted', 3)], db.ports)).outcomes).toEqual([{ status: 'ok' }]);
    const { outcomes } = await backfillRepos([{ did: liker, reason: 'account_deleted' }], ports());
    expect(outcomes).toEqual([expect.objectContaining({ status: 'retry', reason: 'identity_failed' })]);
    expect(await likes(uri)).toBe(1);
    expect(await rowsOf(liker)).toBe(1);
    expect(await syncOf(liker)).toEqual([{ status: 'desynchronized', reason: 'identity_failed' }]);
  });
});
