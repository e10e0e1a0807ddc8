// A synthetic network of signed repos for the whole-network backfill benchmark and its small test: repo sizes drawn
// from a lognormal distribution (median and mean chosen like the network's, about 40 and 460 records), capped, plus a
// few giants, every repo its own DID and K-256 key (synthetic-repo.ts). Generated once per (seed, shape) and cached
// under `.cache/` (git-ignored) as one CAR per repo and a manifest, so reruns start at once.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRandom, type Random } from './seeded-random.ts';
import { buildSyntheticRepo } from './synthetic-repo.ts';

export interface NetworkShape {
  repos: number;
  /** Repos of exactly `giantRecords` records among them. */
  giants: number;
  giantRecords: number;
  /** Cap of the drawn sizes (the giants aside). */
  maxRecords: number;
  /** Lognormal parameters of the drawn sizes: median exp(mu), mean exp(mu + sigma^2 / 2) before the cap. */
  mu: number;
  sigma: number;
  seed: number;
}

export interface NetworkRepo {
  did: string;
  didKey: string;
  /** CAR file name inside the network's folder. */
  file: string;
  records: number;
  counts: Record<string, number>;
}

export interface SyntheticNetwork {
  dir: string;
  shape: NetworkShape;
  repos: NetworkRepo[];
  records: number;
  carBytes: number;
}

/** Median 40, mean about 460 before the cap: ln 40 = 3.69, and 3.69 + 2.21^2 / 2 = ln 460. */
export const NETWORK_SIZES = { mu: 3.69, sigma: 2.21 } as const;

const CACHE = new URL('../../.cache/', import.meta.url).pathname;
const B32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** A did:plc-shaped DID (24 base32 characters) for repo `i` of network `seed`. */
function didOf(seed: number, i: number): string {
  let out = '';
  let v = BigInt(seed) * 1_000_000_007n + BigInt(i);
  for (let k = 0; k < 24; k++) {
    out = B32[Number(v % 32n)] + out;
    v /= 32n;
  }
  return `did:plc:${out}`;
}

function lognormal(random: Random, mu: number, sigma: number): number {
  // Box-Muller: one standard normal from two uniforms.
  const u = 1 - random.next();
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
  return Math.exp(mu + sigma * z);
}

export function drawSizes(shape: NetworkShape): number[] {
  const random = createRandom(shape.seed);
  const sizes = Array.from({ length: shape.repos - shape.giants }, () => Math.max(1, Math.min(shape.maxRecords, Math.round(lognormal(random, shape.mu, shape.sigma)))));
  // The giants go in among the others, not at the end, so they run beside small repos as they would.
  for (let g = 0; g < shape.giants; g++) sizes.splice(Math.floor(((g + 1) * sizes.length) / (shape.giants + 1)), 0, shape.giantRecords);
  return sizes;
}

/** The network of this shape, generated now or read from the cache. */
export async function syntheticNetwork(shape: NetworkShape, log: (line: string) => void = () => {}): Promise<SyntheticNetwork> {
  // NOTE: `v2` names what synthetic-repo.ts writes (v2: no repo follows or blocks one account twice); change it with them.
  const name = `network-v2-${shape.seed}-${shape.repos}-${shape.giants}x${shape.giantRecords}-${shape.maxRecords}-${shape.mu}-${shape.sigma}`;
  const dir = path.join(CACHE, name);
  const manifest = path.join(dir, 'manifest.json');
  if (existsSync(manifest)) return { dir, ...(JSON.parse(readFileSync(manifest, 'utf8')) as Omit<SyntheticNetwork, 'dir'>) };
  mkdirSync(dir, { recursive: true });
  const sizes = drawSizes(shape);
  const dids = sizes.map((_, i) => didOf(shape.seed, i));
  const random = createRandom(shape.seed + 1);
  const repos: NetworkRepo[] = [];
  let carBytes = 0;
  const started = Date.now();
  for (let i = 0; i < sizes.length; i++) {
    const did = dids[i]!;
    const file = `${i}.car`;
    const others = Array.from({ length: 8 }, () => random.pick(dids));
    const repo = await buildSyntheticRepo(did, sizes[i]!, others);
    writeFileSync(path.join(dir, file), repo.car);
    carBytes += repo.car.length;
    repos.push({ did, didKey: repo.didKey, file, records: sizes[i]!, counts: repo.counts });
    if ((i + 1) % 200 === 0) log(`generated ${i + 1}/${sizes.length} repos (${Math.round((Date.now() - started) / 1000)} s)`);
  }
  const network = { shape, repos, records: sizes.reduce((a, b) => a + b, 0), carBytes };
  // Written last, through a rename: a half-generated network is never taken for a whole one.
  writeFileSync(`${manifest}.tmp`, JSON.stringify(network));
  renameSync(`${manifest}.tmp`, manifest);
  return { dir, ...network };
}
