// A synchronous CARv1 splitter for firehose `blocks` (at most 2 MB, already in memory): header roots and blocks by
// CID, with CIDs parsed by their varints (never a fixed 36 bytes). It does not hash blocks; the
// caller checks the blocks it uses (read-car.ts checks every block of a whole repo). NOTE: this replaces @ipld/car,
// where building a CID object per block made decoding several times slower than the targets (README, Benchmarks).
import { decodeCborFast } from './fast-cbor.ts';
import { CidLink } from './cid-link.ts';

/** Blocks by CID. Lookups hash the CID's last four bytes (digest bytes, so well spread) and compare in full. */
export class BlockMap {
  readonly #buckets = new Map<number, { cid: Uint8Array; bytes: Uint8Array }[]>();
  size = 0;

  static #hash(cid: Uint8Array): number {
    const n = cid.length;
    return ((cid[n - 1]! << 24) | (cid[n - 2]! << 16) | (cid[n - 3]! << 8) | cid[n - 4]!) >>> 0;
  }

  set(cid: Uint8Array, bytes: Uint8Array): void {
    const h = BlockMap.#hash(cid);
    const bucket = this.#buckets.get(h);
    if (bucket === undefined) this.#buckets.set(h, [{ cid, bytes }]);
    else bucket.push({ cid, bytes });
    this.size++;
  }

  *entries(): Generator<{ cid: Uint8Array; bytes: Uint8Array }> {
    for (const bucket of this.#buckets.values()) yield* bucket;
  }

  get(cid: Uint8Array): Uint8Array | undefined {
    if (cid.length < 4) return undefined;
    const bucket = this.#buckets.get(BlockMap.#hash(cid));
    if (bucket === undefined) return undefined;
    outer: for (const entry of bucket) {
      if (entry.cid.length !== cid.length) continue;
      for (let i = 0; i < cid.length; i++) if (entry.cid[i] !== cid[i]) continue outer;
      return entry.bytes;
    }
    return undefined;
  }
}

export interface CarBlocks {
  roots: CidLink[];
  blocks: BlockMap;
}

export class CarError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CarError';
  }
}

function varint(bytes: Uint8Array, offset: number): [number, number] {
  let value = 0;
  let shift = 0;
  let pos = offset;
  for (;;) {
    if (pos >= bytes.length) throw new CarError('truncated varint');
    const b = bytes[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 49) throw new CarError('varint too long');
  }
}

/** Length in bytes of the CID starting at `offset` (CIDv1: version, codec, multihash code, digest length, digest). */
function cidLength(bytes: Uint8Array, offset: number): number {
  if (bytes[offset] === 0x12 && bytes[offset + 1] === 0x20) return 34; // CIDv0: a bare sha2-256 multihash
  let [version, pos] = varint(bytes, offset);
  if (version !== 1) throw new CarError(`unsupported CID version ${version}`);
  [, pos] = varint(bytes, pos); // codec
  [, pos] = varint(bytes, pos); // multihash code
  const [digestLength, digestStart] = varint(bytes, pos);
  return digestStart + digestLength - offset;
}

export function readCarBlocks(bytes: Uint8Array): CarBlocks {
  const [headerLength, headerStart] = varint(bytes, 0);
  if (headerStart + headerLength > bytes.length) throw new CarError('truncated header');
  const header = decodeCborFast(bytes.subarray(headerStart, headerStart + headerLength)) as { version?: unknown; roots?: unknown };
  if (header.version !== 1 || !Array.isArray(header.roots)) throw new CarError('not a CARv1 header');
  const roots = header.roots.map((r) => {
    const link = CidLink.from(r);
    if (link === undefined) throw new CarError('a root is not a CID');
    return link;
  });
  const blocks = new BlockMap();
  let pos = headerStart + headerLength;
  while (pos < bytes.length) {
    const [length, start] = varint(bytes, pos);
    const end = start + length;
    if (length === 0 || end > bytes.length) throw new CarError('truncated block');
    const cidEnd = start + cidLength(bytes, start);
    if (cidEnd > end) throw new CarError('block shorter than its CID');
    const cid = bytes.subarray(start, cidEnd);
    // A duplicated block: its hash is checked like any other, so keeping one copy is enough.
    if (blocks.get(cid) === undefined) blocks.set(cid, bytes.subarray(cidEnd, end));
    pos = end;
  }
  return { roots, blocks };
}
