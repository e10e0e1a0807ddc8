// One whole-network backfill in its own process (so peak RSS is the backfill's, not the generator's): reads the
// cached network named by argv[2] (network-shape.ts), backfills it, prints the result as one JSON line.
import { syntheticNetwork } from '../helpers/synthetic-network.ts';
import { backfillNetwork } from '../helpers/network-backfill.ts';
import { SHAPES } from './network-shape.ts';

const kind = (process.argv[2] ?? 'network') as keyof typeof SHAPES;
const concurrency = Number(process.env['BENCH_NETWORK_CONCURRENCY'] ?? 4);
const network = await syntheticNetwork(SHAPES[kind]);
const result = await backfillNetwork(network, { concurrency, log: (line) => process.stderr.write(`${line}\n`) });
console.log(JSON.stringify({ ...result, concurrency, carBytes: network.carBytes }));
