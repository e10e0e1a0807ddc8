import { syntheticNetwork } from '/work/wt/filters-network/tests/helpers/synthetic-network.ts';
import { NETWORK_SHAPE } from '/work/wt/filters-network/tests/bench/network-shape.ts';
const n = await syntheticNetwork(NETWORK_SHAPE, (l) => console.log(new Date().toISOString(), l));
console.log('done', n.records, n.carBytes);
