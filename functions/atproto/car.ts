// A synchronous CARv1 splitter for firehose `blocks` (at most 2 MB, already in memory): header roots and blocks by
// CID, with CIDs parsed by their varints (never a fixed 36 bytes). It does not hash blocks; the
// caller checks the blocks it uses (read-car.ts checks every block of a whole repo). NOTE: this replaces @ipld/car,
// where building a CID object per block made decoding several times slower than the targets (README, Benchmarks).
import { decodeCborFast } from './fast-cbor.ts';
import { CidLink } from './cid-link.ts';

// Seeds the block table's hash so that CIDs crafted to collide (their hashes are checked only later) cannot turn
// lookups quadratic. Drawn on first use: Workers forbid random values at module scope.
let SEED: number | undefined;

/**
 * Blocks by CID, all inside one buffer. Positions live in arrays of small integers and an open-addressing table, so
 * a repo's blocks cost no object each: per-block objects that lived as long as the repo were most of its
 * verification time in garbage collection (npm run bench, verify). NOTE: plain arrays, not typed arrays: they are as
 * compact for small integers, and a typed array's allocation was a tenth of decoding a one-op frame (bench,
 * decode). `get` returns a view; nothing is copied.
 */
export class BlockMap {
  readonly buffer: Uint8Array;
  /** Per block, three positions: CID start, data start (the CID's end), data end. */
  #pos: number[];
  /** Block index + 1 per slot; 0 is empty. Kept at most half full. */
  #table: number[];
  size = 0;

  /** `expected` blocks fit without the table growing. */
  constructor(buffer: Uint8Array, expected = 8) {
    this.buffer = buffer;
    SEED ??= crypto.getRandomValues(new Uint32Array(1))[0]!;
    let capacity = 16;
    while (capacity < expected) capacity *= 2;
    this.#pos = [];
    this.#table = zeros(capacity * 2);
  }

  static #hash(bytes: Uint8Array, start: number, end: number): number {
    let h = SEED!;
    // The last 16 bytes are digest bytes for every CID atproto uses: well spread, and unforgeable unless hashed.
    for (let i = Math.max(start, end - 16); i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
    return (h ^ (h >>> 15)) >>> 0;
  }

  #find(bytes: Uint8Array, start: number, end: number): number {
    const mask = this.#table.length - 1;
    const length = end - start;
    const buf = this.buffer;
    for (let slot = BlockMap.#hash(bytes, start, end) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.#table[slot]!;
      if (entry === 0) return ~slot;
      const p = (entry - 1) * 3;
      const cidStart = this.#pos[p]!;
      if (this.#pos[p + 1]! - cidStart !== length) continue;
      let k = 0;
      while (k < length && buf[cidStart + k] === bytes[start + k]) k++;
      if (k === length) return entry - 1;
    }
  }

  /** Adds the block whose CID is buffer[cidStart, dataStart) and data buffer[dataStart, dataEnd); false if present. */
  add(cidStart: number, dataStart: number, dataEnd: number): boolean {
    if ((this.size + 1) * 2 > this.#table.length) this.#grow();
    const found = this.#find(this.buffer, cidStart, dataStart);
    if (found >= 0) return false;
    const i = this.size++;
    this.#pos.push(cidStart, dataStart, dataEnd);
    this.#table[~found] = i + 1;
    return true;
  }

  #grow(): void {
    const table = zeros(this.#table.length * 2);
    const mask = table.length - 1;
    for (let i = 0; i < this.size; i++) {
      let slot = BlockMap.#hash(this.buffer, this.#pos[i * 3]!, this.#pos[i * 3 + 1]!) & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = i + 1;
    }
    this.#table = table;
  }

  /** The index of the block whose CID is bytes[start, end), or -1. */
  indexOf(bytes: Uint8Array, start = 0, end = bytes.length): number {
    if (end - start < 4) return -1;
    const found = this.#find(bytes, start, end);
    return found >= 0 ? found : -1;
  }

  get(cid: Uint8Array): Uint8Array | undefined {
    const i = this.indexOf(cid);
    return i < 0 ? undefined : this.data(i);
  }

  /** The data of block `i`, as a view. */
  data(i: number): Uint8Array {
    return this.buffer.subarray(this.#pos[i * 3 + 1]!, this.#pos[i * 3 + 2]!);
  }

  /** The CID bytes of block `i`, as a view. */
  cid(i: number): Uint8Array {
    return this.buffer.subarray(this.#pos[i * 3]!, this.#pos[i * 3 + 1]!);
  }

  *entries(): Generator<{ cid: Uint8Array; bytes: Uint8Array }> {
    for (let i = 0; i < this.size; i++) yield { cid: this.cid(i), bytes: this.data(i) };
  }
}

function zeros(length: number): number[] {
  return new Array<number>(length).fill(0);
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
  // Repo blocks (records, MST nodes) average 100 to 250 bytes: sized for that, the table rarely grows.
  const blocks = new BlockMap(bytes, Math.min(bytes.length >> 7, 1 << 22));
  let pos = headerStart + headerLength;
  while (pos < bytes.length) {
    const [length, start] = varint(bytes, pos);
    const end = start + length;
    if (length === 0 || end > bytes.length) throw new CarError('truncated block');
    const cidEnd = start + cidLength(bytes, start);
    if (cidEnd > end) throw new CarError('block shorter than its CID');
    // A CID seen twice: the first copy is kept and checked; a later copy is never read, so it cannot matter.
    blocks.add(start, cidEnd, end);
    pos = end;
  }
  return { roots, blocks };
}
