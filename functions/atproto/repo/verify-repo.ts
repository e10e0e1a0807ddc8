// A verified repo: the commit is for the DID we asked about, signed by its #atproto key (SHA-256 over the
// DAG-CBOR of the commit without `sig`), and its MST walks cleanly to a record block for every leaf. Returns the
// records in key order as lex-JSON. A failure is a SkytideError naming the reason.
import type { JsonObject } from '../../events.ts';
import { SkytideError } from '../../errors.ts';
import { encodeCbor } from '../cbor.ts';
import { CidLink } from '../cid-link.ts';
import { decodeCborFast } from '../fast-cbor.ts';
import { cborToLexInPlace } from '../lex-json.ts';
import { verifySignature } from '../crypto/verify.ts';
import type { PublicKey } from '../crypto/keys.ts';
import { walkMst } from '../mst/walk.ts';
import { isValidNsid } from '../syntax/nsid.ts';
import { isValidRecordKey } from '../syntax/record-key.ts';
import { isValidTid } from '../syntax/tid.ts';
import type { RepoCar } from './read-car.ts';

export interface RepoRecord {
  collection: string;
  rkey: string;
  cid: string;
  record: JsonObject;
}

export interface VerifiedRepo {
  did: string;
  /** Absent only on v2 commits (repos last written before revs existed). */
  rev: string | undefined;
  commit: string;
  data: string;
  records: RepoRecord[];
  /** Leaves whose keys or records are unusable: counted, not indexed. */
  skipped: number;
}

export async function verifyRepo(car: RepoCar, expected: { did: string; key: PublicKey }): Promise<VerifiedRepo> {
  const commitBytes = car.blocks.get(car.root.bytes);
  if (commitBytes === undefined) throw new SkytideError('missing_block', 'the commit block (CAR root) is missing');
  const commit = decodeCborFast(commitBytes) as Record<string, unknown>;
  const { did, version, data, rev, sig } = commit;
  if (typeof did !== 'string' || (version !== 3 && version !== 2) || !(data instanceof CidLink) || !(sig instanceof Uint8Array)) {
    throw new SkytideError('invalid_commit', 'commit block is not a v2/v3 commit');
  }
  if (did !== expected.did) throw new SkytideError('wrong_did', `commit is for ${did}, not ${expected.did}`);
  // NOTE: v2 commits (before revs) are still served by repos not written since; they carry no rev, and the caller
  // decides what the rev rule does with them. A v3 commit must have one.
  if (rev !== undefined && (typeof rev !== 'string' || !isValidTid(rev))) throw new SkytideError('invalid_commit', 'commit rev is not a TID');
  if (version === 3 && rev === undefined) throw new SkytideError('invalid_commit', 'v3 commit without a rev');
  const unsigned: Record<string, unknown> = { ...commit };
  delete unsigned['sig'];
  if (!verifySignature(expected.key, encodeCbor(unsigned), sig)) throw new SkytideError('bad_signature', `commit signature does not verify for ${did}`);

  const { records, skipped } = await extractRecords(car, data);
  return { did, rev: rev as string | undefined, commit: car.root.toString(), data: data.toString(), records, skipped };
}

/** Every record under the MST rooted at `data`, in key order, with the structure checks of walkMst. */
export async function extractRecords(car: RepoCar, data: CidLink): Promise<{ records: RepoRecord[]; skipped: number }> {
  const records: RepoRecord[] = [];
  let skipped = 0;
  for (const leaf of await walkMst(data, (cid) => car.blocks.get(cid.bytes))) {
    const slash = leaf.key.indexOf('/');
    const collection = leaf.key.slice(0, slash);
    const rkey = leaf.key.slice(slash + 1);
    const bytes = car.blocks.get(leaf.cid.bytes);
    if (bytes === undefined) throw new SkytideError('missing_block', `record ${leaf.key} is not in the CAR`);
    if (slash < 0 || !isValidNsid(collection) || !isValidRecordKey(rkey)) {
      skipped++;
      continue;
    }
    let record: unknown;
    try {
      record = cborToLexInPlace(decodeCborFast(bytes));
    } catch {
      skipped++;
      continue;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      skipped++;
      continue;
    }
    records.push({ collection, rkey, cid: leaf.cid.toString(), record: record as JsonObject });
  }
  return { records, skipped };
}
