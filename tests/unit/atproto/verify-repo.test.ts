// verifyRepo (functions/atproto/repo/verify-repo.ts) on a commit block that hashes to its CID but is not a map: a
// hostile PDS can serve one (the CID is whatever the bytes hash to), and it must be refused as invalid_commit, a
// verdict on that repo alone: a TypeError or a bare decoder Error is not a SkytideError, so backfill-repo rethrew it
// and the whole batch failed and was retried. Found beside the CAR header's twin, which the long fuzz hit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readRepoCar } from '../../../functions/atproto/repo/read-car.ts';
import { verifyRepo } from '../../../functions/atproto/repo/verify-repo.ts';
import { atprotoKeyOf } from '../../../functions/atproto/crypto/keys.ts';
import { SkytideError } from '../../../functions/errors.ts';
import { cidForCbor } from '../../../functions/atproto/cid.ts';
import { block, encodeCar } from '../../helpers/frames.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CID } from 'multiformats/cid';
import { oneChunk } from '../../helpers/one-chunk.ts';

const doc = JSON.parse(readFileSync(new URL('../../fixtures/indigo/testing/testdata/paul_staging.didDoc.json', import.meta.url), 'utf8')) as { id: string; verificationMethod: unknown };
const expected = { did: doc.id, key: atprotoKeyOf(doc) };

describe('verifyRepo', () => {
  it('refuses a commit block that is CBOR null, a list, a number or not CBOR at all as invalid_commit', async () => {
    for (const bytes of [[0xf6], [0x80], [0x01], [0xf7], [0xa1, 0x61]].map((b) => Uint8Array.from(b))) {
      const cid = await cidForCbor(bytes);
      const car = await readRepoCar(oneChunk(encodeCar(cid, [{ cid, bytes }])));
      const err = await verifyRepo(car, expected).then(() => undefined, (e: unknown) => e);
      expect(err, Buffer.from(bytes).toString('hex')).toBeInstanceOf(SkytideError);
      expect((err as SkytideError).reason).toBe('invalid_commit');
    }
  });

  it('refuses a signed commit whose MST root block is null, a list or a map without entries with a SkytideError', async () => {
    // The PDS holds the repo's key: it can sign a commit over any block, so the MST walk meets whatever it serves.
    const secret = new Uint8Array(32).fill(7);
    const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
    const did = 'did:plc:verifyrepotestaaaaaaaaaa';
    for (const bytes of [[0xf6], [0x80], [0xa0], [0xa1, 0x61, 0x65, 0xf6]].map((b) => Uint8Array.from(b))) {
      const node = { cid: await cidForCbor(bytes), bytes };
      const unsigned = { did, version: 3, data: CID.decode(node.cid.bytes), rev: '3l3qo2vuowo2b', prev: null };
      const sig = secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
      const commit = await block({ ...unsigned, sig });
      const car = await readRepoCar(oneChunk(encodeCar(commit.cid, [commit, node])));
      const err = await verifyRepo(car, { did, key }).then(() => undefined, (e: unknown) => e);
      expect(err, Buffer.from(bytes).toString('hex')).toBeInstanceOf(SkytideError);
      // Past the signature: the walk itself refused the node.
      expect((err as SkytideError).reason, Buffer.from(bytes).toString('hex')).toBe('invalid_mst');
    }
  });
});
