// A verified repo: the commit is for the DID we asked about, signed by its #atproto key (SHA-256 over the
// DAG-CBOR of the commit's own fields, commit/unsigned-commit.ts), and its MST walks cleanly to a record block for every leaf. Everything is
// checked before the first record is handed out. Records are then decoded to lex-JSON a range at a time
// (`recordsIn`), so a large repo's records never all live at once: the CAR (held once) and the leaf keys (taking no
// more bytes than the CAR: mst/walk.ts) are what stays. A failure is a SkytideError naming the reason.
import type { JsonObject } from '../../events.ts';
import { SkytideError } from '../../errors.ts';
import { base32Multibase } from '../base32.ts';
import { CidLink } from '../cid-link.ts';
import { decodeCborMap } from '../fast-cbor.ts';
import { decodeLex } from '../lex-cbor.ts';
import { verifySignature } from '../crypto/verify.ts';
import { requireCommitLinks, requirePrev, unsignedCommitBytes } from '../commit/unsigned-commit.ts';
import type { PublicKey } from '../crypto/keys.ts';
import { recordBytesBudget, walkMst, type MstLeaves } from '../mst/walk.ts';
import { isValidNsid } from '../syntax/nsid.ts';
import { isValidRecordKey } from '../syntax/record-key.ts';
import { isValidTid } from '../syntax/tid.ts';
import type { RepoCar } from './read-car.ts';
import { MAX_RECORD_BYTES } from '../limits.ts';

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
  car: RepoCar;
  /** Every leaf in key order (`collection/rkey`) with its record block. */
  leaves: MstLeaves;
}

export async function verifyRepo(car: RepoCar, expected: { did: string; key: PublicKey }): Promise<VerifiedRepo> {
  const commitBytes = car.blocks.get(car.root.bytes);
  if (commitBytes === undefined) throw new SkytideError('missing_block', 'the commit block (CAR root) is missing');
  // The block hashes to its CID, whatever it holds: a PDS can make the root a CBOR null, a list, or not CBOR at all.
  const commit = decodeCborMap(commitBytes, (why) => {
    throw new SkytideError('invalid_commit', `the commit block is ${why}`);
  });
  const { did, version, data, rev, sig } = commit;
  if (typeof did !== 'string' || (version !== 3 && version !== 2) || !(data instanceof CidLink) || !(sig instanceof Uint8Array)) {
    throw new SkytideError('invalid_commit', 'commit block is not a v2/v3 commit');
  }
  if (did !== expected.did) throw new SkytideError('wrong_did', `commit is for ${did}, not ${expected.did}`);
  // NOTE: v2 commits (before revs) are still served by repos not written since; they carry no rev, and the caller
  // decides what the rev rule does with them. A v3 commit must have one.
  if (rev !== undefined && (typeof rev !== 'string' || !isValidTid(rev))) throw new SkytideError('invalid_commit', 'commit rev is not a TID');
  if (version === 3 && rev === undefined) throw new SkytideError('invalid_commit', 'v3 commit without a rev');
  requirePrev(commit);
  requireCommitLinks(commit, car.root);
  if (!verifySignature(expected.key, unsignedCommitBytes(commit), sig)) throw new SkytideError('bad_signature', `commit signature does not verify for ${did}`);

  // The leaves live as long as the CAR, and may not take more memory than it does, nor name more record bytes than a
  // few times it (walk.ts).
  const leaves = await walkMst(data.bytes, car.blocks, car.bytes, recordBytesBudget(car.bytes));
  return { did, rev: rev as string | undefined, commit: car.root.toString(), data: data.toString(), car, leaves };
}

/** NSIDs seen in this process: a repo has a handful of collections and 100,000s of records in them. */
const validCollections = new Set<string>();
const VALID_COLLECTIONS_LIMIT = 10_000;

function isCollection(name: string): boolean {
  if (validCollections.has(name)) return true;
  if (!isValidNsid(name)) return false;
  if (validCollections.size < VALID_COLLECTIONS_LIMIT) validCollections.add(name);
  return true;
}

/** The record bytes a range of `recordsIn` decodes at most (past its first leaf): what a chunk of records holds. */
export const RANGE_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * The records of leaves [from, to) as lex-JSON, in key order, or of fewer leaves: the range ends early (`end`, the
 * first leaf not looked at) once its records reach `maxBytes` (RANGE_RECORD_BYTES), so a chunk of large records, or
 * of one large record named by many leaves, is bounded in memory as one of small ones is. Leaves whose keys or
 * records are unusable are counted in `skipped`, not returned. A record over MAX_RECORD_BYTES is unusable, as the
 * live path drops it (repo-frame.ts: indigo's limit), so both paths agree.
 */
export function recordsIn(
  repo: Pick<VerifiedRepo, 'car' | 'leaves'>, from: number, to: number, keep?: (collection: string) => boolean, maxBytes = RANGE_RECORD_BYTES,
): { records: RepoRecord[]; skipped: number; filtered: number; end: number } {
  const { keys, blocks: leafBlocks } = repo.leaves;
  const blocks = repo.car.blocks;
  const records: RepoRecord[] = [];
  let skipped = 0;
  let filtered = 0;
  let bytesTaken = 0;
  const last = Math.min(to, keys.length);
  for (let i = from; i < last; i++) {
    if (bytesTaken >= maxBytes) return { records, skipped, filtered, end: i };
    const key = keys[i]!;
    const slash = key.indexOf('/');
    const collection = key.slice(0, slash);
    const rkey = key.slice(slash + 1);
    if (slash < 0 || !isCollection(collection) || !isValidRecordKey(rkey)) {
      skipped++;
      continue;
    }
    // A collection the deployment does not keep is never decoded (its block was hash-checked with the rest).
    if (keep !== undefined && !keep(collection)) {
      filtered++;
      continue;
    }
    const block = leafBlocks[i]!;
    const bytes = blocks.data(block);
    bytesTaken += bytes.length;
    let record: unknown;
    try {
      record = bytes.length > MAX_RECORD_BYTES ? undefined : decodeLex(bytes);
    } catch {
      record = undefined;
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      skipped++;
      continue;
    }
    records.push({ collection, rkey, cid: base32Multibase(blocks.cid(block)), record: record as JsonObject });
  }
  return { records, skipped, filtered, end: last };
}

/** Every record of the repo at once: for small repos and tests; large ones go a range at a time (recordsIn). */
export function allRecords(repo: Pick<VerifiedRepo, 'car' | 'leaves'>): { records: RepoRecord[]; skipped: number } {
  const { records, skipped } = recordsIn(repo, 0, repo.leaves.keys.length, undefined, Number.POSITIVE_INFINITY);
  return { records, skipped };
}
