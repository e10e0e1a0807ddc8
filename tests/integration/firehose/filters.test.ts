// The filters in the firehose adapter, against a real WebSocket relay on 127.0.0.1 and real Redis: only kept events
// reach firehose_live, no resync is queued for a dropped DID, and the per-repo continuity state still sees every
// commit (a commit whose ops are all filtered out writes nothing but moves its repo's rev and root).
import { describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { parseEventFilter, type EventFilter, type EventFilterInput } from '../../../functions/event-filter.ts';
import { useFirehoseHarness, type FirehoseRun } from '../../helpers/firehose-harness.ts';
import { accountFrame, buildCommitFrame, identityFrame, type OpSpec } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';

const ALICE = 'did:plc:alicealicealicealicealic';
const BOB = 'did:plc:bobbobbobbobbobbobbobbob';
const at = '2026-01-01T00:00:00.000Z';
const rev = (n: number) => `3l3qo2vuowo${String.fromCharCode(97 + Math.floor(n / 26))}${String.fromCharCode(97 + (n % 26))}`;
const op = (collection: string, rkey: string): OpSpec => ({ action: 'create', collection, rkey, record: { $type: collection, createdAt: at } });

const h = useFirehoseHarness('filters', { ingester: ({ redis, keys }) => ({ repoState: createRepoStateStore(redis, keys.stream('')) }) });

function filterOf(input: EventFilterInput): EventFilter {
  const parsed = parseEventFilter(input);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.filter;
}

const start = (filter: EventFilter) => h.start({ filter });
const filtered = (run: FirehoseRun, why: string) => run.count('skytide_filtered_total', `where="firehose",why="${why}"`);

describe('firehose filters', () => {
  it('a feed generator keeps posts and likes; a commit of other ops writes nothing but still moves the repo state', async () => {
    h.relay.append(1, (await buildCommitFrame({ seq: 1, did: ALICE, rev: rev(1), ops: [op('app.bsky.feed.post', 'a'), op('app.bsky.graph.follow', 'b'), op('app.bsky.feed.like', 'c')] })).frame);
    const onlyFollows = await buildCommitFrame({ seq: 2, did: ALICE, rev: rev(2), ops: [op('app.bsky.graph.follow', 'd')] });
    h.relay.append(2, onlyFollows.frame);
    h.relay.append(3, identityFrame(3, ALICE, 'alice.test'));
    // The follow-only commit advanced the state: replaying it is stale, and a commit claiming another root is a gap.
    h.relay.append(4, onlyFollows.frame.slice());
    const other = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
    h.relay.append(5, (await buildCommitFrame({ seq: 5, did: ALICE, rev: rev(5), prevData: other, ops: [op('app.bsky.feed.repost', 'e')] })).frame);
    const run = start(filterOf({ collections: ['app.bsky.feed.post', 'app.bsky.feed.like'] }));
    await waitFor(h.cursor, (c) => c === '5', 'cursor 5');
    expect((await h.events()).map((e) => [e.type, e.rkey ?? e.handle])).toEqual([['create', 'a'], ['create', 'c'], ['identity', 'alice.test']]);
    expect((await h.repoState(ALICE))?.rev).toBe(rev(5));
    // A kept DID's gap is still resynced, though the commit's op was filtered out.
    expect(await h.resyncs()).toEqual([{ did: ALICE, host: h.relay.host, rev: '', active: true, reason: 'prev_data_mismatch' }]);
    expect(await filtered(run, 'collection')).toBe(3);
  });

  it('a prefix pattern and a dropped DID: none of its events, no resync for it, its continuity still tracked', async () => {
    h.relay.append(1, (await buildCommitFrame({ seq: 1, did: ALICE, rev: rev(1), ops: [op('app.bsky.graph.follow', 'a'), op('app.bsky.graph.block', 'b'), op('app.bsky.feed.post', 'c')] })).frame);
    h.relay.append(2, (await buildCommitFrame({ seq: 2, did: BOB, rev: rev(2), ops: [op('app.bsky.graph.follow', 'x')] })).frame);
    h.relay.append(3, identityFrame(3, BOB, 'bob.test'));
    h.relay.append(4, accountFrame(4, BOB, false, 'deactivated'));
    // Bob's gap and a tooBig commit would queue resyncs for a kept DID: not for him.
    const other = CID.parse('bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454');
    h.relay.append(5, (await buildCommitFrame({ seq: 5, did: BOB, rev: rev(5), prevData: other, ops: [op('app.bsky.graph.follow', 'y')] })).frame);
    h.relay.append(6, (await buildCommitFrame({ seq: 6, did: BOB, rev: rev(6), tooBig: true, ops: [op('app.bsky.graph.follow', 'z')] })).frame);
    h.relay.append(7, accountFrame(7, ALICE, true));
    const run = start(filterOf({ collections: ['app.bsky.graph.*'], excludeDids: [BOB] }));
    await waitFor(h.cursor, (c) => c === '7', 'cursor 7');
    expect((await h.events()).map((e) => [e.did, e.type, e.rkey ?? null])).toEqual([[ALICE, 'create', 'a'], [ALICE, 'create', 'b'], [ALICE, 'account', null]]);
    expect(await h.resyncs()).toEqual([]);
    // The gap at rev 5 advanced it, and so did the tooBig commit at rev 6 (its commit block checks out), filtered or not.
    expect((await h.repoState(BOB))?.rev).toBe(rev(6));
    // Bob's follow x, his identity, his account change and his follow y.
    expect(await filtered(run, 'did')).toBe(4);
    expect(await filtered(run, 'collection')).toBe(1);
  });

  it('a community AppView keeps only its members', async () => {
    h.relay.append(1, (await buildCommitFrame({ seq: 1, did: ALICE, rev: rev(1), ops: [op('app.bsky.feed.post', 'a')] })).frame);
    h.relay.append(2, (await buildCommitFrame({ seq: 2, did: BOB, rev: rev(2), ops: [op('app.bsky.feed.post', 'b')] })).frame);
    h.relay.append(3, identityFrame(3, BOB, 'bob.test'));
    start(filterOf({ dids: [ALICE] }));
    await waitFor(h.cursor, (c) => c === '3', 'cursor 3');
    expect((await h.events()).map((e) => [e.did, e.rkey])).toEqual([[ALICE, 'a']]);
    expect((await h.repoState(BOB))?.rev).toBe(rev(2));
  });
});
