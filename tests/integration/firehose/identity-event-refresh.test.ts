// An #identity is the prod to refresh what we cached of the DID (identity spec; indigo's relay purges its directory
// on it). Before, the live path kept verifying the DID's commits with the key cached before the #identity, for up to
// its stale age (6 hours): after a key rotation announced by #identity, a commit signed with the key rotated away was
// accepted and indexed. A real relay socket, real Redis, the production identity stack (Redis cache, outage breaker,
// resolver) over a PLC directory stand-in on 127.0.0.1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secp256k1Keypair } from '@atproto/crypto';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { withRedisCache } from '../../../adapters/identity/redis-cache.ts';
import { withOutageBreaker } from '../../../adapters/identity/outage-breaker.ts';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { silentLog } from '../../../functions/ports.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc } from '../../helpers/fake-pds.ts';
import { buildCommitFrame, identityFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };
const revAt = (agoMs: number) => tid((Date.now() - agoMs) * 1000 * 1024);

let plc: FakePlc;
const h = useFirehoseHarness('identity_event', {
  metrics: { streams: Object.values(STREAMS) },
  // The production identity stack over the fake PLC: Redis cache, outage breaker, resolver.
  ingester: ({ redis, keys }) => {
    const breaker = withOutageBreaker(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), { log: silentLog });
    return {
      identity: withRedisCache(breaker, { redis, prefix: keys.stream(''), log: silentLog }), outages: breaker,
      waitRetry: { baseMs: 20, maxMs: 50 }, repoState: createRepoStateStore(redis, keys),
    };
  },
});

beforeAll(async () => {
  plc = await startFakePlc();
});
afterAll(async () => {
  await plc.close();
});

const resyncs = async () => (await h.resyncs()).map((r) => r.reason);
const commit = async (seq: number, agoMs: number, rkey: string, sign: Secp256k1Keypair) =>
  (await buildCommitFrame({ seq, did: DID, rev: revAt(agoMs), sign, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] })).frame;

describe('#identity refreshes the identity the live path verifies with', () => {
  it('after an #identity announcing a rotated key, a commit signed with the old key is refused and one with the new key is taken', async () => {
    const oldKey = await Secp256k1Keypair.create();
    const newKey = await Secp256k1Keypair.create();
    plc.set(DID, repoDoc(DID, oldKey.did(), 'http://127.0.0.1:9'));
    h.relay.append(1, await commit(1, 60_000, 'a', oldKey));
    const run = h.start();
    await waitFor(h.cursorSeq, (c) => c === 1, 'cursor 1');
    // The account rotates its key (a migration, a compromised key), and its #identity says so.
    plc.set(DID, repoDoc(DID, newKey.did(), 'http://127.0.0.1:9'));
    h.relay.append(2, identityFrame(2, DID));
    h.relay.append(3, await commit(3, 50_000, 'signed-by-old-key', oldKey));
    h.relay.append(4, await commit(4, 40_000, 'signed-by-new-key', newKey));
    await waitFor(h.cursorSeq, (c) => c === 4, 'cursor 4');
    expect((await h.events()).map((e) => e.rkey ?? e.type)).toEqual(['a', 'identity', 'signed-by-new-key']);
    expect(await resyncs()).toEqual(['bad_signature']);
    expect(await run.errors('bad_signature')).toBe(1);
  });
});
