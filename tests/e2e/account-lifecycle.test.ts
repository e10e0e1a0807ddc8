// Account events through the live pipeline against a real PDS: an edit just before a deactivation, deactivation and
// reactivation, and deletion, each ending with the index equal to the PDS's truth. Deleted and reactivated accounts are resynced through
// repo_backfill; a deletion is confirmed by the PDS (RepoNotFound) before the account's rows go.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFullPipeline } from '../helpers/full-pipeline.ts';
import type { RunningPipeline } from '../helpers/pipeline.ts';
import { startDevNetwork, type DevNetwork, type DevUser } from '../helpers/dev-network.ts';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { createTestRedis } from '../helpers/services.ts';
import { readTruth } from '../helpers/pds-truth.ts';
import { readIndex } from '../helpers/read-index.ts';
import { checkRows } from '../../functions/sql-rows.ts';

let network: DevNetwork;
let db: IndexDb;
let cleanupRedis: () => Promise<void>;
let pipeline: RunningPipeline;

beforeAll(async () => {
  [network, db] = await Promise.all([startDevNetwork(), createIndexDb('e2e_accounts')]);
  const r = await createTestRedis('e2e_accounts');
  cleanupRedis = r.cleanup;
  // `skytide run --only firehose,index,backfill` from the PDS's whole history.
  pipeline = startFullPipeline({ redisKeyPrefix: r.prefix, databaseUrl: db.url, host: network.firehoseHost, plcUrl: network.plcUrl, handleResolverUrl: network.pdsUrl, initialCursor: 0 });
}, 120_000);

afterAll(async () => {
  await pipeline?.stop();
  await Promise.all([network?.close(), db?.close(), cleanupRedis?.()]);
});

const settle = async () => pipeline.settle(await network.latestSeq());

const status = async (did: string) => (checkRows(await db.sql.query(`select "upstreamStatus" as s from actor where did = $1`, [did]), { s: 'string?' }))[0]?.s;

describe('e2e: account lifecycle through the live pipeline', () => {
  let vic: DevUser;
  let wes: DevUser;

  it('deactivation is recorded, and after reactivation the index equals the PDS truth', async () => {
    vic = await network.createUser('vic');
    wes = await network.createUser('wes');
    const post = await vic.agent.post({ text: 'before a break', createdAt: new Date().toISOString() });
    await wes.agent.like(post.uri, post.cid);
    await wes.agent.follow(vic.did);
    await settle();
    // A profile edit and a deactivation right after it: the PDS sends both at once, so they share a batch. The edit
    // was made while the account was active and counts; the deactivation counts from its own time on.
    await vic.agent.upsertProfile(() => ({ displayName: 'Vic, away for a while' }));
    await vic.agent.com.atproto.server.deactivateAccount({});
    await settle();
    expect(await status(vic.did)).toBe('deactivated');
    expect(await db.sql.query(`select "displayName" from profile where creator = $1`, [vic.did])).toEqual([{ displayName: 'Vic, away for a while' }]);
    await vic.agent.com.atproto.server.activateAccount();
    await vic.agent.post({ text: 'back again', createdAt: new Date().toISOString() });
    await settle();
    expect(await status(vic.did)).toBeNull();
    expect(await readIndex(db.sql, [vic.did, wes.did])).toEqual(await readTruth([vic, wes]));
  });

  it('a deletion, confirmed by the PDS, removes the account and corrects the counts it fed', async () => {
    await vic.agent.follow(wes.did);
    await settle();
    const res = await fetch(`${network.pdsUrl}/xrpc/com.atproto.admin.deleteAccount`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('admin:admin-pass').toString('base64')}` },
      body: JSON.stringify({ did: vic.did }),
    });
    expect(res.status).toBe(200);
    await settle();
    // Confirmed: the marker is skytide's own, and no AppView row of the account is left.
    expect(await db.sql.query(`select status from repo_sync where did = $1`, [vic.did])).toEqual([{ status: 'deleted' }]);
    expect(await status(vic.did)).toBeUndefined();
    expect(await db.sql.query(`select count(*)::int as n from record where did = $1`, [vic.did])).toEqual([{ n: 0 }]);
    expect(await db.sql.query(`select "followersCount" from profile_agg where did = $1`, [wes.did])).toEqual([{ followersCount: 0 }]);
    expect(await readIndex(db.sql, [wes.did])).toEqual(await readTruth([wes], [vic.did]));
  });
});
