// The MST is a function of its key set: any order of adds and deletes reaches the root that @atproto/repo computes
// for the keys that remain.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { MST, MemoryBlockstore } from '@atproto/repo';
import { Mst } from '../../functions/atproto/mst/mst.ts';
import { CidLink } from '../../functions/atproto/cid-link.ts';

const LEAF = 'bafyreie5cvv4h45feadgeuwhbcutmh6t2ceseocckahdoe6uat64zmz454';
const leaf = new CidLink(CID.parse(LEAF).bytes);

async function referenceRoot(keys: string[]): Promise<string> {
  let tree = await MST.create(new MemoryBlockstore());
  for (const key of keys) tree = await tree.add(key, CID.parse(LEAF) as never);
  return (await tree.getPointer()).toString();
}

const keyArb = fc.stringMatching(/^[a-z]{1,3}\/[a-z0-9]{1,6}$/);

describe('MST: structure depends only on the key set', () => {
  it('adds in any order, then deletes, match @atproto/repo built from the remaining keys', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(keyArb, { minLength: 1, maxLength: 200 }), fc.array(fc.nat(), { maxLength: 60 }), async (keys, deletePicks) => {
        const doomed = [...new Set(deletePicks.map((i) => keys[i % keys.length]!))];
        let tree = Mst.empty();
        for (const key of keys) tree = await tree.add(key, leaf);
        for (const key of doomed) tree = await tree.delete(key);
        const remaining = keys.filter((k) => !doomed.includes(k));
        expect((await tree.rootCid()).toString()).toBe(await referenceRoot(remaining));
      }),
      { numRuns: 100 },
    );
  }, 60_000);
});
