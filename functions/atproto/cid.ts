// CIDs of DAG-CBOR blocks: CIDv1, codec dag-cbor (0x71), sha2-256, all hashed through the runtime seam `#sha256`
// (node:crypto's one-shot hash under Node, synchronous; WebCrypto elsewhere, asynchronous). The `...Fast` forms
// answer synchronously when they can, so hot loops pay no promise per block.
import { CID } from 'multiformats/cid';
import { sha256Binary } from '#sha256';
import { MAX_CID_STRING_LENGTH } from './syntax/cid-string.ts';

export const DAG_CBOR = 0x71;

export async function cidForCbor(bytes: Uint8Array): Promise<CID> {
  return CID.decode(await cidBytesForCbor(bytes));
}

/**
 * True when `bytes` hash to the CIDv1 `cid` (raw CID bytes): sha2-256 only, the one hash atproto uses. Reads the
 * digest straight from the CID bytes: [version 0x01][codec varint][0x12][0x20][32-byte digest]. Synchronous where
 * the runtime hashes synchronously (Node): a repo's 100,000s of blocks would otherwise each cost a promise.
 */
export function cidBytesMatchFast(cid: Uint8Array, bytes: Uint8Array): boolean | Promise<boolean> {
  const codecLength = (cid[1] ?? 0) & 0x80 ? 2 : 1;
  const at = 1 + codecLength;
  if (cid[0] !== 1 || cid[at] !== 0x12 || cid[at + 1] !== 0x20 || cid.length !== at + 34) return false;
  const compare = (digest: string) => {
    for (let i = 0; i < 32; i++) if (digest.charCodeAt(i) !== cid[at + 2 + i]) return false;
    return true;
  };
  const hashed = sha256Binary(bytes);
  return typeof hashed === 'string' ? compare(hashed) : hashed.then(compare);
}

/** The CIDv1 bytes (dag-cbor, sha2-256) of a DAG-CBOR block; synchronous where the runtime hashes synchronously. */
export function cidBytesForCbor(bytes: Uint8Array): Uint8Array | Promise<Uint8Array> {
  const build = (digest: string) => {
    const cid = new Uint8Array(36);
    cid.set([0x01, DAG_CBOR, 0x12, 0x20]);
    for (let i = 0; i < 32; i++) cid[4 + i] = digest.charCodeAt(i);
    return cid;
  };
  const hashed = sha256Binary(bytes);
  return typeof hashed === 'string' ? build(hashed) : hashed.then(build);
}

/**
 * The CID a string names, or undefined. NOTE: a string over MAX_CID_STRING_LENGTH is refused before CID.parse, whose
 * base58 decoding (CIDv0 `Q…`, `z…` multibase) is quadratic in the length: a label's 40,000-character cid took 9 s.
 */
export function parseCid(value: string): CID | undefined {
  if (value.length > MAX_CID_STRING_LENGTH) return undefined;
  try {
    return CID.parse(value);
  } catch {
    return undefined;
  }
}
