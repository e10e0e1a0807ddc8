// The whole-network backfill benchmark (`npm run bench -- network`) at a small size: 200 signed repos with
// heavy-tailed sizes and one giant, served over HTTP on loopback, backfilled through the real backfill-repo path into
// Postgres. Checks that it runs and that every record lands in `record` and its typed table; never the time.
import { describe, expect, it } from 'vitest';
import { syntheticNetwork, NETWORK_SIZES } from '../../helpers/synthetic-network.ts';
import { backfillNetwork } from '../../helpers/network-backfill.ts';

const SMALL = { repos: 200, giants: 1, giantRecords: 3000, maxRecords: 1000, ...NETWORK_SIZES, seed: 11 };

describe('network backfill (small)', () => {
  it('backfills every repo and indexes every record', { timeout: 300_000 }, async () => {
    const network = await syntheticNetwork(SMALL);
    const sum = (collection: string) => network.repos.reduce((a, r) => a + (r.counts[collection] ?? 0), 0);
    const result = await backfillNetwork(network, { concurrency: 4 });
    expect(result.failures).toEqual([]);
    expect(result.repos).toBe(200);
    expect(result.records).toBe(network.records);
    expect(result.indexed).toEqual({
      record: network.records,
      post: sum('app.bsky.feed.post'),
      like: sum('app.bsky.feed.like'),
      follow: sum('app.bsky.graph.follow'),
      repost: sum('app.bsky.feed.repost'),
      actor_block: sum('app.bsky.graph.block'),
      profile: 200,
      repo_sync: 200,
    });
    expect(Math.max(...network.repos.map((r) => r.records))).toBe(3000);
    expect(result.perRepo.every((r) => r.ms >= 0)).toBe(true);
  });
});
