// #sync events get the checks a #commit gets (sync spec, message validation): the signed commit block must agree
// with the message (DID, rev) and its signature verify against the DID's current key, and its rev must not be in the
// future. Before, a #sync's unsigned body rev went straight into the repo's continuity state, so one #sync from the
// future held back every genuine commit of the repo as stale_rev for days. A real relay socket, real Redis, a real
// PLC directory stand-in over HTTP and the real identity resolver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secp256k1Keypair } from '@atproto/crypto';
import { CID } from 'multiformats/cid';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { startFakePlc, type FakePlc } from '../../helpers/fake-plc.ts';
import { repoDoc } from '../../helpers/fake-pds.ts';
import { block, buildCommitFrame, encodeCar, encodeFrame, syncFrame } from '../../helpers/frames.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';
import type { Keypair } from '@atproto/crypto';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };
/** A rev at the wall clock, `aheadMs` from now. */
const revAt = (aheadMs = 0) => tid((Date.now() + aheadMs) * 1000 * 1024);
const YEAR_MS = 365 * 24 * 3600_000;

let plc: FakePlc;
let key: Secp256k1Keypair;
let stranger: Secp256k1Keypair;
const h = useFirehoseHarness('sync_checks', {
  metrics: { streams: Object.values(STREAMS) },
  ingester: ({ redis, keys }) => ({
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: plc.url, allowPrivate: true }),
    repoState: createRepoStateStore(redis, keys),
  }),
});

beforeAll(async () => {
  plc = await startFakePlc();
  key = await Secp256k1Keypair.create();
  stranger = await Secp256k1Keypair.create();
  plc.set(DID, repoDoc(DID, key.did(), 'http://127.0.0.1:9'));
});
afterAll(async () => {
  await plc.close();
});
const signedCommit = async (seq: number, rev: string, rkey: string) =>
  (await buildCommitFrame({ seq, did: DID, rev, sign: key, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] })).frame;

describe('#sync events are verified before they move a repo', () => {
  it('a signed #sync from the future is refused (future_rev), and the current commit after it reaches firehose_live', async () => {
    h.relay.append(1, await syncFrame(1, DID, revAt(50 * YEAR_MS), { sign: key }));
    h.relay.append(2, await signedCommit(2, revAt(), 'a'));
    const run = h.start();
    await waitFor(h.cursorSeq, (c) => c === 2, 'cursor 2');
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a']);
    expect(await run.errors('future_rev')).toBe(1);
    expect(await run.errors('stale_rev')).toBe(0);
    expect(await h.resyncs()).toEqual([]);
  });

  it('an unsigned, wrongly signed or rev-mismatched #sync is refused and counted, and moves no state', async () => {
    h.relay.append(1, await signedCommit(1, revAt(-60_000), 'a'));
    // A zero signature, a stranger's signature, and the right key over another rev than the body states.
    h.relay.append(2, await syncFrame(2, DID, revAt(-30_000)));
    h.relay.append(3, await syncFrame(3, DID, revAt(-20_000), { sign: stranger }));
    h.relay.append(4, await syncFrame(4, DID, revAt(-10_000), { sign: key, signedRev: revAt(-50_000) }));
    h.relay.append(5, await signedCommit(5, revAt(-40_000), 'b'));
    const run = h.start();
    await waitFor(h.cursorSeq, (c) => c === 5, 'cursor 5');
    // None of the refused #syncs moved the repo past the commit at -40 s.
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a', 'b']);
    expect(await run.errors('bad_signature')).toBe(2);
    expect(await run.errors('invalid_commit')).toBe(1);
    expect(await run.errors('stale_rev')).toBe(0);
    expect((await h.resyncs()).map((r) => r.reason)).toEqual(['bad_signature', 'bad_signature', 'invalid_commit']);
  });

  it('a genuine #sync resets the chain; one at the stored rev and root changes nothing; one not after the stored rev is stale', async () => {
    const at = revAt(-60_000);
    const other = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
    h.relay.append(1, await syncFrame(1, DID, at, { sign: key }));
    h.relay.append(2, await syncFrame(2, DID, at, { sign: key }));
    const later = revAt(-30_000);
    h.relay.append(3, await signedCommit(3, later, 'a'));
    // The stored rev again, with another tree (spec: a rev lower or equal is ignored), then an older rev.
    h.relay.append(4, await syncFrame(4, DID, later, { sign: key, data: other }));
    h.relay.append(5, await syncFrame(5, DID, at, { sign: key }));
    const run = h.start();
    await waitFor(h.cursorSeq, (c) => c === 5, 'cursor 5');
    expect((await h.resyncs()).map((r) => r.reason)).toEqual(['sync_event']);
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a']);
    expect(await run.errors('stale_rev')).toBe(2);
  });
});

/** A tooBig #commit whose blocks hold only its signed commit block (as producers sent them), naming `data` as its tree. */
async function tooBigFrame(seq: number, rev: string, data: CID, sign: Keypair): Promise<Uint8Array> {
  const unsigned = { did: DID, version: 3, data, rev, prev: null };
  const commit = await block({ ...unsigned, sig: await sign.sign(encodeCbor(unsigned)) });
  const ops = Array.from({ length: 3 }, (_, i) => ({ action: 'create', path: `app.bsky.feed.post/big${i}`, cid: commit.cid }));
  return encodeFrame({ op: 1, t: '#commit' }, {
    seq, rebase: false, tooBig: true, repo: DID, commit: commit.cid, rev, since: null, blocks: encodeCar(commit.cid, [commit]),
    ops, blobs: [], time: '2026-01-01T00:00:00.000Z',
  });
}

describe('a tooBig commit is verified before it counts', () => {
  it('a wrongly signed one is refused; a genuine one queues its resync once and the commit after it chains on it', async () => {
    const emptyTree = (await block({ l: null, e: [] })).cid;
    const [r1, r2, r3] = [revAt(-60_000), revAt(-50_000), revAt(-40_000)];
    h.relay.append(1, await signedCommit(1, r1, 'a'));
    h.relay.append(2, await tooBigFrame(2, r2, emptyTree, stranger));
    h.relay.append(3, await tooBigFrame(3, r2, emptyTree, key));
    // The same commit again (a second relay, a replay): its rev is not after the stored one.
    h.relay.append(4, await tooBigFrame(4, r2, emptyTree, key));
    // The next commit follows the tooBig one: since is its rev, prevData its tree (a create into the empty tree).
    h.relay.append(5, (await buildCommitFrame({ seq: 5, did: DID, rev: r3, since: r2, prevData: emptyTree, sign: key, ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: 'c', record: POST }] })).frame);
    const run = h.start();
    await waitFor(h.cursorSeq, (c) => c === 5, 'cursor 5');
    expect((await h.events()).map((e) => e.rkey)).toEqual(['a', 'c']);
    expect((await h.resyncs()).map((r) => r.reason)).toEqual(['bad_signature', 'too_big']);
    expect([await run.errors('stale_rev'), await run.errors('prev_data_mismatch'), await run.errors('since_mismatch')]).toEqual([1, 0, 0]);
  });
});
