// Walks an MST from untrusted blocks and lists its leaves in key order, checking what the reference client does not
// (@atproto/repo's MST infers a node's layer from its first key and checks neither heights nor order): the node shape,
// prefix decompression, strictly increasing keys across the whole tree, every key of a node at that node's height,
// children exactly one layer down, no missing node or record block, bounded depth and entries. With the canonical
// encoding readNode and entryKey ask for (dag-cbor links between nodes, the whole common prefix) and no empty node at
// the top (a root with only `l`) or bottom (a node with nothing below the root), these leave one tree for a key set:
// the one the spec lays out, so a root CID commits to its content one way only. A failure is a SkytideError with
// reason invalid_mst or missing_block.
//
// The leaves are bounded by a budget of bytes (the caller passes the CAR's own size): keys are prefix-compressed in
// their nodes, so a node of 1,024 entries a few bytes each can name 1,024 keys of 1,024 characters, and a hostile
// repo of 11 MB made 200,000 leaves that took 200 MB of heap. Real repos' leaves take a fifth of their CAR or less.
// The record bytes the leaves reference are bounded too (`maxRecordBytes`): a block is stored once per CID, so one
// record of 1 MB under 3,000 leaves made a CAR of 1.2 MB whose records, each decoded for its leaf, took 3 GB.
import { SkytideError } from '../../errors.ts';
import { base32Multibase } from '../base32.ts';
import type { BlockMap } from '../car.ts';
import { keyHeightFast } from './key-height.ts';
import { emptyNodeView, readNode, type NodeView } from './node.ts';
import { entryKey } from './node-key.ts';

export const MAX_MST_DEPTH = 64;

/**
 * The leaves, as two parallel lists rather than an object per leaf: a repo's leaves live until its last record is
 * indexed, and long-lived small objects were what garbage collection spent its time on (npm run bench, verify).
 */
export interface MstLeaves {
  keys: string[];
  /** The index in the BlockMap of each leaf's record block. */
  blocks: number[];
}

const bad = (message: string) => new SkytideError('invalid_mst', message);

/** What a leaf costs beside its key's characters (one byte each): the string's header and its slot in both lists. */
export const LEAF_OVERHEAD_BYTES = 32;

/**
 * What the leaves' records may add up to, each counted once per leaf that names it, for a CAR of `carBytes`: a
 * multiple of the CAR (an honest repo names each record once, or a few identical small ones many times), and never
 * less than a floor, so a small repo of identical records passes.
 */
export function recordBytesBudget(carBytes: number): number {
  return Math.max(8 * carBytes, 64 * 1024 * 1024);
}

/**
 * Every leaf of the tree rooted at `rootCid` (CID bytes) in key order, with the checks above. Past `maxLeafBytes`
 * (each leaf its key's length plus LEAF_OVERHEAD_BYTES), or past `maxRecordBytes` of record blocks named by the
 * leaves (a block named twice counted twice), the walk stops with repo_too_large.
 */
export async function walkMst(rootCid: Uint8Array, blocks: BlockMap, maxLeafBytes = Number.POSITIVE_INFINITY, maxRecordBytes = Number.POSITIVE_INFINITY): Promise<MstLeaves> {
  const keys: string[] = [];
  const leafBlocks: number[] = [];
  let last: string | undefined;
  let leafBytes = 0;
  let recordBytes = 0;

  const missing = (bytes: Uint8Array, start: number, end: number, what: string) =>
    new SkytideError('missing_block', `${what} ${base32Multibase(bytes, start, end)} is not in the CAR`);
  // One reusable view per depth: a child is read while its parent's entries are still being walked.
  const views: NodeView[] = [];

  // NOTE: a plain recursive walk into arrays, not an async generator: per-leaf yields through nested generators
  // made garbage collection a third of a 100,000-record repo's verification time.
  async function visit(block: number, layer: number | undefined, depth: number): Promise<void> {
    if (depth > MAX_MST_DEPTH) throw new SkytideError('mst_too_large', `tree deeper than ${MAX_MST_DEPTH}`);
    const bytes = blocks.data(block);
    const node = (views[depth] ??= emptyNodeView());
    readNode(bytes, node);
    if (node.count === 0 && node.leftStart < 0 && depth > 0) throw bad('empty node below the root');
    // The spec: "the top of the tree must not be an empty node which only points to a sub-tree". Such a root is the
    // canonical tree under one more node: another root CID for the same keys.
    if (node.count === 0 && node.leftStart >= 0 && depth === 0) throw bad('the root has no entries and only points to a subtree: the top of the tree is not trimmed');
    // Keys of this node, decompressed against the previous key in the same node.
    const nodeKeys: string[] = [];
    let prev = '';
    for (let i = 0; i < node.count; i++) {
      const key = entryKey(bytes, node, i, prev);
      // Counted as each key is made, before it is hashed or kept.
      leafBytes += key.length + LEAF_OVERHEAD_BYTES;
      if (leafBytes > maxLeafBytes) throw new SkytideError('repo_too_large', `the MST's leaves, their keys expanded, take more than ${maxLeafBytes} bytes`);
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
    if (childLayer !== undefined && childLayer < 0) {
      let subtrees = node.leftStart >= 0;
      for (let i = 0; i < node.count; i++) subtrees ||= node.rightStart[i]! >= 0;
      if (subtrees) throw bad('a layer-0 node has subtrees');
    }
    const child = (start: number, end: number) => {
      const at = blocks.indexOf(bytes, start, end);
      if (at < 0) throw missing(bytes, start, end, 'MST node');
      return at;
    };
    if (node.leftStart >= 0) await visit(child(node.leftStart, node.leftEnd), childLayer, depth + 1);
    for (let i = 0; i < nodeKeys.length; i++) {
      const key = nodeKeys[i]!;
      if (last !== undefined && key <= last) throw bad(`keys out of order: ${key} after ${last}`);
      last = key;
      const record = blocks.indexOf(bytes, node.valueStart[i]!, node.valueEnd[i]!);
      if (record < 0) throw missing(bytes, node.valueStart[i]!, node.valueEnd[i]!, `record ${key}`);
      recordBytes += blocks.data(record).length;
      if (recordBytes > maxRecordBytes) throw new SkytideError('repo_too_large', `the MST's leaves name more than ${maxRecordBytes} bytes of records (a block named by many leaves counts for each)`);
      keys.push(key);
      leafBlocks.push(record);
      if (node.rightStart[i]! >= 0) await visit(child(node.rightStart[i]!, node.rightEnd[i]!), childLayer, depth + 1);
    }
  }

  const root = blocks.indexOf(rootCid);
  if (root < 0) throw missing(rootCid, 0, rootCid.length, 'MST node');
  await visit(root, undefined, 0);
  return { keys, blocks: leafBlocks };
}
