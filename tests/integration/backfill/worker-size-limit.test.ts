// WORKER_MAX_REPO_BYTES (adapters/xrpc/worker-size-limit.ts): a Worker refuses a repo over the limit as
// `too_large_for_worker` before a record of it is indexed, whether the PDS declares the size (Content-Length) or
// streams it (chunked, counted as it arrives); the refusal is counted and recorded in repo_sync, and the outcome is
// dead (the DLQ, for a container's backfill). A repo under the limit is backfilled as without the wrapper. Real
// HTTP servers on 127.0.0.1, a real signed repo, the real backfill function and Postgres.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secp256k1Keypair } from '@atproto/crypto';
import { Repo, MemoryBlockstore, WriteOpAction, blocksToCarFile } from '@atproto/repo';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { withWorkerRepoLimit } from '../../../adapters/xrpc/worker-size-limit.ts';
import { silentLog, systemClock } from '../../../functions/ports.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';

const B32 = 'abcdefghijklmnopqrstuvwxyz234567';
const repos = new Map<string, { car: Buffer; key: string; chunked: boolean }>();
let server: http.Server;
let base: string;
let db: IndexDb;

async function signedRepo(did: string, posts: number): Promise<{ car: Buffer; key: string }> {
  const keypair = await Secp256k1Keypair.create();
  const storage = new MemoryBlockstore();
  const writes = Array.from({ length: posts }, (_, i) => ({
    action: WriteOpAction.Create, collection: 'app.bsky.feed.post', rkey: `3l4oq2p7ipa${B32[Math.floor(i / 32)]}${B32[i % 32]}`,
    record: { $type: 'app.bsky.feed.post', text: `post ${i} ${'x'.repeat(200)}`, createdAt: '2026-01-01T00:00:00.000Z' },
  }));
  const repo = await Repo.create(storage, did, keypair, writes as never);
  return { car: Buffer.from(await blocksToCarFile(repo.cid, storage.blocks)), key: keypair.did().slice('did:key:'.length) };
}

beforeAll(async () => {
  db = await createIndexDb('worker_size_limit');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/plc/')) {
      const did = decodeURIComponent(url.pathname.slice(5));
      const repo = repos.get(did)!;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
        id: did, alsoKnownAs: [],
        verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: did, publicKeyMultibase: repo.key }],
        service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: base }],
      }));
      return;
    }
    const repo = repos.get(url.searchParams.get('did') ?? '');
    if (repo === undefined) return void res.writeHead(404).end();
    if (repo.chunked) {
      // No Content-Length: the body arrives in pieces and only counting tells its size.
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' });
      for (let i = 0; i < repo.car.length; i += 1024) res.write(repo.car.subarray(i, i + 1024));
      res.end();
    } else res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'content-length': String(repo.car.length) }).end(repo.car);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await db.close();
});

function ports(maxBytes: number, metrics = createMetrics({ hosts: [], streams: [] })): { ports: BackfillPorts; metrics: ReturnType<typeof createMetrics> } {
  return {
    metrics,
    ports: {
      clock: systemClock, log: silentLog, metrics: metrics.metrics, sql: db.sql, timeoutMs: 10_000,
      fetch: withWorkerRepoLimit(globalThis.fetch, maxBytes, metrics.metrics),
      identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: `${base}/plc`, allowPrivate: true }),
    },
  };
}

async function refused(metrics: ReturnType<typeof createMetrics>): Promise<number> {
  const text = await metrics.registry.metrics();
  return Number(/skytide_worker_repos_refused_total\{reason="too_large_for_worker"\} (\d+)/.exec(text)?.[1]);
}

describe('WORKER_MAX_REPO_BYTES', () => {
  for (const chunked of [false, true]) {
    it(`refuses a repo over the limit (${chunked ? 'streamed, counted as it arrives' : 'declared by Content-Length'}), indexing none of it`, async () => {
      const did = `did:plc:workerlimit${chunked ? 'chunked' : 'declard'}aaaaaa`.slice(0, 32);
      const repo = await signedRepo(did, 60);
      repos.set(did, { ...repo, chunked });
      expect(repo.car.length).toBeGreaterThan(8 * 1024);
      const { ports: p, metrics } = ports(8 * 1024);
      expect(await refused(metrics)).toBe(0);
      const { outcomes } = await backfillRepos([{ did }], p);
      expect(outcomes[0]).toMatchObject({ status: 'dead', reason: 'too_large_for_worker' });
      expect(await refused(metrics)).toBe(1);
      expect(await db.sql.query(`select count(*)::int as n from record where did = $1`, [did])).toEqual([{ n: 0 }]);
      expect(await db.sql.query(`select status, reason from repo_sync where did = $1`, [did])).toEqual([{ status: 'desynchronized', reason: 'too_large_for_worker' }]);

      // The same repo under a limit it fits: backfilled whole.
      const fits = ports(repo.car.length);
      expect((await backfillRepos([{ did }], fits.ports)).outcomes[0]).toEqual({ status: 'ok' });
      expect(await db.sql.query(`select count(*)::int as n from record where did = $1`, [did])).toEqual([{ n: 60 }]);
      expect(await refused(fits.metrics)).toBe(0);
    });
  }
});
