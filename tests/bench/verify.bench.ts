// Trust-layer throughput. (1) Commit-signature verifications per second: ours (libsecp256k1 behind the #ecdsa seam,
// and its OpenSSL fallback, low-S enforced) beside @atproto/crypto and @atcute/crypto on the same signatures. (2) A 100,000-record repo built
// with real signed commits by @atproto/repo: read, hash-checked, signature-verified and extracted, in records/s and
// peak RSS, ours beside @atproto/repo and @atcute/repo, each in its own process so peak RSS is its own.
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { verifySignature as atprotoVerify } from '@atproto/crypto';
import { verifySigWithDidKey } from '@atcute/crypto';
import { formatDidKey, type PublicKey } from '../../functions/atproto/crypto/keys.ts';
import { verifySignature } from '../../functions/atproto/crypto/verify.ts';
import { K256_BACKEND, verifyWithOpenssl } from '../../functions/atproto/crypto/ecdsa-node.ts';
import { compareOpsPerSecond } from './measure.ts';
import type { BenchRow } from './types.ts';
import { tid } from '../helpers/events.ts';

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const RECORDS = Number(process.env['BENCH_REPO_RECORDS'] ?? 100_000);
const CAR_PATH = path.join(tmpdir(), `skytide-bench-repo-${RECORDS}.car`);

function signatures(count: number) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
  const jwk = publicKey.export({ format: 'jwk' }) as { x: string; y: string };
  const y = Buffer.from(jwk.y, 'base64url');
  const point = Buffer.concat([Buffer.from([(y[31]! & 1) === 1 ? 3 : 2]), Buffer.from(jwk.x, 'base64url')]);
  const key: PublicKey = { curve: 'k256', bytes: new Uint8Array(point) };
  const items = Array.from({ length: count }, (_, i) => {
    const message = new Uint8Array(createHash('sha256').update(`commit ${i}`).digest());
    const sig = new Uint8Array(sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' }));
    // Low-S, as atproto requires: s' = n - s when s is in the upper half.
    const s = BigInt('0x' + Buffer.from(sig.subarray(32)).toString('hex'));
    if (s > N / 2n) sig.set(Buffer.from((N - s).toString(16).padStart(64, '0'), 'hex'), 32);
    return { message, sig };
  });
  return { key, didKey: formatDidKey(key), items };
}

export async function signatureRows(): Promise<BenchRow[]> {
  const { key, didKey, items } = signatures(500);
  const { ours, openssl, atproto, atcute } = await compareOpsPerSecond({
    ours: () => {
      for (const { message, sig } of items) if (!verifySignature(key, message, sig)) throw new Error('ours rejected a valid signature');
      return items.length;
    },
    openssl: () => {
      for (const { message, sig } of items) if (!verifyWithOpenssl('k256', key.bytes, message, sig)) throw new Error('OpenSSL fallback rejected a valid signature');
      return items.length;
    },
    atproto: async () => {
      for (const { message, sig } of items) if (!(await atprotoVerify(didKey, message, sig))) throw new Error('@atproto rejected');
      return items.length;
    },
    atcute: async () => {
      for (const { message, sig } of items) if (!(await verifySigWithDidKey(didKey, sig as Uint8Array<ArrayBuffer>, message as Uint8Array<ArrayBuffer>))) throw new Error('@atcute rejected');
      return items.length;
    },
  });
  return [
    { name: `signatures: skytide (${K256_BACKEND}, low-S)`, unit: 'verifies/s', value: ours, ratio: ours / atcute, baseline: '@atcute/crypto', note: `${(ours / atproto).toFixed(1)}x @atproto/crypto` },
    { name: 'signatures: skytide fallback (OpenSSL, low-S)', unit: 'verifies/s', value: openssl, ratio: openssl / atcute, baseline: '@atcute/crypto' },
    { name: 'signatures: @atcute/crypto', unit: 'verifies/s', value: atcute, ratio: 1, baseline: '@atcute/crypto' },
    { name: 'signatures: @atproto/crypto', unit: 'verifies/s', value: atproto, ratio: atproto / atcute, baseline: '@atcute/crypto' },
  ];
}

/** Builds (once, cached in the temp dir) a repo of RECORDS records with real signed commits. */
async function repoCar(): Promise<{ car: string; did: string; didKey: string }> {
  const meta = `${CAR_PATH}.json`;
  if (existsSync(CAR_PATH) && existsSync(meta)) return { car: CAR_PATH, ...(JSON.parse(readFileSync(meta, 'utf8')) as { did: string; didKey: string }) };
  const { Repo, MemoryBlockstore, WriteOpAction, blocksToCarFile } = await import('@atproto/repo');
  const { Secp256k1Keypair } = await import('@atproto/crypto');
  const keypair = await Secp256k1Keypair.create({ exportable: true });
  const did = 'did:plc:benchbenchbenchbenchbench';
  const storage = new MemoryBlockstore();
  const writes = Array.from({ length: RECORDS }, (_, i) => ({
    action: WriteOpAction.Create,
    collection: i % 3 === 0 ? 'app.bsky.feed.post' : i % 3 === 1 ? 'app.bsky.feed.like' : 'app.bsky.graph.follow',
    rkey: tid(1_000_000 + i),
    record: i % 3 === 0 ? { $type: 'app.bsky.feed.post', text: `post ${i}`, createdAt: '2026-01-01T00:00:00.000Z' }
      : i % 3 === 1 ? { $type: 'app.bsky.feed.like', subject: { uri: `at://${did}/app.bsky.feed.post/3l${i}`, cid: 'bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm' }, createdAt: '2026-01-01T00:00:00.000Z' }
      : { $type: 'app.bsky.graph.follow', subject: did, createdAt: '2026-01-01T00:00:00.000Z' },
  }));
  const repo = await Repo.create(storage, did, keypair, writes as never);
  writeFileSync(CAR_PATH, await blocksToCarFile(repo.cid, storage.blocks));
  const didKey = keypair.did();
  writeFileSync(meta, JSON.stringify({ did, didKey }));
  return { car: CAR_PATH, did, didKey };
}

function runChild(impl: string, car: string, did: string, didKey: string): { records: number; ms: number; rssMb: number } {
  const res = spawnSync(process.execPath, [new URL('./verify-repo-child.ts', import.meta.url).pathname, impl, car, did, didKey], { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`${impl} failed: ${res.stderr}`);
  return JSON.parse(res.stdout.trim().split('\n').at(-1) ?? '{}');
}

async function repoRows(): Promise<BenchRow[]> {
  const { car, did, didKey } = await repoCar();
  // Each implementation in its own process, round-robin (ours, atcute, atproto, ours, ...), best time of three.
  const impls = ['skytide', 'atcute', 'atproto'] as const;
  const runs = new Map<string, ReturnType<typeof runChild>[]>(impls.map((i) => [i, []]));
  for (let round = 0; round < 3; round++) for (const impl of impls) runs.get(impl)!.push(runChild(impl, car, did, didKey));
  const best = (impl: string) => {
    const all = runs.get(impl)!;
    const fastest = all.reduce((a, b) => (a.ms <= b.ms ? a : b));
    return { rate: fastest.records / (fastest.ms / 1000), rss: Math.max(...all.map((r) => r.rssMb)), records: fastest.records };
  };
  const ours = best('skytide');
  const atcute = best('atcute');
  const atproto = best('atproto');
  const row = (name: string, r: typeof ours): BenchRow => ({
    name, unit: 'records/s', value: r.rate, ratio: r.rate / atcute.rate, baseline: '@atcute/repo', note: `peak RSS ${r.rss.toFixed(0)} MB, ${r.records} records`,
  });
  return [row(`repo ${RECORDS}: skytide (hashes + signature + MST checks)`, ours), row('repo: @atcute/repo fromUint8Array', atcute), row('repo: @atproto/repo verifyRepoCar', atproto)];
}

export async function runVerifyBench(): Promise<BenchRow[]> {
  return [...(await signatureRows()), ...(await repoRows())];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await runVerifyBench()) console.log(row);
}
