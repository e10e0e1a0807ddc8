// Issue 11's "must show": every record type the AppView indexes, written through a real PDS, indexed by skytide from
// the PDS's firehose AND by the real AppView (@atproto/dev-env's TestNetwork runs @atproto/bsky on the same PDS); the
// typed rows, the post flags the gates set, the counts and the notifications must equal the AppView's, read from its
// own database (what its API serves) and, for notifications, through its API.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevUser } from '../helpers/dev-network.ts';
import { startAppViewNetwork, type AppViewNetwork } from '../helpers/appview-network.ts';
import { createIndexDatabase, type IndexDb } from '../helpers/index-db.ts';
import { createTestRedis } from '../helpers/services.ts';
import { startPipeline, type RunningPipeline } from '../helpers/pipeline.ts';
import { checkRows } from '../../functions/sql-rows.ts';

let network: AppViewNetwork;
let db: IndexDb;
let redisPrefix: string;
let cleanupRedis: () => Promise<void>;
let pipeline: RunningPipeline | undefined;

beforeAll(async () => {
  // A database of its own (schema `public`): the AppView served from it takes only schema names of letters and underscores.
  [network, db] = await Promise.all([startAppViewNetwork(), createIndexDatabase('e2e_parity')]);
  const r = await createTestRedis('e2e_parity');
  redisPrefix = r.prefix;
  cleanupRedis = r.cleanup;
}, 180_000);

afterAll(async () => {
  await pipeline?.stop();
  await Promise.all([network?.close(), db?.close(), cleanupRedis?.()]);
});

type Ref = { uri: string; cid: string };
const now = () => new Date().toISOString();
const rkeyOf = (uri: string) => uri.split('/').pop() as string;

async function create(u: DevUser, collection: string, record: Record<string, unknown>, rkey?: string, validate?: false): Promise<Ref> {
  const { data } = await u.agent.com.atproto.repo.createRecord({
    repo: u.did, collection, record: { $type: collection, ...record }, ...(rkey === undefined ? {} : { rkey }), ...(validate === false ? { validate } : {}),
  });
  return { uri: data.uri, cid: data.cid };
}
/** A record written past the PDS's lexicon check (`validate: false`), as a client may. */
const unchecked = (u: DevUser, collection: string, record: Record<string, unknown>) => create(u, collection, record, undefined, false);
const remove = (u: DevUser, uri: string) => u.agent.com.atproto.repo.deleteRecord({ repo: u.did, collection: uri.split('/')[3]!, rkey: rkeyOf(uri) });
const post = (u: DevUser, text: string, extra: Record<string, unknown> = {}) => create(u, 'app.bsky.feed.post', { text, createdAt: now(), ...extra });
const reply = (u: DevUser, text: string, root: Ref, parent: Ref = root) => post(u, text, { reply: { root, parent } });
const quote = (u: DevUser, text: string, subject: Ref) => post(u, text, { embed: { $type: 'app.bsky.embed.record', record: subject } });
const tick = () => new Promise((r) => setTimeout(r, 5));

/**
 * The activity: every record type, gates before and after replies and quotes, via-repost likes and reposts. `settle`
 * waits for the AppView around the gates: it indexes different repos concurrently, so without it a reply written
 * before a gate may be judged after it (the AppView judges by arrival; skytide by the records' createdAt). It also
 * waits after each post another repo then replies to: the AppView looks the parent up when it indexes the reply, and
 * a parent from another repo not yet indexed makes the reply an invalid reply root with no reply notification (seen
 * in CI: "before the gate" and the two replies under it flagged, one notification missing).
 */
async function writeActivity(users: DevUser[], settle: () => Promise<void>): Promise<string[]> {
  const [alice, bob, carol, dave] = users as [DevUser, DevUser, DevUser, DevUser];
  // Lists: Alice's curate list with Carol on it; Bob's moderation list that Dave blocks.
  const list = await create(alice, 'app.bsky.graph.list', { name: 'Friends', purpose: 'app.bsky.graph.defs#curatelist', description: 'people', createdAt: now() });
  await create(alice, 'app.bsky.graph.listitem', { subject: carol.did, list: list.uri, createdAt: now() });
  const modlist = await create(bob, 'app.bsky.graph.list', { name: 'Mods', purpose: 'app.bsky.graph.defs#modlist', createdAt: now() });
  await create(bob, 'app.bsky.graph.listitem', { subject: alice.did, list: modlist.uri, createdAt: now() });
  await create(dave, 'app.bsky.graph.listblock', { subject: modlist.uri, createdAt: now() });
  // A starter pack, joined by Dave's new profile.
  const pack = await create(alice, 'app.bsky.graph.starterpack', { name: 'Start here', list: list.uri, createdAt: now() });
  await create(dave, 'app.bsky.actor.profile', { displayName: 'Dave', joinedViaStarterPack: pack, createdAt: now() }, 'self');
  // A feed generator and its like; a labeler service.
  const gen = await create(alice, 'app.bsky.feed.generator', { did: 'did:web:feed.example.com', displayName: 'Alice feed', description: 'a feed', createdAt: now() });
  await create(bob, 'app.bsky.feed.like', { subject: gen, createdAt: now() });
  await create(carol, 'app.bsky.labeler.service', { policies: { labelValues: ['spam'] }, createdAt: now() }, 'self');
  // Verifications: one stays, one is withdrawn.
  await create(alice, 'app.bsky.graph.verification', { subject: bob.did, handle: bob.handle, displayName: 'Bob', createdAt: now() });
  const withdrawn = await create(carol, 'app.bsky.graph.verification', { subject: dave.did, handle: dave.handle, displayName: 'Dave', createdAt: now() });
  await remove(carol, withdrawn.uri);

  // A thread gate (only the Friends list may reply) between replies; deleted later.
  const root = await post(alice, 'gated thread');
  await settle();
  const before = await reply(bob, 'before the gate', root);
  await settle();
  await tick();
  const gate = await create(alice, 'app.bsky.feed.threadgate', { post: root.uri, allow: [{ $type: 'app.bsky.feed.threadgate#listRule', list: list.uri }], createdAt: now() }, rkeyOf(root.uri));
  await settle();
  // One at a time for the AppView: it recounts replyCount in each reply's own transaction, and two replies to one post
  // indexed at once from two repos can both count one (as with quotes, below). skytide's counts are deltas.
  await reply(bob, 'after the gate', root);
  await settle();
  await reply(carol, 'on the list', root);
  await settle();
  await reply(dave, 'under the earlier reply, after the gate', root, before);
  await settle();
  await reply(alice, 'the author replies', root, before);
  await settle();
  await remove(alice, gate.uri);
  await settle();
  await reply(bob, 'after the gate is gone', root);

  // A post gate that disables quoting and detaches an earlier quote.
  const quoted = await post(alice, 'do not quote');
  await settle();
  const early = await quote(bob, 'early quote', quoted);
  await settle();
  await create(alice, 'app.bsky.feed.postgate', { post: quoted.uri, embeddingRules: [{ $type: 'app.bsky.feed.postgate#disableRule' }], detachedEmbeddingUris: [early.uri], createdAt: now() }, rkeyOf(quoted.uri));
  await settle();
  await quote(carol, 'late quote', quoted);
  // The AppView recounts quoteCount in each quote's own transaction: two quotes of one post indexed at once (from two
  // repos, which it indexes concurrently) can both count one (seen here: 2 for 3 quotes). skytide's deltas are exact.
  await settle();
  await quote(alice, 'the author may quote', quoted);

  // Likes and reposts via a repost; a mention; a follow; a like across a block.
  const hello = await post(alice, 'hello');
  await settle();
  const rp = await create(carol, 'app.bsky.feed.repost', { subject: hello, createdAt: now() });
  await settle();
  const daveLikes = await create(dave, 'app.bsky.feed.like', { subject: hello, via: rp, createdAt: now() });
  await settle();
  // The like updated without its via: the AppView keeps both notifications its first version made (CIDs too).
  await dave.agent.com.atproto.repo.putRecord({
    repo: dave.did, collection: 'app.bsky.feed.like', rkey: rkeyOf(daveLikes.uri), record: { $type: 'app.bsky.feed.like', subject: hello, createdAt: now() },
  });
  await settle();
  await create(dave, 'app.bsky.feed.repost', { subject: hello, via: rp, createdAt: now() });
  await settle();
  await create(alice, 'app.bsky.feed.like', { subject: hello, createdAt: now() });
  await post(dave, '@alice.test hi', { facets: [{ index: { byteStart: 0, byteEnd: 11 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did: alice.did }] }] });
  await create(dave, 'app.bsky.graph.follow', { subject: alice.did, createdAt: now() });
  // Duplicates: a second follow of the same account, a second like of the same post. This PDS replaces the first when
  // it checks a record (its backlink check); past the check (`validate: false`), on other PDSes and in records older
  // than the check, both stay in the repo. One row, count and notification per subject.
  await unchecked(dave, 'app.bsky.graph.follow', { subject: alice.did, createdAt: now() });
  await create(carol, 'app.bsky.feed.like', { subject: hello, createdAt: now() });
  await unchecked(carol, 'app.bsky.feed.like', { subject: hello, createdAt: now() });
  // A follow updated (putRecord, a new createdAt): the AppView keeps the notification its first version made, CID too.
  const carolFollows = await create(carol, 'app.bsky.graph.follow', { subject: bob.did, createdAt: now() });
  await settle();
  await carol.agent.com.atproto.repo.putRecord({
    repo: carol.did, collection: 'app.bsky.graph.follow', rkey: rkeyOf(carolFollows.uri), record: { $type: 'app.bsky.graph.follow', subject: bob.did, createdAt: now() },
  });
  const bobs = await post(bob, 'bob speaks');
  await settle();
  // Bob blocks Dave twice and withdraws the first block: the second holds the pair (viewer.blocking names it).
  const firstBlock = await create(bob, 'app.bsky.graph.block', { subject: dave.did, createdAt: now() });
  await unchecked(bob, 'app.bsky.graph.block', { subject: dave.did, createdAt: now() });
  await remove(bob, firstBlock.uri);
  await create(dave, 'app.bsky.feed.like', { subject: bobs, createdAt: now() });
  await reply(dave, 'replying anyway', bobs);
  // A post liked, reposted and quoted, then deleted: the AppView lists none of the notifications about it.
  const regretted = await post(carol, 'soon regretted');
  await settle();
  await create(alice, 'app.bsky.feed.like', { subject: regretted, createdAt: now() });
  await create(bob, 'app.bsky.feed.repost', { subject: regretted, createdAt: now() });
  await quote(dave, 'quoting the regretted', regretted);
  await settle();
  await remove(carol, regretted.uri);
  // The delete took Dave's quote row with it (the AppView's deleteFn), not its count; a quote made after the delete
  // keeps its row, and the AppView recounts: one.
  await settle();
  await quote(bob, 'quoting what is gone', regretted);
  // A quoted post edited (another CID): the AppView's update purges the quote rows naming it; a quote of the new
  // version is the one getQuotes lists and quoteCount counts.
  const edited = await post(alice, 'to be edited');
  await settle();
  await quote(bob, 'quoting the first version', edited);
  await settle();
  const { data: second } = await alice.agent.com.atproto.repo.putRecord({
    repo: alice.did, collection: 'app.bsky.feed.post', rkey: rkeyOf(edited.uri), record: { $type: 'app.bsky.feed.post', text: 'edited', createdAt: now() },
  });
  await settle();
  await quote(carol, 'quoting the second version', { uri: second.uri, cid: second.cid });

  // Records that fail their lexicon, written past the PDS's check: the AppView indexes nothing of them (no record
  // row, no typed row, no count, no notification), and an update it refuses leaves the version before.
  await settle();
  const refused = [
    await unchecked(bob, 'app.bsky.feed.post', { text: 'x'.repeat(301), createdAt: now() }),
    await unchecked(carol, 'app.bsky.feed.post', { text: 'no language', langs: ['not a language'], createdAt: now() }),
    await unchecked(carol, 'app.bsky.feed.like', { subject: hello, createdAt: '2026-01-01T00:00:00' }),
    await unchecked(bob, 'app.bsky.graph.follow', { subject: 'alice', createdAt: now() }),
  ];
  await dave.agent.com.atproto.repo.putRecord({
    repo: dave.did, collection: 'app.bsky.actor.profile', rkey: 'self', validate: false,
    record: { $type: 'app.bsky.actor.profile', displayName: 'D'.repeat(65), joinedViaStarterPack: pack, createdAt: now() },
  });
  return refused.map((r) => r.uri);
}

/** The same projection of a table from both databases: sorted rows of the named columns (booleans: null is false). */
const PROJECTIONS: Record<string, string> = {
  list: `select uri, cid, creator, name, purpose, description, "descriptionFacets", "avatarCid", "createdAt" from list`,
  list_item: `select uri, cid, creator, "subjectDid", "listUri", "createdAt" from list_item`,
  list_block: `select uri, cid, creator, "subjectUri", "createdAt" from list_block`,
  feed_generator: `select uri, cid, creator, "feedDid", "displayName", description, "descriptionFacets", "avatarCid", "createdAt" from feed_generator`,
  starter_pack: `select uri, cid, creator, name, "createdAt" from starter_pack`,
  thread_gate: `select uri, cid, creator, "postUri", "createdAt" from thread_gate`,
  post_gate: `select uri, cid, creator, "postUri", "createdAt" from post_gate`,
  labeler: `select uri, cid, creator, "createdAt" from labeler`,
  verification: `select uri, cid, rkey, creator, subject, handle, "displayName", "createdAt" from verification`,
  profile: `select uri, creator, "displayName", "joinedViaStarterPackUri" from profile`,
  post: `select uri, text, coalesce("invalidReplyRoot", false) as "invalidReplyRoot", coalesce("violatesThreadGate", false) as "violatesThreadGate",
    coalesce("violatesEmbeddingRules", false) as "violatesEmbeddingRules", coalesce("hasThreadGate", false) as "hasThreadGate",
    coalesce("hasPostGate", false) as "hasPostGate" from post`,
  post_agg: `select uri, "likeCount"::int, "replyCount"::int, "repostCount"::int, "quoteCount"::int from post_agg
    where "likeCount" <> 0 or "replyCount" <> 0 or "repostCount" <> 0 or "quoteCount" <> 0`,
  quote: `select uri, cid, subject, "subjectCid", "createdAt" from quote`,
  profile_agg: `select did, "followersCount"::int, "followsCount"::int, "postsCount"::int from profile_agg
    where "followersCount" <> 0 or "followsCount" <> 0 or "postsCount" <> 0`,
  op_thread_reply: `select "rootUri", "parentUri", uri, "deletedAt" is not null as deleted from op_thread_reply`,
  notification: `select did, "recordUri", "recordCid", author, reason, "reasonSubject" from notification`,
};
const sorted = (rows: Record<string, unknown>[]) => rows.map((r) => JSON.stringify(r)).sort();

describe('e2e: skytide indexes what the real AppView indexes', () => {
  it('every record type, the gate flags, the counts and the notifications equal the AppView\'s', async () => {
    const users: DevUser[] = [];
    for (const name of ['alice', 'bob', 'carol', 'dave']) users.push(await network.createUser(name));
    const refused = await writeActivity(users, () => network.processAll());
    await network.processAll();
    // `skytide run --only firehose,index` from the PDS's whole history, in one lane (INDEXER_SPLIT=1): lanes take
    // different repos at their own pace, so a quote in one and the later edit of the post it quotes in another may run
    // in either order, and an edit committed before the quote's batch began is taken for one the quote came after
    // (README, "Quotes of a post that goes"); the writes here are spaced out so that the AppView, which indexes repos
    // concurrently too, sees them in order (`settle`), and the comparison is of what each does with that order.
    pipeline = startPipeline({ redisKeyPrefix: redisPrefix, databaseUrl: db.url, host: network.firehoseHost, plcUrl: network.plcUrl, handleResolverUrl: network.pdsUrl, initialCursor: 0, env: { INDEXER_SPLIT: '1' } });
    await pipeline.settle(await network.latestSeq());

    // The duplicates reached both: Carol's like and Dave's follow. Bob's second block holds the pair now; the AppView
    // leaves its entry behind when it promotes it (duplicate_record is the indexer's own: no read uses it).
    const duplicates = (rows: Record<string, unknown>[]) => rows.map((r) => r['uri'] as string).sort();
    const ourDuplicates = duplicates(await db.sql.query('select uri from duplicate_record'));
    expect(ourDuplicates.map((uri) => uri.split('/')[3]).sort()).toEqual(['app.bsky.feed.like', 'app.bsky.graph.follow']);
    expect(duplicates(await network.appviewQuery('select uri from duplicate_record'))).toEqual(expect.arrayContaining(ourDuplicates));
    const ours: Record<string, string[]> = {};
    const theirs: Record<string, string[]> = {};
    for (const [table, query] of Object.entries(PROJECTIONS)) {
      ours[table] = sorted(await db.sql.query(query));
      theirs[table] = sorted(await network.appviewQuery(query));
    }
    // The activity reached every table and flag it is meant to.
    for (const table of ['list', 'list_item', 'list_block', 'feed_generator', 'starter_pack', 'post_gate', 'labeler', 'verification']) {
      expect(theirs[table]!.length, table).toBeGreaterThan(0);
    }
    expect(theirs['post']!.filter((p) => p.includes('"violatesThreadGate":true')).length).toBe(2);
    expect(theirs['post']!.filter((p) => p.includes('"violatesEmbeddingRules":true')).length).toBe(1);
    expect(new Set(theirs['notification']!.map((n) => (JSON.parse(n) as { reason: string }).reason))).toEqual(
      new Set(['reply', 'quote', 'mention', 'like', 'repost', 'follow', 'starterpack-joined', 'verified', 'unverified', 'like-via-repost', 'repost-via-repost']),
    );
    expect(ours).toEqual(theirs);
    // Neither indexed anything of the records their lexicons refuse; Dave's profile kept the version before.
    const recordRows = `select uri from record where uri = any($1)`;
    expect(await network.appviewQuery(recordRows, [refused])).toEqual([]);
    expect(await db.sql.query(recordRows, [refused])).toEqual([]);
    expect(theirs['profile']!.filter((p) => p.includes('"displayName":"Dave"')).length).toBe(1);

    // Through the AppView's API: each person's notifications. The API hides pairs blocked either way, directly or by a
    // list block (Dave blocks Bob's list, which holds Alice; Bob blocks Dave), and notifications about a record that is
    // gone (the likes, repost and quote of Carol's deleted post): our rows with the same rules applied.
    for (const u of users) {
      const { data } = await u.agent.app.bsky.notification.listNotifications({ limit: 100 });
      const api = data.notifications.map((n) => JSON.stringify([n.reason, n.author.did, n.uri, n.reasonSubject ?? null])).sort();
      const mine = (checkRows(await db.sql.query(
        `select reason, author, "recordUri", "reasonSubject" from notification n where did = $1
         and not exists (select 1 from actor_block b where (b.creator = n.did and b."subjectDid" = n.author) or (b.creator = n.author and b."subjectDid" = n.did))
         and not exists (select 1 from list_block lb join list_item li on li."listUri" = lb."subjectUri"
           where (lb.creator = n.did and li."subjectDid" = n.author) or (lb.creator = n.author and li."subjectDid" = n.did))
         and (n."reasonSubject" is null or exists (select 1 from record r where r.uri = n."reasonSubject"))`, [u.did],
      ), { reason: 'string', author: 'string', recordUri: 'string', reasonSubject: 'string?' })).map((n) => JSON.stringify([n.reason, n.author, n.recordUri, n.reasonSubject])).sort();
      expect(mine, u.name).toEqual(api);
    }

    // A team switching over points its AppView at skytide's database: the same AppView code, served from it, answers
    // every read as it does from its own (with the tombstones of deleted records in `record`, as they were before
    // migration 0008, its record reads failed 9 of these reads, and its notification listing showed the like, repost
    // and quote of Carol's deleted post).
    const ourAppView = await network.serveFrom(db.url, db.schema);
    try {
      const { differences, asked } = await compareReads(network.appviewUrl, ourAppView.url, users, await readTargets());
      expect(differences).toEqual([]);
      // Profiles, author feeds, follows, blocks, relationships, known followers, lists and list feeds, starter packs,
      // feeds, handle search, notifications and their unread count, timelines, likes of each user, and every post's
      // thread (both versions), likes, reposts and quotes: 198 reads.
      expect(asked).toBeGreaterThan(150);
    } finally {
      await ourAppView.close();
    }
  }, 300_000);
});

interface ReadTargets {
  posts: string[];
  lists: string[];
  packs: string[];
  generators: string[];
  labelers: string[];
}

/** What the activity made, as the AppView's own database holds it. */
async function readTargets(): Promise<ReadTargets> {
  const uris = async (table: string) => (await network.appviewQuery<{ uri: string }>(`select uri from ${table} order by uri`)).map((r) => r.uri);
  return {
    posts: await uris('post'), lists: await uris('list'), packs: await uris('starter_pack'), generators: await uris('feed_generator'),
    labelers: (await network.appviewQuery<{ creator: string }>('select creator from labeler order by creator')).map((r) => r.creator),
  };
}

/**
 * Fields whose values are each side's own clock: when its indexer indexed the record, and when the notifications were
 * last seen (the time of the request for a user who never marked them seen).
 */
const OWN_CLOCK = new Set(['indexedAt', 'seenAt']);

function withoutOwnClock(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutOwnClock);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([k]) => !OWN_CLOCK.has(k)).map(([k, v]) => [k, withoutOwnClock(v)]));
}

/** Every read below, asked of both AppViews (as each user where it takes a viewer): the ones whose answers differ, and how many were asked. */
async function compareReads(theirs: string, ours: string, users: DevUser[], t: ReadTargets): Promise<{ differences: string[]; asked: number }> {
  const reads: { nsid: string; params: Record<string, string | string[]>; as?: DevUser }[] = [];
  const chunks = <T>(list: T[], n: number) => Array.from({ length: Math.ceil(list.length / n) }, (_, i) => list.slice(i * n, i * n + n));
  reads.push({ nsid: 'app.bsky.actor.getProfiles', params: { actors: users.map((u) => u.did) } });
  for (const u of users) {
    for (const filter of ['posts_with_replies', 'posts_no_replies', 'posts_and_author_threads']) {
      reads.push({ nsid: 'app.bsky.feed.getAuthorFeed', params: { actor: u.did, filter, limit: '100' } });
    }
    reads.push({ nsid: 'app.bsky.graph.getFollowers', params: { actor: u.did } });
    reads.push({ nsid: 'app.bsky.graph.getFollows', params: { actor: u.did } });
    reads.push({ nsid: 'app.bsky.graph.getLists', params: { actor: u.did } });
    reads.push({ nsid: 'app.bsky.graph.getActorStarterPacks', params: { actor: u.did } });
    reads.push({ nsid: 'app.bsky.feed.getActorFeeds', params: { actor: u.did } });
    reads.push({ nsid: 'app.bsky.notification.listNotifications', params: { limit: '100' }, as: u });
    reads.push({ nsid: 'app.bsky.feed.getTimeline', params: { limit: '100' }, as: u });
    reads.push({ nsid: 'app.bsky.actor.getProfile', params: { actor: u.did }, as: u });
    reads.push({ nsid: 'app.bsky.notification.getUnreadCount', params: {}, as: u });
    reads.push({ nsid: 'app.bsky.feed.getActorLikes', params: { actor: u.did }, as: u });
    reads.push({ nsid: 'app.bsky.graph.getBlocks', params: {}, as: u });
    reads.push({ nsid: 'app.bsky.graph.getListBlocks', params: {}, as: u });
    reads.push({ nsid: 'app.bsky.graph.getRelationships', params: { actor: u.did, others: users.map((o) => o.did) } });
    reads.push({ nsid: 'app.bsky.graph.getListsWithMembership', params: { actor: users[0]!.did }, as: u });
    for (const other of users) reads.push({ nsid: 'app.bsky.graph.getKnownFollowers', params: { actor: other.did }, as: u });
  }
  // Search by handle prefix: the AppView's trigram indexes (migration 0006).
  for (const q of ['a', 'bo', 'carol', 'dave.te']) reads.push({ nsid: 'app.bsky.actor.searchActorsTypeahead', params: { q } });
  for (const uris of chunks(t.posts, 25)) reads.push({ nsid: 'app.bsky.feed.getPosts', params: { uris } });
  for (const uri of t.posts) {
    reads.push({ nsid: 'app.bsky.feed.getPostThread', params: { uri, depth: '10', parentHeight: '10' } });
    reads.push({ nsid: 'app.bsky.unspecced.getPostThreadV2', params: { anchor: uri, below: '10', above: 'true' }, as: users[1]! });
    reads.push({ nsid: 'app.bsky.feed.getLikes', params: { uri } });
    reads.push({ nsid: 'app.bsky.feed.getRepostedBy', params: { uri } });
    reads.push({ nsid: 'app.bsky.feed.getQuotes', params: { uri } });
  }
  for (const list of t.lists) {
    reads.push({ nsid: 'app.bsky.graph.getList', params: { list } });
    reads.push({ nsid: 'app.bsky.feed.getListFeed', params: { list } });
  }
  if (t.packs.length > 0) reads.push({ nsid: 'app.bsky.graph.getStarterPacks', params: { uris: t.packs } });
  for (const starterPack of t.packs) reads.push({ nsid: 'app.bsky.graph.getStarterPack', params: { starterPack } });
  if (t.generators.length > 0) reads.push({ nsid: 'app.bsky.feed.getFeedGenerators', params: { feeds: t.generators } });
  if (t.labelers.length > 0) reads.push({ nsid: 'app.bsky.labeler.getServices', params: { dids: t.labelers, detailed: 'true' } });

  const differences: string[] = [];
  for (const read of reads) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(read.params)) for (const one of Array.isArray(v) ? v : [v]) query.append(k, one);
    const headers: Record<string, string> = {};
    if (read.as !== undefined) {
      const { data } = await read.as.agent.com.atproto.server.getServiceAuth({ aud: network.appviewDid, lxm: read.nsid });
      headers['authorization'] = `Bearer ${data.token}`;
    }
    const ask = async (base: string) => {
      const res = await fetch(`${base}/xrpc/${read.nsid}?${query}`, { headers });
      return { status: res.status, body: withoutOwnClock(await res.json()) };
    };
    const [a, b] = [await ask(theirs), await ask(ours)];
    const label = `${read.nsid}${read.as === undefined ? '' : ` as ${read.as.name}`} ${query}`;
    if (a.status !== 200) differences.push(`${label}: the AppView on its own database answered ${a.status}`);
    const [ja, jb] = [JSON.stringify(a), JSON.stringify(b)];
    if (ja !== jb) {
      // Where they part, with some context before it.
      let at = 0;
      while (ja[at] === jb[at]) at++;
      const from = Math.max(0, at - 300);
      differences.push(`${label}:\n  theirs ...${ja.slice(from, at + 300)}\n  ours   ...${jb.slice(from, at + 300)}`);
    }
  }
  return { differences, asked: reads.length };
}
