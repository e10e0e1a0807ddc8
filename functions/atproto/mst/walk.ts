// Walks an MST from untrusted blocks and yields its leaves in key order, checking what the reference client does not
// (atproto-reference.md 2.4): the node shape, prefix decompression, strictly increasing keys across the whole tree,
// every key of a node at that node's height, children exactly one layer down, no missing node, bounded depth and
// entries. A failure is a SkytideError with reason invalid_mst or missing_block.
import { SkytideError } from '../../errors.ts';
import { CidLink } from '../cid-link.ts';
import { decodeCborFast } from '../fast-cbor.ts';
import { keyHeightFast } from './key-height.ts';

export const MAX_MST_DEPTH = 64;
export const MAX_NODE_ENTRIES = 1024;

export interface MstLeaf {
  key: string;
  cid: CidLink;
}

export type BlockGetter = (cid: CidLink) => Uint8Array | undefined;

interface NodeEntry {
  p: number;
  k: Uint8Array;
  v: CidLink;
  t: CidLink | null;
}

const bad = (message: string) => new SkytideError('invalid_mst', message);

function readNode(bytes: Uint8Array): { l: CidLink | null; e: NodeEntry[] } {
  const node = decodeCborFast(bytes) as { l?: unknown; e?: unknown };
  if (typeof node !== 'object' || node === null) throw bad('node is not a map');
  const l = node.l === null || node.l === undefined ? null : node.l;
  if (l !== null && !(l instanceof CidLink)) throw bad('node `l` is not a link');
  if (!Array.isArray(node.e)) throw bad('node `e` is not an array');
  if (node.e.length > MAX_NODE_ENTRIES) throw bad(`node has ${node.e.length} entries, over ${MAX_NODE_ENTRIES}`);
  const e = node.e.map((raw: unknown) => {
    const entry = raw as { p?: unknown; k?: unknown; v?: unknown; t?: unknown };
    if (typeof entry.p !== 'number' || !Number.isInteger(entry.p) || entry.p < 0) throw bad('entry `p` is not a count');
    if (!(entry.k instanceof Uint8Array)) throw bad('entry `k` is not bytes');
    if (!(entry.v instanceof CidLink)) throw bad('entry `v` is not a link');
    const t = entry.t === null || entry.t === undefined ? null : entry.t;
    if (t !== null && !(t instanceof CidLink)) throw bad('entry `t` is not a link');
    return { p: entry.p, k: entry.k, v: entry.v, t };
  });
  return { l, e };
}

/** Every leaf of the tree in key order (see the checks above). */
export async function walkMst(root: CidLink, getBlock: BlockGetter): Promise<MstLeaf[]> {
  const leaves: MstLeaf[] = [];
  const decoder = new TextDecoder('utf-8', { fatal: false });

  // NOTE: a plain recursive walk into one array, not an async generator: per-leaf yields through nested generators
  // made garbage collection a third of a 100,000-record repo's verification time.
  async function visit(cid: CidLink, layer: number | undefined, depth: number): Promise<void> {
    if (depth > MAX_MST_DEPTH) throw bad(`tree deeper than ${MAX_MST_DEPTH}`);
    const bytes = getBlock(cid);
    if (bytes === undefined) throw new SkytideError('missing_block', `MST node ${cid.toString()} is not in the CAR`);
    const node = readNode(bytes);
    if (node.e.length === 0 && node.l === null && depth > 0) throw bad('empty node below the root');
    // Keys of this node, decompressed against the previous key in the same node.
    const keys: string[] = [];
    let prev = '';
    for (const entry of node.e) {
      if (entry.p > prev.length) throw bad('prefix longer than the previous key');
      const key = prev.slice(0, entry.p) + decoder.decode(entry.k);
      keys.push(key);
      prev = key;
    }
    let nodeLayer = layer;
    for (const key of keys) {
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
      const key = keys[i]!;
      const last = leaves.at(-1)?.key;
      if (last !== undefined && key <= last) throw bad(`keys out of order: ${key} after ${last}`);
      leaves.push({ key, cid: node.e[i]!.v });
      const right = node.e[i]!.t;
      if (right !== null) await visit(right, childLayer, depth + 1);
    }
  }

  await visit(root, undefined, 0);
  return leaves;
}
