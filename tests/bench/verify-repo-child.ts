// One repo-verification run in its own process (so its peak RSS is its own): prints {records, ms, rssMb}.
import { readFileSync } from 'node:fs';
import { parseDidKey } from '../../functions/atproto/crypto/keys.ts';
import { readRepoCar } from '../../functions/atproto/repo/read-car.ts';
import { recordsIn, verifyRepo } from '../../functions/atproto/repo/verify-repo.ts';

const [impl, carPath, did, didKey] = process.argv.slice(2) as [string, string, string, string];
const bytes = new Uint8Array(readFileSync(carPath));
const start = performance.now();
let records = 0;
/** The CAR as a network stream delivers it: 64 KB chunks, each its own buffer. */
async function* stream(): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 65536) yield bytes.slice(i, i + 65536);
}

if (impl === 'skytide') {
  const repo = await verifyRepo(await readRepoCar(stream(), { maxBytes: 1 << 30, maxBlocks: 10_000_000, maxBlockBytes: 1 << 21 }), { did, key: parseDidKey(didKey) });
  // As backfill-repo does: a chunk of records at a time, each dropped before the next (as the atcute loop does).
  for (let from = 0; from < repo.leaves.keys.length; from += 1000) records += recordsIn(repo, from, from + 1000).records.length;
} else if (impl === 'atcute') {
  const { fromUint8Array } = await import('@atcute/repo');
  for (const entry of fromUint8Array(bytes)) {
    void entry.record;
    records++;
  }
} else {
  const { verifyRepoCar } = await import('@atproto/repo');
  const repo = await verifyRepoCar(bytes, did, didKey);
  records = repo.creates.length;
}
const ms = performance.now() - start;
console.log(JSON.stringify({ records, ms, rssMb: process.resourceUsage().maxRSS / 1024 }));
