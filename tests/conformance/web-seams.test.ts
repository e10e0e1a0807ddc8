// The code paths only Web runtimes take. Under Node, the `#sha256` and `#ecdsa` seams hash and verify synchronously;
// on Workers they are WebCrypto (a promise per digest) and @noble/curves. Here both seams are swapped for their Web
// implementations, so the asynchronous branches of the streaming CAR reader, the MST walk and the key heights run:
// real repos still verify with every record extracted, and forged ones still fail with the same reasons.
import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { MST, MemoryBlockstore, readCarWithRoot } from '@atproto/repo';

vi.mock('#sha256', async () => await import('../../functions/atproto/sha256-web.ts'));
vi.mock('#ecdsa', async () => await import('../../functions/atproto/crypto/ecdsa-noble.ts'));

const { sha256Binary } = await import('#sha256');
const { readRepoCar } = await import('../../functions/atproto/repo/read-car.ts');
const { allRecords, verifyRepo } = await import('../../functions/atproto/repo/verify-repo.ts');
const { atprotoKeyOf } = await import('../../functions/atproto/crypto/keys.ts');
const { keyHeightFast } = await import('../../functions/atproto/mst/key-height.ts');
const { SkytideError } = await import('../../functions/errors.ts');

const DIR = new URL('../fixtures/indigo/testing/testdata/', import.meta.url);
const car = new Uint8Array(readFileSync(new URL('paul_staging.repo.car', DIR)));
const doc = JSON.parse(readFileSync(new URL('paul_staging.didDoc.json', DIR), 'utf8')) as { id: string; verificationMethod: unknown };
const expected = { did: doc.id, key: atprotoKeyOf(doc) };

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.slice(i, i + size);
}
const reasonOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof SkytideError ? e.reason : String(e)));

describe('the Web seams, as Workers run them', () => {
  it('are the asynchronous implementations', () => {
    expect(sha256Binary(new Uint8Array(1))).toBeInstanceOf(Promise);
    expect(keyHeightFast('app.bsky.feed.post/3jqfcqzm3fo2j')).toBeInstanceOf(Promise);
  });

  it('verify a real repo read in chunks and extract every record, as @atproto/repo reads it', async () => {
    const repo = await verifyRepo(await readRepoCar(chunks(car, 1000)), expected);
    const { records, skipped } = allRecords(repo);
    const { root, blocks } = await readCarWithRoot(car);
    const storage = new MemoryBlockstore(blocks);
    const commit = (await storage.readObj(root, (await import('@atproto/repo')).def.versionedCommit as never)) as { data: never };
    const leaves = await MST.load(storage, commit.data).list();
    expect(records.map((r) => [`${r.collection}/${r.rkey}`, r.cid])).toEqual(leaves.map((l) => [l.key, l.value.toString()]));
    expect(skipped).toBe(0);
  });

  it('reject a forged block, a truncated CAR and another key with the same reasons as under Node', async () => {
    const forged = car.slice();
    forged[car.length - 20] = forged[car.length - 20]! ^ 1;
    expect(await reasonOf(readRepoCar(chunks(forged, 1000)))).toBe('cid_mismatch');
    expect(await reasonOf(readRepoCar(chunks(car.subarray(0, car.length - 7), 1000)))).toBe('truncated_car');
    const other = JSON.parse(readFileSync(new URL('greenground.didDoc.json', DIR), 'utf8')) as { id: string; verificationMethod: unknown };
    expect(await reasonOf(readRepoCar(chunks(car, 1000)).then((c) => verifyRepo(c, { ...expected, key: atprotoKeyOf(other) })))).toBe('bad_signature');
  });
});
