// CIDs of DAG-CBOR blocks: CIDv1, codec dag-cbor (0x71), sha2-256. Hashing is synchronous under Node (multiformats
// uses node:crypto there) and asynchronous on Web runtimes, so callers await it.
import { CID } from 'multiformats/cid';
import { sha256 } from 'multiformats/hashes/sha2';

export const DAG_CBOR = 0x71;
export const RAW = 0x55;

export async function cidForCbor(bytes: Uint8Array): Promise<CID> {
  return CID.createV1(DAG_CBOR, await sha256.digest(bytes));
}

/** True when `bytes` hash to `cid` (sha2-256 only, the one hash atproto uses). */
export async function cidMatches(cid: CID, bytes: Uint8Array): Promise<boolean> {
  if (cid.multihash.code !== sha256.code) return false;
  const digest = await sha256.digest(bytes);
  const a = digest.digest;
  const b = cid.multihash.digest;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function parseCid(value: string): CID | undefined {
  try {
    return CID.parse(value);
  } catch {
    return undefined;
  }
}
