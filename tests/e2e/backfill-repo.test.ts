// Issue 3 end to end: verified whole-repo backfills from a real PDS and PLC (@atproto/dev-env) with the firehose
// off, through repo_backfill and its consumer, POST /reprocess/:did after edits and deletes, and backfill racing live
// events in both orders.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import { createHandleResolver } from '../../adapters/identity/handle-resolver.ts';
import { verifiedHandle } from '../../functions/atproto/identity/handle.ts';
import { createApp } from '../../adapters/http/app.ts';
import { createMetrics } from '../../adapters/observability/metrics.ts';
import { runStreamConsumer } from '../../long-runners/consumer/stream-consumer.ts';
import { parseRepoFields } from '../../long-runners/consumer/parse-repo-fields.ts';
import { runSweep } from '../../long-runners/sweeper/sweep.ts';
import { backfillRepos, type BackfillPorts } from '../../functions/backfill-repo/handler.ts';
import { indexBatch } from '../../functions/index/handler.ts';
import { parseStreamEvent } from '../../functions/events.ts';
import { emitToStream } from '../../adapters/redis/emit-events.ts';
import { noMetrics, silentLog, systemClock } from '../../functions/ports.ts';
import { startDevNetwork, type DevNetwork, type DevUser } from '../helpers/dev-network.ts';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { createTestRedis } from '../helpers/services.ts';
import { readTruth } from '../helpers/pds-truth.ts';
import { readIndex } from '../helpers/read-index.ts';
import { seedContent } from '../helpers/seed.ts';
import { waitFor } from '../helpers/wait.ts';

let network: DevNetwork;
let db: IndexDb;
let redis: Redis;
let cleanupRedis: () => Promise<void>;
let users: DevUser[];
let ports: BackfillPorts;

beforeAll(async () => {
  [network, db] = await Promise.all([startDevNetwork(), createIndexDb('e2e_backfill')]);
  ({ redis, cleanup: cleanupRedis } = await createTestRedis('e2e_backfill'));
  users = [];
  for (const name of ['dora', 'eli', 'fay']) users.push(await network.createUser(name));
  await seedContent(users);
  ports = {
    clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch,
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: network.plcUrl, allowPrivate: true }),
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([network?.close(), db?.close(), cleanupRedis?.()]);
});

/** Accounts whose deletion the tests confirmed: their subjects have no counts. */
const deleted: string[] = [];
const truth = () => readTruth(users, deleted);

describe('e2e: verified repo backfill from a real PDS', () => {
  it('queueing every account in repo_backfill yields a database equal to the PDS truth', async () => {
    const keys: KeySpace = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
    for (const u of users) await redis.xadd(keys.stream(STREAMS.repoBackfill), '*', 'repo', JSON.stringify({ did: u.did, host: network.pdsUrl }));
    const controller = new AbortController();
    const consumers = [0, 1].map((i) =>
      runStreamConsumer({
        redis, keys, stream: STREAMS.repoBackfill, group: GROUPS.repoBackfill, consumer: `bf-${i}`, batchSize: 1, blockMs: 50,
        claimIdleMs: 30_000, maxAttempts: 3, parse: parseRepoFields, handle: async (items) => (await backfillRepos(items, ports)).outcomes,
        log: silentLog, metrics: noMetrics, signal: controller.signal,
      }),
    );
    const stream = keys.stream(STREAMS.repoBackfill);
    await waitFor(async () => (await redis.xlen(stream)) + Number(((await redis.xpending(stream, GROUPS.repoBackfill)) as [number])[0]), (n) => n === 0, 'backfill drained', 60_000);
    controller.abort();
    await Promise.all(consumers);
    expect(await redis.xlen(keys.dlq(STREAMS.repoBackfill))).toBe(0);
    expect(await readIndex(db.sql, users.map((u) => u.did))).toEqual(await truth());
    const sync = await db.sql.query<{ did: string; status: string }>(`select did, status from repo_sync order by did`);
    expect(sync).toEqual(users.map((u) => ({ did: u.did, status: 'synchronized' })).sort((a, b) => (a.did < b.did ? -1 : 1)));
  });

  it('a sweep of the PDS plus the backfill consumer yields the truth, and a second sweep queues nothing in sync', async () => {
    const keys: KeySpace = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
    await db.sql.query('truncate repo_sync');
    const first = await runSweep({ redis, keys, sql: db.sql, fetch: globalThis.fetch, host: network.pdsUrl, highWaterMark: 1000, log: silentLog, metrics: noMetrics, signal: new AbortController().signal });
    expect(first).toMatchObject({ listed: users.length, queued: users.length, done: true });
    const controller = new AbortController();
    const consumer = runStreamConsumer({
      redis, keys, stream: STREAMS.repoBackfill, group: GROUPS.repoBackfill, consumer: 'sweep-bf', batchSize: 1, blockMs: 50,
      claimIdleMs: 30_000, maxAttempts: 3, parse: parseRepoFields, handle: async (items) => (await backfillRepos(items, ports)).outcomes,
      log: silentLog, metrics: noMetrics, signal: controller.signal,
    });
    const stream = keys.stream(STREAMS.repoBackfill);
    await waitFor(async () => (await redis.xlen(stream)) + Number(((await redis.xpending(stream, GROUPS.repoBackfill)) as [number])[0]), (n) => n === 0, 'sweep drained', 60_000);
    controller.abort();
    await consumer;
    expect(await readIndex(db.sql, users.map((u) => u.did))).toEqual(await truth());
    const second = await runSweep({ redis, keys, sql: db.sql, fetch: globalThis.fetch, host: network.pdsUrl, highWaterMark: 1000, log: silentLog, metrics: noMetrics, signal: new AbortController().signal });
    expect(second).toMatchObject({ listed: users.length, queued: 0, skippedInSync: users.length });
  });

  it('an account deleted on its PDS is confirmed there and unindexed, with the counts it fed corrected', async () => {
    const [dora, eli] = users as [DevUser, DevUser];
    const gus = await network.createUser('gus');
    const gusPost = await gus.agent.post({ text: 'soon gone', createdAt: new Date().toISOString() });
    await gus.agent.follow(dora.did);
    const { data: doraPosts } = await dora.agent.com.atproto.repo.listRecords({ repo: dora.did, collection: 'app.bsky.feed.post', limit: 1 });
    await gus.agent.like(doraPosts.records[0]!.uri, doraPosts.records[0]!.cid);
    await eli.agent.like(gusPost.uri, gusPost.cid);
    await backfillRepos([{ did: gus.did }, { did: eli.did }], ports);
    const followers = async () => (await db.sql.query<{ n: number }>(`select "followersCount" as n from profile_agg where did = $1`, [dora.did]))[0]?.n;
    const before = await followers();
    const res = await fetch(`${network.pdsUrl}/xrpc/com.atproto.admin.deleteAccount`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('admin:admin-pass').toString('base64')}` },
      body: JSON.stringify({ did: gus.did }),
    });
    expect(res.status).toBe(200);
    const { reports } = await backfillRepos([{ did: gus.did }], ports);
    expect(reports[0]).toMatchObject({ status: 'unavailable', reason: 'RepoNotFound', deleted: 3 });
    expect(await db.sql.query(`select count(*)::int as n from record where did = $1 and json <> ''`, [gus.did])).toEqual([{ n: 0 }]);
    expect(await followers()).toBe(before! - 1);
    deleted.push(gus.did);
    expect(await readIndex(db.sql, users.map((u) => u.did))).toEqual(await truth());
  });

  it('verifies handles both ways: the document claims it and the handle resolves back to the DID', async () => {
    const handles = createHandleResolver({ fetch: globalThis.fetch, serviceUrl: network.pdsUrl });
    for (const u of users) {
      const identity = await ports.identity.resolve(u.did);
      expect(identity.claimedHandle).toBe(u.handle);
      expect(await verifiedHandle(identity, handles)).toBe(u.handle);
      // The same claim on another DID does not verify.
      expect(await verifiedHandle({ ...identity, did: 'did:plc:impostor00000000000000000' }, handles)).toBeUndefined();
    }
  });

  it('POST /reprocess/:did after edits and deletes on the PDS makes the database equal again, deletions included', async () => {
    const [dora] = users as [DevUser];
    const posts = await dora.agent.com.atproto.repo.listRecords({ repo: dora.did, collection: 'app.bsky.feed.post' });
    await dora.agent.deletePost(posts.data.records[0]!.uri);
    await dora.agent.upsertProfile((p) => ({ ...p, displayName: 'Dora (reprocessed)' }));
    const bundle = createMetrics({ hosts: [], streams: [] });
    const app = createApp({
      auth: { dev: false, token: 't' }, bodyLimitBytes: 1 << 20, ports: { ...ports, metrics: bundle.metrics },
      metrics: { contentType: 'text/plain', render: async () => '' }, readiness: [], backfill: ports,
    });
    const res = await app.request(`/reprocess/${dora.did}`, { method: 'POST', headers: { authorization: 'Bearer t' } });
    expect(res.status).toBe(200);
    const report = await res.json();
    expect(report).toMatchObject({ did: dora.did, status: 'synchronized', deleted: 1, updated: 1 });
    expect(await readIndex(db.sql, users.map((u) => u.did))).toEqual(await truth());
    const unauthorized = await app.request(`/reprocess/${dora.did}`, { method: 'POST' });
    expect(unauthorized.status).toBe(401);
  });

  it('can write the repo to firehose_backfill instead, for separate indexers, in the event format the index reads', async () => {
    const [, , fay] = users as [DevUser, DevUser, DevUser];
    const keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
    const stream = keys.stream(STREAMS.firehoseBackfill);
    const { reports } = await backfillRepos([{ did: fay.did }], { ...ports, emit: (events) => emitToStream(redis, stream, events) });
    const entries = (await redis.xrange(stream, '-', '+')).map(([, f]) => JSON.parse(f[1]!));
    const records = (await truth()).records.filter((r) => r.uri.startsWith(`at://${fay.did}/`));
    expect(entries.filter((e) => e.type === 'create').map((e) => `at://${e.did}/${e.collection}/${e.rkey}`).sort()).toEqual(records.map((r) => r.uri).sort());
    expect(entries.every((e) => e.seq === -2 && e.rev === reports[0]!.rev)).toBe(true);
    expect(entries.at(-1)).toMatchObject({ type: 'repo', did: fay.did, rev: reports[0]!.rev });
    expect(entries.map((e) => parseStreamEvent(e).ok)).not.toContain(false);
  });

  it('a backfill racing live events never leaves the older version in place, in either order', async () => {
    const [, eli] = users as [DevUser, DevUser];
    const created = await eli.agent.post({ text: 'version one', createdAt: new Date().toISOString() });
    // Capture the CAR as it is now (version one), to apply it after a newer live event.
    const car = new Uint8Array(await (await fetch(`${network.pdsUrl}/xrpc/com.atproto.sync.getRepo?did=${eli.did}`)).arrayBuffer());
    const staleFetch: typeof fetch = async (url, init) => (String(url).includes('getRepo') ? new Response(car) : fetch(url, init));
    const rkey = created.uri.split('/').pop()!;
    await eli.agent.com.atproto.repo.putRecord({ repo: eli.did, collection: 'app.bsky.feed.post', rkey, record: { $type: 'app.bsky.feed.post', text: 'version two', createdAt: new Date().toISOString() } });
    const latest = await eli.agent.com.atproto.sync.getLatestCommit({ did: eli.did });
    const live = (await eli.agent.com.atproto.repo.getRecord({ repo: eli.did, collection: 'app.bsky.feed.post', rkey })).data;
    const liveEvent = {
      type: 'update' as const, seq: 1, time: new Date().toISOString(), did: eli.did, commit: latest.data.cid, rev: latest.data.rev,
      collection: 'app.bsky.feed.post', rkey, cid: live.cid!, record: { $type: 'app.bsky.feed.post', text: 'version two', createdAt: (live.value as { createdAt: string }).createdAt },
    };
    const text = async () => (await db.sql.query<{ text: string }>(`select text from post where uri = $1`, [created.uri]))[0]?.text;

    // Order 1: the live update lands first, then the older CAR.
    await indexBatch([liveEvent], { ...ports });
    await backfillRepos([{ did: eli.did }], { ...ports, fetch: staleFetch });
    expect(await text()).toBe('version two');

    // Order 2: the older CAR lands first (a fresh record row), then the live update.
    await db.sql.query(`delete from record where uri = $1`, [created.uri]);
    await db.sql.query(`delete from post where uri = $1`, [created.uri]);
    await backfillRepos([{ did: eli.did }], { ...ports, fetch: staleFetch });
    expect(await text()).toBe('version one');
    await indexBatch([liveEvent], { ...ports });
    expect(await text()).toBe('version two');
  });
});
