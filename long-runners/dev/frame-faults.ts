// The dev relay's frame faults: each rewrites one upstream #commit (one with ops) into what a faulty or hostile
// relay could send in its place, under the same seq, so seqs still only increase and cursors stay upstream's.
//   rev_gap        the commit is dropped: the repo's next commit names a `since`/`prevData` the reader never saw
//   sync           a #sync frame (sync spec: did, blocks = a CAR holding the signed commit, rev, seq, time) replaces it
//   too_big        the commit flagged tooBig, with no ops and no blocks
//   bad_signature  one bit of the commit's signature flipped (commit block re-encoded, CID and CAR root updated)
// Built from the pipeline's own codecs (functions/atproto), so what goes out is well formed DAG-CBOR and CAR.
import { decodeFrame } from '../../functions/atproto/frame.ts';
import { readCarBlocks } from '../../functions/atproto/car.ts';
import { CidLink } from '../../functions/atproto/cid-link.ts';
import { decodeCborFast } from '../../functions/atproto/fast-cbor.ts';
import { encodeCbor } from '../../functions/atproto/cbor.ts';
import { cidBytesForCbor } from '../../functions/atproto/cid.ts';

export const FRAME_FAULTS = ['rev_gap', 'sync', 'too_big', 'bad_signature'] as const;
export type FrameFault = (typeof FRAME_FAULTS)[number];

export function isFrameFault(kind: string): kind is FrameFault {
  return (FRAME_FAULTS as readonly string[]).includes(kind);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}

function varint(n: number): Uint8Array {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return new Uint8Array(out);
}

/** An event-stream message frame: the header {op: 1, t} and the body, DAG-CBOR back to back. */
export function encodeFrame(t: string, body: Record<string, unknown>): Uint8Array {
  return concat([encodeCbor({ op: 1, t }), encodeCbor(body)]);
}

/** A CARv1 with one root (raw CID bytes) and the given blocks, in order. */
export function encodeCar(root: Uint8Array, blocks: { cid: Uint8Array; bytes: Uint8Array }[]): Uint8Array {
  const header = encodeCbor({ version: 1, roots: [new CidLink(root)] });
  return concat([varint(header.length), header, ...blocks.flatMap((b) => [varint(b.cid.length + b.bytes.length), b.cid, b.bytes])]);
}

const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;

/** The frame's #commit body when it is a commit with ops (the only frames the faults apply to). */
export function commitWithOps(bytes: Uint8Array): Record<string, unknown> | undefined {
  const frame = decodeFrame(bytes);
  if (frame.kind !== 'message' || frame.t !== '#commit') return undefined;
  const ops = frame.body['ops'];
  if (!Array.isArray(ops) || ops.length === 0 || !(frame.body['blocks'] instanceof Uint8Array)) return undefined;
  return frame.body;
}

/** What goes out instead of the #commit `body`: no frame (rev_gap) or one rewritten frame. */
export async function applyFrameFault(fault: FrameFault, body: Record<string, unknown>): Promise<Uint8Array[]> {
  if (fault === 'rev_gap') return [];
  if (fault === 'too_big') return [encodeFrame('#commit', { ...body, tooBig: true, ops: [], blocks: new Uint8Array(0), blobs: [] })];
  const car = readCarBlocks(body['blocks'] as Uint8Array);
  const root = car.roots[0]!.bytes;
  const blocks = [...car.blocks.entries()];
  const commitBlock = blocks.find((b) => same(b.cid, root))!;
  if (fault === 'sync') {
    return [encodeFrame('#sync', { did: body['repo'], blocks: encodeCar(root, [commitBlock]), rev: body['rev'], seq: body['seq'], time: body['time'] })];
  }
  const commit = decodeCborFast(commitBlock.bytes) as Record<string, unknown>;
  const sig = new Uint8Array(commit['sig'] as Uint8Array);
  // A bit of r, not s: the signature stays low-S and 64 bytes, it just no longer verifies.
  sig[0] = (sig[0] ?? 0) ^ 1;
  const bytes = encodeCbor({ ...commit, sig });
  const cid = await cidBytesForCbor(bytes);
  const others = blocks.filter((b) => b !== commitBlock);
  return [encodeFrame('#commit', { ...body, commit: new CidLink(cid), blocks: encodeCar(cid, [{ cid, bytes }, ...others]) })];
}
