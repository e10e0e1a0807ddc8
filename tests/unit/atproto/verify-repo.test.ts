// verifyRepo (functions/atproto/repo/verify-repo.ts) on a commit block that hashes to its CID but is not a map: a
// hostile PDS can serve one (the CID is whatever the bytes hash to), and it must be refused as invalid_commit, a
// verdict on that repo alone: a TypeError or a bare decoder Error is not a SkytideError, so backfill-repo rethrew it
// and the whole batch failed and was retried. Found beside the CAR header's twin, which the long fuzz hit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readRepoCar } from '../../../functions/atproto/repo/read-car.ts';
import { recordsIn, verifyRepo } from '../../../functions/atproto/repo/verify-repo.ts';
import { atprotoKeyOf } from '../../../functions/atproto/crypto/keys.ts';
import { SkytideError } from '../../../functions/errors.ts';
import { cidForCbor } from '../../../functions/atproto/cid.ts';
import { block, encodeCar } from '../../helpers/frames.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { CID } from 'multiformats/cid';
import { oneChunk } from '../../helpers/one-chunk.ts';
import { Mst } from '../../../functions/atproto/mst/mst.ts';
import { CidLink } from '../../../functions/atproto/cid-link.ts';
import { keyHeightFast } from '../../../functions/atproto/mst/key-height.ts';
import { Secp256k1Keypair } from '@atproto/crypto';
import { verifyRepoCar } from '@atproto/repo';

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

  it('refuses a signed repo whose MST holds a key no repo may hold (three segments), as @atproto/repo does', async () => {
    // Found by an audit against @atproto/repo's verifyRepoCar, which refuses the whole tree ("Not a valid MST key");
    // here the bad leaf was counted as skipped and the rest indexed.
    const secret = new Uint8Array(32).fill(7);
    const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
    const did = 'did:plc:verifyrepotestaaaaaaaaaa';
    for (const bad of ['app.bsky.feed.post/3l3qo2vuowo2d/extra', 'app.bsky.feed.post/caf\u00e9', 'app.bsky.feed.post']) {
      let tree = Mst.empty();
      const blocks: { cid: CID; bytes: Uint8Array }[] = [];
      for (const k of ['app.bsky.feed.post/3l3qo2vuowo2c', bad]) {
        const record = await block({ $type: 'app.bsky.feed.post', text: k, createdAt: '2024-06-01T12:34:56.789Z' });
        blocks.push(record);
        tree = await tree.add(k, new CidLink(record.cid.bytes));
      }
      const nodes = new Map<string, Uint8Array>();
      const data = await tree.rootCid(nodes);
      for (const [cid, bytes] of nodes) blocks.push({ cid: CID.parse(cid), bytes });
      const unsigned = { did, version: 3, data: CID.decode(data.bytes), rev: '3l3qo2vuowo2b', prev: null };
      const sig = secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
      const commit = await block({ ...unsigned, sig });
      const car = await readRepoCar(oneChunk(encodeCar(commit.cid, [commit, ...blocks])));
      const err = await verifyRepo(car, { did, key }).then(() => undefined, (e: unknown) => e);
      expect(err, bad).toBeInstanceOf(SkytideError);
      expect((err as SkytideError).reason, bad).toBe('invalid_mst');
      // A commit proof that holds it is refused the same way when loaded.
      const loaded = await Mst.load(data, (cid) => nodes.get(cid.toString())).then(() => undefined, (e: unknown) => e);
      expect((loaded as SkytideError | undefined)?.reason, bad).toBe('invalid_mst');
    }
  });

  it('refuses a repo whose leaves, their keys expanded, would take more memory than its CAR (repo_too_large)', async () => {
    // Found by an audit: keys are prefix-compressed in their nodes, so full nodes of keys 1,015 characters long that
    // differ in their last few cost the CAR about 57 bytes a leaf and the heap over 1 KB (an 11 MB CAR took 200 MB).
    const secret = new Uint8Array(32).fill(7);
    const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
    const did = 'did:plc:verifyrepotestaaaaaaaaaa';
    const record = await block({ $type: 'app.bsky.feed.post', text: 'x', createdAt: '2024-06-01T12:34:56.789Z' });
    // Sorted keys chosen by height: full layer-0 nodes of 1,024 entries, split by the layer-1 keys of the root.
    const prefix = `app.bsky.feed.post/${'a'.repeat(990)}`;
    const root: { key: string; below: string[] }[] = [{ key: '', below: [] }];
    for (let i = 0, leaves = 0; leaves < 3000; i++) {
      const k = prefix + i.toString(36).padStart(6, '0');
      const h = keyHeightFast(k) as number;
      const run = root[root.length - 1]!.below;
      if (h === 0 && run.length < 1024) run.push(k);
      else if (h === 1 && run.length === 1024) root.push({ key: k, below: [] });
      else continue;
      leaves++;
    }
    const blocks: { cid: CID; bytes: Uint8Array }[] = [record];
    const node = async (keys: string[], subtrees: (CID | null)[], left: CID | null) => {
      let prev = '';
      const e = keys.map((k, i) => {
        let p = 0;
        while (p < prev.length && prev[p] === k[p]) p++;
        prev = k;
        return { k: new TextEncoder().encode(k.slice(p)), p, t: subtrees[i] ?? null, v: record.cid };
      });
      const b = await block({ e, l: left });
      blocks.push(b);
      return b.cid;
    };
    const children = await Promise.all(root.map((r) => node(r.below, [], null)));
    const data = await node(root.slice(1).map((r) => r.key), children.slice(1), children[0]!);
    const unsigned = { did, version: 3, data, rev: '3l3qo2vuowo2b', prev: null };
    const sig = secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
    const commit = await block({ ...unsigned, sig });
    const car = await readRepoCar(oneChunk(encodeCar(commit.cid, [commit, ...blocks])));
    expect(car.bytes).toBeLessThan(200_000);
    const err = await verifyRepo(car, { did, key }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SkytideError);
    expect((err as SkytideError).reason).toBe('repo_too_large');
  });

  it('refuses a repo whose leaves name one large record many times, past a few times its CAR (repo_too_large)', async () => {
    // Found by review: a block is stored once per CID, so one record of 1 MB under 3,000 leaves made a CAR of 1.2 MB
    // whose records, each decoded for its leaf, took 3 GB and ended the process.
    const secret = new Uint8Array(32).fill(7);
    const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
    const did = 'did:plc:verifyrepotestaaaaaaaaaa';
    const sign = async (data: CID, blocks: { cid: CID; bytes: Uint8Array }[]) => {
      const unsigned = { did, version: 3, data, rev: '3l3qo2vuowo2b', prev: null };
      const sig = secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
      const commit = await block({ ...unsigned, sig });
      return readRepoCar(oneChunk(encodeCar(commit.cid, [commit, ...blocks])));
    };
    const repoOf = async (record: { cid: CID; bytes: Uint8Array }, leaves: number) => {
      let tree = Mst.empty();
      for (let i = 0; i < leaves; i++) tree = await tree.add(`com.example.big/k${String(i).padStart(6, '0')}`, new CidLink(record.cid.bytes));
      const nodes = new Map<string, Uint8Array>();
      const data = await tree.rootCid(nodes);
      return sign(CID.decode(data.bytes), [record, ...[...nodes].map(([cid, bytes]) => ({ cid: CID.parse(cid), bytes }))]);
    };
    const big = await block({ $type: 'com.example.big', data: 'x'.repeat(200_000) });
    const shared = await repoOf(big, 400);
    expect(shared.bytes).toBeLessThan(250_000);
    const err = await verifyRepo(shared, { did, key }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(SkytideError);
    expect((err as SkytideError).reason).toBe('repo_too_large');
    // Identical small records many times over, as a repo may honestly hold, stay within the floor.
    const small = await block({ $type: 'com.example.same', n: 1 });
    const repo = await verifyRepo(await repoOf(small, 2_000), { did, key });
    expect(repo.leaves.keys.length).toBe(2_000);
    // A range of records stops once its records reach the bytes asked for: a chunk of large ones stays small.
    const range = recordsIn(repo, 0, 1_000, undefined, 10 * small.bytes.length);
    expect([range.records.length, range.end]).toEqual([10, 10]);
    expect(recordsIn(repo, 1_990, 3_000).end).toBe(2_000);
  });

  it('refuses a commit whose data or prev link, or whose own CID, is not dag-cbor sha2-256 (a raw CID of the same bytes) as invalid_commit', async () => {
    // Found by review: the raw CID hashes alike and the block was found, so the repo was synchronized with a second
    // root CID for its key set (the spec: "commit objects with non-compliant prev or data links are considered invalid").
    const secret = new Uint8Array(32).fill(7);
    const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
    const did = 'did:plc:verifyrepotestaaaaaaaaaa';
    const record = await block({ $type: 'app.bsky.feed.post', text: 'x', createdAt: '2024-06-01T12:34:56.789Z' });
    const tree = await Mst.empty().add('app.bsky.feed.post/3l3qo2vuowo2c', new CidLink(record.cid.bytes));
    const nodes = new Map<string, Uint8Array>();
    const data = CID.decode((await tree.rootCid(nodes)).bytes);
    const rootBytes = nodes.get(data.toString())!;
    const raw = (cid: CID) => CID.createV1(0x55, cid.multihash);
    const carOf = async (links: { data: CID; prev: CID | null }, rawRoot = false) => {
      const unsigned = { did, version: 3, data: links.data, rev: '3l3qo2vuowo2b', prev: links.prev };
      const sig = secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
      const commit = await block({ ...unsigned, sig });
      const commitCid = rawRoot ? raw(commit.cid) : commit.cid;
      const blocks = [{ cid: commitCid, bytes: commit.bytes }, record, { cid: data, bytes: rootBytes }, { cid: raw(data), bytes: rootBytes }];
      return readRepoCar(oneChunk(encodeCar(commitCid, blocks)));
    };
    expect((await verifyRepo(await carOf({ data, prev: null }), { did, key })).leaves.keys).toHaveLength(1);
    for (const [what, car] of [
      ['data raw', await carOf({ data: raw(data), prev: null })],
      ['prev raw', await carOf({ data, prev: raw(data) })],
      ['commit raw', await carOf({ data, prev: null }, true)],
    ] as const) {
      const err = await verifyRepo(car, { did, key }).then(() => undefined, (e: unknown) => e);
      expect((err as SkytideError | undefined)?.reason, what).toBe('invalid_commit');
    }
  });

  it('checks the signature over the commit\'s own fields only, as @atproto/repo and indigo do: another field is not signed', async () => {
    // Found by an audit: the whole commit without `sig` was re-encoded, other fields included, so a commit carrying a
    // field beside the signed ones (which @atproto/repo's schema drops before verifyCommitSig, and indigo's Commit
    // struct never reads) failed as bad_signature, and one signed over such a field (a float included) verified.
    const secret = new Uint8Array(32).fill(7);
    const keypair = await Secp256k1Keypair.import(secret);
    const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
    const did = 'did:plc:verifyrepotestaaaaaaaaaa';
    const record = await block({ $type: 'app.bsky.feed.post', text: 'x', createdAt: '2024-06-01T12:34:56.789Z' });
    const nodes = new Map<string, Uint8Array>();
    const data = await Mst.empty().add('app.bsky.feed.post/3l3qo2vuowo2c', new CidLink(record.cid.bytes)).then((t) => t.rootCid(nodes));
    const blocks = [record, ...[...nodes].map(([cid, bytes]) => ({ cid: CID.parse(cid), bytes }))];
    const fields = { did, version: 3, data: CID.decode(data.bytes), rev: '3l3qo2vuowo2b', prev: null };
    // [what, the extra field, whether the signature covers it, accepted]
    const cases: [string, Record<string, unknown>, boolean, boolean][] = [
      ['no other field', {}, true, true],
      ['an unsigned field', { x: 1 }, false, true],
      ['an unsigned float', { x: 1.5 }, false, true],
      ['a signed field', { x: 1 }, true, false],
      ['a signed float', { x: 1.5 }, true, false],
    ];
    for (const [what, extra, signed, accepted] of cases) {
      const sig = secp256k1.sign(encodeCbor(signed ? { ...fields, ...extra } : fields), secret, { prehash: true, lowS: true, format: 'compact' });
      const commit = await block({ ...fields, ...extra, sig });
      const carBytes = encodeCar(commit.cid, [commit, ...blocks]);
      const reference = await verifyRepoCar(carBytes, did, keypair.did()).then(() => true, () => false);
      expect(reference, what).toBe(accepted);
      const err = await verifyRepo(await readRepoCar(oneChunk(carBytes)), { did, key }).then(() => undefined, (e: unknown) => e);
      expect(accepted ? err : (err as SkytideError | undefined)?.reason, what).toBe(accepted ? undefined : 'bad_signature');
    }
  });
  it('refuses a signed commit whose prev is missing or not a link or null as invalid_commit, as @atproto/repo refuses it', async () => {
    // Found by an audit: the repository spec says a commit's `prev` "must exist in the CBOR object" (a link or null),
    // and @atproto/repo's commit schema (verifyRepoCar; verifyProofs, which @atproto/sync's firehose runs) refuses
    // the commit without it; `prev` was never read here, so such a commit verified and its repo was indexed.
    const secret = new Uint8Array(32).fill(7);
    const keypair = await Secp256k1Keypair.import(secret);
    const key = { curve: 'k256' as const, bytes: secp256k1.getPublicKey(secret, true) };
    const did = 'did:plc:verifyrepotestaaaaaaaaaa';
    const record = await block({ $type: 'app.bsky.feed.post', text: 'x', createdAt: '2024-06-01T12:34:56.789Z' });
    const nodes = new Map<string, Uint8Array>();
    const data = await Mst.empty().add('app.bsky.feed.post/3l3qo2vuowo2c', new CidLink(record.cid.bytes)).then((t) => t.rootCid(nodes));
    const blocks = [record, ...[...nodes].map(([cid, bytes]) => ({ cid: CID.parse(cid), bytes }))];
    const cases: [string, Record<string, unknown>, boolean][] = [
      ['null', { prev: null }, true],
      ['a link', { prev: record.cid }, true],
      ['missing', {}, false],
      ['a string', { prev: record.cid.toString() }, false],
      ['a number', { prev: 5 }, false],
    ];
    for (const [what, prev, accepted] of cases) {
      const unsigned = { did, version: 3, data: CID.decode(data.bytes), rev: '3l3qo2vuowo2b', ...prev };
      const sig = secp256k1.sign(encodeCbor(unsigned), secret, { prehash: true, lowS: true, format: 'compact' });
      const commit = await block({ ...unsigned, sig });
      const carBytes = encodeCar(commit.cid, [commit, ...blocks]);
      const reference = await verifyRepoCar(carBytes, did, keypair.did()).then(() => true, () => false);
      expect(reference, what).toBe(accepted);
      const err = await verifyRepo(await readRepoCar(oneChunk(carBytes)), { did, key }).then(() => undefined, (e: unknown) => e);
      expect(accepted ? err : (err as SkytideError | undefined)?.reason, what).toBe(accepted ? undefined : 'invalid_commit');
    }
  });
});
