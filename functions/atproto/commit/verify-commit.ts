// Sync 1.1 checks of one #commit (sync spec, "message validation"), beyond what the reference client does:
// the CAR's root is the commit the message names, the signed commit agrees with the message (DID, rev), the
// signature verifies, the ops are well formed (one per path; deletes without a cid, creates without a prev),
// every op is proven by the new tree (creates and updates point at their CID, deletes are absent), and inverting
// the ops on the partial tree, highest key first, gives back `prevData`, the previous root, so no op is hidden.
// Every valid proof is accepted whatever order the message lists its ops in (see checkOps); a block the checks
// need and do not have is `missing_block`, never a wrong root. A commit with no ops needs only its commit block.
// Pure: the signing key comes from the caller. Every failure is a SkytideError naming its reason.
import { SkytideError } from '../../errors.ts';
import { CidLink } from '../cid-link.ts';
import { decodeCborMap } from '../fast-cbor.ts';
import type { BlockMap } from '../car.ts';
import { Mst } from '../mst/mst.ts';
import { verifySignature } from '../crypto/verify.ts';
import { requireCommitLinks, requirePrev, unsignedCommitBytes } from './unsigned-commit.ts';
import { cidBytesMatchFast } from '../cid.ts';
import type { PublicKey } from '../crypto/keys.ts';

export interface CommitOp {
  action: 'create' | 'update' | 'delete';
  path: string;
  cid: CidLink | null;
  prev?: CidLink | null;
}

export interface CommitToVerify {
  repo: string;
  rev: string;
  commit: CidLink;
  roots: CidLink[];
  blocks: BlockMap;
  ops: CommitOp[];
  prevData?: CidLink | null;
}

export interface VerifiedCommit {
  data: CidLink;
  /** false when the message has no prevData (the first commit, or a producer before sync 1.1). */
  inverted: boolean;
}

const fail = (reason: 'invalid_commit' | 'bad_signature' | 'wrong_did' | 'invalid_mst', message: string): never => {
  throw new SkytideError(reason, message);
};

export async function verifyCommit(c: CommitToVerify, key: PublicKey | undefined): Promise<VerifiedCommit> {
  // Every block the checks read must be the block its CID names: a swapped MST node could forge a proof.
  for (const { cid, bytes } of c.blocks.entries()) {
    const match = cidBytesMatchFast(cid, bytes);
    if (!(typeof match === 'boolean' ? match : await match)) throw new SkytideError('cid_mismatch', `block ${new CidLink(cid).toString()} does not hash to its CID`);
  }
  if (c.roots[0] === undefined || !equal(c.roots[0].bytes, c.commit.bytes)) fail('invalid_commit', 'the CAR root is not the commit the message names');
  const bytes = c.blocks.get(c.commit.bytes);
  if (bytes === undefined) throw new SkytideError('missing_block', 'the commit block is not in the CAR');
  const commit = decodeCborMap(bytes, (why) => fail('invalid_commit', `the commit block is ${why}`));
  const data = commit['data'];
  if (commit['version'] !== 3 || !(data instanceof CidLink) || !(commit['sig'] instanceof Uint8Array)) fail('invalid_commit', 'not a v3 commit');
  if (commit['did'] !== c.repo) fail('wrong_did', `commit is signed for ${String(commit['did'])}, the message says ${c.repo}`);
  if (commit['rev'] !== c.rev) fail('invalid_commit', `commit rev ${String(commit['rev'])} differs from the message rev ${c.rev}`);
  requirePrev(commit);
  requireCommitLinks(commit, c.commit);
  if (key !== undefined) {
    if (!verifySignature(key, unsignedCommitBytes(commit), commit['sig'] as Uint8Array)) fail('bad_signature', `commit signature does not verify for ${c.repo}`);
  }
  const root = data as CidLink;
  const ops = checkOps(c.ops, c.prevData !== undefined && c.prevData !== null);
  if (ops.length === 0) {
    // An empty commit (a new rev and signature, no record changed) names the same tree as the commit before it:
    // nothing to prove and nothing to invert, so no block beyond the commit is needed.
    if (c.prevData === undefined || c.prevData === null) return { data: root, inverted: false };
    if (!equal(root.bytes, c.prevData.bytes)) fail('invalid_mst', `a commit with no ops has data ${root.toString()}, not prevData ${c.prevData.toString()}`);
    return { data: root, inverted: true };
  }
  let tree = await Mst.load(root, (cid) => c.blocks.get(cid.bytes));
  for (const op of ops) {
    const found = await tree.get(op.path);
    const ok = op.action === 'delete' ? found === undefined : found !== undefined && equal(found.bytes, op.cid!.bytes);
    if (!ok) fail('invalid_mst', `op ${op.action} ${op.path} is not proven by the commit's tree`);
  }
  if (c.prevData === undefined || c.prevData === null) return { data: root, inverted: false };
  // `ops` is highest key first (checkOps): see there why that order.
  for (const op of ops) {
    if (op.action === 'create') tree = await tree.delete(op.path);
    else if (op.action === 'update') tree = await tree.update(op.path, op.prev!);
    else tree = await tree.add(op.path, op.prev!);
  }
  const before = await tree.rootCid();
  if (!equal(before.bytes, c.prevData.bytes)) {
    fail('invalid_mst', `inverting the ops gives ${before.toString()}, not prevData ${c.prevData.toString()}: an op does not match the tree before the commit (a create of a key that was there, a wrong prev) or a change is not listed`);
  }
  return { data: root, inverted: true };
}

/**
 * The ops checked for shape and sorted highest key first, the order they are inverted in.
 *
 * Why that order: the tree inversion ends with does not depend on the order, but which MST nodes it reads does (a
 * delete between two subtrees merges them and reads both; after a neighbour's op one of them may be gone or already
 * rebuilt). Producers send one of two proofs:
 * - covering: the reference PDS (@atproto/repo repo.ts formatCommit) sends every new node and, for each written key,
 *   its path and its left and right neighbours' paths in the new tree. The sync draft asks producers for these
 *   adjacent-key blocks so that any order works (microcosm hubble-commit's notes on OpOrder); atproto's interop
 *   vectors (firehose/commit-proof-fixtures.json) invert them in every permutation.
 * - minimal: only what inversion reads. DavidBuchanan314/mst-test-suite computes its `inductive_proof_nodes` by
 *   sorting the ops by path and inverting them in reverse ("the inductive proof should be verified by applying the
 *   ops in reverse order"), that is highest key first.
 * Highest key first needs nothing outside either proof. The message's own order does: inverting ascending reads a
 * node the minimal proof leaves out in about 3% of that suite's shape of cases (2.7% of all pairs of subsets of a
 * perfect seven-key tree, tests/property/commit-inversion-exhaustive.long.test.ts), and indigo's order (deletes,
 * then ascending) is ascending for a commit without deletes. Highest key first does not read a subset of what
 * every other order reads (random trees show a few cases where another order reads less), so a proof cut for some
 * third order can still be refused (missing_block, and the repo is resynced). Trying other orders was left out: no
 * producer cuts proofs that way, and a message would choose how much work its check costs.
 */
function checkOps(ops: readonly CommitOp[], inverting: boolean): CommitOp[] {
  for (const op of ops) {
    if (op.action === 'delete') {
      if (op.cid !== null) fail('invalid_commit', `delete of ${op.path} with a cid`);
      if (inverting && (op.prev === undefined || op.prev === null)) fail('invalid_commit', `delete of ${op.path} without prev`);
    } else {
      if (op.cid === null) fail('invalid_commit', `${op.action} of ${op.path} without a cid`);
      if (op.action === 'create' && op.prev !== undefined && op.prev !== null) fail('invalid_commit', `create of ${op.path} with a prev: the key was there`);
      if (op.action === 'update' && inverting && (op.prev === undefined || op.prev === null)) fail('invalid_commit', `update of ${op.path} without prev`);
    }
  }
  const sorted = ops.length < 2 ? [...ops] : [...ops].sort((a, b) => (a.path < b.path ? 1 : a.path > b.path ? -1 : 0));
  // One op per path: two would contradict each other (the second's prev is not the tree before the commit).
  for (let i = 1; i < sorted.length; i++) if (sorted[i]!.path === sorted[i - 1]!.path) fail('invalid_commit', `${sorted[i]!.path} appears in two ops`);
  return sorted;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
