// The lanes of an index stream's reads (INDEXER_SPLIT): a DID always in the same lane, every lane used, and the
// lanes of one stream shard still split apart. How the consumer runs lanes: tests/integration/consumer/stream-consumer.test.ts.
import { describe, expect, it } from 'vitest';
import { didLanes, didPart } from '../../../long-runners/consumer/split-by-did.ts';
import { didShard } from '../../../adapters/redis/keys.ts';

const dids = Array.from({ length: 2000 }, (_, i) => `did:plc:${i.toString(36).padStart(24, 'a')}`);

describe('didLanes', () => {
  it('puts a DID in one lane, the same on every call, and uses every lane about evenly', () => {
    const lanes = didLanes(3, (did: string) => did);
    expect(lanes.count).toBe(3);
    const counts = [0, 0, 0];
    for (const did of dids) {
      const lane = lanes.of(did);
      expect(lanes.of(did)).toBe(lane);
      expect(lane).toBe(didPart(did, 3));
      (counts[lane] as number)++;
    }
    expect(Math.min(...counts) / dids.length).toBeGreaterThan(0.3);
  });

  it('one lane when the split is 1 (or less)', () => {
    expect(didLanes(1, (did: string) => did)).toMatchObject({ count: 1 });
    expect(didLanes(0, (did: string) => did).of(dids[0] as string)).toBe(0);
  });

  it('splits the DIDs of one stream shard too (a lane hash independent of the shard hash)', () => {
    // With STREAM_SHARDS=2 and INDEXER_SPLIT=2, every DID of shard 0 has an even shard hash: splitting by that hash
    // again would put them all in one lane and run one transaction where two were asked for.
    const shard0 = dids.filter((did) => didShard(did, 2) === 0);
    const counts = [0, 0];
    for (const did of shard0) (counts[didPart(did, 2)] as number)++;
    expect(Math.min(...counts) / shard0.length).toBeGreaterThan(0.45);
  });
});
