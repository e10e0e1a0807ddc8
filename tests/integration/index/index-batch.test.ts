// The index function against real Postgres: the rows each plugin writes, the rev rule, tombstones and exact counts.
// Every test runs in both write modes (COPY into staging tables, and multi-row statements), and the last one feeds the
// same network-shaped stream through both and compares every table.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { indexBatch } from '../../../functions/index/handler.ts';
import { createIndexDb, dumpIndex, WRITE_MODES, type IndexDb } from '../../helpers/index-db.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { account, block, del, fakeBlobCid, follow, identity, like, post, profile, repost, tid, uriOf, write } from '../../helpers/events.ts';
import { networkCorpus } from '../../bench/network-corpus.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const POST = 'app.bsky.feed.post';

describe.each(WRITE_MODES)('write mode %s', (mode) => {
  let db: IndexDb;
  beforeAll(async () => {
    db = await createIndexDb(`index_batch_${mode}`, mode);
  });
  afterAll(async () => db.close());
  beforeEach(async () => {
    await db.sql.query(
      `truncate record, record_tombstone, post_removal, reply_gate, actor, actor_sync, post, post_embed_image, post_embed_external, post_embed_record, post_embed_video,
       quote, feed_item, "like", repost, follow, actor_block, profile, post_agg, profile_agg`,
    );
  });

  const rows = (text: string) => db.sql.query(text);

  describe('index: plugins write the rows the AppView reads', () => {
    it('indexes a post with a reply, an image embed and a quote, with its feed item and counts', async () => {
      const root = write({ did: ALICE, collection: POST, rkey: 'p1', rev: 1, record: post('root') });
      const rootUri = uriOf(ALICE, POST, 'p1');
      const reply = write({
        did: BOB, collection: POST, rkey: 'p2', rev: 2,
        record: post('reply with quote', {
          reply: { root: { uri: rootUri, cid: root.cid }, parent: { uri: rootUri, cid: root.cid } },
          embed: {
            $type: 'app.bsky.embed.recordWithMedia',
            record: { $type: 'app.bsky.embed.record', record: { uri: rootUri, cid: root.cid } },
            media: { $type: 'app.bsky.embed.images', images: [{ alt: 'a cat', image: { $type: 'blob', ref: { $link: fakeBlobCid('image') }, mimeType: 'image/png', size: 3 } }] },
          },
          langs: ['en'],
        }),
      });
      const result = await indexBatch([root, reply], db.ports);
      expect(result.outcomes).toEqual([{ status: 'ok' }, { status: 'ok' }]);
      const replyUri = uriOf(BOB, POST, 'p2');
      expect(await rows(`select uri, creator, text, "replyRoot", "replyParent", langs from post order by uri`)).toEqual([
        { uri: rootUri, creator: ALICE, text: 'root', replyRoot: null, replyParent: null, langs: null },
        { uri: replyUri, creator: BOB, text: 'reply with quote', replyRoot: rootUri, replyParent: rootUri, langs: ['en'] },
      ]);
      expect(await rows(`select "postUri", position, "imageCid", alt from post_embed_image`)).toEqual([
        { postUri: replyUri, position: '0', imageCid: fakeBlobCid('image'), alt: 'a cat' },
      ]);
      expect(await rows(`select "postUri", "embedUri" from post_embed_record`)).toEqual([{ postUri: replyUri, embedUri: rootUri }]);
      expect(await rows(`select uri, subject from quote`)).toEqual([{ uri: replyUri, subject: rootUri }]);
      expect(await rows(`select uri, type, "originatorDid" from feed_item order by uri`)).toEqual([
        { uri: rootUri, type: 'post', originatorDid: ALICE },
        { uri: replyUri, type: 'post', originatorDid: BOB },
      ]);
      expect(await rows(`select uri, "replyCount", "quoteCount" from post_agg`)).toEqual([{ uri: rootUri, replyCount: 1, quoteCount: 1 }]);
      expect(await rows(`select did, "postsCount" from profile_agg order by did`)).toEqual([
        { did: ALICE, postsCount: 1 },
        { did: BOB, postsCount: 1 },
      ]);
      const [rec] = await rows(`select json, rev, did from record where uri = '${replyUri}'`);
      expect(JSON.parse(String(rec?.['json']))).toEqual(reply.record);
      expect(rec?.['rev']).toBe(tid(2));
    });

    it('indexes likes, reposts, follows, blocks and the self profile', async () => {
      const p = write({ did: ALICE, collection: POST, rkey: 'p1', rev: 1, record: post('hi') });
      const pUri = uriOf(ALICE, POST, 'p1');
      await indexBatch(
        [
          p,
          write({ did: BOB, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 2, record: like(pUri, p.cid) }),
          write({ did: BOB, collection: 'app.bsky.feed.repost', rkey: 'r1', rev: 3, record: repost(pUri, p.cid) }),
          write({ did: BOB, collection: 'app.bsky.graph.follow', rkey: 'f1', rev: 4, record: follow(ALICE) }),
          write({ did: BOB, collection: 'app.bsky.graph.block', rkey: 'b1', rev: 5, record: block(ALICE) }),
          write({ did: BOB, collection: 'app.bsky.actor.profile', rkey: 'self', rev: 6, record: profile('Bob', { description: 'hello' }) }),
        ],
        db.ports,
      );
      expect(await rows(`select creator, subject from "like"`)).toEqual([{ creator: BOB, subject: pUri }]);
      expect(await rows(`select creator, subject from repost`)).toEqual([{ creator: BOB, subject: pUri }]);
      expect(await rows(`select type, "postUri", "originatorDid" from feed_item where type = 'repost'`)).toEqual([
        { type: 'repost', postUri: pUri, originatorDid: BOB },
      ]);
      expect(await rows(`select creator, "subjectDid" from follow`)).toEqual([{ creator: BOB, subjectDid: ALICE }]);
      expect(await rows(`select creator, "subjectDid" from actor_block`)).toEqual([{ creator: BOB, subjectDid: ALICE }]);
      expect(await rows(`select creator, "displayName", description from profile`)).toEqual([{ creator: BOB, displayName: 'Bob', description: 'hello' }]);
      expect(await rows(`select "likeCount", "repostCount" from post_agg`)).toEqual([{ likeCount: 1, repostCount: 1 }]);
      expect(await rows(`select did, "followersCount", "followsCount" from profile_agg order by did`)).toEqual([
        { did: ALICE, followersCount: 1, followsCount: 0 },
        { did: BOB, followersCount: 0, followsCount: 1 },
      ]);
    });

    it('keeps records of other collections in the generic record table only', async () => {
      const e = write({ did: ALICE, collection: 'com.example.thing', rkey: 'x1', rev: 1, record: { $type: 'com.example.thing', n: 1 } });
      await indexBatch([e], db.ports);
      expect(await rows(`select uri, cid from record`)).toEqual([{ uri: uriOf(ALICE, 'com.example.thing', 'x1'), cid: e.cid }]);
    });

    it('indexes nothing of a record its lexicon refuses, as the AppView; an update it refuses leaves the version before', async () => {
      const bundle = createMetrics({ hosts: [], streams: [] });
      const ports = { ...db.ports, metrics: bundle.metrics };
      const counter = async (name: string, labels: string) => Number((await bundle.registry.metrics()).match(new RegExp(`${name}\\{${labels}\\} (\\d+)`))?.[1]);
      const longText = 'x'.repeat(301);
      const result = await indexBatch([
        write({ did: ALICE, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 1, record: { createdAt: 'x' } }),
        write({ did: ALICE, collection: POST, rkey: 'p1', rev: 2, record: post('fine') }),
        write({ did: ALICE, collection: POST, rkey: 'p1', rev: 3, type: 'update', record: post(longText) }),
        write({ did: ALICE, collection: POST, rkey: 'p2', rev: 4, record: post('no zone', { createdAt: '2026-01-01T00:00:00' }) }),
      ], ports);
      expect(result.outcomes.every((o) => o.status === 'ok')).toBe(true);
      expect(await rows(`select uri from record order by uri`)).toEqual([{ uri: uriOf(ALICE, POST, 'p1') }]);
      expect(await rows(`select text from post`)).toEqual([{ text: 'fine' }]);
      expect(await rows(`select count(*)::int as n from "like"`)).toEqual([{ n: 0 }]);
      // The commits were seen even though their records were not indexed.
      expect(await rows(`select "repoRev" from actor_sync`)).toEqual([{ repoRev: tid(4) }]);
      expect(await counter('skytide_index_records_total', 'collection="like",outcome="invalid"')).toBe(1);
      expect(await counter('skytide_index_records_total', 'collection="post",outcome="invalid"')).toBe(2);
      expect(await counter('skytide_index_events_total', 'type="update",outcome="invalid"')).toBe(1);
      expect(await counter('skytide_index_events_total', 'type="create",outcome="invalid"')).toBe(2);
      // A later valid update and a delete apply as usual.
      await indexBatch([write({ did: ALICE, collection: POST, rkey: 'p1', rev: 5, type: 'update', record: post('fixed') })], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'fixed' }]);
    });
  });

  describe('index: last writer wins by repo rev', () => {
    const P = (rev: number, text: string) => write({ did: ALICE, collection: POST, rkey: 'p1', rev, record: post(text), type: rev === 1 ? 'create' : 'update' });

    it('counts a write the rev rule refused as a stale event, as its record is counted stale', async () => {
      const bundle = createMetrics({ hosts: [], streams: [] });
      const ports = { ...db.ports, metrics: bundle.metrics };
      const counter = async (name: string, labels: string) => Number((await bundle.registry.metrics()).match(new RegExp(`${name}\\{${labels}\\} (\\d+)`))?.[1]);
      await indexBatch([P(1, 'one'), P(3, 'three')], ports);
      // In a later batch: an update older than the stored rev (refused by the rule, not by a newer op of its batch).
      await indexBatch([P(2, 'two')], ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'three' }]);
      expect(await counter('skytide_index_records_total', 'collection="post",outcome="stale"')).toBe(1);
      // rev 3 applied (ok); rev 2 refused (stale); rev 1, superseded within its batch by rev 3, was already stale.
      expect(await counter('skytide_index_events_total', 'type="update",outcome="ok"')).toBe(1);
      expect(await counter('skytide_index_events_total', 'type="update",outcome="stale"')).toBe(1);
      expect(await counter('skytide_index_events_total', 'type="create",outcome="stale"')).toBe(1);
    });

    it('an older create arriving after a newer update changes nothing', async () => {
      await indexBatch([P(5, 'new')], db.ports);
      await indexBatch([P(1, 'old')], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'new' }]);
      expect(await rows(`select rev from record`)).toEqual([{ rev: tid(5) }]);
      expect(await rows(`select "postsCount" from profile_agg`)).toEqual([{ postsCount: 1 }]);
    });

    it('an update purges and replaces the typed rows without double counting', async () => {
      await indexBatch([P(1, 'v1')], db.ports);
      await indexBatch([P(2, 'v2')], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'v2' }]);
      expect(await rows(`select "postsCount" from profile_agg`)).toEqual([{ postsCount: 1 }]);
    });

    it('a delete leaves a tombstone with its rev, even when no row existed, so an older create cannot resurrect it', async () => {
      await indexBatch([del({ did: ALICE, collection: POST, rkey: 'p1', rev: 3 })], db.ports);
      // `record` keeps live records only, as the AppView's does; the rev is in record_tombstone.
      expect(await rows(`select uri from record`)).toEqual([]);
      expect(await rows(`select uri, did, rev from record_tombstone`)).toEqual([{ uri: uriOf(ALICE, POST, 'p1'), did: ALICE, rev: tid(3) }]);
      await indexBatch([P(1, 'late create')], db.ports);
      expect(await rows(`select count(*)::int as n from post`)).toEqual([{ n: 0 }]);
      expect(await rows(`select uri from record`)).toEqual([]);
      expect(await rows(`select rev from record_tombstone`)).toEqual([{ rev: tid(3) }]);
      // A create newer than the delete brings the record back; the tombstone's rev stays for older ones.
      await indexBatch([P(4, 'created again')], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'created again' }]);
      await indexBatch([del({ did: ALICE, collection: POST, rkey: 'p1', rev: 2 })], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'created again' }]);
    });

    it('a stale delete does not remove a newer record', async () => {
      await indexBatch([P(4, 'kept')], db.ports);
      await indexBatch([del({ did: ALICE, collection: POST, rkey: 'p1', rev: 2 })], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'kept' }]);
    });

    it('a delete removes typed rows and reverses exactly the counts they added', async () => {
      const p = write({ did: ALICE, collection: POST, rkey: 'p1', rev: 1, record: post('x') });
      const pUri = uriOf(ALICE, POST, 'p1');
      await indexBatch([p, write({ did: BOB, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 2, record: like(pUri, p.cid) })], db.ports);
      await indexBatch([del({ did: BOB, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 3 })], db.ports);
      await indexBatch([del({ did: BOB, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 3 })], db.ports);
      expect(await rows(`select "likeCount" from post_agg`)).toEqual([{ likeCount: 0 }]);
    });

    it('replaying the same batch changes nothing', async () => {
      const p = write({ did: ALICE, collection: POST, rkey: 'p1', rev: 1, record: post('x') });
      const l = write({ did: BOB, collection: 'app.bsky.feed.like', rkey: 'l1', rev: 2, record: like(uriOf(ALICE, POST, 'p1'), p.cid) });
      await indexBatch([p, l], db.ports);
      await indexBatch([l, p, l], db.ports);
      expect(await rows(`select "likeCount" from post_agg`)).toEqual([{ likeCount: 1 }]);
      expect(await rows(`select "postsCount" from profile_agg`)).toEqual([{ postsCount: 1 }]);
    });

    it('actor_sync only moves forward', async () => {
      await indexBatch([P(7, 'a')], db.ports);
      await indexBatch([P(3, 'b')], db.ports);
      expect(await rows(`select "repoRev" from actor_sync`)).toEqual([{ repoRev: tid(7) }]);
    });
  });

  describe('index: identity and account events', () => {
    it('sets the handle, moves a handle to its new holder, stores any account status, and mirrors to actor the ones the AppView writes', async () => {
      await indexBatch([identity(ALICE, 'Alice.Test', 10), identity(BOB, 'bob.test', 11)], db.ports);
      expect(await rows(`select did, handle from actor order by did`)).toEqual([
        { did: ALICE, handle: 'alice.test' },
        { did: BOB, handle: 'bob.test' },
      ]);
      await indexBatch([identity(BOB, 'alice.test', 12)], db.ports);
      expect(await rows(`select did, handle from actor order by did`)).toEqual([
        { did: ALICE, handle: null },
        { did: BOB, handle: 'alice.test' },
      ]);
      await indexBatch([account(ALICE, false, 'takendown', 13), account(BOB, false, 'some-future-status', 14)], db.ports);
      // account_state keeps every status; actor."upstreamStatus" only those the AppView's indexer writes (its readers
      // hide an account with any other), leaving the column as it was for the rest, as that indexer does.
      expect(await rows(`select did, "upstreamStatus" from actor order by did`)).toEqual([
        { did: ALICE, upstreamStatus: 'takendown' },
        { did: BOB, upstreamStatus: null },
      ]);
      expect(await rows(`select did, status from account_state order by did`)).toEqual([
        { did: ALICE, status: 'takendown' },
        { did: BOB, status: 'some-future-status' },
      ]);
      await indexBatch([account(ALICE, false, 'throttled', 15), account(BOB, false, 'desynchronized', 16), account(BOB, false, undefined, 17)], db.ports);
      expect(await rows(`select did, "upstreamStatus" from actor order by did`)).toEqual([
        { did: ALICE, upstreamStatus: 'takendown' },
        { did: BOB, upstreamStatus: null },
      ]);
      await indexBatch([account(ALICE, true, undefined, 18), account(BOB, false, 'suspended', 19)], db.ports);
      expect(await rows(`select did, "upstreamStatus" from actor order by did`)).toEqual([
        { did: ALICE, upstreamStatus: null },
        { did: BOB, upstreamStatus: 'suspended' },
      ]);
    });

    it('asks for a resync of accounts deleted (to confirm with their PDS) or back to active, not of other statuses', async () => {
      const result = await indexBatch([account(ALICE, false, 'deleted', 20), account(BOB, true, undefined, 21), account('did:plc:carol000000000000000000', false, 'takendown', 22)], db.ports);
      expect(result.resync).toEqual([
        { did: ALICE, reason: 'account_deleted' },
        { did: BOB, reason: 'account_active' },
      ]);
    });

    it('does not index writes of inactive accounts, and indexes them again once active', async () => {
      await indexBatch([account(ALICE, false, 'takendown', 30)], db.ports);
      await indexBatch([write({ did: ALICE, collection: POST, rkey: 'hidden', rev: 31, record: post('while takendown') })], db.ports);
      expect(await rows(`select count(*)::int as n from post`)).toEqual([{ n: 0 }]);
      const back = await indexBatch([account(ALICE, true, undefined, 32), write({ did: ALICE, collection: POST, rkey: 'back', rev: 33, record: post('back again') })], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'back again' }]);
      expect(back.resync).toEqual([{ did: ALICE, reason: 'account_active' }]);
    });

    it('marks events with bad identifiers dead with a reason, and indexes the rest', async () => {
      const good = write({ did: ALICE, collection: POST, rkey: 'p1', rev: 1, record: post('ok') });
      const badDid = { ...good, did: 'not-a-did' };
      const badRkey = { ...good, rkey: '..' };
      const result = await indexBatch([badDid, good, badRkey], db.ports);
      expect(result.outcomes).toEqual([
        { status: 'dead', reason: 'invalid_syntax', message: 'invalid did "not-a-did"' },
        { status: 'ok' },
        { status: 'dead', reason: 'invalid_syntax', message: 'invalid rkey ".."' },
      ]);
      expect(await rows(`select count(*)::int as n from post`)).toEqual([{ n: 1 }]);
    });

    it('stores text with NUL bytes and lone surrogates without failing the batch', async () => {
      const record = post('a\u0000b\ud800c');
      await indexBatch([write({ did: ALICE, collection: POST, rkey: 'p1', rev: 1, record })], db.ports);
      expect(await rows(`select text from post`)).toEqual([{ text: 'ab\ufffdc' }]);
      // The record's JSON keeps both, escaped as JSON.stringify writes them (text that needs no cleaning).
      expect(await rows(`select json from record`)).toEqual([{ json: JSON.stringify(record) }]);
      expect(JSON.stringify(record)).toContain('\\u0000');
    });
  });
});

describe('index: COPY and multi-row statements write the same rows', () => {
  it('the same network-shaped stream, with text COPY must escape, ends in equal tables in both modes', async () => {
    const events = networkCorpus(7).next(3000);
    // Text COPY's format must escape: tabs, newlines, carriage returns, backslashes, a literal \N, NUL, lone surrogates.
    const awkward = ['tab\there', 'line\nbreak\r\n', 'back\\slash \\N \\t', 'nul\u0000byte', 'lone \ud800 surrogate', '\\', ''];
    awkward.forEach((text, i) => {
      events.push(write({ did: ALICE, collection: POST, rkey: `awk${i}`, rev: 5_000_000 + i, record: post(text, { tags: [text] }) }));
      events.push(write({ did: BOB, collection: 'app.bsky.actor.profile', rkey: 'self', rev: 5_000_100 + i, type: i === 0 ? 'create' : 'update', record: profile(text, { description: text }) }));
    });
    const dbs = await Promise.all(WRITE_MODES.map((mode) => createIndexDb(`index_modes_${mode}`, mode)));
    try {
      for (const db of dbs) {
        for (let i = 0; i < events.length; i += 250) await indexBatch(events.slice(i, i + 250), db.ports);
      }
      const [copied, statements] = await Promise.all(dbs.map((db) => dumpIndex(db.sql)));
      expect(copied).toEqual(statements);
      expect(copied?.['post']?.length).toBeGreaterThan(500);
      expect(copied?.['post_embed_image']?.length).toBeGreaterThan(0);
      expect(copied?.['quote']?.length).toBeGreaterThan(0);
      expect(copied?.['profile']).toContainEqual(expect.objectContaining({ creator: BOB, description: '' }));
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});
