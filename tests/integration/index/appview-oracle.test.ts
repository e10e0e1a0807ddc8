// The index against the official AppView on the same events (helpers/appview-oracle.ts): record histories the other
// tests do not pin (deletes and re-creations, updates, gates whose post arrives in the same batch), each indexed by
// skytide one event per batch and all in one batch, and by the AppView's IndexingService one event at a time. Every
// table both write must end alike.
import { describe, expect, it } from 'vitest';
import type { JsonObject, StreamEvent } from '../../../functions/events.ts';
import { del, write } from '../../helpers/events.ts';
import { indexBoth, type Tables } from '../../helpers/appview-oracle.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000000';
const VERIFICATION = 'app.bsky.graph.verification';
const POST = 'app.bsky.feed.post';
const THREADGATE = 'app.bsky.feed.threadgate';
const POSTGATE = 'app.bsky.feed.postgate';
const CREATED = '2026-01-01T00:00:00.000Z';

let rev = 0;
const create = (did: string, collection: string, rkey: string, record: JsonObject): StreamEvent =>
  write({ did, collection, rkey, rev: ++rev, record: { $type: collection, createdAt: CREATED, ...record } });
const update = (did: string, collection: string, rkey: string, record: JsonObject): StreamEvent =>
  write({ did, collection, rkey, rev: ++rev, type: 'update', record: { $type: collection, createdAt: CREATED, ...record } });
const remove = (did: string, collection: string, rkey: string): StreamEvent => del({ did, collection, rkey, rev: ++rev });

/** skytide one event per batch, then all in one batch, then cut before each of `cuts`, each against the AppView. */
async function expectAsAppView(events: StreamEvent[], cuts: number[] = []): Promise<void> {
  const split = (at: number) => [events.slice(0, at), events.slice(at)];
  for (const batches of [events.map((e) => [e]), [events], ...cuts.map(split)]) {
    const { skytide, appview } = await indexBoth(batches);
    expect(skytide, batches.length > 8 ? `${batches.length} batches` : `batches of ${batches.map((b) => b.length).join(', ')}`).toEqual(appview);
  }
}

// Each scenario indexes its events several times over on both sides.
describe('index: as the AppView indexes the same events', { timeout: 180_000 }, () => {
  it('a verification deleted and made again notifies verified again; an edit notifies unverified only', async () => {
    const verify = (subject: string) => ({ subject, handle: 'bob.test', displayName: 'Bob' });
    await expectAsAppView([
      create(ALICE, VERIFICATION, 'v1', verify(BOB)), remove(ALICE, VERIFICATION, 'v1'), create(ALICE, VERIFICATION, 'v1', verify(BOB)),
      update(ALICE, VERIFICATION, 'v1', verify(CAROL)), remove(ALICE, VERIFICATION, 'v1'), update(ALICE, VERIFICATION, 'v1', verify(BOB)),
    ]);
  });

  it('a gate made and deleted in one batch leaves its post flagged false, if the post was there when it went', async () => {
    const post = `at://${ALICE}/${POST}/p1`;
    const threadGate = () => create(ALICE, THREADGATE, 'p1', { post, allow: [] });
    const postGate = () => create(ALICE, POSTGATE, 'p1', { post, embeddingRules: [] });
    // The post before both gates (also already stored when they come), between a gate and its deletion, after both.
    await expectAsAppView([
      create(ALICE, POST, 'p1', { text: 'x' }), threadGate(), remove(ALICE, THREADGATE, 'p1'), postGate(), remove(ALICE, POSTGATE, 'p1'),
    ], [1]);
    await expectAsAppView([threadGate(), create(ALICE, POST, 'p1', { text: 'x' }), remove(ALICE, THREADGATE, 'p1'), postGate(), remove(ALICE, POSTGATE, 'p1')]);
    await expectAsAppView([threadGate(), remove(ALICE, THREADGATE, 'p1'), create(ALICE, POST, 'p1', { text: 'x' })]);
    // The post deleted and made again after the gate went: unflagged; before it went: flagged false.
    await expectAsAppView([
      create(ALICE, POST, 'p1', { text: 'x' }), threadGate(), remove(ALICE, THREADGATE, 'p1'), remove(ALICE, POST, 'p1'), create(ALICE, POST, 'p1', { text: 'y' }),
    ], [2]);
    await expectAsAppView([
      create(ALICE, POST, 'p1', { text: 'x' }), threadGate(), remove(ALICE, POST, 'p1'), create(ALICE, POST, 'p1', { text: 'y' }), remove(ALICE, THREADGATE, 'p1'),
    ], [2]);
  });

  it('a reply with an invalid root says it keeps the thread gate (false), and one breaking the gate that its root is valid', async () => {
    const ref = (did: string, rkey: string) => ({ uri: `at://${did}/${POST}/${rkey}`, cid: 'bafyreiea4drlhqplas6ozjbjmhd2lohxjerknwevkutvochxsvaqviplca' });
    const reply = (to: { uri: string; cid: string }) => ({ text: 'r', reply: { root: to, parent: to } });
    // A root never seen, one deleted before the reply, and a root whose gate allows nobody.
    await expectAsAppView([
      create(BOB, POST, 'r1', reply(ref(ALICE, 'gone'))),
      create(ALICE, POST, 'p1', { text: 'x' }), remove(ALICE, POST, 'p1'), create(BOB, POST, 'r2', reply(ref(ALICE, 'p1'))),
      create(ALICE, POST, 'p2', { text: 'x' }), create(ALICE, THREADGATE, 'p2', { post: ref(ALICE, 'p2').uri, allow: [] }),
      create(CAROL, POST, 'r3', reply(ref(ALICE, 'p2'))),
    ]);
  });

  it('a reply notifies the authors of the ancestors it had, whatever the batch removes after it', async () => {
    // Found by a differential fuzz: the ancestors were read after the batch's removals, so a parent (or grandparent)
    // deleted later in the same batch, or made and deleted in it, lost the reply's notification to its author.
    const ref = (did: string, rkey: string) => ({ uri: `at://${did}/${POST}/${rkey}`, cid: 'bafyreiea4drlhqplas6ozjbjmhd2lohxjerknwevkutvochxsvaqviplca' });
    const reply = (root: { uri: string; cid: string }, parent: { uri: string; cid: string }) => ({ text: 'r', reply: { root, parent } });
    const events = [
      create(ALICE, POST, 'p1', { text: 'p' }),
      create(BOB, POST, 'r1', reply(ref(ALICE, 'p1'), ref(ALICE, 'p1'))),
      create(CAROL, POST, 'r2', reply(ref(ALICE, 'p1'), ref(BOB, 'r1'))),
      remove(ALICE, POST, 'p1'), remove(BOB, POST, 'r1'),
    ];
    // Against the AppView one event at a time: the same notifications (its flags differ where skytide re-judges a
    // reply whose parent went: documented), and skytide's tables alike whatever the batches.
    const one = await indexBoth(events.map((e) => [e]));
    const notifications = (t: Tables) => t['notification'];
    expect(notifications(one.skytide)).toEqual(notifications(one.appview));
    expect(notifications(one.skytide)).toEqual(expect.arrayContaining([expect.objectContaining({ did: ALICE, author: CAROL, reason: 'reply' })]));
    for (const batches of [[events], [events.slice(0, 1), events.slice(1)], [events.slice(0, 3), events.slice(3)]]) {
      expect((await indexBoth(batches)).skytide, `batches of ${batches.map((b) => b.length).join(', ')}`).toEqual(one.skytide);
    }
  });

  it('a follower, following or list rule judges a reply by the follows and list items as they stood at its place in the batch', async () => {
    // Found by a differential fuzz: the batch's follows and list items were written before its replies were judged,
    // so a follow just after a reply let it through (counted, notified), and an unfollow just after one broke it.
    const FOLLOW = 'app.bsky.graph.follow';
    const LIST = 'app.bsky.graph.list';
    const ITEM = 'app.bsky.graph.listitem';
    const ref = (did: string, rkey: string) => ({ uri: `at://${did}/${POST}/${rkey}`, cid: 'bafyreiea4drlhqplas6ozjbjmhd2lohxjerknwevkutvochxsvaqviplca' });
    const reply = (to: { uri: string; cid: string }) => ({ text: 'r', reply: { root: to, parent: to } });
    const gate = (rkey: string, allow: JsonObject[]) => create(ALICE, THREADGATE, rkey, { post: ref(ALICE, rkey).uri, allow });
    const list = `at://${ALICE}/${LIST}/l1`;
    await expectAsAppView([
      // Followers only: Bob replies, then follows; Carol follows, replies, then unfollows.
      create(ALICE, POST, 'g1', { text: 'p' }), gate('g1', [{ $type: `${THREADGATE}#followerRule` }]),
      create(BOB, POST, 'r1', reply(ref(ALICE, 'g1'))), create(BOB, FOLLOW, 'f1', { subject: ALICE }),
      create(CAROL, FOLLOW, 'f2', { subject: ALICE }), create(CAROL, POST, 'r2', reply(ref(ALICE, 'g1'))), remove(CAROL, FOLLOW, 'f2'),
      // Those Alice follows: she follows Carol only after Carol's reply.
      create(ALICE, POST, 'g2', { text: 'p' }), gate('g2', [{ $type: `${THREADGATE}#followingRule` }]),
      create(CAROL, POST, 'r3', reply(ref(ALICE, 'g2'))), create(ALICE, FOLLOW, 'f3', { subject: CAROL }),
      // A list: Bob put in it after his reply.
      create(ALICE, LIST, 'l1', { name: 'l', purpose: 'app.bsky.graph.defs#curatelist' }),
      create(ALICE, POST, 'g3', { text: 'p' }), gate('g3', [{ $type: `${THREADGATE}#listRule`, list }]),
      create(BOB, POST, 'r4', reply(ref(ALICE, 'g3'))), create(ALICE, ITEM, 'i1', { subject: BOB, list }),
    ], [3, 6, 10]);
  });

  it('an updated follow keeps the notification its first version made (cid and sortAt), whatever the batches', async () => {
    const FOLLOW = 'app.bsky.graph.follow';
    // createdAt before the events' times, so each version's sortAt is its own.
    const follows = (subject: string, month: number) => ({ subject, createdAt: `2025-0${month}-01T00:00:00.000Z` });
    // Updated twice; deleted, made again and updated (notified again, by the version made again); and a second account's
    // follow made and updated with no other event between them.
    await expectAsAppView([
      create(ALICE, FOLLOW, 'f1', follows(BOB, 1)), update(ALICE, FOLLOW, 'f1', follows(BOB, 2)), update(ALICE, FOLLOW, 'f1', follows(BOB, 3)),
      remove(ALICE, FOLLOW, 'f1'), create(ALICE, FOLLOW, 'f1', follows(BOB, 4)), update(ALICE, FOLLOW, 'f1', follows(BOB, 5)),
      create(CAROL, FOLLOW, 'f2', follows(ALICE, 6)), update(CAROL, FOLLOW, 'f2', follows(ALICE, 7)),
    ], [1, 2, 4, 5, 7]);
  });

  it('an updated like or repost keeps the notifications its first version made (a via added later notifies nobody)', async () => {
    const LIKE = 'app.bsky.feed.like';
    const REPOST = 'app.bsky.feed.repost';
    const ref = (did: string, collection: string, rkey: string) => ({ uri: `at://${did}/${collection}/${rkey}`, cid: 'bafyreiea4drlhqplas6ozjbjmhd2lohxjerknwevkutvochxsvaqviplca' });
    const post = ref(ALICE, POST, 'p1');
    const via = ref(BOB, REPOST, 'r1');
    const of = (month: number, extra: JsonObject = {}) => ({ subject: post, createdAt: `2025-0${month}-01T00:00:00.000Z`, ...extra });
    await expectAsAppView([
      create(ALICE, POST, 'p1', { text: 'x' }), create(BOB, REPOST, 'r1', of(1)),
      create(CAROL, LIKE, 'k1', of(2, { via })), update(CAROL, LIKE, 'k1', of(3)), update(CAROL, LIKE, 'k1', of(4, { via })),
      create(CAROL, REPOST, 'k2', of(5)), update(CAROL, REPOST, 'k2', of(6, { via })),
      remove(CAROL, LIKE, 'k1'), create(CAROL, LIKE, 'k1', of(7)), update(CAROL, LIKE, 'k1', of(8, { via })),
    ], [3, 4, 6, 8, 9]);
  });

  it('stores createdAt as the AppView does for every record type: a profile\'s as written, the others normalised', async () => {
    const forms = ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00+02:00', '2026-01-01T00:00:00.123456-05:30', '1985-02-30T00:00:00Z', '0000-01-01T00:00:00Z'];
    const ref = (did: string, collection: string, rkey: string) => ({ uri: `at://${did}/${collection}/${rkey}`, cid: 'bafyreiea4drlhqplas6ozjbjmhd2lohxjerknwevkutvochxsvaqviplca' });
    const events = forms.flatMap((createdAt, i) => {
      const me = `did:plc:form${i}0000000000000000000000`;
      const list = ref(me, 'app.bsky.graph.list', 'l1').uri;
      const post = ref(ALICE, POST, 'p1');
      const records: [string, string, JsonObject][] = [
        [POST, 'p1', { text: 'x' }],
        [POST, 'q1', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: post } }],
        ['app.bsky.feed.like', 'k1', { subject: post }],
        ['app.bsky.feed.repost', 'k1', { subject: post }],
        ['app.bsky.graph.follow', 'k1', { subject: BOB }],
        ['app.bsky.graph.block', 'k1', { subject: BOB }],
        ['app.bsky.graph.list', 'l1', { name: 'n', purpose: 'app.bsky.graph.defs#curatelist' }],
        ['app.bsky.graph.listitem', 'k1', { subject: BOB, list }],
        ['app.bsky.graph.listblock', 'k1', { subject: list }],
        ['app.bsky.feed.generator', 'k1', { did: 'did:web:feed.example', displayName: 'f' }],
        ['app.bsky.graph.starterpack', 'k1', { name: 's', list }],
        [THREADGATE, 'p1', { post: ref(me, POST, 'p1').uri }],
        [POSTGATE, 'p1', { post: ref(me, POST, 'p1').uri }],
        ['app.bsky.labeler.service', 'self', { policies: { labelValues: [] } }],
        [VERIFICATION, 'k1', { subject: BOB, handle: 'bob.test', displayName: 'Bob' }],
        ['app.bsky.actor.profile', 'self', { displayName: 'p' }],
      ];
      return records.map(([collection, rkey, record]) => create(me, collection, rkey, { ...record, createdAt }));
    });
    await expectAsAppView([create(ALICE, POST, 'p1', { text: 'x' }), ...events]);
  });
});
