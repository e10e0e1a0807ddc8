// CARv1 pieces: BlockMap (blocks by CID), the varint, CID-length and header readers, and a synchronous splitter for
// firehose `blocks` (at most 2 MB, already in memory), with CIDs parsed by their varints (never a fixed 36 bytes).
// The splitter does not hash blocks; the caller checks the blocks it uses (repo/read-car.ts, which reads whole repos
// from a stream, checks every block as it arrives). NOTE: this replaces @ipld/car,
// where building a CID object per block made decoding several times slower than the targets (README, Benchmarks).
import { decodeCborMap } from './fast-cbor.ts';
import { CidLink } from './cid-link.ts';
import { SkytideError } from '../errors.ts';

// Seeds the block table's hash so that CIDs crafted to collide (their hashes are checked only later) cannot turn
// lookups quadratic. Drawn on first use: Workers forbid random values at module scope.
let SEED: number | undefined;

/**
 * Blocks by CID, inside one buffer (a frame's CAR) or a few large segments (a repo read from a stream, each block
 * whole in one segment). Positions live in arrays of small integers and an open-addressing table, so a repo's blocks
 * cost no object each: per-block objects that lived as long as the repo were most of its verification time in
 * garbage collection (npm run bench, verify). NOTE: plain arrays, not typed arrays: they are as compact for small
 * integers, and a typed array's allocation was a tenth of decoding a one-op frame (bench, decode). `get` returns a
 * view; nothing is copied.
 */
export class BlockMap {
  readonly #segments: Uint8Array[] = [];
  /** Per block, four numbers: its segment, CID start, data start (the CID's end), data end. */
  #pos: number[] = [];
  /** Block index + 1 per slot; 0 is empty. Kept at most half full. */
  #table: number[];
  size = 0;

  /** `expected` blocks fit without the table growing. */
  constructor(expected = 8) {
    SEED ??= crypto.getRandomValues(new Uint32Array(1))[0]!;
    let capacity = 16;
    while (capacity < expected) capacity *= 2;
    this.#table = zeros(capacity * 2);
  }

  /** Registers a buffer that blocks will point into; returns its number for `add`. */
  addSegment(bytes: Uint8Array): number {
    return this.#segments.push(bytes) - 1;
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
    for (let slot = BlockMap.#hash(bytes, start, end) & mask; ; slot = (slot + 1) & mask) {
      const entry = this.#table[slot]!;
      if (entry === 0) return ~slot;
      const p = (entry - 1) * 4;
      const cidStart = this.#pos[p + 1]!;
      if (this.#pos[p + 2]! - cidStart !== length) continue;
      const buf = this.#segments[this.#pos[p]!]!;
      let k = 0;
      while (k < length && buf[cidStart + k] === bytes[start + k]) k++;
      if (k === length) return entry - 1;
    }
  }

  /**
   * Adds the block whose CID is segment[cidStart, dataStart) and data segment[dataStart, dataEnd); false when a block
   * with that CID is already there (the first copy is kept).
   */
  add(segment: number, cidStart: number, dataStart: number, dataEnd: number): boolean {
    if ((this.size + 1) * 2 > this.#table.length) this.#grow();
    const found = this.#find(this.#segments[segment]!, cidStart, dataStart);
    if (found >= 0) return false;
    const i = this.size++;
    this.#pos.push(segment, cidStart, dataStart, dataEnd);
    this.#table[~found] = i + 1;
    return true;
  }

  #grow(): void {
    const table = zeros(this.#table.length * 2);
    const mask = table.length - 1;
    for (let i = 0; i < this.size; i++) {
      const p = i * 4;
      let slot = BlockMap.#hash(this.#segments[this.#pos[p]!]!, this.#pos[p + 1]!, this.#pos[p + 2]!) & mask;
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
    const p = i * 4;
    return this.#segments[this.#pos[p]!]!.subarray(this.#pos[p + 2]!, this.#pos[p + 3]!);
  }

  /** The CID bytes of block `i`, as a view. */
  cid(i: number): Uint8Array {
    const p = i * 4;
    return this.#segments[this.#pos[p]!]!.subarray(this.#pos[p + 1]!, this.#pos[p + 2]!);
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

/** Bytes that do not parse as a CAR (`invalid_car`). */
export class CarError extends SkytideError {
  constructor(message: string) {
    super('invalid_car', message);
    this.name = 'CarError';
  }
}

/** The varint at `offset` and the position after it, or undefined when the bytes end (at `end`) inside it. */
export function varintAt(bytes: Uint8Array, offset: number, end = bytes.length): [number, number] | undefined {
  let value = 0;
  let shift = 0;
  let pos = offset;
  for (;;) {
    if (pos >= end) return undefined;
    const b = bytes[pos++]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [value, pos];
    shift += 7;
    if (shift > 49) throw new CarError('varint too long');
  }
}

function varint(bytes: Uint8Array, offset: number): [number, number] {
  const read = varintAt(bytes, offset);
  if (read === undefined) throw new CarError('truncated varint');
  return read;
}

/**
 * Length in bytes of the CID starting at `offset` (CIDv1: version, codec, multihash code, digest length, digest), or
 * undefined when the bytes end (at `end`) before its length is known.
 */
export function cidLengthAt(bytes: Uint8Array, offset: number, end = bytes.length): number | undefined {
  // Every CID atproto writes: CIDv1, a one-byte codec, sha2-256 with a 32-byte digest.
  if (offset + 4 <= end && bytes[offset] === 0x01 && bytes[offset + 1]! < 0x80 && bytes[offset + 2] === 0x12 && bytes[offset + 3] === 0x20) return 36;
  if (offset + 2 > end) return undefined;
  if (bytes[offset] === 0x12 && bytes[offset + 1] === 0x20) return 34; // CIDv0: a bare sha2-256 multihash
  const version = varintAt(bytes, offset, end);
  if (version === undefined) return undefined;
  if (version[0] !== 1) throw new CarError(`unsupported CID version ${version[0]}`);
  const codec = varintAt(bytes, version[1], end);
  const code = codec && varintAt(bytes, codec[1], end);
  const digest = code && varintAt(bytes, code[1], end);
  return digest === undefined ? undefined : digest[1] + digest[0] - offset;
}

/** The roots of a CARv1 header (the DAG-CBOR after the header's length varint). */
export function parseCarHeader(bytes: Uint8Array): CidLink[] {
  // Anything but a map is no header (CBOR null decodes to null, whose fields cannot even be read).
  const header: { version?: unknown; roots?: unknown } = decodeCborMap(bytes, (why) => {
    throw new CarError(`the CAR header is ${why}`);
  });
  if (header.version !== 1 || !Array.isArray(header.roots)) throw new CarError('not a CARv1 header');
  return header.roots.map((r) => {
    const link = CidLink.from(r);
    if (link === undefined) throw new CarError('a root is not a CID');
    return link;
  });
}

export function readCarBlocks(bytes: Uint8Array): CarBlocks {
  const [headerLength, headerStart] = varint(bytes, 0);
  if (headerStart + headerLength > bytes.length) throw new CarError('truncated header');
  const roots = parseCarHeader(bytes.subarray(headerStart, headerStart + headerLength));
  // Blocks (records, MST nodes) average 100 to 250 bytes: sized for that, the table rarely grows.
  const blocks = new BlockMap(Math.min(bytes.length >> 7, 1 << 22));
  const segment = blocks.addSegment(bytes);
  let pos = headerStart + headerLength;
  while (pos < bytes.length) {
    const [length, start] = varint(bytes, pos);
    const end = start + length;
    if (length === 0 || end > bytes.length) throw new CarError('truncated block');
    const cidBytes = cidLengthAt(bytes, start, end);
    if (cidBytes === undefined) throw new CarError('block shorter than its CID');
    const cidEnd = start + cidBytes;
    if (cidEnd > end) throw new CarError('block shorter than its CID');
    // A CID seen twice: the first copy is kept and checked; a later copy is never read, so it cannot matter.
    blocks.add(segment, start, cidEnd, end);
    pos = end;
  }
  return { roots, blocks };
}
