// The MST's canonical form (repository spec, "Merkle Search Tree" and "CID Formats"): a key set has one tree, so a
// signed root commits to its content one way only. Three departures @atproto/repo and indigo's firehose path both
// let through, which the spec calls invalid: a key prefix shorter than the common prefix ("the compaction scheme is
// mandatory"), a link between MST nodes that is not dag-cbor ("the entire MST data structure invalid"), and a root
// that only points to a subtree ("the top of the tree must not be an empty node which only points to a sub-tree").
// Each is refused by the full-repo walk (backfill) and by a commit's proof (firehose), the canonical tree accepted.
import { describe, expect, it } from 'vitest';
import { CID } from 'multiformats/cid';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { readCarBlocks } from '../../../functions/atproto/car.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { CidLink } from '../../../functions/atproto/cid-link.ts';
import { verifyCommit, type CommitOp } from '../../../functions/atproto/commit/verify-commit.ts';
import { Mst } from '../../../functions/atproto/mst/mst.ts';
import { readRepoCar } from '../../../functions/atproto/repo/read-car.ts';
import { verifyRepo } from '../../../functions/atproto/repo/verify-repo.ts';
import { SkytideError } from '../../../functions/errors.ts';
import { block, encodeCar } from '../../helpers/frames.ts';
import { handMadeTree, KEYS, type HandMadeTree, type Shape } from '../../helpers/non-canonical-mst.ts';
import { oneChunk } from '../../helpers/one-chunk.ts';

const secret = new Uint8Array(32).fill(7);
const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
const did = 'did:plc:mstcanonicaltestaaaaaaaa';
const rev = '3l3qo2vuowo2b';

async function commitOver(data: CID) {
  const unsigned = { did, version: 3, data, rev, prev: null };
  return block({ ...unsigned, sig: secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' }) });
}

async function backfill(tree: HandMadeTree): Promise<string> {
  const commit = await commitOver(tree.root);
  const car = await readRepoCar(oneChunk(encodeCar(commit.cid, [commit, ...tree.blocks])));
  try {
    const repo = await verifyRepo(car, { did, key });
    return `ok ${repo.leaves.keys.join(' ')}`;
  } catch (err) {
    return err instanceof SkytideError ? `${err.reason}: ${err.message}` : `crash: ${String(err)}`;
  }
}

/** A #commit whose new tree is `tree`, creating its last key; inverted against `prevData` when given. */
async function firehose(tree: HandMadeTree, prevData: CID | null): Promise<string> {
  const commit = await commitOver(tree.root);
  const car = readCarBlocks(encodeCar(commit.cid, [commit, ...tree.blocks]));
  const last = tree.leaves.at(-1)!;
  const op: CommitOp = { action: 'create', path: last.key, cid: new CidLink(last.cid.bytes) };
  try {
    const v = await verifyCommit({ repo: did, rev, commit: new CidLink(commit.cid.bytes), roots: car.roots, blocks: car.blocks, ops: [op], prevData: prevData === null ? null : new CidLink(prevData.bytes) }, key);
    return `ok inverted=${v.inverted}`;
  } catch (err) {
    return err instanceof SkytideError ? `${err.reason}: ${err.message}` : `crash: ${String(err)}`;
  }
}

/** The canonical root of `leaves` (the tree before the commit's create), as skytide's own MST builds it. */
async function canonicalRoot(leaves: HandMadeTree['leaves']): Promise<CID> {
  let tree = Mst.empty();
  for (const l of leaves) tree = await tree.add(l.key, new CidLink(l.cid.bytes));
  return CID.decode((await tree.rootCid()).bytes);
}

const refusals: [Exclude<Shape, 'canonical'>, RegExp][] = [
  ['non-minimal prefix', /^invalid_mst: key .* is written with prefix 0, shorter than the 3\d common characters/],
  ['raw-codec link', /^invalid_mst: MST node: node `l` is not a dag-cbor link: a link between MST nodes must be dag-cbor/],
  ['root only a pointer', /^invalid_mst: the root has no entries and only points to a subtree/],
];

describe('the MST in canonical form', () => {
  it('the hand-made canonical tree is the one skytide and the spec build, and both paths accept it', async () => {
    const tree = await handMadeTree('canonical');
    expect(tree.root.toString()).toBe((await canonicalRoot(tree.leaves)).toString());
    expect(await backfill(tree)).toBe(`ok ${KEYS.a} ${KEYS.b} ${KEYS.c}`);
    expect(await firehose(tree, await canonicalRoot(tree.leaves.slice(0, -1)))).toBe('ok inverted=true');
  });

  it.each(refusals)('a full repo with a %s is refused as invalid_mst, naming the departure', async (shape, reason) => {
    expect(await backfill(await handMadeTree(shape))).toMatch(reason);
  });

  it.each(refusals)('a commit whose proof has a %s is refused as invalid_mst, with or without prevData', async (shape, reason) => {
    const tree = await handMadeTree(shape);
    expect(await firehose(tree, null)).toMatch(reason);
    // The prevData such a producer sends for the tree before: inverting the create re-encodes only the nodes it
    // touches (canonically), so without the check the hostile shape passed along with the inversion.
    expect(await firehose(tree, await canonicalRoot(tree.leaves.slice(0, -1)))).toMatch(reason);
  });
});
