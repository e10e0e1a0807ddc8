// A hostile PDS and PLC on 127.0.0.1 (real HTTP servers started by the test): slow bodies, endless bodies, 500s, bytes
// that are not a CAR, a repo signed by the wrong key, and a DID document pointing the backfill at an internal
// address. None of them may stall the function past its deadline, exhaust memory, or end in anything but a clear,
// counted reason. A PDS that restarts is tried again within the call; POST /reprocess/:did answers each case with the
// status it means (422 the repo, 502 its PDS, 503 an outage of ours).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secp256k1Keypair } from '@atproto/crypto';
import { Repo, MemoryBlockstore, WriteOpAction, blocksToCarFile } from '@atproto/repo';
import { createApp } from '../../../adapters/http/app.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createSql } from '../../../adapters/postgres/client.ts';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { DEFAULT_PDS_RETRY, ERROR_BODY_MAX_BYTES } from '../../../functions/backfill-repo/fetch-car.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createGuardedFetch } from '../../../adapters/xrpc/guarded-fetch.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import { formatDidKey } from '../../../functions/atproto/crypto/keys.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { plcDid } from '../../helpers/dids.ts';
import { tid } from '../../helpers/events.ts';
import { countingFetch } from '../../helpers/counting-fetch.ts';
import { block, encodeCar } from '../../helpers/frames.ts';
import { encodeCbor } from '../../../functions/atproto/cbor.ts';
import { handMadeTree, type Shape } from '../../helpers/non-canonical-mst.ts';
import { listedInSync } from '../../../functions/listed-in-sync.ts';
import { syncedRepos } from '../../../adapters/postgres/repo-sync-states.ts';

type Behaviour = (res: http.ServerResponse) => void;
const behaviours = new Map<string, Behaviour>();
/** DIDs whose documents name a key of their own (a real repo signed by it), instead of KEY. */
const keys = new Map<string, string>();
let server: http.Server;
let base: string;
let db: IndexDb;

// A compressed secp256k1 point (the generator), valid as a key though no repo here is signed by it.
const KEY = formatDidKey({ curve: 'k256', bytes: Uint8Array.from(Buffer.from('0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798', 'hex')) }).slice('did:key:'.length);

function didDoc(did: string, pds: string) {
  return {
    id: did, alsoKnownAs: [`at://${did.slice(8)}.test`],
    verificationMethod: [{ id: '#atproto', type: 'Multikey', controller: did, publicKeyMultibase: keys.get(did) ?? KEY }],
    service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: pds }],
  };
}

beforeAll(async () => {
  db = await createIndexDb('hostile_pds');
  server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/plc/')) {
      const did = decodeURIComponent(url.pathname.slice(5));
      const pds = did === plcDid('internal') ? 'https://10.0.0.1' : `${base}/pds/${did}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(didDoc(did, pds)));
      return;
    }
    const did = url.pathname.split('/')[2] ?? '';
    const behave = behaviours.get(did);
    if (behave === undefined) res.writeHead(404).end();
    else behave(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await db.close();
});

function ports(overrides: Partial<BackfillPorts> = {}): BackfillPorts {
  return {
    clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch, timeoutMs: 1500,
    pdsRetry: { retries: 3, minDelayMs: 50, maxDelayMs: 100 },
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: `${base}/plc`, allowPrivate: true }),
    limits: { maxBytes: 256 * 1024, maxBlocks: 10_000, maxBlockBytes: 64 * 1024 },
    ...overrides,
  };
}

async function run(did: string, behave: Behaviour, p = ports()) {
  behaviours.set(did, behave);
  const started = Date.now();
  const { outcomes, reports } = await backfillRepos([{ did }], p);
  return { outcome: outcomes[0], report: reports[0], ms: Date.now() - started };
}

describe('backfill against a hostile PDS', () => {
  it('a body that trickles forever is cut at the deadline and retried later', async () => {
    // A real CAR, a byte every 200 ms: every byte so far is valid, so only the deadline can end it.
    const car = readFileSync(new URL('../../fixtures/indigo/testing/testdata/paul_staging.repo.car', import.meta.url));
    const { outcome, ms } = await run(plcDid('slowbody'), (res) => {
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' });
      let sent = 0;
      const timer = setInterval(() => res.write(car.subarray(sent, ++sent)), 200);
      res.on('close', () => clearInterval(timer));
    });
    expect(outcome).toMatchObject({ status: 'retry', reason: 'fetch_failed' });
    expect(ms).toBeLessThan(5000);
  });

  it('an endless body is cut at the size limit, without buffering it', async () => {
    const chunk = Buffer.alloc(64 * 1024, 7);
    const { outcome } = await run(plcDid('endless'), (res) => {
      res.writeHead(200);
      const pump = () => {
        while (res.write(chunk)) {
          /* keep writing until the socket pushes back */
        }
      };
      res.on('drain', pump);
      pump();
    });
    expect(outcome).toMatchObject({ status: 'dead' });
    expect(['repo_too_large', 'invalid_car']).toContain((outcome as { reason: string }).reason);
  });

  it('a PDS that keeps answering 429 makes the repo wait (no delivery counted), not retry towards the DLQ', async () => {
    const { outcome } = await run(plcDid('ratelimited'), (res) => res.writeHead(429).end('slow down'));
    expect(outcome).toMatchObject({ status: 'wait', reason: 'fetch_failed', message: expect.stringContaining('HTTP 429') });
  });

  it('a redirect from the PDS is not followed and is retried as its failure, not dead-lettered as an internal address', async () => {
    // Through the guarded fetch, as production wires it: its refusal of a redirect was forbidden_address, permanent, so a
    // PDS answering 302 for a while (a maintenance page, a host move) sent every repo it hosts to the DLQ at once.
    const guarded = ports({ fetch: createGuardedFetch({ allowPrivate: true }), pdsRetry: { retries: 0, minDelayMs: 10, maxDelayMs: 10 } });
    const { outcome } = await run(plcDid('redirecting'), (res) => res.writeHead(302, { location: 'https://status.example.com/' }).end(), guarded);
    expect(outcome).toMatchObject({ status: 'retry', reason: 'fetch_failed', message: expect.stringContaining('redirect (HTTP 302)') });
  });

  it('a 500 is retried; RepoTakendown updates the account and is not retried', async () => {
    expect((await run(plcDid('fivehundred'), (res) => res.writeHead(500).end('oops'))).outcome).toMatchObject({ status: 'retry', reason: 'fetch_failed' });
    const gone = await run(plcDid('takendown'), (res) =>
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'RepoTakendown', message: 'gone' })),
    );
    expect(gone.outcome).toEqual({ status: 'ok' });
    expect(gone.report).toMatchObject({ status: 'unavailable', reason: 'RepoTakendown' });
    expect(await db.sql.query(`select "upstreamStatus" from actor where did = '${plcDid('takendown')}'`)).toEqual([{ upstreamStatus: 'takendown' }]);
    expect(await db.sql.query(`select status, reason from repo_sync where did = '${plcDid('takendown')}'`)).toEqual([{ status: 'desynchronized', reason: 'RepoTakendown' }]);
  });

  it('an endless error body is read no further than its cap: the error outcome, the connection let go', async () => {
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let closed!: () => void;
    const serverClosed = new Promise<void>((r) => (closed = r));
    const read = { bytes: 0 };
    const { outcome } = await run(plcDid('endlesserror'), (res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      const pump = () => {
        while (res.write(chunk)) {
          /* keep writing until the socket pushes back */
        }
      };
      res.on('drain', pump);
      res.on('close', closed);
      pump();
    }, ports({ fetch: countingFetch(read) }));
    expect(outcome).toMatchObject({ status: 'retry', reason: 'fetch_failed', message: expect.stringContaining('HTTP 400') });
    // The cap, plus at most the chunk that crossed it; read to the deadline it is hundreds of megabytes.
    expect(read.bytes).toBeLessThanOrEqual(ERROR_BODY_MAX_BYTES + 256 * 1024);
    await serverClosed;
    // Read whole (the old res.text()), the body was not even cut at the 1.5 s deadline here: the call never returned.
  }, 10_000);

  it('bytes that are not a CAR are rejected as such', async () => {
    const { outcome } = await run(plcDid('notacar'), (res) => res.writeHead(200).end('<html>hello</html>'));
    expect(outcome).toMatchObject({ status: 'dead', reason: 'invalid_car' });
  });

  it('a signed repo whose MST node is wider than any real one is dead (mst_too_large), not fetched again and again', async () => {
    // Found by an audit: mst_too_large (a node over 1,024 entries, a tree over 64 deep) was retried as if the PDS
    // might serve another tree, downloading the same hostile repo once per delivery until the DLQ took it.
    const did = plcDid('widenode');
    const keypair = await Secp256k1Keypair.create();
    keys.set(did, keypair.did().slice('did:key:'.length));
    const record = await block({ $type: 'app.bsky.feed.post', text: 'x', createdAt: '2026-01-01T00:00:00.000Z' });
    // Prefix-compressed as a PDS writes them, so the node stays under the test's 64 KB block limit.
    const prefix = 'app.bsky.feed.post/3l4oq2p7ip';
    const e = Array.from({ length: 1025 }, (_, i) => {
      const suffix = String(i).padStart(4, '0');
      return i === 0 ? { k: new TextEncoder().encode(prefix + suffix), p: 0, t: null, v: record.cid } : { k: new TextEncoder().encode(suffix), p: prefix.length, t: null, v: record.cid };
    });
    const node = await block({ e, l: null });
    const unsigned = { did, version: 3, data: node.cid, rev: revAt(Date.now()), prev: null };
    const commit = await block({ ...unsigned, sig: await keypair.sign(encodeCbor(unsigned)) });
    const car = encodeCar(commit.cid, [commit, node, record]);
    const { outcome } = await run(did, (res) => res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car));
    expect(outcome).toMatchObject({ status: 'dead', reason: 'mst_too_large' });
  });

  it('a signed repo whose MST is not in canonical form is dead (invalid_mst) and recorded as such; the canonical one is indexed', async () => {
    // Found by an audit against the repository spec: a shorter key prefix than the common one, a raw-codec link
    // between MST nodes, and a root that only points to a subtree were walked as sound trees (as @atproto/repo
    // walks them), though the spec calls each invalid: one key set would have several root CIDs.
    const shapes: [Shape, string][] = [['canonical', 'canonicalmst'], ['non-minimal prefix', 'shortprefix'], ['raw-codec link', 'rawlink'], ['root only a pointer', 'pointerroot']];
    for (const [shape, name] of shapes) {
      const did = plcDid(name);
      const keypair = await Secp256k1Keypair.create();
      keys.set(did, keypair.did().slice('did:key:'.length));
      const tree = await handMadeTree(shape);
      const unsigned = { did, version: 3, data: tree.root, rev: revAt(Date.now()), prev: null };
      const commit = await block({ ...unsigned, sig: await keypair.sign(encodeCbor(unsigned)) });
      const car = encodeCar(commit.cid, [commit, ...tree.blocks]);
      const { outcome, report } = await run(did, (res) => res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car));
      const sync = await db.sql.query(`select status, reason from repo_sync where did = '${did}'`);
      if (shape === 'canonical') {
        expect(outcome, shape).toEqual({ status: 'ok' });
        expect(report, shape).toMatchObject({ status: 'synchronized', created: 3 });
        expect(sync, shape).toEqual([{ status: 'synchronized', reason: null }]);
      } else {
        expect(outcome, shape).toMatchObject({ status: 'dead', reason: 'invalid_mst' });
        expect(sync, shape).toEqual([{ status: 'desynchronized', reason: 'invalid_mst' }]);
      }
    }
  });

  it('a DID document that points the PDS at an internal address is refused when private addresses are not allowed', async () => {
    const strict = ports({ fetch: createGuardedFetch({ allowPrivate: false }) });
    const { outcome } = await run(plcDid('internal'), () => {}, strict);
    expect(outcome).toMatchObject({ status: 'dead', reason: 'forbidden_address' });
    expect((outcome as { message: string }).message).toContain('10.0.0.1');
  });

  it('a bad DID is a clear dead outcome, never a fetch', async () => {
    const { outcomes } = await backfillRepos([{ did: 'did:plc:' }], ports());
    expect(outcomes[0]).toMatchObject({ status: 'dead', reason: 'invalid_syntax' });
  });
});

const keypairs = new Map<string, Secp256k1Keypair>();

/**
 * A real repo of one post for `did`, signed by a key its document names (the same key for every repo of the DID), at
 * `o.rev` if given (else now), the post saying `o.text`.
 */
async function signedRepo(did: string, o: { rev?: string; text?: string } = {}): Promise<Buffer> {
  const keypair = keypairs.get(did) ?? (await Secp256k1Keypair.create());
  keypairs.set(did, keypair);
  keys.set(did, keypair.did().slice('did:key:'.length));
  const storage = new MemoryBlockstore();
  const writes = [
    { action: WriteOpAction.Create, collection: 'app.bsky.feed.post', rkey: '3l4oq2p7ipa2a', record: { $type: 'app.bsky.feed.post', text: o.text ?? 'hello', createdAt: '2026-01-01T00:00:00.000Z' } },
  ] as never;
  const repo = await Repo.createFromCommit(storage, await Repo.formatInitCommit(storage, did, keypair, writes, o.rev));
  return Buffer.from(await blocksToCarFile(repo.cid, storage.blocks));
}

/** The TID of a moment (ms since the epoch): microseconds in the top 53 bits, clock id 0. */
const revAt = (ms: number) => tid(ms * 1000 * 1024);

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('a PDS that restarts', () => {
  it('answering 503, 503, then dropping the connection, then serving: one call, no attempt spent', async () => {
    const did = plcDid('restarting');
    const car = await signedRepo(did);
    let requests = 0;
    const { outcome, report } = await run(did, (res) => {
      requests++;
      if (requests <= 2) res.writeHead(503).end('restarting');
      else if (requests === 3) res.socket?.destroy();
      else res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car);
    });
    expect(outcome).toEqual({ status: 'ok' });
    expect(report).toMatchObject({ status: 'synchronized', created: 1 });
    expect(requests).toBe(4);
  });

  it('by default, the tries within one delivery span at least half a minute (a restart of 20 s costs no attempt)', () => {
    const { retries, minDelayMs, maxDelayMs } = DEFAULT_PDS_RETRY;
    // p-retry waits min(random(1..2) * minDelayMs * 2^i, maxDelayMs) before try i + 1: the shortest schedule is random = 1.
    const shortest = Array.from({ length: retries }, (_, i) => Math.min(minDelayMs * 2 ** i, maxDelayMs)).reduce((a, b) => a + b, 0);
    expect(shortest).toBeGreaterThanOrEqual(30_000);
  });

  it("a 429's Retry-After is honoured between tries: the next request comes no earlier than asked", async () => {
    const did = plcDid('retryafter');
    const car = await signedRepo(did);
    const at: number[] = [];
    // Our own backoff (50 to 100 ms here) is far shorter than the 2 s asked: only the header can space the tries.
    const p = ports({ timeoutMs: 10_000, pdsRetry: { retries: 3, minDelayMs: 50, maxDelayMs: 5000 } });
    const { outcome } = await run(did, (res) => {
      at.push(performance.now());
      if (at.length === 1) res.writeHead(429, { 'retry-after': '2' }).end('slow down');
      else if (at.length === 2) res.writeHead(503, { 'retry-after': '1' }).end('restarting');
      else res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car);
    }, p);
    expect(outcome).toEqual({ status: 'ok' });
    expect(at).toHaveLength(3);
    // As the server saw them; a timer may fire a millisecond or so early against another clock.
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(2000 - 20);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(1000 - 20);
  });

  it('a Retry-After longer than a delivery waits ends its tries at once: a 429 waits, a 503 is retried as any 5xx', async () => {
    let limited = 0;
    const { outcome: waiting } = await run(plcDid('ratelimitedlong'), (res) => {
      limited++;
      res.writeHead(429, { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() }).end('slow down');
    });
    expect(waiting).toMatchObject({ status: 'wait', reason: 'fetch_failed', message: expect.stringContaining('HTTP 429') });
    expect(limited).toBe(1);
    let down = 0;
    const { outcome: retried } = await run(plcDid('maintenance'), (res) => {
      down++;
      res.writeHead(503, { 'retry-after': '600' }).end('maintenance');
    });
    expect(retried).toMatchObject({ status: 'retry', reason: 'fetch_failed', message: expect.stringContaining('HTTP 503') });
    expect(down).toBe(1);
  });

  it('a 429 whose Retry-After pause the download deadline cuts short still waits, not retries towards the DLQ', async () => {
    let requests = 0;
    const p = ports({ timeoutMs: 1000, pdsRetry: { retries: 3, minDelayMs: 50, maxDelayMs: 5000 } });
    const { outcome, ms } = await run(plcDid('ratelimiteddeadline'), (res) => {
      requests++;
      res.writeHead(429, { 'retry-after': '3' }).end('slow down');
    }, p);
    expect(outcome).toMatchObject({ status: 'wait', reason: 'fetch_failed', message: expect.stringContaining('HTTP 429') });
    expect(requests).toBe(1);
    expect(ms).toBeLessThan(2500);
  });

  it('a 4xx that is no known answer is not tried again within the call', async () => {
    let requests = 0;
    const { outcome } = await run(plcDid('badrequest'), (res) => {
      requests++;
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'InvalidRequest' }));
    });
    expect(outcome).toMatchObject({ status: 'retry', reason: 'fetch_failed', message: expect.stringContaining('HTTP 400 InvalidRequest') });
    expect(requests).toBe(1);
  });
});

describe('POST /reprocess/:did', () => {
  function app(p: BackfillPorts) {
    const bundle = createMetrics({ hosts: [], streams: [] });
    return createApp({
      auth: { dev: false, token: 't' }, bodyLimitBytes: 1024, ports: { ...db.ports, metrics: bundle.metrics },
      metrics: { contentType: bundle.registry.contentType, render: () => bundle.registry.metrics() }, readiness: [], backfill: p,
    });
  }
  const reprocess = (p: BackfillPorts, did: string) => app(p).request(`/reprocess/${did}`, { method: 'POST', headers: { authorization: 'Bearer t' } });

  it('422 for a repo that cannot be trusted, 502 for its PDS failing', async () => {
    behaviours.set(plcDid('httpnotacar'), (res) => res.writeHead(200).end('<html>'));
    const untrusted = await reprocess(ports(), plcDid('httpnotacar'));
    expect(untrusted.status).toBe(422);
    expect(await untrusted.json()).toMatchObject({ error: 'invalid_car' });
    behaviours.set(plcDid('httpfailing'), (res) => res.writeHead(500).end('oops'));
    const failing = await reprocess(ports(), plcDid('httpfailing'));
    expect(failing.status).toBe(502);
    expect(await failing.json()).toMatchObject({ error: 'fetch_failed' });
  });

  it('503 with Retry-After when the PLC directory or Postgres is down, and nothing is recorded against the repo', async () => {
    const did = plcDid('httpoutage');
    behaviours.set(did, (res) => res.writeHead(500).end('never asked'));
    const noPlc = ports({ identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: `http://127.0.0.1:${await closedPort()}`, allowPrivate: true }) });
    const plcDown = await reprocess(noPlc, did);
    expect(plcDown.status).toBe(503);
    expect(plcDown.headers.get('retry-after')).toBe('10');
    expect(await plcDown.json()).toEqual({ error: 'dependency_unavailable', dependency: 'plc', message: 'plc is unavailable; retry later' });
    expect(await db.sql.query(`select status, reason from repo_sync where did = $1`, [did])).toEqual([{ status: 'in-progress', reason: null }]);

    const unreachable = createSql(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { max: 1 });
    try {
      const pgDown = await reprocess(ports({ sql: unreachable }), did);
      expect(pgDown.status).toBe(503);
      expect(await pgDown.json()).toMatchObject({ dependency: 'postgres' });
    } finally {
      await unreachable.end();
    }
  });
});

describe('repo_backfill entries listed at a rev already synchronized', () => {
  it('are not fetched again', async () => {
    const did = plcDid('alreadyinsync');
    const car = await signedRepo(did);
    let requests = 0;
    behaviours.set(did, (res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car);
    });
    const first = await backfillRepos([{ did }], ports());
    expect(first.reports[0]).toMatchObject({ status: 'synchronized', created: 1 });
    const rev = first.reports[0]!.rev!;
    const again = await backfillRepos([{ did, rev, host: 'relay.example' }], ports());
    expect(again.outcomes).toEqual([{ status: 'ok' }]);
    expect(again.reports[0]).toMatchObject({ status: 'synchronized', rev, alreadySynchronized: true });
    expect(requests).toBe(1);
    // Listed at a newer rev than we hold: fetched.
    await backfillRepos([{ did, rev: 'zzzzzzzzzzzzz' }], ports());
    expect(requests).toBe(2);
  });

  it('are fetched when the listed account state is not the one stored (a missed #account), and the PDS answer applied', async () => {
    const did = plcDid('listedstate');
    const car = await signedRepo(did);
    let answer: 'car' | 'RepoTakendown' = 'car';
    let requests = 0;
    behaviours.set(did, (res) => {
      requests++;
      if (answer === 'car') res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car);
      else res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: answer, message: 'gone' }));
    });
    const state = async () => ({
      account: await db.sql.query(`select active, status from account_state where did = $1`, [did]),
      actor: await db.sql.query(`select "upstreamStatus" from actor where did = $1`, [did]),
    });
    const first = await backfillRepos([{ did }], ports());
    const rev = first.reports[0]!.rev!;
    expect(requests).toBe(1);
    // Deactivated live (repo_sync stays synchronized at its rev), then reactivated with that #account missed: the relay
    // lists it active at the same rev, and its PDS serves it.
    await indexBatch([{ type: 'account', seq: 1, time: new Date().toISOString(), did, active: false, status: 'deactivated' }], ports());
    expect(await state()).toEqual({ account: [{ active: false, status: 'deactivated' }], actor: [{ upstreamStatus: 'deactivated' }] });
    const up = await backfillRepos([{ did, rev, host: 'relay.example', active: true }], ports());
    expect(up.reports[0]).toMatchObject({ status: 'synchronized', rev });
    expect(up.reports[0]?.alreadySynchronized).toBeUndefined();
    expect(requests).toBe(2);
    expect(await state()).toEqual({ account: [{ active: true, status: null }], actor: [{ upstreamStatus: null }] });
    // Listed as stored (no `active` from an older host: active): not fetched.
    const same = await backfillRepos([{ did, rev, host: 'relay.example' }], ports());
    expect(same.reports[0]).toMatchObject({ alreadySynchronized: true });
    expect(requests).toBe(2);
    // Taken down, its #account missed: the relay lists it so at the same rev, and its PDS says so too.
    answer = 'RepoTakendown';
    const down = await backfillRepos([{ did, rev, host: 'relay.example', active: false, status: 'takendown' }], ports());
    expect(down.reports[0]).toMatchObject({ status: 'unavailable', reason: 'RepoTakendown' });
    expect(requests).toBe(3);
    expect(await state()).toEqual({ account: [{ active: false, status: 'takendown' }], actor: [{ upstreamStatus: 'takendown' }] });
    // Listed so again at a newer rev: its PDS refuses it, so a fetch would change nothing: not fetched.
    const again = await backfillRepos([{ did, rev: 'zzzzzzzzzzzzz', host: 'relay.example', active: false, status: 'takendown' }], ports());
    expect(again.reports[0]).toMatchObject({ status: 'synchronized', alreadySynchronized: true });
    expect(requests).toBe(3);
  });

  it('listed taken down by the relay itself while its PDS serves it: the relay\'s state stands, and the next listing is in sync', async () => {
    const did = plcDid('relaytakedown');
    const car = await signedRepo(did);
    let requests = 0;
    behaviours.set(did, (res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car);
    });
    const listing = { did, rev: 'zzzzzzzzzzzzz', host: 'relay.example', active: false, status: 'takendown' };
    const first = await backfillRepos([listing], ports());
    expect(first.reports[0]).toMatchObject({ status: 'synchronized' });
    expect(requests).toBe(1);
    // The PDS serving it says only that the PDS did not take it down: the relay we follow did, as its #account would say.
    expect(await db.sql.query(`select active, status from account_state where did = $1`, [did])).toEqual([{ active: false, status: 'takendown' }]);
    expect(await db.sql.query(`select "upstreamStatus" from actor where did = $1`, [did])).toEqual([{ upstreamStatus: 'takendown' }]);
    // Stored active, every sweep listed it otherwise and fetched it again: now the listing matches what is held.
    const again = await backfillRepos([listing], ports());
    expect(again.reports[0]).toMatchObject({ alreadySynchronized: true });
    expect(requests).toBe(1);
    expect(listedInSync(listing, (await syncedRepos(db.sql, [did])).get(did))).toBe(true);
    // Listed active again (the relay restored it): fetched, and active.
    await backfillRepos([{ ...listing, active: true, status: undefined }], ports());
    expect(requests).toBe(2);
    expect(await db.sql.query(`select active, status from account_state where did = $1`, [did])).toEqual([{ active: true, status: null }]);
  });
});

describe('a commit rev beyond the allowed clock drift', () => {
  it('is not processed: retried with future_rev, and repo_sync keeps the rev it held', async () => {
    const did = plcDid('futurerev');
    const now = Date.now();
    const current = await signedRepo(did, { rev: revAt(now - 60_000) });
    behaviours.set(did, (res) => res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(current));
    const first = await backfillRepos([{ did }], ports());
    expect(first.reports[0]).toMatchObject({ status: 'synchronized', rev: revAt(now - 60_000) });

    // The PDS's clock runs a year ahead: its signed commit would become a floor no real write ever passes.
    const future = await signedRepo(did, { rev: revAt(now + 365 * 24 * 3600_000), text: 'from the future' });
    const { outcome, report } = await run(did, (res) => res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(future));
    expect(outcome).toMatchObject({ status: 'retry', reason: 'future_rev' });
    expect(report?.status).not.toBe('synchronized');
    expect(await db.sql.query(`select status, rev, reason from repo_sync where did = $1`, [did])).toEqual([
      { status: 'desynchronized', rev: revAt(now - 60_000), reason: 'future_rev' },
    ]);
    expect(await db.sql.query(`select rev from record where did = $1`, [did])).toEqual([{ rev: revAt(now - 60_000) }]);
  });

  it('within the drift (a PDS a minute ahead) is processed', async () => {
    const did = plcDid('nearfuturerev');
    const rev = revAt(Date.now() + 60_000);
    const car = await signedRepo(did, { rev });
    const { outcome, report } = await run(did, (res) => res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car));
    expect(outcome).toEqual({ status: 'ok' });
    expect(report).toMatchObject({ status: 'synchronized', rev });
  });
});

describe('an older CAR after a newer one (a reprocess racing another, a PDS restored from a backup)', () => {
  it('leaves repo_sync at the newer rev and data CID', async () => {
    const did = plcDid('olderafternewer');
    const now = Date.now();
    const newer = await signedRepo(did, { rev: revAt(now - 60_000), text: 'newer' });
    const older = await signedRepo(did, { rev: revAt(now - 24 * 3600_000), text: 'older' });
    const first = await run(did, (res) => res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(newer));
    expect(first.report).toMatchObject({ status: 'synchronized', rev: revAt(now - 60_000) });
    const held = await db.sql.query(`select rev, "dataCid" from repo_sync where did = $1`, [did]);
    expect(held).toEqual([{ rev: revAt(now - 60_000), dataCid: expect.any(String) }]);

    const second = await run(did, (res) => res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(older));
    expect(second.outcome).toEqual({ status: 'ok' });
    expect(await db.sql.query(`select status, rev, "dataCid" from repo_sync where did = $1`, [did])).toEqual([{ status: 'synchronized', ...held[0] }]);
    expect(await db.sql.query(`select rev from record where did = $1`, [did])).toEqual([{ rev: revAt(now - 60_000) }]);
  });
});
