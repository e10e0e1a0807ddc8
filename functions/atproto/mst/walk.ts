// Walks an MST from untrusted blocks and lists its leaves in key order, checking what the reference client does not
// (atproto-reference.md 2.4): the node shape, prefix decompression, strictly increasing keys across the whole tree,
// every key of a node at that node's height, children exactly one layer down, no missing node or record block,
// bounded depth and entries. A failure is a SkytideError with reason invalid_mst or missing_block.
import { decode, BytesWrapper, CidLinkWrapper } from '@atcute/cbor';
import { decodeUtf8From } from '@atcute/uint8array';
import { SkytideError } from '../../errors.ts';
import { base32Multibase } from '../base32.ts';
import type { BlockMap } from '../car.ts';
import { keyHeightFast } from './key-height.ts';

export const MAX_MST_DEPTH = 64;
export const MAX_NODE_ENTRIES = 1024;

/**
 * The leaves, as two parallel lists rather than an object per leaf: a repo's leaves live until its last record is
 * indexed, and long-lived small objects were what garbage collection spent its time on (npm run bench, verify).
 */
export interface MstLeaves {
  keys: string[];
  /** The index in the BlockMap of each leaf's record block. */
  blocks: number[];
}

interface NodeEntry {
  p: number;
  k: Uint8Array;
  v: Uint8Array;
  t: Uint8Array | null;
}

const bad = (message: string) => new SkytideError('invalid_mst', message);

/** A link field: a CID's bytes, or null when absent. NOTE: read from @atcute/cbor's wrappers directly; nodes are
 * short-lived, so converting them first (fast-cbor.ts) would only add garbage. */
function link(value: unknown, what: string): Uint8Array | null {
  if (value === null || value === undefined) return null;
  if (value instanceof CidLinkWrapper) return value.bytes;
  throw bad(`${what} is not a link`);
}

function readNode(bytes: Uint8Array): { l: Uint8Array | null; e: NodeEntry[] } {
  let node: { l?: unknown; e?: unknown };
  try {
    node = decode(bytes) as { l?: unknown; e?: unknown };
  } catch (err) {
    throw bad(`node does not decode: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof node !== 'object' || node === null || Array.isArray(node)) throw bad('node is not a map');
  const l = link(node.l, 'node `l`');
  if (!Array.isArray(node.e)) throw bad('node `e` is not an array');
  if (node.e.length > MAX_NODE_ENTRIES) throw bad(`node has ${node.e.length} entries, over ${MAX_NODE_ENTRIES}`);
  const e = (node.e as unknown[]).map((raw): NodeEntry => {
    if (typeof raw !== 'object' || raw === null) throw bad('entry is not a map');
    const entry = raw as { p?: unknown; k?: unknown; v?: unknown; t?: unknown };
    if (typeof entry.p !== 'number' || !Number.isInteger(entry.p) || entry.p < 0) throw bad('entry `p` is not a count');
    if (!(entry.k instanceof BytesWrapper)) throw bad('entry `k` is not bytes');
    const v = link(entry.v, 'entry `v`');
    if (v === null) throw bad('entry `v` is not a link');
    return { p: entry.p, k: entry.k.buf, v, t: link(entry.t, 'entry `t`') };
  });
  return { l, e };
}

/** Every leaf of the tree rooted at `root` (CID bytes) in key order, with the checks above. */
export async function walkMst(root: Uint8Array, blocks: BlockMap): Promise<MstLeaves> {
  const keys: string[] = [];
  const leafBlocks: number[] = [];
  let last: string | undefined;

  const missing = (cid: Uint8Array, what: string) => new SkytideError('missing_block', `${what} ${base32Multibase(cid)} is not in the CAR`);

  // NOTE: a plain recursive walk into arrays, not an async generator: per-leaf yields through nested generators
  // made garbage collection a third of a 100,000-record repo's verification time.
  async function visit(cid: Uint8Array, layer: number | undefined, depth: number): Promise<void> {
    if (depth > MAX_MST_DEPTH) throw bad(`tree deeper than ${MAX_MST_DEPTH}`);
    const at = blocks.indexOf(cid);
    if (at < 0) throw missing(cid, 'MST node');
    const node = readNode(blocks.data(at));
    if (node.e.length === 0 && node.l === null && depth > 0) throw bad('empty node below the root');
    // Keys of this node, decompressed against the previous key in the same node.
    const nodeKeys: string[] = [];
    let prev = '';
    for (const entry of node.e) {
      if (entry.p > prev.length) throw bad('prefix longer than the previous key');
      let suffix: string;
      try {
        suffix = decodeUtf8From(entry.k, 0, entry.k.length);
      } catch {
        throw bad('a key is not UTF-8');
      }
      const key = prev.slice(0, entry.p) + suffix;
      nodeKeys.push(key);
      prev = key;
    }
    let nodeLayer = layer;
    for (const key of nodeKeys) {
      const h = keyHeightFast(key);
      const height = typeof h === 'number' ? h : await h;
      if (nodeLayer === undefined) nodeLayer = height;
      else if (height !== nodeLayer) throw bad(`key ${key} has height ${height} in a node of layer ${nodeLayer}`);
    }
    const childLayer = nodeLayer === undefined ? undefined : nodeLayer - 1;
    if (childLayer !== undefined && childLayer < 0 && (node.l !== null || node.e.some((x) => x.t !== null))) {
      throw bad('a layer-0 node has subtrees');
    }
    if (node.l !== null) await visit(node.l, childLayer, depth + 1);
    for (let i = 0; i < node.e.length; i++) {
      const key = nodeKeys[i]!;
      if (last !== undefined && key <= last) throw bad(`keys out of order: ${key} after ${last}`);
      last = key;
      const entry = node.e[i]!;
      const record = blocks.indexOf(entry.v);
      if (record < 0) throw missing(entry.v, `record ${key}`);
      keys.push(key);
      leafBlocks.push(record);
      if (entry.t !== null) await visit(entry.t, childLayer, depth + 1);
    }
  }

  await visit(root, undefined, 0);
  return { keys, blocks: leafBlocks };
}
