// Mutators for the fuzzer (issue 13): generic byte damage (bit flips, interesting bytes, truncations, splices,
// insertions) and CBOR-aware damage (length fields that lie, deep nesting, duplicate map keys, non-canonical
// argument encodings and key orders). Deterministic from the Random they are given, so a run replays from its seed.
import type { Random } from '../helpers/seeded-random.ts';
import { scanCborItem } from '../../functions/atproto/cbor-scan.ts';

export type Mutator = (input: Uint8Array, r: Random, corpus: readonly Uint8Array[]) => Uint8Array;

const INTERESTING = [0x00, 0x01, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x40, 0x5f, 0x60, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xd8, 0x2a, 0xf4, 0xf5, 0xf6, 0xf7, 0xfb, 0xff];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Positions whose byte looks like a CBOR header of one of `majors` (a guess: any byte may be one). */
function headerAt(input: Uint8Array, r: Random, majors: readonly number[], maxInfo = 27): number {
  for (let tries = 0; tries < 16 && input.length > 0; tries++) {
    const p = r.int(0, input.length - 1);
    const b = input[p]!;
    if (majors.includes(b >> 5) && (b & 0x1f) <= maxInfo) return p;
  }
  return -1;
}

export const bitFlip: Mutator = (input, r) => {
  if (input.length === 0) return input;
  const out = input.slice();
  for (let i = r.int(1, 8); i > 0; i--) {
    const p = r.int(0, out.length - 1);
    out[p] = out[p]! ^ (1 << r.int(0, 7));
  }
  return out;
};

export const interestingByte: Mutator = (input, r) => {
  if (input.length === 0) return Uint8Array.of(r.pick(INTERESTING));
  const out = input.slice();
  out[r.int(0, out.length - 1)] = r.pick(INTERESTING);
  return out;
};

export const truncate: Mutator = (input, r) => input.subarray(0, r.int(0, Math.max(0, input.length - 1)));

export const splice: Mutator = (input, r, corpus) => {
  const other = r.pick(corpus);
  return concat(input.subarray(0, r.int(0, input.length)), other.subarray(r.int(0, other.length)));
};

export const duplicateChunk: Mutator = (input, r) => {
  if (input.length < 2) return input;
  const a = r.int(0, input.length - 1);
  const b = r.int(a, Math.min(input.length, a + 64));
  const at = r.int(0, input.length);
  return concat(input.subarray(0, at), input.subarray(a, b), input.subarray(at));
};

/** A string, array or map header rewritten to claim far more than is there. */
export const lengthLie: Mutator = (input, r) => {
  const p = headerAt(input, r, [2, 3, 4, 5], 26);
  if (p < 0) return bitFlip(input, r, []);
  const major = input[p]! >> 5;
  const info = input[p]! & 0x1f;
  const skip = info < 24 ? 0 : info === 24 ? 1 : info === 25 ? 2 : 4;
  const claim = r.pick([24, 25, 26, 27]);
  const arg = claim === 24 ? [0xff] : claim === 25 ? [0xff, 0xff] : claim === 26 ? [0x7f, 0xff, 0xff, 0xff] : [0x00, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
  return concat(input.subarray(0, p), Uint8Array.of((major << 5) | claim, ...arg), input.subarray(p + 1 + skip));
};

/** The input (or a part of it) wrapped in up to 50,000 one-element arrays or maps. */
export const deepNest: Mutator = (input, r) => {
  const depth = r.chance(0.5) ? r.int(100, 200) : r.int(1000, 50_000);
  let nest: Uint8Array;
  if (r.chance(0.7)) nest = new Uint8Array(depth).fill(0x81);
  else {
    nest = new Uint8Array(depth * 3);
    for (let i = 0; i < nest.length; i += 3) {
      nest[i] = 0xa1;
      nest[i + 1] = 0x61;
      nest[i + 2] = 0x61;
    }
  }
  const at = r.chance(0.5) ? 0 : r.int(0, input.length);
  return concat(input.subarray(0, at), nest, r.chance(0.5) ? Uint8Array.of(0x00) : input.subarray(at));
};

/** The first pair of a small map written twice (count raised by one): a duplicate key. */
export const duplicateKey: Mutator = (input, r) => {
  const p = headerAt(input, r, [5], 22);
  if (p < 0 || (input[p]! & 0x1f) === 0) return interestingByte(input, r, []);
  try {
    const keyEnd = scanCborItem(input, p + 1);
    const valueEnd = scanCborItem(input, keyEnd);
    return concat(input.subarray(0, p), Uint8Array.of(input[p]! + 1), input.subarray(p + 1, valueEnd), input.subarray(p + 1));
  } catch {
    return interestingByte(input, r, []);
  }
};

/** An argument below 24 written in the one-byte form (legal CBOR, not canonical DAG-CBOR), or two keys swapped. */
export const nonCanonical: Mutator = (input, r) => {
  if (r.chance(0.5)) {
    const p = headerAt(input, r, [0, 1, 2, 3, 4, 5], 23);
    if (p < 0) return bitFlip(input, r, []);
    const b = input[p]!;
    return concat(input.subarray(0, p), Uint8Array.of((b & 0xe0) | 24, b & 0x1f), input.subarray(p + 1));
  }
  const p = headerAt(input, r, [5], 23);
  if (p < 0 || (input[p]! & 0x1f) < 2) return bitFlip(input, r, []);
  try {
    const k1 = scanCborItem(input, p + 1);
    const v1 = scanCborItem(input, k1);
    const k2 = scanCborItem(input, v1);
    const v2 = scanCborItem(input, k2);
    return concat(input.subarray(0, p + 1), input.subarray(v1, v2), input.subarray(p + 1, v1), input.subarray(v2));
  } catch {
    return bitFlip(input, r, []);
  }
};

export const MUTATORS: readonly [string, Mutator][] = [
  ['bit_flip', bitFlip],
  ['interesting_byte', interestingByte],
  ['truncate', truncate],
  ['splice', splice],
  ['duplicate_chunk', duplicateChunk],
  ['length_lie', lengthLie],
  ['deep_nest', deepNest],
  ['duplicate_key', duplicateKey],
  ['non_canonical', nonCanonical],
];

/** One to three mutations, or none one time in twenty (the seed itself must pass). */
export function mutate(input: Uint8Array, r: Random, corpus: readonly Uint8Array[]): { bytes: Uint8Array; how: string[] } {
  if (r.chance(0.05)) return { bytes: input, how: [] };
  let bytes = input;
  const how: string[] = [];
  for (let i = r.int(1, 3); i > 0; i--) {
    const [name, m] = r.pick(MUTATORS);
    bytes = m(bytes, r, corpus);
    how.push(name);
  }
  return { bytes, how };
}
