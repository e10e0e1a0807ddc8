// The synthetic network `npm run bench -- network` backfills: 2,000 repos, sizes drawn like the network's (median
// about 40 records, mean about 460, capped at 100,000), three of them giants of 100,000 records.
import { NETWORK_SIZES, type NetworkShape } from '../helpers/synthetic-network.ts';

export const NETWORK_SHAPE: NetworkShape = {
  repos: Number(process.env['BENCH_NETWORK_REPOS'] ?? 2000), giants: 3, giantRecords: 100_000, maxRecords: 100_000, ...NETWORK_SIZES, seed: 7,
};
