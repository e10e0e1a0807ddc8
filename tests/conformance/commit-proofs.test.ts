// The interop sync 1.1 vectors (firehose/commit-proof-fixtures.json): build the tree and check both roots, then,
// from ONLY the covering-proof blocks, apply the inverted ops in every order and land on the root before the commit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { Mst } from '../../functions/atproto/mst/mst.ts';
import { CidLink } from '../../functions/atproto/cid-link.ts';

interface Fixture {
  comment: string;
  leafValue: string;
  keys: string[];
  adds: string[];
  dels: string[];
  rootBeforeCommit: string;
  rootAfterCommit: string;
  blocksInProof: string[];
}

const fixtures = JSON.parse(
  readFileSync(new URL('../fixtures/interop/firehose/commit-proof-fixtures.json', import.meta.url), 'utf8'),
) as Fixture[];

function permutations<T>(items: T[]): T[][] {
  if (items.length <= 1) return [items];
  return items.flatMap((x, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [x, ...rest]));
}

describe.each(fixtures.map((f) => [f.comment, f] as const))('commit proof: %s', (_name, f) => {
  const leaf = new CidLink(CID.parse(f.leafValue).bytes);

  it('builds the tree before and after the commit with the expected roots, and inverts from the proof alone', async () => {
    let before = Mst.empty();
    for (const key of f.keys) before = await before.add(key, leaf);
    expect((await before.rootCid()).toString()).toBe(f.rootBeforeCommit);

    let after = before;
    for (const key of f.adds) after = await after.add(key, leaf);
    for (const key of f.dels) after = await after.delete(key);
    const allBlocks = new Map<string, Uint8Array>();
    expect((await after.rootCid(allBlocks)).toString()).toBe(f.rootAfterCommit);

    // Only the blocks of the covering proof: a partial tree.
    const proof = new Map(f.blocksInProof.map((cid) => [cid, allBlocks.get(cid)!]));
    for (const cid of f.blocksInProof) expect(allBlocks.has(cid), cid).toBe(true);
    const getBlock = (cid: CidLink) => proof.get(cid.toString());

    const inverted: ({ op: 'delete'; key: string } | { op: 'add'; key: string })[] = [
      ...f.adds.map((key) => ({ op: 'delete' as const, key })),
      ...f.dels.map((key) => ({ op: 'add' as const, key })),
    ];
    for (const order of permutations(inverted)) {
      let tree = await Mst.load(new CidLink(CID.parse(f.rootAfterCommit).bytes), getBlock);
      for (const step of order) tree = step.op === 'delete' ? await tree.delete(step.key) : await tree.add(step.key, leaf);
      expect((await tree.rootCid()).toString()).toBe(f.rootBeforeCommit);
    }
  });
});
