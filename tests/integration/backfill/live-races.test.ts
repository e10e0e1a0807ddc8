// Live events indexed while a backfill of the same repo runs, with signed repos served over HTTP on 127.0.0.1 (a
// fake PDS and PLC) into a real Postgres schema: whatever the interleaving, the rows end as the stream in order would
// leave them (README.md, "Contracts": Postgres).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import type { Fetch, Sql } from '../../../functions/ports.ts';
import type { HandleResolver } from '../../../functions/atproto/identity/handle.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc, startFakePds, type FakePds } from '../../helpers/fake-pds.ts';
import { buildSyntheticRepo } from '../../helpers/synthetic-repo.ts';
import { purgeAccount } from '../../../functions/index/account-deletion.ts';
import { del, fakeCid, post, tid, write } from '../../helpers/events.ts';

let db: IndexDb;
let plc: FakePlc;
let pds: FakePds;

beforeAll(async () => {
  db = await createIndexDb('backfill_live_races');
  plc = await startFakePlc();
  pds = await startFakePds();
});
afterAll(async () => {
  await pds?.close();
  await plc?.close();
  await db?.close();
});

/** A signed repo of `records` records for `did`, served by the fake PDS and named by its PLC document. */
async function serve(did: string, records: number) {
  const repo = await buildSyntheticRepo(did, records);
  pds.set(did, repo.car);
  plc.set(did, repoDoc(did, repo.didKey, pds.url));
  return repo;
}

function ports(over: Partial<BackfillPorts> = {}): BackfillPorts {
  return {
    clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch, timeoutMs: 10_000,
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), ...over,
  };
}

/** globalThis.fetch, running `then` once right after the first request whose URL contains `part` was answered. */
function fetchThen(part: string, then: () => Promise<unknown>): Fetch {
  let fired = false;
  return async (input, init) => {
    const res = await globalThis.fetch(input, init);
    if (!fired && String(input instanceof Request ? input.url : input).includes(part)) {
      fired = true;
      await then();
    }
    return res;
  };
}

/** db.sql, running `then` once right after the first statement whose text starts with `prefix`. */
function after(prefix: string, then: () => Promise<unknown>): Sql {
  let fired = false;
  return {
    query: async (text, params) => {
      const rows = await db.sql.query(text, params);
      if (!fired && text.startsWith(prefix)) {
        fired = true;
        await then();
      }
      return rows;
    },
    transaction: (fn) => db.sql.transaction(fn),
  };
}

const count = async (query: string, params: string[]) => (await db.sql.query(query, params)).length;

describe('live events during a backfill', () => {
  it('a live delete older than the CAR removes a record the live path indexed after the backfill read its rows', async () => {
    const did = 'did:plc:floorfloorfloorfloorfloo';
    await serve(did, 5);
    // Created at rev 1 and deleted at rev 2, both long before the CAR was cut: the CAR does not hold it.
    const x = { did, collection: 'app.bsky.feed.post', rkey: '3jzfcijpj2z2a' };
    const uri = `at://${did}/${x.collection}/${x.rkey}`;
    // A lagging live consumer indexes the create just after the backfill read the repo's rows (so the backfill does
    // not tombstone it), and the delete only once the backfill has set the repo's floor.
    const sql = after('select uri, cid, rev from record where did', () => indexBatch([write({ ...x, rev: 1, record: post('gone') })], db.ports));
    const { reports } = await backfillRepos([{ did }], ports({ sql }));
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: 5, deleted: 0 });
    expect(await count(`select uri from record where uri = $1`, [uri])).toBe(1);
    const { outcomes } = await indexBatch([del({ ...x, rev: 2 })], db.ports);
    expect(outcomes).toEqual([{ status: 'ok' }]);
    expect(await count(`select uri from record where uri = $1`, [uri])).toBe(0);
    expect(await count(`select uri from post where uri = $1`, [uri])).toBe(0);
    // Its count went with it: the author's posts count is the posts it has.
    expect(await db.sql.query(`select "postsCount" = (select count(*) from post where creator = $1) as exact from profile_agg where did = $1`, [did])).toEqual([{ exact: true }]);
    expect(await count(`select uri from record_tombstone where uri = $1`, [uri])).toBe(1);
    expect(await count(`select uri from record where did = $1`, [did])).toBe(5);
  });

  it('a handle changed while the repo downloads: the backfill stores the new one, not the one its download began with', async () => {
    const did = 'did:plc:handlehandlehandlehandle';
    const repo = await serve(did, 3);
    const doc = (handle: string) => ({ ...repoDoc(did, repo.didKey, pds.url), alsoKnownAs: [`at://${handle}`] });
    plc.set(did, doc('old.example.com'));
    // DNS after the change: new.example.com names the DID, old.example.com nothing.
    const handles: HandleResolver = { resolve: async (h) => (h === 'new.example.com' ? did : undefined) };
    const identity = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true });
    // The user changes handle while the CAR downloads; the live consumer indexes the #identity at once.
    const fetch = fetchThen('getRepo', async () => {
      plc.set(did, doc('new.example.com'));
      await indexBatch([{ type: 'identity', seq: 100, time: new Date().toISOString(), did, handle: 'new.example.com' }], { ...db.ports, identity, handles });
      expect(await db.sql.query(`select handle from actor where did = $1`, [did])).toEqual([{ handle: 'new.example.com' }]);
    });
    const { reports } = await backfillRepos([{ did }], ports({ fetch, identity, handles }));
    expect(reports[0]).toMatchObject({ status: 'synchronized' });
    expect(await db.sql.query(`select handle from actor where did = $1`, [did])).toEqual([{ handle: 'new.example.com' }]);
  });

  it('an account back after a confirmed deletion keeps the writes it made while its repo downloaded', async () => {
    const did = 'did:plc:restorerestorerestoreres';
    await serve(did, 5);
    await purgeAccount(db.sql, did, new Date(Date.now() - 60_000).toISOString());
    const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
    await pause();
    // Written just after the CAR being served was cut; the PDS's next CAR holds it.
    const rkey = tid(Date.now() * 1000 * 1024);
    const uri = `at://${did}/app.bsky.feed.post/${rkey}`;
    const record = post('written while the repo downloaded');
    const live = {
      type: 'create' as const, seq: 100, time: new Date().toISOString(), did, commit: fakeCid('restore-commit'),
      rev: tid(Date.now() * 1000 * 1024), collection: 'app.bsky.feed.post', rkey, cid: fakeCid('restore-write'), record,
    };
    await pause();
    const next = await buildSyntheticRepo(did, 5, [], [{ collection: 'app.bsky.feed.post', rkey, record }]);
    // The live consumer meets the write while the first CAR downloads: the deletion marker still stands.
    const fetch = fetchThen('getRepo', async () => {
      expect((await indexBatch([live], db.ports)).outcomes).toEqual([{ status: 'ok' }]);
      expect(await count(`select uri from record where uri = $1`, [uri])).toBe(0);
      pds.set(did, next.car);
      plc.set(did, repoDoc(did, next.didKey, pds.url));
    });
    const { reports } = await backfillRepos([{ did }], ports({ fetch }));
    expect(reports[0]).toMatchObject({ status: 'synchronized', created: 6 });
    expect(pds.requests.get(did)).toBe(2);
    expect(await count(`select uri from record where uri = $1`, [uri])).toBe(1);
    expect(await count(`select uri from post where uri = $1`, [uri])).toBe(1);
    expect(await db.sql.query(`select status from repo_sync where did = $1`, [did])).toEqual([{ status: 'synchronized' }]);
  });
});
