// Issue 2's vertical slice end to end: a real PDS and PLC (@atproto/dev-env) on loopback, its real firehose through
// the adapter and firehose_live, the index function, and Postgres, compared table by table with what the PDS holds.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { startDevNetwork, type DevNetwork, type DevUser } from '../helpers/dev-network.ts';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { createTestRedis } from '../helpers/services.ts';
import { readTruth } from '../helpers/pds-truth.ts';
import { readIndex } from '../helpers/read-index.ts';
import { seedContent } from '../helpers/seed.ts';
import { startPipeline, type RunningPipeline } from '../helpers/pipeline.ts';
import { checkRows } from '../../functions/sql-rows.ts';

let network: DevNetwork;
let db: IndexDb;
let redis: Redis;
let redisPrefix: string;
let cleanupRedis: () => Promise<void>;
let users: DevUser[];
let pipeline: RunningPipeline;

beforeAll(async () => {
  [network, db] = await Promise.all([startDevNetwork(), createIndexDb('e2e_firehose')]);
  const r = await createTestRedis('e2e_firehose');
  redis = r.redis;
  redisPrefix = r.prefix;
  cleanupRedis = r.cleanup;
  users = [];
  for (const name of ['alice', 'bob', 'carol']) users.push(await network.createUser(name));
}, 120_000);

afterAll(async () => {
  await pipeline?.stop();
  await Promise.all([network?.close(), db?.close(), cleanupRedis?.()]);
});

/** Posts deleted after they were quoted: their quote rows went with them (pds-truth.ts). */
const removedPosts: string[] = [];
const truth = () => readTruth(users, [], removedPosts);

describe('e2e: a real PDS firehose into the AppView schema', () => {
  it('replays history from cursor 0 into tables equal to the PDS truth, aggregates included', async () => {
    await seedContent(users);
    // `skytide run --only firehose,index`: every commit passes the sync 1.1 checks (signature against the PLC
    // document, op proofs, inversion to prevData); handles are verified both ways through the PDS.
    pipeline = startPipeline({ redisKeyPrefix: redisPrefix, databaseUrl: db.url, host: network.firehoseHost, plcUrl: network.plcUrl, handleResolverUrl: network.pdsUrl, initialCursor: 0 });
    await pipeline.settle(await network.latestSeq());
    // No commit was rejected: nothing was queued for resync but the #sync of each new account (by the adapter) and,
    // by the index, which `skytide run` lets queue too, one account_active per account (its #account event on
    // creation: an account that becomes active is fetched whole, functions/index/handler.ts).
    const resyncs = (await redis.xrange(pipeline.resources.keys.stream('repo_backfill'), '-', '+')).map(([, f]) => JSON.parse(f[1]!) as { did: string; reason: string });
    expect(resyncs.filter((r) => r.reason !== 'sync_event').map((r) => `${r.did} ${r.reason}`).sort()).toEqual(users.map((u) => `${u.did} account_active`).sort());
    const expected = await truth();
    expect(expected.posts.length).toBeGreaterThanOrEqual(9);
    expect(expected.quotes.length).toBe(2);
    const actual = await readIndex(db.sql, users.map((u) => u.did));
    expect(actual).toEqual(expected);
    // Deleted records leave `record` (as in the AppView) and keep their rev in record_tombstone.
    const tombstones = checkRows(await db.sql.query(`select count(*)::int as n from record_tombstone`), { n: 'number' });
    expect(tombstones[0]?.n).toBe(6); // a post, two likes, a repost, a follow and a block
    const actorHandles = await db.sql.query(`select did, handle from actor order by handle`);
    expect(actorHandles).toEqual(users.map((u) => ({ did: u.did, handle: u.handle })).sort((a, b) => (a.handle < b.handle ? -1 : 1)));
  });

  it('keeps following live writes: new posts, edits and deletes', async () => {
    const [alice, bob, carol] = users as [DevUser, DevUser, DevUser];
    const fresh = await alice.agent.post({ text: 'live post', createdAt: new Date().toISOString() });
    await bob.agent.like(fresh.uri, fresh.cid);
    await carol.agent.repost(fresh.uri, fresh.cid);
    await bob.agent.post({ text: 'live reply', createdAt: new Date().toISOString(), reply: { root: fresh, parent: fresh } });
    await carol.agent.upsertProfile((p) => ({ ...p, displayName: 'Carol (live)' }));
    await carol.agent.com.atproto.identity.updateHandle({ handle: 'carol-renamed.test' });
    const { data } = await alice.agent.com.atproto.repo.listRecords({ repo: alice.did, collection: 'app.bsky.feed.post', limit: 1, reverse: true });
    // Her oldest post, the root Carol quoted (seed.ts): the quote row goes with it, as in the AppView.
    await alice.agent.deletePost(data.records[0]!.uri);
    removedPosts.push(data.records[0]!.uri);
    await pipeline.settle(await network.latestSeq());
    expect(await readIndex(db.sql, users.map((u) => u.did))).toEqual(await truth());
    // The new handle, verified both ways (DID document and handle resolution agree).
    expect(await db.sql.query(`select handle from actor where did = $1`, [carol.did])).toEqual([{ handle: 'carol-renamed.test' }]);
  });
});
