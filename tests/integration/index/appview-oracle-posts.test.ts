// The post plugin and the notifications posts, likes and reposts make, against the official AppView on the same
// events (helpers/appview-oracle.ts): mentions, quotes, embeds, replies across repos, updates, reposts of reposts.
import { describe, expect, it } from 'vitest';
import type { JsonObject, RecordWriteEvent, StreamEvent } from '../../../functions/events.ts';
import { del, fakeBlobCid, write } from '../../helpers/events.ts';
import { indexBoth } from '../../helpers/appview-oracle.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000000';
const DAVE = 'did:plc:dave0000000000000000000000';
const ERIN = 'did:plc:erin0000000000000000000000';
const FRED = 'did:plc:fred0000000000000000000000';
const POST = 'app.bsky.feed.post';
const LIKE = 'app.bsky.feed.like';
const REPOST = 'app.bsky.feed.repost';
const CREATED = '2026-01-01T00:00:00.000Z';

let rev = 0;
const create = (did: string, collection: string, rkey: string, record: JsonObject): RecordWriteEvent =>
  write({ did, collection, rkey, rev: ++rev, record: { $type: collection, createdAt: CREATED, ...record } });
const update = (did: string, collection: string, rkey: string, record: JsonObject): RecordWriteEvent =>
  write({ did, collection, rkey, rev: ++rev, type: 'update', record: { $type: collection, createdAt: CREATED, ...record } });
const remove = (did: string, collection: string, rkey: string): StreamEvent => del({ did, collection, rkey, rev: ++rev });
const ref = (e: RecordWriteEvent) => ({ uri: `at://${e.did}/${e.collection}/${e.rkey}`, cid: e.cid });
const mention = (did: string) => ({ index: { byteStart: 0, byteEnd: 1 }, features: [{ $type: 'app.bsky.richtext.facet#mention', did }] });
const blob = (seed: string) => ({ $type: 'blob', ref: { $link: fakeBlobCid(seed) }, mimeType: 'image/jpeg', size: 100 });

/** skytide one event per batch, then all in one batch, then cut before each of `cuts`, each against the AppView. */
async function expectAsAppView(events: StreamEvent[], cuts: number[] = []): Promise<void> {
  const split = (at: number) => [events.slice(0, at), events.slice(at)];
  for (const batches of [events.map((e) => [e]), [events], ...cuts.map(split)]) {
    const { skytide, appview } = await indexBoth(batches);
    expect(skytide, batches.length > 8 ? `${batches.length} batches` : `batches of ${batches.map((b) => b.length).join(', ')}`).toEqual(appview);
  }
}

describe('index: posts as the AppView indexes them', { timeout: 180_000 }, () => {
  it('mentions: of self, of the parent\'s author in a reply, twice across facets, of a quoted post\'s author', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    await expectAsAppView([
      p1,
      create(ALICE, POST, 'm1', { text: 'x', facets: [mention(ALICE), mention(BOB), mention(BOB)] }),
      create(BOB, POST, 'r1', { text: 'r', reply: { root: ref(p1), parent: ref(p1) }, facets: [mention(ALICE), mention(CAROL)] }),
      create(CAROL, POST, 'q1', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(p1) }, facets: [mention(ALICE)] }),
    ]);
  });

  it('quotes: record and recordWithMedia, a quote before its subject, a quote of a deleted post', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const p2 = create(ALICE, POST, 'p2', { text: 'x' });
    const later = write({ did: ALICE, collection: POST, rkey: 'p3', rev: 10_000, record: { $type: POST, createdAt: CREATED, text: 'late' } });
    await expectAsAppView([
      p1,
      create(BOB, POST, 'q1', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(p1) } }),
      create(CAROL, POST, 'q2', { text: 'q', embed: { $type: 'app.bsky.embed.recordWithMedia', record: { record: ref(p1) },
        media: { $type: 'app.bsky.embed.images', images: [{ alt: 'a', image: blob('i1') }] } } }),
      create(BOB, POST, 'q3', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(later) } }),
      { ...later, rev: `${later.rev}`, seq: ++rev } as StreamEvent,
      p2, remove(ALICE, POST, 'p2'),
      create(BOB, POST, 'q4', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(p2) } }),
    ]);
  });

  it('embeds: images, external with and without thumb, video with and without alt', async () => {
    await expectAsAppView([
      create(ALICE, POST, 'e1', { text: 'x', embed: { $type: 'app.bsky.embed.images', images: [{ alt: 'a', image: blob('a') }, { alt: '', image: blob('b') }] } }),
      create(ALICE, POST, 'e2', { text: 'x', embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com', title: 't', description: 'd', thumb: blob('t') } } }),
      create(ALICE, POST, 'e3', { text: 'x', embed: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com/2', title: '', description: '' } } }),
      create(ALICE, POST, 'e4', { text: 'x', embed: { $type: 'app.bsky.embed.video', video: { ...blob('v'), mimeType: 'video/mp4' }, alt: 'v' } }),
      create(ALICE, POST, 'e5', { text: 'x', embed: { $type: 'app.bsky.embed.video', video: { ...blob('w'), mimeType: 'video/mp4' } } }),
      remove(ALICE, POST, 'e1'),
    ]);
  });

  it('a reply whose parent in another repo is deleted then made again; a reply to an account that blocks the replier', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const r1 = create(BOB, POST, 'r1', { text: 'r', reply: { root: ref(p1), parent: ref(p1) } });
    await expectAsAppView([
      p1, r1, remove(ALICE, POST, 'p1'), create(ALICE, POST, 'p1', { text: 'y' }),
      create(CAROL, POST, 'r2', { text: 'r', reply: { root: ref(p1), parent: ref(r1) } }),
      create(ALICE, 'app.bsky.graph.block', 'b1', { subject: CAROL }),
      create(CAROL, POST, 'r3', { text: 'r', reply: { root: ref(p1), parent: ref(p1) } }),
    ], [3]);
  });

  it('likes and reposts via a repost, a repost of a repost', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const rp1 = create(BOB, REPOST, 'rp1', { subject: ref(p1) });
    const rp2 = create(CAROL, REPOST, 'rp2', { subject: ref(p1), via: ref(rp1) });
    await expectAsAppView([
      p1, rp1, rp2,
      create(CAROL, LIKE, 'l1', { subject: ref(p1), via: ref(rp1) }),
      create(BOB, LIKE, 'l2', { subject: ref(p1), via: ref(rp1) }),
      create(ALICE, REPOST, 'rp3', { subject: ref(p1), via: ref(rp2) }),
      remove(BOB, REPOST, 'rp1'),
      create(ALICE, LIKE, 'l3', { subject: ref(p1), via: ref(rp2) }),
    ]);
  });

  it('a post updated: its notifications made again from the new version', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const r1 = create(BOB, POST, 'r1', { text: 'r', reply: { root: ref(p1), parent: ref(p1) } });
    await expectAsAppView([
      p1, r1,
      create(CAROL, POST, 'r2', { text: 'r', reply: { root: ref(p1), parent: ref(r1) } }),
      update(BOB, POST, 'r1', { text: 'r2', reply: { root: ref(p1), parent: ref(p1) }, facets: [mention(CAROL)] }),
      update(ALICE, POST, 'p1', { text: 'y', facets: [mention(BOB)] }),
    ]);
  });

  it('updates: a quote moved to another post, a reply moved to another parent; likes via one\'s own repost', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const p2 = create(CAROL, POST, 'p2', { text: 'x' });
    const rp = create(ALICE, REPOST, 'rp', { subject: ref(p2) });
    const rpb = create(BOB, REPOST, 'rpb', { subject: ref(p2) });
    await expectAsAppView([
      p1, p2, rp, rpb,
      create(BOB, POST, 'q1', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(p1) } }),
      update(BOB, POST, 'q1', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(p2) } }),
      create(BOB, POST, 'r1', { text: 'r', reply: { root: ref(p1), parent: ref(p1) } }),
      update(BOB, POST, 'r1', { text: 'r', reply: { root: ref(p2), parent: ref(p2) } }),
      create(ALICE, LIKE, 'l1', { subject: ref(p2), via: ref(rp) }),
      create(BOB, LIKE, 'l2', { subject: ref(p2), via: ref(rp) }),
      create(CAROL, LIKE, 'l3', { subject: ref(p2), via: ref(rpb) }),
      create(CAROL, REPOST, 'rpc', { subject: ref(p2), via: ref(rpb) }),
      create(BOB, REPOST, 'rpb2', { subject: ref(p1), via: ref(rp) }),
    ]);
  });

  it('misc: a mention of a did:web, a feed embed, recordWithMedia with video and external, deep chain, hidden reply', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const chain: RecordWriteEvent[] = [p1];
    const dids = [BOB, CAROL, DAVE, ERIN, FRED, BOB];
    dids.forEach((d, i) => chain.push(create(d, POST, `c${i}`, { text: 'c', reply: { root: ref(p1), parent: ref(chain[chain.length - 1]!) } })));
    const feed = create(BOB, 'app.bsky.feed.generator', 'f1', { did: 'did:web:feed.example', displayName: 'f' });
    await expectAsAppView([
      ...chain,
      create(ALICE, 'app.bsky.feed.threadgate', 'p1', { post: ref(p1).uri, hiddenReplies: [ref(chain[2]!).uri] }),
      create('did:plc:gina0000000000000000000000', POST, 'h1', { text: 'h', reply: { root: ref(p1), parent: ref(chain[3]!) } }),
      create(BOB, POST, 'w1', { text: 'x', facets: [mention('did:web:example.com'), { index: { byteStart: 0, byteEnd: 1 }, features: [{ $type: 'app.bsky.richtext.facet#link', uri: 'https://x.example' }] }] }),
      feed,
      create(CAROL, POST, 'fe', { text: 'x', embed: { $type: 'app.bsky.embed.record', record: ref(feed) } }),
      create(CAROL, POST, 'rm1', { text: 'x', embed: { $type: 'app.bsky.embed.recordWithMedia', record: { record: ref(p1) }, media: { $type: 'app.bsky.embed.video', video: { ...blob('v'), mimeType: 'video/mp4' } } } }),
      create(CAROL, POST, 'rm2', { text: 'x', embed: { $type: 'app.bsky.embed.recordWithMedia', record: { record: ref(feed) }, media: { $type: 'app.bsky.embed.external', external: { uri: 'https://e.example', title: 't', description: 'd' } } } }),
    ]);
  });

  it('a thread gate\'s hidden replies cut the reply notifications of the replies indexed after it, whatever the batch', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const chain: RecordWriteEvent[] = [p1];
    const reply = (did: string, rkey: string) => {
      const r = create(did, POST, rkey, { text: 'c', reply: { root: ref(p1), parent: ref(chain[chain.length - 1]!) } });
      chain.push(r);
      return r;
    };
    const gate = (hidden: RecordWriteEvent[]) => ({ post: ref(p1).uri, hiddenReplies: hidden.map((r) => ref(r).uri), createdAt: '2026-01-02T00:00:00.000Z' });
    const c0 = reply(BOB, 'c0');
    const c1 = reply(CAROL, 'c1');
    const events: StreamEvent[] = [p1, c0, c1, reply(DAVE, 'c2'), create(ALICE, 'app.bsky.feed.threadgate', 'p1', gate([c1])), reply(ERIN, 'c3')];
    events.push(update(ALICE, 'app.bsky.feed.threadgate', 'p1', gate([c0])), reply(FRED, 'c4'), remove(ALICE, 'app.bsky.feed.threadgate', 'p1'), reply(BOB, 'c5'));
    await expectAsAppView(events, [4, 5, 7]);
  });

  it('sortAt: createdAt in the future, in the past', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x', createdAt: '2030-01-01T00:00:00.000Z' });
    await expectAsAppView([
      p1,
      create(BOB, POST, 'r1', { text: 'r', reply: { root: ref(p1), parent: ref(p1) }, createdAt: '2030-01-01T00:00:00Z' }),
      create(CAROL, POST, 'r2', { text: 'r', reply: { root: ref(p1), parent: ref(p1) }, createdAt: '2020-01-01T00:00:00+05:00' }),
      create(CAROL, LIKE, 'l1', { subject: ref(p1), createdAt: '2030-01-01T00:00:00Z' }),
      create(BOB, REPOST, 'rp1', { subject: ref(p1), createdAt: '2030-01-01T00:00:00Z' }),
      create(BOB, 'app.bsky.graph.follow', 'f1', { subject: ALICE, createdAt: '2030-01-01T00:00:00Z' }),
    ]);
  });
});
