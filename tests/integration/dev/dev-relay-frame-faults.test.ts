// The dev relay's frame faults (long-runners/dev/frame-faults.ts), in front of a fake upstream serving signed commits
// of one repo: a subscriber reads what skytide's firehose adapter would, and each frame is decoded by the adapter's
// own decoder (decodeRepoFrame). sync, too_big, bad_signature and rev_gap are armed together and rewrite the next four
// commits in that order; the fifth passes unchanged. Then the firehose adapter itself (real Redis, no identity, so no
// signature check: bad_signature is shown by the signature check above) behind the dev relay queues a resync under
// the reason each fault calls for.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import WebSocket from 'ws';
import { startDevRelay, RELAY_FAULTS, type DevRelay } from '../../../long-runners/dev/dev-relay.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { block, encodeCar, encodeFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { decodeFrame } from '../../../functions/atproto/frame.ts';
import { decodeRepoFrame } from '../../../functions/atproto/repo-frame.ts';
import { readCarBlocks } from '../../../functions/atproto/car.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { decodeCbor } from '../../helpers/strict-cbor.ts';
import { cidForCbor } from '../../../functions/atproto/cid.ts';
import { compressPoint, type PublicKey } from '../../../functions/atproto/crypto/keys.ts';
import { verifySignature } from '../../../functions/atproto/crypto/verify.ts';
import { lexToCbor } from '../../../functions/atproto/lex-json.ts';
import { runFirehoseIngester } from '../../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';

const DID = 'did:plc:devrelayfaults0000000000';
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n; // P-256 order
const rev = (n: number) => `3jzfcijpj2z2${'abcdefgh'[n]}`;

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = publicKey.export({ format: 'jwk' });
const key: PublicKey = {
  curve: 'p256',
  bytes: compressPoint(new Uint8Array([4, ...Buffer.from(jwk.x!, 'base64url'), ...Buffer.from(jwk.y!, 'base64url')])),
};

function signLowS(message: Uint8Array, k: KeyObject): Uint8Array {
  const sig = new Uint8Array(sign('sha256', message, { key: k, dsaEncoding: 'ieee-p1363' }));
  const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
  if (s > N / 2n) sig.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32);
  return sig;
}

/**
 * A #commit of one created post, its commit signed by `key`. Each commit's `data` is its own block (no real MST: the
 * checks that read one need an identity, which these tests do not give), so prevData chains commit to commit.
 */
async function signedCommit(seq: number): Promise<Uint8Array> {
  const record = await block(lexToCbor({ $type: 'app.bsky.feed.post', text: `post ${seq}`, createdAt: '2026-01-01T00:00:00.000Z' }));
  const mst = await block({ l: null, e: [], n: seq });
  const prev = await block({ l: null, e: [], n: seq - 1 });
  const unsigned = { did: DID, version: 3, data: mst.cid, rev: rev(seq), prev: null };
  const commit = await block({ ...unsigned, sig: signLowS(encodeCbor(unsigned), privateKey) });
  return encodeFrame({ op: 1, t: '#commit' }, {
    seq, rebase: false, tooBig: false, repo: DID, commit: commit.cid, rev: rev(seq), since: seq === 1 ? null : rev(seq - 1),
    blocks: encodeCar(commit.cid, [commit, mst, record]), ops: [{ action: 'create', path: `app.bsky.feed.post/${seq}`, cid: record.cid }],
    blobs: [], time: '2026-01-01T00:00:00.000Z', ...(seq === 1 ? {} : { prevData: prev.cid }),
  });
}

/** The root commit of a frame's CAR, checked against its CID, and whether its signature verifies. */
async function rootCommit(blocks: Uint8Array): Promise<{ commit: Record<string, unknown>; verifies: boolean }> {
  const car = readCarBlocks(blocks);
  const root = [...car.blocks.entries()].find((b) => Buffer.from(b.cid).equals(Buffer.from(car.roots[0]!.bytes)))!;
  expect(Buffer.from((await cidForCbor(root.bytes)).bytes).equals(Buffer.from(root.cid))).toBe(true);
  const commit = decodeCbor(root.bytes) as Record<string, unknown>;
  const { sig, ...unsigned } = commit;
  return { commit, verifies: verifySignature(key, encodeCbor(unsigned), sig as Uint8Array) };
}

let upstream: FakeRelay;
let relay: DevRelay;
let client: WebSocket;
const received: Uint8Array[] = [];

beforeAll(async () => {
  upstream = await startFakeRelay();
  relay = await startDevRelay(upstream.host);
  upstream.append(1, await signedCommit(1));
  client = new WebSocket(`${relay.url.replace(/^http/, 'ws')}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`);
  client.on('message', (data: Buffer) => received.push(new Uint8Array(data)));
  await waitFor(() => received.length, (n) => n === 1, 'the first commit through the relay');
});

afterAll(async () => {
  client.terminate();
  await relay.close();
  await upstream.close();
});

describe('dev relay frame faults', () => {
  it('lists the new faults with the old ones', () => {
    expect(RELAY_FAULTS).toEqual(expect.arrayContaining(['disconnect', 'rev_gap', 'sync', 'too_big', 'bad_signature']));
  });

  it('rewrites the next commits into a #sync, a tooBig commit, a badly signed commit and a gap', async () => {
    for (const fault of ['sync', 'too_big', 'bad_signature', 'rev_gap'] as const) expect(relay.inject(fault)).toEqual({ subscribers: 1 });
    for (let seq = 2; seq <= 6; seq++) upstream.append(seq, await signedCommit(seq));
    await waitFor(() => received.length, (n) => n === 5, 'five frames (one dropped)');
    expect(relay.injected()).toMatchObject({ sync: 1, too_big: 1, bad_signature: 1, rev_gap: 1 });

    const outcomes = await Promise.all(received.map((f) => decodeRepoFrame(f)));
    const bodies = received.map((f) => {
      const frame = decodeFrame(f);
      if (frame.kind !== 'message') throw new Error(`not a message: ${frame.kind}`);
      return { t: frame.t, body: frame.body };
    });
    expect(bodies.map((b) => [b.t, b.body['seq']])).toEqual([['#commit', 1], ['#sync', 2], ['#commit', 3], ['#commit', 4], ['#commit', 6]]);

    // The untouched commit verifies (the test's own signing is right).
    expect((await rootCommit(bodies[0]!.body['blocks'] as Uint8Array)).verifies).toBe(true);

    // sync: did, rev, seq, time and a CAR holding the upstream commit, still signed; the adapter resyncs the repo.
    const sync = bodies[1]!.body;
    expect(Object.keys(sync).sort()).toEqual(['blocks', 'did', 'rev', 'seq', 'time']);
    expect(sync).toMatchObject({ did: DID, rev: rev(2) });
    const synced = await rootCommit(sync['blocks'] as Uint8Array);
    expect(synced).toMatchObject({ verifies: true, commit: { rev: rev(2), did: DID } });
    expect(outcomes[1]).toMatchObject({ kind: 'sequenced', t: '#sync', resync: [{ did: DID, reason: 'sync_event' }], state: { rev: rev(2) } });

    // too_big: flagged, no ops, no blocks; the adapter resyncs the repo.
    expect(bodies[2]!.body).toMatchObject({ tooBig: true, ops: [], rev: rev(3) });
    expect((bodies[2]!.body['blocks'] as Uint8Array).length).toBe(0);
    expect(outcomes[2]).toMatchObject({ kind: 'sequenced', t: '#commit', resync: [{ did: DID, reason: 'too_big' }] });

    // bad_signature: a well formed commit (CID matches the re-encoded block, ops still decode) whose signature fails.
    const bad = bodies[3]!.body;
    const tampered = await rootCommit(bad['blocks'] as Uint8Array);
    expect(tampered.verifies).toBe(false);
    expect(Buffer.from((bad['commit'] as { bytes: Uint8Array }).bytes).equals(Buffer.from(readCarBlocks(bad['blocks'] as Uint8Array).roots[0]!.bytes))).toBe(true);
    expect(outcomes[3]).toMatchObject({ kind: 'sequenced', t: '#commit', resync: [] });
    expect((outcomes[3] as { events: unknown[] }).events).toHaveLength(1);

    // rev_gap: seq 5 never came; seq 6 says it follows rev 5, which the reader never saw (its last was rev 4).
    expect(bodies[4]!.body['since']).toBe(rev(5));
    expect(bodies.some((b) => b.body['rev'] === rev(5))).toBe(false);
  });
});

describe('the firehose adapter behind the dev relay', () => {
  it('queues a resync for rev_gap, sync and too_big, each under its reason, and counts the gap', async () => {
    const { redis, cleanup } = await createTestRedis('devrelay');
    const keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
    const up = await startFakeRelay();
    const dev = await startDevRelay(up.host);
    const metrics = createMetrics({ hosts: [hostKey(dev.url)], streams: ['firehose_live'] });
    const controller = new AbortController();
    const done = runFirehoseIngester({
      redis, keys, host: dev.url, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 20, initialCursor: 0,
      log: silentLog, metrics: metrics.metrics, signal: controller.signal, lengthCheckIntervalMs: 20,
      backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 }, repoState: createRepoStateStore(redis, keys.stream('')),
    });
    try {
      const cursor = () => redis.get(keys.cursor('firehose_live', dev.url));
      const queued = async () => (await redis.xrange(keys.stream('repo_backfill'), '-', '+')).map(([, f]) => (JSON.parse(f[1] ?? '') as { reason: string }).reason);
      up.append(1, await signedCommit(1));
      await waitFor(cursor, (c) => c === '1', 'cursor 1');
      // 2 is dropped: 3's prevData is 2's root, which the adapter never saw (without the drop, 3 chains onto 2).
      expect(dev.inject('rev_gap')).toEqual({ subscribers: 1 });
      for (let seq = 2; seq <= 3; seq++) up.append(seq, await signedCommit(seq));
      await waitFor(cursor, (c) => c === '3', 'cursor 3');
      expect(await queued()).toEqual(['prev_data_mismatch']);
      const text = await metrics.registry.metrics();
      expect(text).toContain(`skytide_firehose_errors_total{host="${hostKey(dev.url)}",reason="prev_data_mismatch"} 1`);
      // 4 becomes a #sync, 5 a tooBig commit.
      for (const fault of ['sync', 'too_big'] as const) expect(dev.inject(fault)).toEqual({ subscribers: 1 });
      for (let seq = 4; seq <= 5; seq++) up.append(seq, await signedCommit(seq));
      await waitFor(cursor, (c) => c === '5', 'cursor 5');
      expect(await queued()).toEqual(['prev_data_mismatch', 'sync_event', 'too_big']);
    } finally {
      controller.abort();
      await done;
      await dev.close();
      await up.close();
      await cleanup();
    }
  });
});
