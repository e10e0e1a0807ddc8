// The synthetic networks `npm run bench -- network` backfills. `network`: 2,000 repos, sizes drawn like the
// network's (median about 40 records, mean about 460, capped at 100,000), three of them giants of 100,000 records.
// `tiny`: 500 repos of one record each (the profile), whose CPU is the fixed cost of a repo.
import { NETWORK_SIZES, type NetworkShape } from '../helpers/synthetic-network.ts';

export const NETWORK_SHAPE: NetworkShape = {
  repos: Number(process.env['BENCH_NETWORK_REPOS'] ?? 2000), giants: 3, giantRecords: 100_000, maxRecords: 100_000, ...NETWORK_SIZES, seed: 7,
};

export const TINY_SHAPE: NetworkShape = { repos: 500, giants: 0, giantRecords: 1, maxRecords: 1, mu: 0, sigma: 0, seed: 8 };

export const SHAPES = { network: NETWORK_SHAPE, tiny: TINY_SHAPE } as const;
