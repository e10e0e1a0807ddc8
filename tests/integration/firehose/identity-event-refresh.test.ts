// An #identity is the prod to refresh what we cached of the DID (identity spec; indigo's relay purges its directory
// on it). Before, the live path kept verifying the DID's commits with the key cached before the #identity, for up to
// its stale age (6 hours): after a key rotation announced by #identity, a commit signed with the key rotated away was
// accepted and indexed. A real relay socket, real Redis, the production identity stack (Redis cache, outage breaker,
// resolver) over a PLC directory stand-in on 127.0.0.1.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Secp256k1Keypair } from '@atproto/crypto';
import { runFirehoseIngester } from '../../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey, STREAMS, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { withRedisCache } from '../../../adapters/identity/redis-cache.ts';
import { withOutageBreaker } from '../../../adapters/identity/outage-breaker.ts';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc } from '../../helpers/fake-pds.ts';
import { buildCommitFrame, identityFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };
const revAt = (agoMs: number) => tid((Date.now() - agoMs) * 1000 * 1024);

let redis: Redis;
let cleanup: () => Promise<void>;
let plc: FakePlc;
let keys: KeySpace;
let relay: FakeRelay;
let running: { stop: () => Promise<void> } | undefined;

beforeAll(async () => {
  ({ redis, cleanup } = await createTestRedis('identity_event'));
  plc = await startFakePlc();
});
afterAll(async () => {
  await plc.close();
  await cleanup();
});
beforeEach(async () => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  relay = await startFakeRelay();
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await relay.close();
});

function start() {
  const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: Object.values(STREAMS) });
  const breaker = withOutageBreaker(createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }), { log: silentLog });
  const controller = new AbortController();
  const done = runFirehoseIngester({
    redis, keys, host: relay.host, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 20, initialCursor: 0,
    log: silentLog, metrics: metrics.metrics, signal: controller.signal, lengthCheckIntervalMs: 20,
    backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 },
    identity: withRedisCache(breaker, { redis, prefix: keys.stream(''), log: silentLog }), outages: breaker,
    waitRetry: { baseMs: 20, maxMs: 50 }, repoState: createRepoStateStore(redis, keys),
  });
  running = { stop: async () => { controller.abort(); await done; } };
  return async (reason: string) =>
    Number((await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="${reason}"}`))?.split(' ').at(-1) ?? NaN);
}

const events = async () => (await redis.xrange(keys.stream(STREAMS.firehoseLive), '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; rkey?: string });
const resyncs = async () => (await redis.xrange(keys.stream(STREAMS.repoBackfill), '-', '+')).map(([, f]) => (JSON.parse(f[1] ?? '{}') as { reason: string }).reason);
const cursor = async () => Number((await redis.get(keys.cursor(STREAMS.firehoseLive, relay.host))) ?? -1);
const commit = async (seq: number, agoMs: number, rkey: string, sign: Secp256k1Keypair) =>
  (await buildCommitFrame({ seq, did: DID, rev: revAt(agoMs), sign, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] })).frame;

describe('#identity refreshes the identity the live path verifies with', () => {
  it('after an #identity announcing a rotated key, a commit signed with the old key is refused and one with the new key is taken', async () => {
    const oldKey = await Secp256k1Keypair.create();
    const newKey = await Secp256k1Keypair.create();
    plc.set(DID, repoDoc(DID, oldKey.did(), 'http://127.0.0.1:9'));
    relay.append(1, await commit(1, 60_000, 'a', oldKey));
    const count = start();
    await waitFor(cursor, (c) => c === 1, 'cursor 1');
    // The account rotates its key (a migration, a compromised key), and its #identity says so.
    plc.set(DID, repoDoc(DID, newKey.did(), 'http://127.0.0.1:9'));
    relay.append(2, identityFrame(2, DID));
    relay.append(3, await commit(3, 50_000, 'signed-by-old-key', oldKey));
    relay.append(4, await commit(4, 40_000, 'signed-by-new-key', newKey));
    await waitFor(cursor, (c) => c === 4, 'cursor 4');
    expect((await events()).map((e) => e.rkey ?? e.type)).toEqual(['a', 'identity', 'signed-by-new-key']);
    expect(await resyncs()).toEqual(['bad_signature']);
    expect(await count('bad_signature')).toBe(1);
  });
});
