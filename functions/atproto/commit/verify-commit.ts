// Sync 1.1 checks of one #commit (sync spec, "message validation"), beyond what the reference client does:
// the CAR's root is the commit the message names, the signed commit agrees with the message (DID, rev), the
// signature verifies, every op is proven by the new tree (creates and updates point at their CID, deletes are
// absent), and inverting the ops on the partial tree gives back `prevData`, the previous root, so no op is hidden.
// Pure: the signing key comes from the caller. A failure names its reason.
import { SkytideError } from '../../errors.ts';
import { encodeCbor } from '../cbor.ts';
import { CidLink } from '../cid-link.ts';
import { decodeCborFast } from '../fast-cbor.ts';
import type { BlockMap } from '../car.ts';
import { Mst } from '../mst/mst.ts';
import { verifySignature } from '../crypto/verify.ts';
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
  const commit = decodeCborFast(bytes) as Record<string, unknown>;
  const data = commit['data'];
  if (commit['version'] !== 3 || !(data instanceof CidLink) || !(commit['sig'] instanceof Uint8Array)) fail('invalid_commit', 'not a v3 commit');
  if (commit['did'] !== c.repo) fail('wrong_did', `commit is signed for ${String(commit['did'])}, the message says ${c.repo}`);
  if (commit['rev'] !== c.rev) fail('invalid_commit', `commit rev ${String(commit['rev'])} differs from the message rev ${c.rev}`);
  if (key !== undefined) {
    const unsigned = { ...commit };
    delete unsigned['sig'];
    if (!verifySignature(key, encodeCbor(unsigned), commit['sig'] as Uint8Array)) fail('bad_signature', `commit signature does not verify for ${c.repo}`);
  }
  const getBlock = (cid: CidLink) => c.blocks.get(cid.bytes);
  const root = data as CidLink;
  let tree = await Mst.load(root, getBlock);
  for (const op of c.ops) {
    const found = await tree.get(op.path);
    const ok = op.action === 'delete' ? found === undefined : found !== undefined && op.cid !== null && equal(found.bytes, op.cid.bytes);
    if (!ok) fail('invalid_mst', `op ${op.action} ${op.path} is not proven by the commit's tree`);
  }
  if (c.prevData === undefined || c.prevData === null) return { data: root, inverted: false };
  for (const op of c.ops) {
    if (op.action === 'create') tree = await tree.delete(op.path);
    else if (op.action === 'update') {
      if (op.prev === undefined || op.prev === null) fail('invalid_commit', `update of ${op.path} without prev`);
      tree = await tree.update(op.path, op.prev as CidLink);
    } else {
      if (op.prev === undefined || op.prev === null) fail('invalid_commit', `delete of ${op.path} without prev`);
      tree = await tree.add(op.path, op.prev as CidLink);
    }
  }
  const before = await tree.rootCid();
  if (!equal(before.bytes, c.prevData.bytes)) fail('invalid_mst', `inverting the ops gives ${before.toString()}, not prevData ${c.prevData.toString()}`);
  return { data: root, inverted: true };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
