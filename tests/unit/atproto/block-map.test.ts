// BlockMap: blocks by CID over one or several segments, through table growth, duplicates and CIDs that share their
// last bytes.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BlockMap } from '../../../functions/atproto/car.ts';

/** A buffer of `count` fake blocks: a 36-byte CIDv1 then 4 data bytes holding the block's number. */
function layout(count: number, cidOf: (i: number) => Uint8Array, first = 0) {
  const buffer = new Uint8Array(count * 40);
  for (let i = 0; i < count; i++) {
    buffer.set(cidOf(first + i), i * 40);
    new DataView(buffer.buffer).setUint32(i * 40 + 36, first + i);
  }
  return buffer;
}
const cidv1 = (digest: Uint8Array) => Uint8Array.from([0x01, 0x71, 0x12, 0x20, ...digest]);
const numberIn = (data: Uint8Array) => new DataView(data.slice().buffer).getUint32(0);

describe('BlockMap', () => {
  it('finds every block across segments after the table grew many times, and nothing else', () => {
    const cids = Array.from({ length: 5000 }, () => cidv1(randomBytes(32)));
    const map = new BlockMap();
    for (const [first, count] of [[0, 1000], [1000, 4000]] as const) {
      const segment = map.addSegment(layout(count, (i) => cids[i]!, first));
      for (let i = 0; i < count; i++) expect(map.add(segment, i * 40, i * 40 + 36, i * 40 + 40)).toBe(true);
    }
    expect(map.size).toBe(5000);
    for (let i = 0; i < cids.length; i += 97) {
      expect(numberIn(map.get(cids[i]!)!)).toBe(i);
      expect(map.cid(map.indexOf(cids[i]!))).toEqual(cids[i]);
    }
    expect(map.get(cidv1(randomBytes(32)))).toBeUndefined();
    expect(map.get(new Uint8Array(3))).toBeUndefined();
  });

  it('keeps the first copy of a CID seen twice', () => {
    const cid = cidv1(randomBytes(32));
    const map = new BlockMap();
    const segment = map.addSegment(layout(2, () => cid));
    expect(map.add(segment, 0, 36, 40)).toBe(true);
    expect(map.add(segment, 40, 76, 80)).toBe(false);
    expect(map.size).toBe(1);
    expect(numberIn(map.get(cid)!)).toBe(0);
  });

  it('tells apart CIDs that differ only before their last 16 bytes', () => {
    const tail = randomBytes(16);
    const cids = Array.from({ length: 300 }, () => cidv1(Uint8Array.from([...randomBytes(16), ...tail])));
    const map = new BlockMap();
    const segment = map.addSegment(layout(cids.length, (i) => cids[i]!));
    for (let i = 0; i < cids.length; i++) map.add(segment, i * 40, i * 40 + 36, i * 40 + 40);
    expect(cids.map((c) => map.indexOf(c))).toEqual(cids.map((_, i) => i));
  });
});
