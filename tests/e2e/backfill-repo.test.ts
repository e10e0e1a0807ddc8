// Issue 3 end to end: verified whole-repo backfills from a real PDS and PLC (@atproto/dev-env) with the firehose
// off, through repo_backfill and its consumer, POST /reprocess/:did after edits and deletes, and backfill racing live
// events in both orders. Issue 8: handles verified by a backfill alone, an answer from a stale PDS checked against a
// fresh DID document, and a confirmed deletion that leaves nothing behind until a valid repo restores the account.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import { createHandleResolver } from '../../adapters/identity/handle-resolver.ts';
import { verifiedHandle } from '../../functions/atproto/identity/handle.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
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
import { account, del, identity as identityEvent, like, post, write } from '../helpers/events.ts';
import { checkRows } from '../../functions/sql-rows.ts';

let network: DevNetwork;
let db: IndexDb;
let redis: Redis;
let cleanupRedis: () => Promise<void>;
let users: DevUser[];
let ports: BackfillPorts;
/** A PDS that has no repo at all: every getRepo is RepoNotFound. Counts the calls it got. */
let gonePds: { url: string; calls: number; close(): Promise<void> };
/**
 * The real identity resolver, except for DIDs sent elsewhere: `stale` DIDs resolve to the gone PDS the first time they
 * are asked (the account moved just after: the backfill fetches the document afresh when it verifies handles, so a
 * cache cannot stand for this); `moved` DIDs resolve to it every time (a deletion).
 */
const stale = new Set<string>();
const moved = new Set<string>();
let identity: IdentityResolver;

async function startGonePds(): Promise<typeof gonePds> {
  const state = { calls: 0 };
  const server = http.createServer((req, res) => {
    state.calls++;
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'RepoNotFound', message: `Could not find repo: ${req.url}` }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get calls() { return state.calls; },
    set calls(n) { state.calls = n; },
    close: () => new Promise((r) => server.close(() => r())),
  };
}

beforeAll(async () => {
  [network, db] = await Promise.all([startDevNetwork(), createIndexDb('e2e_backfill')]);
  ({ redis, cleanup: cleanupRedis } = await createTestRedis('e2e_backfill'));
  users = [];
  for (const name of ['dora', 'eli', 'fay']) users.push(await network.createUser(name));
  await seedContent(users);
  gonePds = await startGonePds();
  const real = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: network.plcUrl, allowPrivate: true });
  identity = {
    async resolve(did, options): Promise<AtprotoIdentity> {
      const found = await real.resolve(did, options);
      const elsewhere = moved.has(did) || stale.delete(did);
      return elsewhere ? { ...found, pds: gonePds.url } : found;
    },
  };
  ports = {
    clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch, identity,
    handles: createHandleResolver({ fetch: globalThis.fetch, serviceUrl: network.pdsUrl }),
  };
}, 120_000);

afterAll(async () => {
  await Promise.all([network?.close(), db?.close(), cleanupRedis?.(), gonePds?.close()]);
});

/** Accounts whose deletion the tests confirmed: their subjects have no counts. */
const deleted: string[] = [];
/** Posts deleted on the PDS after they were quoted: the quote rows went with them (pds-truth.ts). */
const removedPosts: string[] = [];
const truth = () => readTruth(users, deleted, removedPosts);

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
    const sync = checkRows(await db.sql.query(`select did, status from repo_sync order by did`), { did: 'string', status: 'string' });
    expect(sync).toEqual(users.map((u) => ({ did: u.did, status: 'synchronized' })).sort((a, b) => (a.did < b.did ? -1 : 1)));
    // No #identity was ever seen: the backfill verified each handle both ways and stored it.
    expect(await db.sql.query(`select did, handle from actor order by did`)).toEqual(
      users.map((u) => ({ did: u.did, handle: u.handle })).sort((a, b) => (a.did < b.did ? -1 : 1)),
    );
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
    const followers = async () => (checkRows(await db.sql.query(`select "followersCount" as n from profile_agg where did = $1`, [dora.did]), { n: 'number' }))[0]?.n;
    const before = await followers();
    const res = await fetch(`${network.pdsUrl}/xrpc/com.atproto.admin.deleteAccount`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('admin:admin-pass').toString('base64')}` },
      body: JSON.stringify({ did: gus.did }),
    });
    expect(res.status).toBe(200);
    const { reports } = await backfillRepos([{ did: gus.did }], ports);
    expect(reports[0]).toMatchObject({ status: 'unavailable', reason: 'RepoNotFound', deleted: 3 });
    expect(await db.sql.query(`select count(*)::int as n from record where did = $1`, [gus.did])).toEqual([{ n: 0 }]);
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
    // Her newest post, which Eli's post quotes (seed.ts): the backfill's delete takes the quote row with it.
    await dora.agent.deletePost(posts.data.records[0]!.uri);
    removedPosts.push(posts.data.records[0]!.uri);
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

  it('RepoNotFound from the PDS an outdated DID document names is checked against a fresh document, and the repo fetched from the new PDS', async () => {
    const [dora] = users as [DevUser];
    stale.add(dora.did);
    gonePds.calls = 0;
    try {
      const { outcomes, reports } = await backfillRepos([{ did: dora.did }], ports);
      expect(outcomes[0]).toEqual({ status: 'ok' });
      expect(reports[0]).toMatchObject({ status: 'synchronized' });
      expect(gonePds.calls).toBe(1);
    } finally {
      stale.delete(dora.did);
    }
    expect(await db.sql.query(`select status from repo_sync where did = $1`, [dora.did])).toEqual([{ status: 'synchronized' }]);
    expect(await db.sql.query(`select handle from actor where did = $1`, [dora.did])).toEqual([{ handle: dora.handle }]);
    expect(await readIndex(db.sql, users.map((u) => u.did))).toEqual(await truth());
  });

  it('a confirmed deletion leaves no row of the DID and exact counts; older events bring nothing back; a valid repo restores it', async () => {
    const [dora, eli, fay] = users as [DevUser, DevUser, DevUser];
    const at = () => new Date().toISOString();
    const ivy = await network.createUser('ivy');
    await ivy.agent.upsertProfile(() => ({ displayName: 'Ivy' }));
    const ivyPost = await ivy.agent.post({ text: 'ivy was here', createdAt: at() });
    await ivy.agent.post({ text: 'ivy answers herself', createdAt: at(), reply: { root: ivyPost, parent: ivyPost } });
    await ivy.agent.like(ivyPost.uri, ivyPost.cid);
    const { data: doraPosts } = await dora.agent.com.atproto.repo.listRecords({ repo: dora.did, collection: 'app.bsky.feed.post', limit: 1 });
    const doraPost = { uri: doraPosts.records[0]!.uri, cid: doraPosts.records[0]!.cid };
    await ivy.agent.like(doraPost.uri, doraPost.cid);
    await ivy.agent.repost(doraPost.uri, doraPost.cid);
    await ivy.agent.follow(dora.did);
    await ivy.agent.post({ text: 'ivy quotes dora', createdAt: at(), embed: { $type: 'app.bsky.embed.record', record: doraPost } });
    await dora.agent.like(ivyPost.uri, ivyPost.cid);
    await eli.agent.repost(ivyPost.uri, ivyPost.cid);
    await eli.agent.post({ text: 'eli answers ivy', createdAt: at(), reply: { root: ivyPost, parent: ivyPost } });
    await fay.agent.post({ text: 'fay quotes ivy', createdAt: at(), embed: { $type: 'app.bsky.embed.record', record: ivyPost } });
    await fay.agent.follow(ivy.did);
    const everyone = [...users, ivy];
    await backfillRepos(everyone.map((u) => ({ did: u.did })), ports);
    expect(await readIndex(db.sql, everyone.map((u) => u.did))).toEqual(await readTruth(everyone, deleted, removedPosts));

    // Its PDS no longer has it, even after the document is asked again: a confirmed deletion.
    moved.add(ivy.did);
    const { reports } = await backfillRepos([{ did: ivy.did }], ports);
    expect(reports[0]).toMatchObject({ status: 'unavailable', reason: 'RepoNotFound', deleted: 8 });
    expect(await rowsOf(ivy.did)).toEqual({});
    expect(await db.sql.query(`select status from repo_sync where did = $1`, [ivy.did])).toEqual([{ status: 'deleted' }]);
    expect(await readIndex(db.sql, users.map((u) => u.did))).toEqual(await readTruth(users, [...deleted, ivy.did], removedPosts));

    // Older events, live or from a backfill, bring nothing back; nor do others' likes of its records give them counts.
    const old = { did: ivy.did, collection: 'app.bsky.feed.post', rkey: '3kaaaaaaaaaaa' };
    await indexBatch(
      [write({ ...old, rev: 1, record: post('from before') }), { ...write({ ...old, rkey: '3kaaaaaaaaaab', rev: 2, record: post('a backfill') }), seq: -2 },
        del({ ...old, rkey: '3kaaaaaaaaaac', rev: 3 }), identityEvent(ivy.did, ivy.handle, 4), account(ivy.did, true, undefined, 5),
        write({ did: eli.did, collection: 'app.bsky.feed.like', rkey: '3kaaaaaaaaaad', rev: 6, record: like(ivyPost.uri, ivyPost.cid) })],
      ports,
    );
    expect(await rowsOf(ivy.did)).toEqual({});
    await db.sql.query(`delete from "like" where uri = $1`, [`at://${eli.did}/app.bsky.feed.like/3kaaaaaaaaaad`]);
    await db.sql.query(`delete from record where uri = $1`, [`at://${eli.did}/app.bsky.feed.like/3kaaaaaaaaaad`]);
    await eli.agent.like(ivyPost.uri, ivyPost.cid);
    await backfillRepos([{ did: eli.did }], ports);
    expect(await rowsOf(ivy.did)).toEqual({});
    expect(await db.sql.query(`select count(*)::int as n from "like" where subject = $1 and creator = $2`, [ivyPost.uri, eli.did])).toEqual([{ n: 1 }]);

    // A valid repo again (say it moved back): the account is restored, its subjects recounted from the rows.
    moved.delete(ivy.did);
    const restored = await backfillRepos([{ did: ivy.did }], ports);
    expect(restored.reports[0]).toMatchObject({ status: 'synchronized', created: 8 });
    expect(await readIndex(db.sql, everyone.map((u) => u.did))).toEqual(await readTruth(everyone, deleted, removedPosts));
    expect(await db.sql.query(`select handle from actor where did = $1`, [ivy.did])).toEqual([{ handle: ivy.handle }]);
    expect(await db.sql.query(`select count(*)::int as n from deleted_subject where did = $1`, [ivy.did])).toEqual([{ n: 0 }]);
    users.push(ivy);
  });

  // NOTE: last, because it edits rows by hand (a fresh record row) and leaves eli's postsCount one too high.
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
    const text = async () => (checkRows(await db.sql.query(`select text from post where uri = $1`, [created.uri]), { text: 'string' }))[0]?.text;

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

/** Where an account's own rows live in each AppView table, keyed the way that table keys them. */
const OWNED: Record<string, string> = {
  record: 'did = $1', actor: 'did = $1', actor_sync: 'did = $1', post: 'creator = $1', like: 'creator = $1',
  repost: 'creator = $1', follow: 'creator = $1', actor_block: 'creator = $1', profile: 'creator = $1',
  feed_item: `"originatorDid" = $1`, quote: `split_part(uri, '/', 3) = $1`,
  post_embed_image: `split_part("postUri", '/', 3) = $1`, post_embed_external: `split_part("postUri", '/', 3) = $1`,
  post_embed_record: `split_part("postUri", '/', 3) = $1`, post_embed_video: `split_part("postUri", '/', 3) = $1`,
  post_agg: `split_part(uri, '/', 3) = $1`, profile_agg: 'did = $1',
};

/** The number of rows of `did` in each AppView table that has any (an empty object: none anywhere). */
async function rowsOf(did: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [table, where] of Object.entries(OWNED)) {
    const [row] = checkRows(await db.sql.query(`select count(*)::int as n from "${table}" where ${where}`, [did]), { n: 'number' });
    if ((row?.n ?? 0) > 0) out[table] = row!.n;
  }
  return out;
}
