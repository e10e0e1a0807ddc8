// An #identity whose `handle` breaks the handle syntax (the lexicon's `format: handle`). The event is what matters: it
// says the DID's identity changed, and the index re-verifies the handle from the DID document on it, so it is kept.
// The handle is only the relay's hint (indigo's relay passes it through unchecked; the AppView and @atproto/sync never
// use it), and an invalid one is left out of the stream entry and counted (invalid_handle), so no consumer of
// firehose_live (ours, rsky's indexer, a tool) ever reads it. A real relay socket on 127.0.0.1, real Redis, then the
// entries through the index function into real Postgres.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { hostKey, STREAMS } from '../../../adapters/redis/keys.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import type { AtprotoIdentity, IdentityResolver } from '../../../functions/atproto/identity/did-document.ts';
import type { HandleResolver } from '../../../functions/atproto/identity/handle.ts';
import type { StreamEvent } from '../../../functions/events.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { identityFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const BOB = 'did:plc:bob0000000000000000000000';
const KEY = { curve: 'k256' as const, bytes: new Uint8Array(33) };

const h = useFirehoseHarness('identity_invalid_handle', { metrics: { streams: Object.values(STREAMS) } });
let db: IndexDb;

beforeAll(async () => {
  db = await createIndexDb('identity_invalid_handle');
});
afterAll(async () => {
  await db.close();
});

/** What the DID documents claim and where each handle resolves, as the index verifies them. */
const claims = new Map<string, string>([[ALICE, 'alice.test']]);
const identities: IdentityResolver = {
  async resolve(did): Promise<AtprotoIdentity> {
    const claimed = claims.get(did);
    return { did, signingKey: KEY, pds: 'https://pds.example', ...(claimed === undefined ? {} : { claimedHandle: claimed }) };
  },
};
const handles: HandleResolver = {
  async resolve(handle) {
    return [...claims].find(([, h]) => h === handle)?.[0];
  },
};

describe('#identity with an invalid handle', () => {
  it('enters the stream without the handle (counted), and the index still re-verifies the identity on it', async () => {
    const host = hostKey(h.relay.host);
    h.relay.append(1, identityFrame(1, ALICE, 'alice.test'));
    h.relay.append(2, identityFrame(2, ALICE, 'not a handle!'));
    h.relay.append(3, identityFrame(3, BOB, 'nodot'));
    // `handle.invalid` is the lexicon's own word for "this handle failed validation": valid syntax, passed on.
    h.relay.append(4, identityFrame(4, BOB, 'handle.invalid'));
    const run = h.start();
    try {
      await waitFor(h.cursorSeq, (c) => c === 4, 'cursor 4');
    } finally {
      await run.stop();
    }

    // The entries as written (text): parseEventFields reads them so, and no invalid handle may be in the text.
    const entries = (await h.redis.xrange(h.keys.stream(STREAMS.firehoseLive), '-', '+')).map(([, f]) => ({ event: f[1] ?? '' }));
    // Every #identity is in the stream, in order; no entry holds an invalid handle, not even as text.
    expect(entries.map((e) => JSON.parse(e.event) as Record<string, unknown>).map((e) => [e['seq'], e['did'], e['handle']])).toEqual([
      [1, ALICE, 'alice.test'], [2, ALICE, undefined], [3, BOB, undefined], [4, BOB, 'handle.invalid'],
    ]);
    expect(entries.filter((e) => e.event.includes('not a handle') || e.event.includes('nodot'))).toEqual([]);
    expect(await run.count('skytide_firehose_errors_total', `host="${host}",reason="invalid_handle"`)).toBe(2);
    expect(await run.count('skytide_firehose_events_total', `host="${host}",type="identity"`)).toBe(4);

    // The index acts on each event: it asks the DID document, whatever the event said.
    const events: StreamEvent[] = entries.map((e) => {
      const parsed = parseEventFields(e);
      if (!parsed.ok) throw new Error(parsed.message);
      return parsed.value;
    });
    const handleOf = async (did: string) => checkRows(await db.sql.query(`select handle as h from actor where did = $1`, [did]), { h: 'string?' })[0]?.h;
    const ports = { ...db.ports, identity: identities, handles };
    await indexBatch([events[0]!], ports);
    expect(await handleOf(ALICE)).toBe('alice.test');
    // Alice moved to a new handle; the #identity that announced it carried garbage: the move is still indexed.
    claims.set(ALICE, 'alice-new.test');
    claims.set(BOB, 'bob.test');
    await indexBatch([events[1]!, events[2]!], ports);
    expect(await handleOf(ALICE)).toBe('alice-new.test');
    expect(await handleOf(BOB)).toBe('bob.test');
    await indexBatch([events[3]!], ports);
    expect(checkRows(await db.sql.query(`select handle as h from actor order by did`), { h: 'string?' })).toEqual([{ h: 'alice-new.test' }, { h: 'bob.test' }]);
  });
});
