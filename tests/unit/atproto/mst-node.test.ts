// readNode: an MST node's exact layout read into offsets, and every way a node can be malformed named as invalid_mst.
import { describe, expect, it } from 'vitest';
import { encode as cborgEncode } from 'cborg';
import { CID } from 'multiformats/cid';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { emptyNodeView, encodeNode, readNode } from '../../../functions/atproto/mst/node.ts';
import { SkytideError } from '../../../functions/errors.ts';

const LEAF = CID.parse('bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm');
const CHILD = CID.parse('bafyreib2rxk3rh6kzwq6r3nmb4lzd5qzpqcuwcvmvmryfiub3iowyqbsgy');
const RAW_CHILD = CID.createV1(0x55, CHILD.multihash);
const key = (s: string) => new TextEncoder().encode(s);
const node = (e: unknown[], l: unknown = null) => encodeCbor({ e, l });
const entry = (k: string, p: number, v: unknown = LEAF, t: unknown = null) => ({ k: key(k), p, t, v });

function read(bytes: Uint8Array) {
  const view = emptyNodeView();
  readNode(bytes, view);
  return view;
}

function reason(bytes: Uint8Array): string {
  try {
    read(bytes);
    return 'ok';
  } catch (err) {
    return err instanceof SkytideError ? `${err.reason}: ${err.message}` : String(err);
  }
}

describe('readNode', () => {
  it('reads keys, prefixes and links as offsets into the block', () => {
    const bytes = node([entry('app.bsky.feed.post/3jqfcqzm3fo2j', 0), entry('4', 30, LEAF, CHILD)], CHILD);
    const view = read(bytes);
    expect(view.count).toBe(2);
    expect(new TextDecoder().decode(bytes.subarray(view.keyStart[0], view.keyEnd[0]))).toBe('app.bsky.feed.post/3jqfcqzm3fo2j');
    expect(view.prefix.slice(0, 2)).toEqual([0, 30]);
    expect(CID.decode(bytes.subarray(view.valueStart[1], view.valueEnd[1])).equals(LEAF)).toBe(true);
    expect(view.rightStart[0]).toBe(-1);
    expect(CID.decode(bytes.subarray(view.rightStart[1], view.rightEnd[1])).equals(CHILD)).toBe(true);
    expect(CID.decode(bytes.subarray(view.leftStart, view.leftEnd)).equals(CHILD)).toBe(true);
    expect(read(node([])).count).toBe(0);
    expect(read(node([entry('a/b', 0, RAW_CHILD)])).count).toBe(1);
  });

  it('rejects every departure from the layout with invalid_mst', () => {
    const ok = node([entry('a/b', 0)]);
    const cases: [string, Uint8Array, RegExp][] = [
      ['`t` omitted', encodeCbor({ e: [{ k: key('a/b'), p: 0, v: LEAF }], l: null }), /an entry is not a map of k, p, t and v/],
      ['`l` omitted', encodeCbor({ e: [entry('a/b', 0)] }), /not a map of e and l/],
      ['an extra field', encodeCbor({ e: [entry('a/b', 0)], l: null, x: 1 }), /not a map of e and l/],
      ['keys out of canonical order', cborgEncode({ l: null, e: [] }, { mapSorter: () => 0 }), /expected key "e"/],
      ['`v` null', node([entry('a/b', 0, null)]), /entry `v` is null/],
      ['`k` a string', encodeCbor({ e: [{ k: 'a/b', p: 0, t: null, v: LEAF }], l: null }), /entry `k` has the wrong type/],
      ['`p` negative', node([entry('a/b', -1)]), /entry `p` has the wrong type/],
      ['a link that is not CIDv1 dag-cbor/raw', node([entry('a/b', 0, CID.parse('QmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n'))]), /not a CIDv1/],
      // Links between nodes are dag-cbor only (the spec's CID Formats); a record link may be raw (below).
      ['`t` a raw link', node([entry('a/b', 0, LEAF, RAW_CHILD)]), /entry `t` is not a dag-cbor link/],
      ['`l` a raw link', node([entry('a/b', 0)], RAW_CHILD), /node `l` is not a dag-cbor link/],
      ['bytes after the node', Uint8Array.from([...ok, 0x00]), /bytes after the node/],
      ['truncated', ok.subarray(0, ok.length - 3), /truncated/],
      ['a length not in its shortest form', Uint8Array.from([0xa2, 0x61, 0x65, 0x98, 0x00, 0x61, 0x6c, 0xf6]), /shortest/],
    ];
    for (const [name, bytes, message] of cases) {
      const got = reason(bytes);
      expect(got, name).toMatch(/^invalid_mst: /);
      expect(got, name).toMatch(message);
    }
    // A node wider than any real one is the named limit's own reason (issue 13).
    expect(reason(node(Array.from({ length: 1025 }, (_, i) => entry(`a/${i}`, 0))))).toMatch(/^mst_too_large: .*over 1024/);
  });
});

describe('encodeNode', () => {
  it('writes exactly what the general DAG-CBOR encoder writes, for every shape, and reads back', () => {
    const shapes: { left: CID | null; entries: { k: string; p: number; v: CID; t: CID | null }[] }[] = [
      { left: null, entries: [] },
      { left: CHILD, entries: [] },
      { left: CHILD, entries: [{ k: 'app.bsky.feed.post/3jqfcqzm3fo2j', p: 0, v: LEAF, t: CHILD }] },
      { left: null, entries: [{ k: 'a'.repeat(300), p: 0, v: LEAF, t: null }, { k: 'x', p: 299, v: CHILD, t: LEAF }] },
      { left: null, entries: Array.from({ length: 40 }, (_, i) => ({ k: `k${i}`, p: i, v: LEAF, t: i % 2 === 0 ? CHILD : null })) },
    ];
    for (const { left, entries } of shapes) {
      const ours = encodeNode(left?.bytes ?? null, entries.map((e) => ({ p: e.p, k: key(e.k), v: e.v.bytes, t: e.t?.bytes ?? null })));
      expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(node(entries.map((e) => entry(e.k, e.p, e.v, e.t)), left)).toString('hex'));
      expect(read(ours).count).toBe(entries.length);
    }
  });
});
