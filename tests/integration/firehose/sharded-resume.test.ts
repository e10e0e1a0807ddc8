// STREAM_SHARDS=4: each shard keeps its own cursor per relay. After a crash between two shards' MULTIs one shard
// stands further on than the others: the adapter resumes from the lowest cursor, and each shard skips what is at or
// below its own, so every event lands once, in its DID's shard, in seq order.
import { describe, expect, it } from 'vitest';
import { STREAMS } from '../../../adapters/redis/keys.ts';
import { createRepoStateStore } from '../../../adapters/redis/repo-state.ts';
import { useFirehoseHarness } from '../../helpers/firehose-harness.ts';
import { buildCommitFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';
import { workloadDid } from '../../helpers/social-workload.ts';

const h = useFirehoseHarness('sharded_resume', { keySpace: { shards: 4 } });

describe('sharded firehose cursors', () => {
  it('resume from the lowest shard cursor, and each shard skips what it already holds', async () => {
    const { redis, keys, relay } = h;
    const dids = Array.from({ length: 24 }, (_, i) => workloadDid(i));
    const TOTAL = 60;
    const didOf = (seq: number) => dids[seq % dids.length]!;
    for (let seq = 1; seq <= TOTAL; seq++) {
      const rkey = tid(seq);
      relay.append(seq, (await buildCommitFrame({ seq, did: didOf(seq), rev: tid(seq), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: { $type: 'app.bsky.feed.post', text: `#${seq}`, createdAt: '2026-01-01T00:00:00.000Z' } }] })).frame);
    }
    // As if a batch up to seq 30 landed in shard 1 only before a crash: the others stand at 10.
    const shards = keys.shardsOf(STREAMS.firehoseLive);
    const floors = shards.map((_, n) => (n === 1 ? 30 : 10));
    for (const [n, shard] of shards.entries()) await redis.set(keys.cursor(shard, relay.host), String(floors[n]));

    expect(new Set(dids.map((d) => keys.shardOf(d))).size).toBe(4);
    // Resumes from the stored cursors alone: no initial cursor.
    const run = h.start({ batchSize: 7, initialCursor: undefined, repoState: createRepoStateStore(redis, keys) });
    await waitFor(async () => Promise.all(shards.map((s) => redis.get(keys.cursor(s, relay.host)))), (v) => v.every((c) => c === String(TOTAL)), `every shard at ${TOTAL}`);
    await run.stop();
    expect(relay.cursors).toEqual(['10']);
    for (const [n, shard] of shards.entries()) {
      const seqs = (await h.events(shard)).map((e) => e.seq);
      const want = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((seq) => seq > floors[n]! && keys.shardOf(didOf(seq)) === n);
      expect(seqs).toEqual(want);
    }
    // Continuity state sits in the DID's shard slot.
    expect(await redis.exists(keys.repoState(didOf(TOTAL)))).toBe(1);
  });
});
