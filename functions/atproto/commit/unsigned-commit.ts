// What a commit's signature covers: its own fields without `sig` (did, version, data, rev, prev), as DAG-CBOR. NOTE:
// not every field its block holds. @atproto/repo's commit schema drops unknown keys before verifyCommitSig encodes
// the rest, and indigo's UnsignedBytes marshals its Commit struct: both sign and verify exactly these fields, so a
// field a commit carries beside them is not signed (a commit signed over one does not verify, a float included).
// And its `prev`, which must be there (requirePrev).
import { SkytideError } from '../../errors.ts';
import { encodeCbor } from '../cbor.ts';
import { CidLink } from '../cid-link.ts';

export function unsignedCommitBytes(commit: Record<string, unknown>): Uint8Array {
  const unsigned: Record<string, unknown> = { did: commit['did'], version: commit['version'], data: commit['data'] };
  // rev is absent from v2 commits; prev is there (requirePrev runs first).
  if (commit['rev'] !== undefined) unsigned['rev'] = commit['rev'];
  if (commit['prev'] !== undefined) unsigned['prev'] = commit['prev'];
  return encodeCbor(unsigned);
}

/**
 * A commit's `prev` "must exist in the CBOR object" (repository spec), a link or null (virtually always null): one
 * without it, or with anything else there, is invalid_commit, as @atproto/repo's commit schema refuses it (its
 * verifyRepoCar, and verifyProofs, which @atproto/sync's firehose runs).
 */
export function requirePrev(commit: Record<string, unknown>): void {
  const prev = commit['prev'];
  if (prev !== null && !(prev instanceof CidLink)) {
    throw new SkytideError('invalid_commit', prev === undefined ? 'the commit has no prev (a link or null)' : 'the commit prev is neither a link nor null');
  }
}

/** A CIDv1, dag-cbor (0x71), sha2-256: the one form the repository spec allows for links to commits and MST nodes. */
export function isDagCborLink(link: CidLink): boolean {
  const b = link.bytes;
  return b.length === 36 && b[0] === 0x01 && b[1] === 0x71 && b[2] === 0x12 && b[3] === 0x20;
}

/**
 * The commit's own links in the spec's form ("Commit objects with non-compliant `prev` or `data` links are considered
 * invalid"): `data` and a non-null `prev` dag-cbor CIDv1 with sha2-256, and the commit block itself named so
 * (`commit`: the CAR root, or the message's link). The same bytes under a raw CID hash alike and are found, but name
 * a second root for one key set (mst/node.ts refuses raw links between nodes for that reason). invalid_commit.
 */
export function requireCommitLinks(commit: Record<string, unknown>, self: CidLink): void {
  const data = commit['data'];
  const prev = commit['prev'];
  if (!isDagCborLink(self)) throw new SkytideError('invalid_commit', `the commit block is named by ${self.toString()}, not a dag-cbor sha2-256 CIDv1`);
  if (data instanceof CidLink && !isDagCborLink(data)) throw new SkytideError('invalid_commit', `the commit data ${data.toString()} is not a dag-cbor sha2-256 CIDv1`);
  if (prev instanceof CidLink && !isDagCborLink(prev)) throw new SkytideError('invalid_commit', `the commit prev ${prev.toString()} is not a dag-cbor sha2-256 CIDv1`);
}
