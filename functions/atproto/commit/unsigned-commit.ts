// What a commit's signature covers: its own fields without `sig` (did, version, data, rev, prev), as DAG-CBOR. NOTE:
// not every field its block holds. @atproto/repo's commit schema drops unknown keys before verifyCommitSig encodes
// the rest, and indigo's UnsignedBytes marshals its Commit struct: both sign and verify exactly these fields, so a
// field a commit carries beside them is not signed (a commit signed over one does not verify, a float included).
import { encodeCbor } from '../cbor.ts';

export function unsignedCommitBytes(commit: Record<string, unknown>): Uint8Array {
  const unsigned: Record<string, unknown> = { did: commit['did'], version: commit['version'], data: commit['data'] };
  // rev is absent from v2 commits; prev is checked by the caller.
  if (commit['rev'] !== undefined) unsigned['rev'] = commit['rev'];
  if (commit['prev'] !== undefined) unsigned['prev'] = commit['prev'];
  return encodeCbor(unsigned);
}
