// Reads a whole-repo CAR as a stream, block by block as the bytes arrive: every block's sha-256 is checked against its
// CID when it is complete (so a forged block stops the download there), limits on total bytes, block count and block
// size are checked before the work they bound, and a CAR that ends inside a block is rejected (truncated_car), never
// taken as a partial repo.
//
// NOTE: the CAR is held once. Bytes are copied from the network's chunks into large segments, each block whole in one
// segment (a block that would straddle the end of a segment moves to the next), and blocks are views into them. The
// alternatives measured worse: gathering chunks and concatenating them holds the repo twice at the end, and a
// resizable ArrayBuffer, which grows in place, made every later read of the blocks about 20% slower (npm run bench,
// verify). @ipld/car's reader built a CID object per block, a third of the time of verifying a 100,000-record repo.
import { SkytideError } from '../../errors.ts';
import { classifyNetworkFailure } from '../../network-failure.ts';
import { BlockMap, CarError, cidLengthAt, parseCarHeader, varintAt } from '../car.ts';
import { CidLink } from '../cid-link.ts';
import { cidBytesMatchFast } from '../cid.ts';

export interface RepoLimits {
  maxBytes: number;
  maxBlocks: number;
  maxBlockBytes: number;
}

export const DEFAULT_REPO_LIMITS: RepoLimits = { maxBytes: 512 * 1024 * 1024, maxBlocks: 4_000_000, maxBlockBytes: 2 * 1024 * 1024 };

export interface RepoCar {
  root: CidLink;
  blocks: BlockMap;
  bytes: number;
}

/** Segments double from the first size to the largest, so a small repo takes little and a large one few segments. */
const FIRST_SEGMENT_BYTES = 256 * 1024;
const MAX_SEGMENT_BYTES = 8 * 1024 * 1024;
/** The largest header accepted (a CARv1 header is a version and a root or two). */
const MAX_HEADER_BYTES = 64 * 1024;

const tooLarge = (message: string) => new SkytideError('repo_too_large', message);

/** The parser over the bytes received so far. */
class CarStream {
  readonly blocks = new BlockMap(1 << 14);
  roots: CidLink[] | undefined;
  bytes = 0;
  #segment = new Uint8Array(0);
  #segmentId = -1;
  #nextSize = FIRST_SEGMENT_BYTES;
  /** Bytes written into the current segment, and where the next unparsed block starts in it. */
  #write = 0;
  #parse = 0;

  readonly limits: RepoLimits;

  constructor(limits: RepoLimits) {
    this.limits = limits;
  }

  async push(chunk: Uint8Array): Promise<void> {
    this.bytes += chunk.length;
    if (this.bytes > this.limits.maxBytes) throw tooLarge(`repo CAR exceeds ${this.limits.maxBytes} bytes`);
    for (let offset = 0; offset < chunk.length; ) {
      if (this.#write === this.#segment.length) this.#nextSegment();
      const n = Math.min(chunk.length - offset, this.#segment.length - this.#write);
      this.#segment.set(chunk.subarray(offset, offset + n), this.#write);
      this.#write += n;
      offset += n;
      await this.#parseAvailable();
    }
  }

  /** Starts a segment, carrying over the incomplete block at the end of the current one. */
  #nextSegment(need = 0): void {
    const tail = this.#segment.subarray(this.#parse, this.#write);
    const next = new Uint8Array(Math.max(this.#nextSize, tail.length + need, tail.length * 2));
    this.#nextSize = Math.min(MAX_SEGMENT_BYTES, this.#nextSize * 2);
    next.set(tail);
    this.#segment = next;
    this.#segmentId = this.blocks.addSegment(next);
    this.#write = tail.length;
    this.#parse = 0;
  }

  async #parseAvailable(): Promise<void> {
    const seg = this.#segment;
    for (;;) {
      let size: number;
      let start: number;
      // Most block lengths fit in one or two varint bytes: read those without the general reader's tuple.
      const b0 = this.#parse < this.#write ? seg[this.#parse]! : 0x80;
      const b1 = this.#parse + 1 < this.#write ? seg[this.#parse + 1]! : 0x80;
      if (b0 < 0x80) {
        size = b0;
        start = this.#parse + 1;
      } else if (b1 < 0x80) {
        size = (b0 & 0x7f) + b1 * 128;
        start = this.#parse + 2;
      } else {
        const length = varintAt(seg, this.#parse, this.#write);
        if (length === undefined) return;
        [size, start] = length;
      }
      const end = start + size;
      if (this.roots === undefined) {
        if (size > MAX_HEADER_BYTES) throw new CarError('header too large');
        // The header is a CBOR map: a body whose first bytes say otherwise (an HTML page) is no CAR, whole or cut.
        if (start < this.#write && (seg[start]! & 0xe0) !== 0xa0) throw new CarError('the header is not a CBOR map: not a CAR');
        if (end > this.#write) return this.#room(end);
        this.roots = parseCarHeader(seg.subarray(start, end));
        this.#parse = end;
        continue;
      }
      if (size === 0) throw new CarError('empty block');
      // A block is its CID (at most a few dozen bytes) and data of at most maxBlockBytes: refused before it arrives.
      if (size > this.limits.maxBlockBytes + 128) throw tooLarge(`a block is ${size} bytes`);
      if (end > this.#write) return this.#room(end);
      const cidLength = cidLengthAt(seg, start, end);
      if (cidLength === undefined) throw new CarError('block shorter than its CID');
      const cidEnd = start + cidLength;
      if (end - cidEnd > this.limits.maxBlockBytes) throw tooLarge(`a block is ${end - cidEnd} bytes`);
      const cid = seg.subarray(start, cidEnd);
      const data = seg.subarray(cidEnd, end);
      const match = cidBytesMatchFast(cid, data);
      if (!(typeof match === 'boolean' ? match : await match)) {
        throw new SkytideError('cid_mismatch', `block ${new CidLink(cid).toString()} does not hash to its CID`);
      }
      // A CID seen twice: both copies were checked; the first is kept.
      this.blocks.add(this.#segmentId, start, cidEnd, end);
      if (this.blocks.size > this.limits.maxBlocks) throw tooLarge(`repo CAR has more than ${this.limits.maxBlocks} blocks`);
      this.#parse = end;
    }
  }

  /** The block (or header) ending at `end` is incomplete: make sure the segment can hold it whole. */
  #room(end: number): void {
    if (end > this.#segment.length) this.#nextSegment(end - this.#parse);
  }

  /** After the last chunk: anything left unparsed is a block cut short. */
  finish(): void {
    // A body cut short says nothing about the repo wherever it stops: inside the header (an empty 200, a proxy or a PDS
    // restarting) as inside a block, it is truncated_car, tried again, not the permanent invalid_car of a header
    // that is all there and malformed.
    if (this.roots === undefined) throw new SkytideError('truncated_car', 'CAR ends inside its header');
    if (this.#parse < this.#write) throw new SkytideError('truncated_car', 'CAR ends inside a block');
  }
}

export async function readRepoCar(source: AsyncIterable<Uint8Array>, limits: RepoLimits = DEFAULT_REPO_LIMITS): Promise<RepoCar> {
  const car = new CarStream(limits);
  try {
    for await (const chunk of source) await car.push(chunk);
    car.finish();
  } catch (err) {
    if (err instanceof SkytideError) throw err;
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof CarError) throw new SkytideError('invalid_car', `CAR does not parse: ${message}`, {}, { cause: err });
    // A source that fails on its own (a dropped connection, a deadline) says nothing about the bytes read so far.
    const network = classifyNetworkFailure(err).kind !== 'unknown';
    throw new SkytideError(network ? 'fetch_failed' : 'invalid_car', `reading the CAR stopped: ${message}`, {}, { cause: err });
  }
  const root = car.roots?.[0];
  if (root === undefined) throw new SkytideError('invalid_car', 'CAR has no root');
  return { root, blocks: car.blocks, bytes: car.bytes };
}
