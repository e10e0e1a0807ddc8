// The index against the official AppView on the same events (helpers/appview-oracle.ts): record histories the other
// tests do not pin (deletes and re-creations, updates, gates whose post arrives in the same batch), each indexed by
// skytide one event per batch and all in one batch, and by the AppView's IndexingService one event at a time. Every
// table both write must end alike.
import { describe, expect, it } from 'vitest';
import type { JsonObject, StreamEvent } from '../../../functions/events.ts';
import { del, write } from '../../helpers/events.ts';
import { indexBoth } from '../../helpers/appview-oracle.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const CAROL = 'did:plc:carol000000000000000000000';
const VERIFICATION = 'app.bsky.graph.verification';
const CREATED = '2026-01-01T00:00:00.000Z';

let rev = 0;
const create = (did: string, collection: string, rkey: string, record: JsonObject): StreamEvent =>
  write({ did, collection, rkey, rev: ++rev, record: { $type: collection, createdAt: CREATED, ...record } });
const update = (did: string, collection: string, rkey: string, record: JsonObject): StreamEvent =>
  write({ did, collection, rkey, rev: ++rev, type: 'update', record: { $type: collection, createdAt: CREATED, ...record } });
const remove = (did: string, collection: string, rkey: string): StreamEvent => del({ did, collection, rkey, rev: ++rev });

/** skytide one event per batch, then all in one batch, each against the AppView. */
async function expectAsAppView(events: StreamEvent[]): Promise<void> {
  for (const batches of [events.map((e) => [e]), [events]]) {
    const { skytide, appview } = await indexBoth(batches);
    expect(skytide, `${batches.length} batch(es)`).toEqual(appview);
  }
}

describe('index: as the AppView indexes the same events', () => {
  it('a verification deleted and made again notifies verified again; an edit notifies unverified only', async () => {
    const verify = (subject: string) => ({ subject, handle: 'bob.test', displayName: 'Bob' });
    await expectAsAppView([
      create(ALICE, VERIFICATION, 'v1', verify(BOB)), remove(ALICE, VERIFICATION, 'v1'), create(ALICE, VERIFICATION, 'v1', verify(BOB)),
      update(ALICE, VERIFICATION, 'v1', verify(CAROL)), remove(ALICE, VERIFICATION, 'v1'), update(ALICE, VERIFICATION, 'v1', verify(BOB)),
    ]);
  });
});
