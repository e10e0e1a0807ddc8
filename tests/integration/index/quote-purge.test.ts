// The quote rows of a post that goes, against the official AppView on the same events (helpers/appview-oracle.ts): its
// deleteFn deletes every quote row naming a deleted post, and its updateRecord (another CID) runs deleteFn too; a
// record written again at the CID it holds (its backfill skips those) changes nothing, so a quote row purged stays
// purged. A quote made after its subject's delete keeps its row. Every table, quote and post_agg included, must equal
// the AppView's whatever the batch boundaries.
import { describe, expect, it } from 'vitest';
import { SEQ_BACKFILL, type JsonObject, type RecordWriteEvent, type StreamEvent } from '../../../functions/events.ts';
import { at, del, fakeCid, tid, write } from '../../helpers/events.ts';
import { indexBoth } from '../../helpers/appview-oracle.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000000';
const DAVE = 'did:plc:dave0000000000000000000000';
const ERIN = 'did:plc:erin0000000000000000000000';
const POST = 'app.bsky.feed.post';
const CREATED = '2026-01-01T00:00:00.000Z';

let rev = 0;
const post = (did: string, rkey: string, record: JsonObject, type: 'create' | 'update' = 'create'): RecordWriteEvent =>
  write({ did, collection: POST, rkey, rev: ++rev, type, record: { $type: POST, createdAt: CREATED, ...record } });
const remove = (did: string, rkey: string): StreamEvent => del({ did, collection: POST, rkey, rev: ++rev });
/** The same record at the same CID, written again at a later rev: what a backfill of its repo writes. */
const again = (e: RecordWriteEvent): StreamEvent => {
  const n = ++rev;
  return { ...e, type: 'create', seq: n, rev: tid(n), time: at(n), commit: fakeCid(`commit:${e.did}:${n}`) };
};
const ref = (e: RecordWriteEvent) => ({ uri: `at://${e.did}/${e.collection}/${e.rkey}`, cid: e.cid });
const quoting = (subject: RecordWriteEvent) => ({ text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(subject) } });

/** One event per batch, all in one batch, then cut before each of `cuts`, each against the AppView. */
async function expectAsAppView(events: StreamEvent[], cuts: number[]): Promise<Record<string, unknown[]>> {
  const split = (at: number) => [events.slice(0, at), events.slice(at)];
  let last: Record<string, unknown[]> = {};
  for (const batches of [events.map((e) => [e]), [events], ...cuts.map(split)]) {
    const { skytide, appview } = await indexBoth(batches);
    expect(skytide, batches.length > 8 ? `${batches.length} batches` : `batches of ${batches.map((b) => b.length).join(', ')}`).toEqual(appview);
    last = skytide;
  }
  return last;
}

describe('index: the quotes of a post deleted or updated, as the AppView keeps them', { timeout: 300_000 }, () => {
  it('a delete and an update purge them; the same CID again keeps them and brings none back; a later quote stays', async () => {
    const p1 = post(ALICE, 'p1', { text: 'quoted, then deleted' });
    const p2 = post(ALICE, 'p2', { text: 'quoted, then edited' });
    const q1 = post(BOB, 'q1', quoting(p1));
    const q2 = post(CAROL, 'q2', { text: 'q', embed: { $type: 'app.bsky.embed.recordWithMedia', record: { record: ref(p1) },
      media: { $type: 'app.bsky.embed.external', external: { uri: 'https://example.com', title: 't', description: 'd' } } } });
    const q3 = post(BOB, 'q3', quoting(p2));
    // In stream order (each event's rev after the one before).
    const events: StreamEvent[] = [p1, p2, q1, q2, q3];
    // A backfill of Alice's repo: p2 at the CID it has keeps q3's quote row.
    events.push(again(p2));
    events.push(remove(ALICE, 'p1'));
    // A backfill of Bob's repo after p1's delete: q1 at the same CID writes no quote row back.
    events.push(again(q1));
    const p2b = post(ALICE, 'p2', { text: 'edited' }, 'update');
    events.push(p2b, post(DAVE, 'q4', quoting(p2b)));
    // A quote of p1 after its delete: the AppView writes its row (and counts it).
    events.push(post(ERIN, 'q5', quoting(p1)));
    const tables = await expectAsAppView(events, [5, 6, 7, 8, 9]);
    expect((tables['quote'] as { uri: string }[]).map((q) => q.uri)).toEqual([`at://${DAVE}/${POST}/q4`, `at://${ERIN}/${POST}/q5`]);
    expect(tables['post_agg']).toEqual([
      { uri: `at://${ALICE}/${POST}/p1`, likeCount: 0, replyCount: 0, repostCount: 0, quoteCount: 1 },
      { uri: `at://${ALICE}/${POST}/p2`, likeCount: 0, replyCount: 0, repostCount: 0, quoteCount: 1 },
    ]);
  });

  it('a post deleted and made again at the same CID in one batch: the quotes its delete purged stay purged', async () => {
    const p1 = post(ALICE, 'p1', { text: 'here, gone, here' });
    const q1 = post(BOB, 'q1', quoting(p1));
    const q2 = post(CAROL, 'q2', quoting(p1));
    const events: StreamEvent[] = [p1, q1, q2, remove(ALICE, 'p1')];
    events.push(again(p1));
    events.push(post(DAVE, 'q3', quoting(p1)));
    const tables = await expectAsAppView(events, [2, 3, 4]);
    expect((tables['quote'] as { uri: string }[]).map((q) => q.uri)).toEqual([`at://${DAVE}/${POST}/q3`]);
  });

  // A quote of a CID the index never saw for its post (a version before it reached the index, a client's mistake),
  // then a backfill of the post's repo, which finds every record at the CID it holds: no removal at all (found by the
  // fourth fuzz round: a resync at the repo's tip took the quote when the repo also quoted the post itself, which
  // replays the post's ops in order, or when the post was written at the CAR's very rev, which read as a batch
  // delivered again).
  it('a backfill that finds a post at the CID it holds takes no quote of another CID, beside a quote of its own or at its rev', async () => {
    // Quoted after a delete, then made again as another version: the quote keeps its row (the post's new version
    // removed nothing). A backfill writes the new version again; twice in one batch here, which, as a quote of the
    // post by its own author beside it does, replays the post's ops in order.
    const p1 = post(ALICE, 'p1', { text: 'the first version' });
    const gone = remove(ALICE, 'p1');
    const q1 = post(BOB, 'q1', quoting(p1));
    const p1b = post(ALICE, 'p1', { text: 'made again, another version' });
    const tables = await expectAsAppView([p1, gone, q1, p1b, again(p1b), again(p1b)], [4]);
    expect((tables['quote'] as { uri: string }[]).map((q) => q.uri)).toEqual([`at://${BOB}/${POST}/q1`]);
    // A quote of a version the index never saw, then the post, then a backfill's write of it at its own rev and CID
    // (the CAR cut at the commit that wrote it): the same record again, no edit.
    const q2 = post(CAROL, 'q2', { text: 'q', embed: { $type: 'app.bsky.embed.record', record: { uri: `at://${ALICE}/${POST}/p2`, cid: fakeCid('a version never seen') } } });
    const p2 = post(ALICE, 'p2', { text: 'written at the CAR\'s rev' });
    const more = await expectAsAppView([q2, p2, { ...p2, seq: SEQ_BACKFILL }], [2]);
    expect((more['quote'] as { uri: string }[]).map((q) => q.uri)).toEqual([`at://${CAROL}/${POST}/q2`]);
  });
});
