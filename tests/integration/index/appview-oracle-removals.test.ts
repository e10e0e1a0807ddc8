// What the AppView keeps when a record is updated or deleted, against the official AppView on the same events
// (helpers/appview-oracle.ts): a post's removal (a delete or an update) takes the quote rows naming it with it; an
// updated like or repost keeps the notifications its first version made. Each history is indexed by skytide one event
// per batch, all in one batch and cut where noted, and by the AppView's IndexingService one event at a time.
import { describe, expect, it } from 'vitest';
import type { JsonObject, RecordWriteEvent, StreamEvent } from '../../../functions/events.ts';
import { del, write } from '../../helpers/events.ts';
import { indexBoth } from '../../helpers/appview-oracle.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000000';
const DAVE = 'did:plc:dave0000000000000000000000';
const POST = 'app.bsky.feed.post';
const CREATED = '2026-01-01T00:00:00.000Z';

let rev = 0;
const create = (did: string, collection: string, rkey: string, record: JsonObject): RecordWriteEvent =>
  write({ did, collection, rkey, rev: ++rev, record: { $type: collection, createdAt: CREATED, ...record } });
const update = (did: string, collection: string, rkey: string, record: JsonObject): RecordWriteEvent =>
  write({ did, collection, rkey, rev: ++rev, type: 'update', record: { $type: collection, createdAt: CREATED, ...record } });
const remove = (did: string, collection: string, rkey: string): StreamEvent => del({ did, collection, rkey, rev: ++rev });
const ref = (e: RecordWriteEvent) => ({ uri: `at://${e.did}/${e.collection}/${e.rkey}`, cid: e.cid });
const quoting = (e: RecordWriteEvent) => ({ text: 'q', embed: { $type: 'app.bsky.embed.record', record: ref(e) } });

/** skytide one event per batch, then all in one batch, then cut before each of `cuts`, each against the AppView. */
async function expectAsAppView(events: StreamEvent[], cuts: number[] = []): Promise<void> {
  const split = (at: number) => [events.slice(0, at), events.slice(at)];
  for (const batches of [events.map((e) => [e]), [events], ...cuts.map(split)]) {
    const { skytide, appview } = await indexBoth(batches);
    expect(skytide, batches.length > 8 ? `${batches.length} batches` : `batches of ${batches.map((b) => b.length).join(', ')}`).toEqual(appview);
  }
}

describe('index: updates and deletes as the AppView indexes them', { timeout: 300_000 }, () => {
  // NOTE: every quote of one post names the same CID, and each history ends with a quote of it written or deleted:
  // the AppView recounts quoteCount by subject CID when a quote comes or goes, and only then (a purge leaves the
  // count as it was until the next one; skytide's count follows the rows at once).
  it('a post deleted or updated takes the quote rows naming it; quotes written after it stay, also when it is made again', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    const p2 = create(ALICE, POST, 'p2', { text: 'x' });
    await expectAsAppView([
      p1, p2,
      create(BOB, POST, 'q1', quoting(p1)), create(CAROL, POST, 'q2', quoting(p1)), create(BOB, POST, 'q5', quoting(p2)),
      remove(ALICE, POST, 'p1'),
      create(DAVE, POST, 'q3', quoting(p1)),
      create(ALICE, POST, 'p1', { text: 'again' }),
      update(CAROL, POST, 'q2', { ...quoting(p1), text: 'q again' }),
      update(ALICE, POST, 'p2', { text: 'edited' }),
      create(CAROL, POST, 'q6', quoting(p2)),
      remove(BOB, POST, 'q1'),
    ], [6, 10]);
  });

  it('a quoting post deleted after its subject; a subject deleted twice over, and only updated', async () => {
    const p1 = create(ALICE, POST, 'p1', { text: 'x' });
    await expectAsAppView([
      p1,
      create(BOB, POST, 'q1', quoting(p1)), create(CAROL, POST, 'q2', quoting(p1)),
      update(ALICE, POST, 'p1', { text: 'y' }),
      create(DAVE, POST, 'q3', quoting(p1)),
      remove(ALICE, POST, 'p1'), remove(CAROL, POST, 'q2'),
      create(CAROL, POST, 'q2', quoting(p1)),
      remove(ALICE, POST, 'p1'),
      remove(BOB, POST, 'q1'),
    ], [4, 7]);
  });
});
