// A persistent Merkle Search Tree over possibly partial blocks (repository spec; sync 1.1 inversion). Subtrees not
// touched stay as their CIDs, so a commit's covering proof is enough to add, update and delete its keys and compute
// the new root. Every operation returns a new tree; nodes are encoded only when a root CID is asked for.
import { SkytideError } from '../../errors.ts';
import { CidLink } from '../cid-link.ts';
import { cidBytesForCbor } from '../cid.ts';
import { keyHeightFast } from './key-height.ts';
import { emptyNodeView, encodeNode, readNode, type NodeEntryOut } from './node.ts';
import { entryKey } from './node-key.ts';

export type GetBlock = (cid: CidLink) => Uint8Array | undefined;

interface Leaf {
  kind: 'leaf';
  key: string;
  value: CidLink;
}

/** A subtree: a node already loaded (or built), or only its CID until something needs to look inside. */
interface Tree {
  kind: 'tree';
  cid?: CidLink;
  node?: MstNode;
}

interface MstNode {
  layer: number;
  /** Subtrees and leaves in key order; never two subtrees side by side. */
  items: (Leaf | Tree)[];
}

const bad = (message: string) => new SkytideError('invalid_mst', message);
const encoder = new TextEncoder();
/** The reader's view, reused from node to node: each is copied out before anything awaits. */
const view = emptyNodeView();

async function height(key: string): Promise<number> {
  const h = keyHeightFast(key);
  return typeof h === 'number' ? h : await h;
}

export class Mst {
  readonly #getBlock: GetBlock;
  readonly #root: MstNode;

  private constructor(getBlock: GetBlock, root: MstNode) {
    this.#getBlock = getBlock;
    this.#root = root;
  }

  static empty(getBlock: GetBlock = () => undefined): Mst {
    return new Mst(getBlock, { layer: 0, items: [] });
  }

  static async load(root: CidLink, getBlock: GetBlock): Promise<Mst> {
    const mst = new Mst(getBlock, { layer: 0, items: [] });
    return new Mst(getBlock, await mst.#load({ kind: 'tree', cid: root }, undefined));
  }

  async #load(tree: Tree, layer: number | undefined): Promise<MstNode> {
    if (tree.node !== undefined) return tree.node;
    const cid = tree.cid!;
    const bytes = this.#getBlock(cid);
    if (bytes === undefined) throw new SkytideError('missing_block', `MST node ${cid.toString()} is not in the blocks`);
    // The strict reader walk.ts uses: a block that is not exactly an MST node is invalid_mst, never a crash. Every
    // entry is copied out of the shared view before the first await (heights may hash asynchronously).
    readNode(bytes, view);
    const items: (Leaf | Tree)[] = [];
    const keys: string[] = [];
    if (view.leftStart >= 0) items.push({ kind: 'tree', cid: new CidLink(bytes.subarray(view.leftStart, view.leftEnd)) });
    let prev = '';
    for (let i = 0; i < view.count; i++) {
      // The rules walk.ts applies to whole repos: a valid key, the whole common prefix.
      const key = entryKey(bytes, view, i, prev);
      if (i > 0 && key <= prev) throw bad(`keys out of order in a node: ${key} after ${prev}`);
      keys.push(key);
      items.push({ kind: 'leaf', key, value: new CidLink(bytes.subarray(view.valueStart[i]!, view.valueEnd[i]!)) });
      if (view.rightStart[i]! >= 0) items.push({ kind: 'tree', cid: new CidLink(bytes.subarray(view.rightStart[i]!, view.rightEnd[i]!)) });
      prev = key;
    }
    if (items.length === 0 && layer !== undefined) throw bad('empty node below the root');
    // Only the root is loaded without a layer. As in walk.ts (the spec: the top of the tree is trimmed), a root with
    // no keys is the empty tree, never a pointer to one subtree: the producer's own tree has another root CID.
    if (layer === undefined && keys.length === 0 && items.length > 0) throw bad('the root has no entries and only points to a subtree: the top of the tree is not trimmed');
    let nodeLayer = layer;
    for (const key of keys) {
      const h = await height(key);
      if (nodeLayer === undefined) nodeLayer = h;
      else if (h !== nodeLayer) throw bad(`key ${key} at height ${h} in a node of layer ${nodeLayer}`);
    }
    if (nodeLayer !== undefined && nodeLayer < 0) throw bad('a node below layer 0');
    if (nodeLayer === 0 && items.length !== keys.length) throw bad('a layer-0 node has subtrees');
    const node: MstNode = { layer: nodeLayer ?? 0, items };
    tree.node = node;
    return node;
  }

  /** The layer of the root: the height of its keys (0 for the empty tree). */
  async #rootLayer(): Promise<number> {
    return this.#root.layer;
  }

  async add(key: string, value: CidLink): Promise<Mst> {
    const h = await height(key);
    let root = this.#root;
    if (root.items.length === 0) root = { layer: h, items: [] };
    // A key above the root grows the tree: the old root becomes the only child of each new layer.
    while (h > root.layer) root = { layer: root.layer + 1, items: root.items.length === 0 ? [] : [{ kind: 'tree', node: root }] };
    return new Mst(this.#getBlock, await this.#insert(root, key, value, h));
  }

  async #insert(node: MstNode, key: string, value: CidLink, h: number): Promise<MstNode> {
    const items = [...node.items];
    const i = this.#slot(items, key);
    if (i.leafIndex !== undefined) throw bad(`key ${key} is already in the tree`);
    if (h === node.layer) {
      // The subtree spanning this key's slot is split around it.
      const at = i.treeIndex ?? i.insertAt;
      let left: MstNode | undefined;
      let right: MstNode | undefined;
      if (i.treeIndex !== undefined) [left, right] = await this.#split(items[i.treeIndex] as Tree, key, node.layer - 1);
      const replacement: (Leaf | Tree)[] = [];
      if (left !== undefined) replacement.push({ kind: 'tree', node: left });
      replacement.push({ kind: 'leaf', key, value });
      if (right !== undefined) replacement.push({ kind: 'tree', node: right });
      items.splice(at, i.treeIndex !== undefined ? 1 : 0, ...replacement);
      return { layer: node.layer, items };
    }
    // Lower: descend into the subtree of this slot, or start one.
    const child = i.treeIndex !== undefined ? await this.#load(items[i.treeIndex] as Tree, node.layer - 1) : { layer: node.layer - 1, items: [] };
    const updated = await this.#insert(child, key, value, h);
    if (i.treeIndex !== undefined) items[i.treeIndex] = { kind: 'tree', node: updated };
    else items.splice(i.insertAt, 0, { kind: 'tree', node: updated });
    return { layer: node.layer, items };
  }

  /** Splits a subtree into the keys below `key` and the keys above it; undefined for an empty side. */
  async #split(tree: Tree, key: string, layer: number): Promise<[MstNode | undefined, MstNode | undefined]> {
    const node = await this.#load(tree, layer);
    const i = this.#slot(node.items, key);
    const at = i.treeIndex ?? i.insertAt;
    let left = node.items.slice(0, at);
    let right = node.items.slice(i.treeIndex !== undefined ? at + 1 : at);
    if (i.treeIndex !== undefined) {
      const [sl, sr] = await this.#split(node.items[i.treeIndex] as Tree, key, layer - 1);
      if (sl !== undefined) left = [...left, { kind: 'tree', node: sl }];
      if (sr !== undefined) right = [{ kind: 'tree', node: sr }, ...right];
    }
    return [left.length === 0 ? undefined : { layer, items: left }, right.length === 0 ? undefined : { layer, items: right }];
  }

  async update(key: string, value: CidLink): Promise<Mst> {
    return new Mst(this.#getBlock, await this.#replace(this.#root, key, value, await height(key)));
  }

  async #replace(node: MstNode, key: string, value: CidLink, h: number): Promise<MstNode> {
    const items = [...node.items];
    const i = this.#slot(items, key);
    if (h === node.layer) {
      if (i.leafIndex === undefined) throw bad(`key ${key} is not in the tree`);
      items[i.leafIndex] = { kind: 'leaf', key, value };
      return { layer: node.layer, items };
    }
    if (i.treeIndex === undefined) throw bad(`key ${key} is not in the tree`);
    items[i.treeIndex] = { kind: 'tree', node: await this.#replace(await this.#load(items[i.treeIndex] as Tree, node.layer - 1), key, value, h) };
    return { layer: node.layer, items };
  }

  async delete(key: string): Promise<Mst> {
    let root = await this.#remove(this.#root, key, await height(key));
    // A root left with no leaves and one child is trimmed to that child, layer by layer.
    while (root.items.length === 1 && root.items[0]!.kind === 'tree') root = await this.#load(root.items[0] as Tree, root.layer - 1);
    return new Mst(this.#getBlock, root);
  }

  async #remove(node: MstNode, key: string, h: number): Promise<MstNode> {
    const items = [...node.items];
    const i = this.#slot(items, key);
    if (h === node.layer) {
      if (i.leafIndex === undefined) throw bad(`key ${key} is not in the tree`);
      const before = items[i.leafIndex - 1];
      const after = items[i.leafIndex + 1];
      // The subtrees on both sides of the removed key merge into one.
      if (before?.kind === 'tree' && after?.kind === 'tree') {
        const merged = await this.#merge(before, after, node.layer - 1);
        items.splice(i.leafIndex - 1, 3, { kind: 'tree', node: merged });
      } else items.splice(i.leafIndex, 1);
      return { layer: node.layer, items };
    }
    if (i.treeIndex === undefined) throw bad(`key ${key} is not in the tree`);
    const child = await this.#remove(await this.#load(items[i.treeIndex] as Tree, node.layer - 1), key, h);
    if (child.items.length === 0) items.splice(i.treeIndex, 1);
    else items[i.treeIndex] = { kind: 'tree', node: child };
    return { layer: node.layer, items };
  }

  async #merge(a: Tree, b: Tree, layer: number): Promise<MstNode> {
    const left = await this.#load(a, layer);
    const right = await this.#load(b, layer);
    const last = left.items.at(-1);
    const first = right.items[0];
    if (last?.kind === 'tree' && first?.kind === 'tree') {
      const merged = await this.#merge(last, first, layer - 1);
      return { layer, items: [...left.items.slice(0, -1), { kind: 'tree', node: merged }, ...right.items.slice(1)] };
    }
    return { layer, items: [...left.items, ...right.items] };
  }

  /** Where `key` sits among a node's items: its leaf, the subtree spanning it, or the index to insert at. */
  #slot(items: readonly (Leaf | Tree)[], key: string): { leafIndex?: number; treeIndex?: number; insertAt: number } {
    let i = 0;
    while (i < items.length) {
      const item = items[i]!;
      if (item.kind === 'leaf') {
        if (item.key === key) return { leafIndex: i, insertAt: i };
        if (item.key > key) break;
      }
      i++;
    }
    // `i` is the first leaf above the key (or the end); a subtree right before it spans the key.
    if (i > 0 && items[i - 1]!.kind === 'tree') return { treeIndex: i - 1, insertAt: i - 1 };
    return { insertAt: i };
  }

  /** The root CID, encoding every node that changed; `blocks` receives each encoded node. */
  async rootCid(blocks?: Map<string, Uint8Array>): Promise<CidLink> {
    return this.#encode(this.#root, blocks);
  }

  async #encode(node: MstNode, blocks: Map<string, Uint8Array> | undefined): Promise<CidLink> {
    const cidOf = async (t: Tree) => (t.node === undefined ? t.cid! : await this.#encode(t.node, blocks));
    let l: Uint8Array | null = null;
    const e: NodeEntryOut[] = [];
    let prev = '';
    for (let i = 0; i < node.items.length; i++) {
      const item = node.items[i]!;
      if (item.kind === 'tree') {
        const cid = (await cidOf(item)).bytes;
        if (e.length === 0) l = cid;
        else e[e.length - 1]!.t = cid;
        continue;
      }
      let p = 0;
      while (p < prev.length && p < item.key.length && prev[p] === item.key[p]) p++;
      e.push({ p, k: encoder.encode(item.key.slice(p)), v: item.value.bytes, t: null });
      prev = item.key;
    }
    const bytes = encodeNode(l, e);
    const made = cidBytesForCbor(bytes);
    const cid = new CidLink(made instanceof Uint8Array ? made : await made);
    blocks?.set(cid.toString(), bytes);
    return cid;
  }

  /** The value under `key`, or undefined when the key is absent. Needs only the blocks on the key's path. */
  async get(key: string): Promise<CidLink | undefined> {
    const h = await height(key);
    let node = this.#root;
    for (;;) {
      const i = this.#slot(node.items, key);
      if (i.leafIndex !== undefined) return (node.items[i.leafIndex] as Leaf).value;
      if (i.treeIndex === undefined || node.layer <= h) return undefined;
      node = await this.#load(node.items[i.treeIndex] as Tree, node.layer - 1);
    }
  }

  async layer(): Promise<number> {
    return this.#rootLayer();
  }
}
