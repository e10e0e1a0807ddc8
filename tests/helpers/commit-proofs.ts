// Sync 1.1 commits built by an independent MST (@atproto/repo), with the proof blocks a producer may send:
// - `minimal`: only the MST nodes that inverting the ops highest key first reads from the new tree (what a logging
//   blockstore sees, as DavidBuchanan314/mst-test-suite computes its `inductive_proof_nodes`);
// - `covering`: what the reference PDS sends (repo.ts formatCommit): every new MST node, plus the covering proof of
//   each written key in the new tree (its path and its left and right neighbours' paths).
// The commit block and a CAR around any chosen set of blocks come from `commitCar`.
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';
import * as raw from 'multiformats/codecs/raw';
import { DataDiff, MST, MemoryBlockstore, mstUtil } from '@atproto/repo';
import { readCarBlocks } from '../../functions/atproto/car.ts';
import { CidLink } from '../../functions/atproto/cid-link.ts';
import type { CommitOp, CommitToVerify } from '../../functions/atproto/commit/verify-commit.ts';
import { block, encodeCar } from './frames.ts';

export const COMMIT_DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
export const COMMIT_REV = '3l3qo2vuowo2b';

/** Records stay as CIDs: inversion reads MST nodes only. */
export async function leafCid(label: string): Promise<CID> {
  return CID.create(1, raw.code, await sha256.digest(new TextEncoder().encode(label)));
}

export async function keyHeight(key: string): Promise<number> {
  return mstUtil.leadingZerosOnHash(key);
}

/** @atproto/repo's own CID type: the same CIDs at run time, another type. */
type RepoCid = Awaited<ReturnType<MST['getPointer']>>;
const toRepo = (cid: CID) => cid as unknown as RepoCid;
const fromRepo = (cid: RepoCid) => CID.parse(cid.toString());

/** A store that remembers every block an MST asked it for. */
class LoggingBlockstore extends MemoryBlockstore {
  readonly reads = new Set<string>();
  override async getBytes(cid: RepoCid): Promise<Uint8Array | null> {
    this.reads.add(cid.toString());
    return super.getBytes(cid);
  }
}

export interface Case {
  before: Map<string, CID>;
  after: Map<string, CID>;
  /** In the order the message lists them. */
  ops: CommitOp[];
}

export interface BuiltCase {
  rootBefore: CID;
  rootAfter: CID;
  /** Every MST node of the tree after the commit, by CID string. */
  nodes: Map<string, Uint8Array>;
  minimal: Set<string>;
  covering: Set<string>;
}

async function build(entries: Map<string, CID>): Promise<MST> {
  let tree = await MST.create(new MemoryBlockstore());
  for (const [key, value] of entries) tree = await tree.add(key, toRepo(value));
  return tree;
}

/** Highest key first: the order the minimal proof is cut for. */
export function highestKeyFirst(ops: readonly CommitOp[]): CommitOp[] {
  return [...ops].sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0));
}

/** The MST nodes that inverting `ops` in `order` reads from the tree after the commit, by the independent MST. */
export async function blocksRead(rootAfter: CID, rootBefore: CID, nodes: Map<string, Uint8Array>, order: readonly CommitOp[]): Promise<Set<string>> {
  const store = new LoggingBlockstore();
  for (const [cid, bytes] of nodes) await store.putBlock(toRepo(CID.parse(cid)), bytes);
  let tree = await MST.load(store, toRepo(rootAfter));
  for (const op of order) {
    if (op.action === 'create') {
      tree = await tree.delete(op.path);
      // NOTE: @atproto/repo keeps the old layer on a tree emptied by deletes, so a lower key added next would get
      // a needless parent node (a wrong root). An empty tree needs no block: start it afresh.
      if ((await tree.getEntries()).length === 0) tree = await MST.create(store);
    } else if (op.action === 'update') tree = await tree.update(op.path, toRepo(op.prev!.toCID()));
    else tree = await tree.add(op.path, toRepo(op.prev!.toCID()));
  }
  const root = fromRepo(await tree.getPointer());
  if (root.toString() !== rootBefore.toString()) throw new Error(`the oracle's inversion gave ${root.toString()}, not ${rootBefore.toString()}`);
  return store.reads;
}

export async function buildCase(c: Case): Promise<BuiltCase> {
  const before = await build(c.before);
  const after = await build(c.after);
  const rootBefore = fromRepo(await before.getPointer());
  const rootAfter = fromRepo(await after.getPointer());
  const nodes = new Map<string, Uint8Array>();
  (await after.getUnstoredBlocks()).blocks.forEach((bytes, cid) => void nodes.set(cid.toString(), bytes));
  const minimal = await blocksRead(rootAfter, rootBefore, nodes, highestKeyFirst(c.ops));
  const covering = new Set<string>();
  const diff = await DataDiff.of(after, before);
  diff.newMstBlocks.forEach((_bytes, cid) => void covering.add(cid.toString()));
  for (const op of c.ops) (await after.getCoveringProof(op.path)).forEach((_bytes, cid) => void covering.add(cid.toString()));
  return { rootBefore, rootAfter, nodes, minimal, covering };
}

/** The message for a commit to `rootAfter` whose CAR holds the commit block and the MST nodes in `include`. */
export async function commitMessage(built: BuiltCase, ops: CommitOp[], include: Iterable<string>, prevData: CID | null = built.rootBefore): Promise<CommitToVerify> {
  const commit = await block({ did: COMMIT_DID, version: 3, data: built.rootAfter, rev: COMMIT_REV, prev: null, sig: new Uint8Array(64) });
  const blocks = [commit];
  for (const cid of include) {
    const bytes = built.nodes.get(cid);
    if (bytes === undefined) throw new Error(`${cid} is not a node of the tree after the commit`);
    blocks.push({ cid: CID.parse(cid), bytes });
  }
  const car = readCarBlocks(encodeCar(commit.cid, blocks));
  return {
    repo: COMMIT_DID,
    rev: COMMIT_REV,
    commit: new CidLink(commit.cid.bytes),
    roots: car.roots,
    blocks: car.blocks,
    ops,
    prevData: prevData === null ? null : new CidLink(prevData.bytes),
  };
}

export function link(cid: CID): CidLink {
  return new CidLink(cid.bytes);
}
