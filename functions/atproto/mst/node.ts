// One MST node read straight from its DAG-CBOR bytes into reusable parallel arrays of offsets: no object per entry,
// per key or per link. NOTE: a general decoder built five objects per entry (the entry, two CID wrappers, a CID, a
// byte wrapper); walking a 100,000-record repo spent more time there than anywhere else (npm run bench, verify).
// The layout is exact, as the repository spec and canonical DAG-CBOR make it: {e: [{k, p, t, v}...], l}, keys in
// that order, `l` and `t` present (null or a link), every argument in its shortest form, nothing after the map.
// Links to other nodes (`l`, `t`) are dag-cbor CIDs only: the spec's CID Formats call a tree with any other link
// between its nodes invalid, whole (the same bytes under a raw CID would give one key set a second root CID).
import { SkytideError } from '../../errors.ts';

export const MAX_NODE_ENTRIES = 1024;

/** A node's links and keys as offsets into its block; -1 marks a null link. Reused from node to node. */
export interface NodeView {
  count: number;
  leftStart: number;
  leftEnd: number;
  prefix: number[];
  keyStart: number[];
  keyEnd: number[];
  valueStart: number[];
  valueEnd: number[];
  rightStart: number[];
  rightEnd: number[];
}

export function emptyNodeView(): NodeView {
  return { count: 0, leftStart: -1, leftEnd: -1, prefix: [], keyStart: [], keyEnd: [], valueStart: [], valueEnd: [], rightStart: [], rightEnd: [] };
}

const bad = (message: string) => new SkytideError('invalid_mst', `MST node: ${message}`);

// The reader's cursor: module state, as reading is synchronous and never re-entered.
let b: Uint8Array = new Uint8Array(0);
let p = 0;

function byte(): number {
  if (p >= b.length) throw bad('truncated');
  return b[p++]!;
}

/** The argument of a head whose low five bits are `info`, in its shortest encoding. */
function argument(info: number): number {
  if (info < 24) return info;
  let v = 0;
  const n = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (n === 0) throw bad('indefinite length or reserved argument');
  if (p + n > b.length) throw bad('truncated');
  for (let i = 0; i < n; i++) v = v * 256 + b[p++]!;
  if (v > Number.MAX_SAFE_INTEGER) throw bad('integer beyond the safe range');
  if (v < (n === 1 ? 24 : 2 ** (4 * n))) throw bad('an argument not in its shortest encoding');
  return v;
}

function head(major: number, what: string): number {
  const h = byte();
  if (h >> 5 !== major) throw bad(`${what} has the wrong type`);
  return argument(h & 0x1f);
}

/** A one-letter map key. */
function key(letter: number, name: string): void {
  if (byte() !== 0x61 || byte() !== letter) throw bad(`expected key "${name}"`);
}

/**
 * A link's CID bytes as [start, end), or [-1, -1] for null when `nullable`. A link to a node (`toNode`) must be
 * dag-cbor; a record link (`v`) may also be raw, as the spec leaves leaf links more freedom.
 */
function link(nullable: boolean, what: string, out: [number, number], toNode: boolean): void {
  if (p < b.length && b[p] === 0xf6) {
    if (!nullable) throw bad(`${what} is null`);
    p++;
    out[0] = out[1] = -1;
    return;
  }
  if (byte() !== 0xd8 || byte() !== 0x2a) throw bad(`${what} is not a link`);
  const length = head(2, what);
  if (p + length > b.length) throw bad('truncated');
  // The multibase identity prefix (0x00), then a CIDv1: dag-cbor or raw, sha2-256.
  const codec = b[p + 2];
  if (length !== 37 || b[p] !== 0 || b[p + 1] !== 1 || (codec !== 0x71 && codec !== 0x55) || b[p + 3] !== 0x12 || b[p + 4] !== 0x20) {
    throw bad(`${what} is not a CIDv1 (dag-cbor or raw, sha2-256)`);
  }
  if (toNode && codec !== 0x71) throw bad(`${what} is not a dag-cbor link: a link between MST nodes must be dag-cbor (0x71)`);
  out[0] = p + 1;
  out[1] = p + length;
  p += length;
}

const span: [number, number] = [-1, -1];

/** Reads the node in `bytes` into `view`; throws invalid_mst when it is not exactly an MST node. */
export function readNode(bytes: Uint8Array, view: NodeView): void {
  b = bytes;
  p = 0;
  try {
    if (head(5, 'the node') !== 2) throw bad('the node is not a map of e and l');
    key(0x65, 'e');
    const count = head(4, '`e`');
    if (count > MAX_NODE_ENTRIES) throw new SkytideError('mst_too_large', `MST node: ${count} entries, over ${MAX_NODE_ENTRIES}`);
    view.count = count;
    for (let i = 0; i < count; i++) {
      if (head(5, 'an entry') !== 4) throw bad('an entry is not a map of k, p, t and v');
      key(0x6b, 'k');
      const keyLength = head(2, 'entry `k`');
      if (p + keyLength > b.length) throw bad('truncated');
      view.keyStart[i] = p;
      view.keyEnd[i] = p += keyLength;
      key(0x70, 'p');
      view.prefix[i] = head(0, 'entry `p`');
      key(0x74, 't');
      link(true, 'entry `t`', span, true);
      view.rightStart[i] = span[0];
      view.rightEnd[i] = span[1];
      key(0x76, 'v');
      link(false, 'entry `v`', span, false);
      view.valueStart[i] = span[0];
      view.valueEnd[i] = span[1];
    }
    key(0x6c, 'l');
    link(true, 'node `l`', span, true);
    view.leftStart = span[0];
    view.leftEnd = span[1];
    if (p !== b.length) throw bad('bytes after the node');
  } finally {
    b = new Uint8Array(0); // drop the reference: the block is a view into a whole repo
  }
}

/** One entry to encode: key suffix, shared-prefix length, value CID and right subtree CID (CID bytes, no prefix). */
export interface NodeEntryOut {
  p: number;
  k: Uint8Array;
  v: Uint8Array;
  t: Uint8Array | null;
}

/**
 * The canonical DAG-CBOR of a node, written directly in the layout readNode reads. NOTE: a general encoder
 * (cborg) was a tenth of verifying a live commit, which re-encodes every node its ops touch (npm run bench, commit).
 */
export function encodeNode(left: Uint8Array | null, entries: readonly NodeEntryOut[]): Uint8Array {
  // An upper bound: map, array and key heads, and per link a tag, a byte-string head, the 0x00 prefix and the CID.
  const linkBytes = (cid: Uint8Array | null) => (cid === null ? 1 : 8 + cid.length);
  let size = 16 + linkBytes(left);
  for (const e of entries) size += 24 + e.k.length + linkBytes(e.v) + linkBytes(e.t);
  const out = new Uint8Array(size);
  let at = 0;
  const head = (major: number, value: number) => {
    const m = major << 5;
    if (value < 24) out[at++] = m | value;
    else if (value < 0x100) (out[at++] = m | 24), (out[at++] = value);
    else if (value < 0x10000) (out[at++] = m | 25), (out[at++] = value >> 8), (out[at++] = value & 0xff);
    else {
      out[at++] = m | 26;
      for (let shift = 24; shift >= 0; shift -= 8) out[at++] = (value >>> shift) & 0xff;
    }
  };
  const key = (letter: number) => ((out[at++] = 0x61), (out[at++] = letter));
  const link = (cid: Uint8Array | null) => {
    if (cid === null) return void (out[at++] = 0xf6);
    out[at++] = 0xd8;
    out[at++] = 0x2a;
    head(2, cid.length + 1);
    out[at++] = 0x00;
    out.set(cid, at);
    at += cid.length;
  };
  head(5, 2);
  key(0x65);
  head(4, entries.length);
  for (const e of entries) {
    head(5, 4);
    key(0x6b);
    head(2, e.k.length);
    out.set(e.k, at);
    at += e.k.length;
    key(0x70);
    head(0, e.p);
    key(0x74);
    link(e.t);
    key(0x76);
    link(e.v);
  }
  key(0x6c);
  link(left);
  return out.subarray(0, at);
}
