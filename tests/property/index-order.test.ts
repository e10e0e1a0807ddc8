// The index's final state depends only on the SET of events: any order, any batch split and any duplicates give the
// same database, aggregates included (architecture.md, Postgres contract).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexBatch } from '../../functions/index/handler.ts';
import type { StreamEvent } from '../../functions/events.ts';
import { createIndexDb, dumpIndex, type IndexDb } from '../helpers/index-db.ts';
import { del, follow, like, post, repost, uriOf, write } from '../helpers/events.ts';

const DIDS = ['did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', 'did:plc:bbbbbbbbbbbbbbbbbbbbbbbb', 'did:plc:cccccccccccccccccccccccc'];
const POST = 'app.bsky.feed.post';
const TARGETS = DIDS.flatMap((d) => ['p1', 'p2'].map((rkey) => ({ uri: uriOf(d, POST, rkey), cid: 'bafyreitarget' })));

/** One op on one of a few URIs per DID and collection, with revs that collide often. */
const eventArb: fc.Arbitrary<StreamEvent> = fc
  .record({
    did: fc.constantFrom(...DIDS),
    kind: fc.constantFrom('post', 'reply', 'quote', 'like', 'repost', 'follow'),
    rkey: fc.constantFrom('k1', 'k2'),
    rev: fc.integer({ min: 1, max: 6 }),
    remove: fc.boolean(),
    target: fc.constantFrom(...TARGETS),
    subject: fc.constantFrom(...DIDS),
    text: fc.constantFrom('a', 'b'),
  })
  .map((g) => {
    const collection = g.kind === 'post' || g.kind === 'reply' || g.kind === 'quote' ? POST
      : g.kind === 'like' ? 'app.bsky.feed.like' : g.kind === 'repost' ? 'app.bsky.feed.repost' : 'app.bsky.graph.follow';
    const rkey = collection === POST ? (g.rkey === 'k1' ? 'p1' : 'p2') : g.rkey;
    if (g.remove) return del({ did: g.did, collection, rkey, rev: g.rev });
    const ref = { uri: g.target.uri, cid: g.target.cid };
    const record =
      g.kind === 'post' ? post(g.text)
      : g.kind === 'reply' ? post(g.text, { reply: { root: ref, parent: ref } })
      : g.kind === 'quote' ? post(g.text, { embed: { $type: 'app.bsky.embed.record', record: ref } })
      : g.kind === 'like' ? like(ref.uri, ref.cid)
      : g.kind === 'repost' ? repost(ref.uri, ref.cid)
      : follow(g.subject);
    return write({ did: g.did, collection, rkey, rev: g.rev, record });
  });

/** A canonical application: sorted by rev, one event per batch. */
function canonical(events: StreamEvent[]): StreamEvent[] {
  return [...events].sort((a, b) => ('rev' in a && 'rev' in b ? (a.rev < b.rev ? -1 : a.rev > b.rev ? 1 : 0) : 0));
}

let reference: IndexDb;
let subject: IndexDb;
beforeAll(async () => {
  [reference, subject] = await Promise.all([createIndexDb('prop_ref'), createIndexDb('prop_subject')]);
});
afterAll(async () => {
  await Promise.all([reference.close(), subject.close()]);
});

const TABLES = 'record, actor, actor_sync, post, post_embed_image, post_embed_external, post_embed_record, post_embed_video, quote, feed_item, "like", repost, follow, actor_block, profile, post_agg, profile_agg';

describe('index: order, batching and duplicates do not change the result', () => {
  it('matches the canonical application for random orders, splits and duplicates', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(eventArb, { minLength: 1, maxLength: 30 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 0, max: 2 ** 31 - 1 }),
        async (events, dupPicks, batchSize, seed) => {
          await reference.sql.query(`truncate ${TABLES}`);
          await subject.sql.query(`truncate ${TABLES}`);
          for (const e of canonical(events)) await indexBatch([e], reference.ports);
          // Shuffle with duplicates, then split into batches.
          const withDups = [...events, ...dupPicks.map((i) => events[i % events.length]!)];
          const shuffled = fc.sample(fc.shuffledSubarray(withDups, { minLength: withDups.length, maxLength: withDups.length }), { numRuns: 1, seed })[0]!;
          for (let i = 0; i < shuffled.length; i += batchSize) await indexBatch(shuffled.slice(i, i + batchSize), subject.ports);
          expect(await dumpIndex(subject.sql)).toEqual(await dumpIndex(reference.sql));
        },
      ),
      { numRuns: 60 },
    );
  }, 120_000);
});
