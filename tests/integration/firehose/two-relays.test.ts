// One continuity state per repo, whatever the number of relays, connections or processes (issue 8 item 11; sync spec,
// "Commit validation": a rev not after the last one is a replay). Two relays carrying the same repo at different
// positions, each with its own adapter and its own repo-state store (as two processes would have), on one Redis: the
// lagging one's older commits are dropped as stale_rev, the stored state never goes back, and the stream holds every
// commit's events exactly once.
import { describe, expect, it } from 'vitest';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import type { FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { buildCommitFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };
// Real revs are TIDs of the commit's time: keep them in the past so none is a future_rev.
const rev = (n: number) => tid(Date.parse('2026-01-01T00:00:00.000Z') * 1000 + n);

const h = useFirehoseHarness('two_relays', { relays: 2 });

/** An adapter on `relay`, with its own metrics and (as each process has its own) its own repo-state store. */
function adapter(relay: FakeRelay) {
  const run = h.start({ host: relay.host, batchSize: 5, batchTimeoutMs: 10, repoState: createRepoStateStore(h.redis, h.keys.stream('')) });
  return { cursor: () => h.cursorSeq(relay.host), staleRevs: () => run.errors('stale_rev') };
}

const commits = async (n: number) =>
  Promise.all(Array.from({ length: n }, (_, i) => buildCommitFrame({ seq: i + 1, did: DID, rev: rev(i + 1), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey: `k${i + 1}`, record: POST }] })));
const streamRkeys = async () => (await h.events()).map((e) => e.rkey as string);
const storedRev = async () => (await h.repoState(DID))?.rev;

describe('two relays at different positions on one Redis', () => {
  it('drops the lagging relay’s older commits as stale_rev; the state never goes back; every event lands once', async () => {
    const frames = await commits(20);
    const [ahead, lagging] = h.relays as [FakeRelay, FakeRelay];
    // The lagging relay has delivered the first 3 commits when the other one catches up to all 20.
    for (let i = 0; i < 3; i++) lagging.append(i + 1, frames[i]!.frame);
    const slow = adapter(lagging);
    await waitFor(slow.cursor, (c) => c === 3, 'lagging relay at seq 3');
    for (let i = 0; i < 20; i++) ahead.append(i + 1, frames[i]!.frame);
    const fast = adapter(ahead);
    await waitFor(fast.cursor, (c) => c === 20, 'leading relay at seq 20');
    expect(await storedRev()).toBe(rev(20));

    // Now the lagging relay replays the rest; watch the stored state while it does.
    const seen = new Set<string | undefined>();
    const watch = setInterval(() => void storedRev().then((r) => seen.add(r)), 2);
    for (let i = 3; i < 20; i++) lagging.append(i + 1, frames[i]!.frame);
    await waitFor(slow.cursor, (c) => c === 20, 'lagging relay at seq 20');
    clearInterval(watch);

    expect([...seen].filter((r) => r !== rev(20))).toEqual([]);
    expect(await storedRev()).toBe(rev(20));
    expect(await slow.staleRevs()).toBe(17);
    expect(await fast.staleRevs()).toBe(3);
    const rkeys = await streamRkeys();
    expect(rkeys).toHaveLength(20);
    expect(new Set(rkeys).size).toBe(20);
  });

  it('two live relays delivering the same commits at once write each commit once', async () => {
    const frames = await commits(60);
    const a = adapter(h.relays[0]!);
    const b = adapter(h.relays[1]!);
    await waitFor(() => h.relays.every((r) => r.openConnections === 1), (ok) => ok, 'both connected');
    for (let i = 0; i < 60; i++) for (const r of h.relays) r.append(i + 1, frames[i]!.frame);
    await waitFor(async () => [await a.cursor(), await b.cursor()], (c) => c[0] === 60 && c[1] === 60, 'both at seq 60');
    const rkeys = await streamRkeys();
    expect(rkeys).toEqual(Array.from({ length: 60 }, (_, i) => `k${i + 1}`));
    expect((await a.staleRevs()) + (await b.staleRevs())).toBe(60);
    expect(await storedRev()).toBe(rev(60));
  });
});
