// readRepoCar over a stream: the same blocks whatever the chunking (blocks straddling chunk and segment boundaries
// included), every block hash-checked as it arrives, and the limits enforced while the bytes arrive.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readRepoCar, DEFAULT_REPO_LIMITS, type RepoLimits } from '../../../functions/atproto/repo/read-car.ts';
import { oneChunk } from '../../helpers/one-chunk.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { cidForCbor } from '../../../functions/atproto/cid.ts';
import { SkytideError } from '../../../functions/errors.ts';
import { encodeCar } from '../../helpers/frames.ts';

const fixture = new Uint8Array(readFileSync(new URL('../../fixtures/indigo/testing/testdata/paul_staging.repo.car', import.meta.url)));

/** A CAR of `count` distinct record-sized blocks (about 120 bytes each). */
async function syntheticCar(count: number) {
  const blocks = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const bytes = encodeCbor({ $type: 'app.bsky.feed.post', text: `post ${i} `.padEnd(60 + (i % 50), 'x'), createdAt: '2026-01-01T00:00:00.000Z' });
      return { cid: await cidForCbor(bytes), bytes };
    }),
  );
  return { car: encodeCar(blocks[0]!.cid, blocks), blocks };
}

async function* chunks(bytes: Uint8Array, size: number, counter = { pulled: 0 }): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) {
    counter.pulled++;
    yield bytes.slice(i, i + size); // copies, as a network stream gives
  }
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const reasonOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof SkytideError ? e.reason : String(e)));

describe('readRepoCar', () => {
  it('reads a CAR in any chunking exactly as the whole bytes, across several segments', async () => {
    const { car, blocks } = await syntheticCar(8000); // about 1 MB: several segments
    for (const size of [1, 997, 65536, car.length]) {
      if (size === 1 && car.length > 200_000) continue; // byte by byte only on the small fixture below
      const read = await readRepoCar(chunks(car, size));
      expect(read.bytes).toBe(car.length);
      expect(read.blocks.size).toBe(blocks.length);
      for (const b of blocks) expect(hex(read.blocks.get(b.cid.bytes)!)).toBe(hex(b.bytes));
    }
    const byByte = await readRepoCar(chunks(fixture, 1));
    const whole = await readRepoCar(oneChunk(fixture));
    expect([...byByte.blocks.entries()].map((b) => [hex(b.cid), hex(b.bytes)])).toEqual([...whole.blocks.entries()].map((b) => [hex(b.cid), hex(b.bytes)]));
    expect(byByte.root.toString()).toBe(whole.root.toString());
  });

  it('stops at the first block that does not hash to its CID, without reading the rest', async () => {
    const { car } = await syntheticCar(8000);
    const tampered = car.slice();
    tampered[1000] = tampered[1000]! ^ 1; // inside one of the first blocks
    const counter = { pulled: 0 };
    expect(await reasonOf(readRepoCar(chunks(tampered, 4096, counter)))).toBe('cid_mismatch');
    expect(counter.pulled).toBe(1);
  });

  it('stops a stream as soon as it passes maxBytes, with repo_too_large', async () => {
    const { car } = await syntheticCar(2000);
    let pulled = 0;
    const blocksOnly = car.subarray(1 + car[0]!); // after the header (its length fits one varint byte)
    async function* endless(): AsyncGenerator<Uint8Array> {
      pulled++;
      yield car.slice();
      for (;;) {
        pulled++;
        yield blocksOnly.slice(); // the same valid blocks again and again: only the byte limit can stop it
      }
    }
    const limits: RepoLimits = { ...DEFAULT_REPO_LIMITS, maxBytes: car.length * 3 + 10 };
    expect(await reasonOf(readRepoCar(endless(), limits))).toBe('repo_too_large');
    expect(pulled).toBe(4);
  });

  it('refuses a block over maxBlockBytes from its length, before its bytes arrive', async () => {
    const counter = { pulled: 0 };
    async function* hugeBlock(): AsyncGenerator<Uint8Array> {
      counter.pulled++;
      yield Uint8Array.from([...fixture.subarray(0, 1 + fixture[0]!), 0x80, 0x80, 0x80, 0x08]); // header, then a 16 MB length
      counter.pulled++;
      for (;;) yield new Uint8Array(65536);
    }
    expect(await reasonOf(readRepoCar(hugeBlock(), { ...DEFAULT_REPO_LIMITS, maxBlockBytes: 1024 * 1024 }))).toBe('repo_too_large');
    expect(counter.pulled).toBe(1);
  });

  it('names a stream that ends inside a block or inside the header truncated_car (tried again), wherever it stops', async () => {
    // Found by review: cut inside the header, it was invalid_car, a permanent verdict on the repo, one byte later a retry.
    expect(await reasonOf(readRepoCar(chunks(fixture.subarray(0, fixture.length - 10), 1000)))).toBe('truncated_car');
    expect(await reasonOf(readRepoCar(chunks(fixture.subarray(0, 5), 1000)))).toBe('truncated_car');
    expect(await reasonOf(readRepoCar(chunks(new Uint8Array(0), 1000)))).toBe('truncated_car');
    // Bytes that are no CAR header at all (an HTML page) stay invalid_car, cut or whole.
    expect(await reasonOf(readRepoCar(chunks(new TextEncoder().encode('<ht'), 1000)))).toBe('invalid_car');
  });
});
