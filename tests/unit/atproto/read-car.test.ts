// readRepoCar over a stream of many chunks: the same blocks as reading the bytes at once, held in one growing buffer,
// and the byte limit enforced while the chunks arrive.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { oneChunk, readRepoCar, DEFAULT_REPO_LIMITS } from '../../../functions/atproto/repo/read-car.ts';
import { SkytideError } from '../../../functions/errors.ts';

const car = new Uint8Array(readFileSync(new URL('../../../../shared/fixtures/indigo/testing/testdata/paul_staging.repo.car', import.meta.url)));

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size); // copies, as a network stream gives
}

describe('readRepoCar', () => {
  it('reads a CAR split into many chunks exactly as the whole bytes', async () => {
    const whole = await readRepoCar(oneChunk(car));
    const streamed = await readRepoCar(chunks(car, 997));
    expect(streamed.bytes).toBe(car.length);
    expect(streamed.root.toString()).toBe(whole.root.toString());
    expect(streamed.blocks.size).toBe(whole.blocks.size);
    expect([...streamed.blocks.entries()].map((b) => [Buffer.from(b.cid).toString('hex'), Buffer.from(b.bytes).toString('hex')]))
      .toEqual([...whole.blocks.entries()].map((b) => [Buffer.from(b.cid).toString('hex'), Buffer.from(b.bytes).toString('hex')]));
  });

  it('stops a stream as soon as it passes maxBytes, with repo_too_large', async () => {
    let pulled = 0;
    async function* endless(): AsyncGenerator<Uint8Array> {
      for (;;) {
        pulled++;
        yield new Uint8Array(4096);
      }
    }
    const err = await readRepoCar(endless(), { ...DEFAULT_REPO_LIMITS, maxBytes: 64 * 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkytideError);
    expect((err as SkytideError).reason).toBe('repo_too_large');
    expect(pulled).toBe(17);
  });
});
