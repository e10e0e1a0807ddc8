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
