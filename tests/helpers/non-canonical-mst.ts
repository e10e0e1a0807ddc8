// MSTs that hold a sound key set in a shape the repository spec forbids, hand-encoded with skytide's own DAG-CBOR and
// CID helpers: what a hostile or buggy PDS could sign. Each comes with the canonical tree of the same keys, so a test
// can show the canonical one accepted and the other refused. Keys are `app.bsky.feed.post/…` picked by height:
// `a` and `b` at height 0 sharing a long prefix, `c` at height 1 after them, so the canonical tree of {a, b, c} is a
// layer-1 root holding `c` whose `l` is a layer-0 node holding `a` and `b`.
import { CID } from 'multiformats/cid';
import * as raw from 'multiformats/codecs/raw';
import { keyHeightFast } from '../../functions/atproto/mst/key-height.ts';
import { block } from './frames.ts';

export type Shape = 'canonical' | 'non-minimal prefix' | 'raw-codec link' | 'root only a pointer';

export interface HandMadeTree {
  /** The MST root (the commit's `data`). */
  root: CID;
  /** Every MST node and record block, as a CAR holds them. */
  blocks: { cid: CID; bytes: Uint8Array }[];
  /** The tree's keys and their record CIDs, in key order. */
  leaves: { key: string; cid: CID }[];
}

function pickKeys(): { a: string; b: string; c: string } {
  const zero: string[] = [];
  for (let i = 0; ; i++) {
    const key = `app.bsky.feed.post/3l3qo2vuowo${i.toString(36).padStart(4, '0')}`;
    const h = keyHeightFast(key) as number;
    if (h === 0 && zero.length < 2) zero.push(key);
    else if (h === 1 && zero.length === 2) return { a: zero[0]!, b: zero[1]!, c: key };
  }
}

export const KEYS = pickKeys();

interface EntryIn {
  key: string;
  v: CID;
  t?: CID | null;
  /** The prefix length written; the true common prefix with the previous key when absent. */
  p?: number;
}

async function node(entries: EntryIn[], l: CID | null): Promise<{ cid: CID; bytes: Uint8Array }> {
  let prev = '';
  const e = entries.map((x) => {
    let common = 0;
    while (common < prev.length && prev[common] === x.key[common]) common++;
    const p = x.p ?? common;
    prev = x.key;
    return { k: new TextEncoder().encode(x.key.slice(p)), p, t: x.t ?? null, v: x.v };
  });
  return block({ e, l });
}

/**
 * The tree of `shape`:
 * - canonical: {a, b, c} as the spec lays it out;
 * - non-minimal prefix: {a, b} in one node, `b` written with p = 0 and its whole key (the spec's compaction is
 *   mandatory: p is the whole common prefix);
 * - raw-codec link: {a, b, c} canonical but for the root's `l`, a raw (0x55) CID of the child node (MST links must
 *   be dag-cbor: "the entire MST data structure invalid");
 * - root only a pointer: {a, b} under a root with no entries whose `l` is the node of a and b ("the top of the tree
 *   must not be an empty node which only points to a sub-tree").
 */
export async function handMadeTree(shape: Shape): Promise<HandMadeTree> {
  const keys = shape === 'canonical' || shape === 'raw-codec link' ? [KEYS.a, KEYS.b, KEYS.c] : [KEYS.a, KEYS.b];
  const records = await Promise.all(keys.map((key) => block({ $type: 'app.bsky.feed.post', text: key, createdAt: '2026-01-01T00:00:00.000Z' })));
  const leaves = keys.map((key, i) => ({ key, cid: records[i]!.cid }));
  const [a, b, c] = leaves;
  const blocks = [...records];
  if (shape === 'non-minimal prefix') {
    const only = await node([{ key: a!.key, v: a!.cid }, { key: b!.key, v: b!.cid, p: 0 }], null);
    return { root: only.cid, blocks: [only, ...blocks], leaves };
  }
  const child = await node([{ key: a!.key, v: a!.cid }, { key: b!.key, v: b!.cid }], null);
  if (shape === 'root only a pointer') {
    const top = await node([], child.cid);
    return { root: top.cid, blocks: [top, child, ...blocks], leaves };
  }
  // For the raw-codec link, the child's bytes under a raw CID: the block still hashes to it, only the codec differs.
  const left = shape === 'raw-codec link' ? CID.createV1(raw.code, child.cid.multihash) : child.cid;
  blocks.push({ cid: left, bytes: child.bytes });
  const top = await node([{ key: c!.key, v: c!.cid }], left);
  return { root: top.cid, blocks: [top, ...blocks], leaves };
}
