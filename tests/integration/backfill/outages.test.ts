// Outages under a running backfill are waited out, never judged (issue 8, item 4). A real PLC and PDS
// (@atproto/dev-env), the repo_backfill consumer as `skytide run --only backfill` wires it, and a Postgres of the
// test's own that is stopped mid-run, then a PLC directory taken off the network (a TCP proxy that refuses
// connections), each for longer than the entries' attempts would last. Afterwards nothing is dead-lettered but a repo
// that is really bad (a real repo signed by a key its DID document does not name), no repo was marked
// desynchronized for the outage, every repo is synchronized and equal to its PDS, and the waits were counted.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { Secp256k1Keypair } from '@atproto/crypto';
import { Repo, MemoryBlockstore, WriteOpAction, blocksToCarFile } from '@atproto/repo';
import { Client as PlcClient } from '@did-plc/lib';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createIdentityResolver } from '../../../adapters/identity/resolver.ts';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { applyMigrations } from '../../../adapters/postgres/migrate.ts';
import { createMetrics, type MetricsBundle } from '../../../adapters/observability/metrics.ts';
import { createOutageBoard, type OutageBoard } from '../../../adapters/observability/outage-board.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { parseRepoFields } from '../../../long-runners/consumer/parse-repo-fields.ts';
import { backfillRepos, type BackfillPorts } from '../../../functions/backfill-repo/handler.ts';
import { silentLog, systemClock, type Fetch, type Log } from '../../../functions/ports.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { startDevNetwork, type DevNetwork, type DevUser } from '../../helpers/dev-network.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../../helpers/private-services.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcp-proxy.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { readTruth } from '../../helpers/pds-truth.ts';
import { readIndex } from '../../helpers/read-index.ts';
import { waitFor } from '../../helpers/wait.ts';

const MAX_ATTEMPTS = 2;
/** Longer than a call may block while postgres.js backs off reconnecting, so no entry is claimed twice meanwhile. */
const CLAIM_IDLE_MS = 1500;
/** Longer than every attempt of an entry would last if each failed and came back after CLAIM_IDLE_MS. */
const OUTAGE_MS = (MAX_ATTEMPTS + 3) * CLAIM_IDLE_MS;

let network: DevNetwork;
let pg: PrivatePostgres;
let sql: PostgresSql;
let redis: Redis;
let cleanupRedis: () => Promise<void>;
let plcProxy: TcpProxy;
let hostile: http.Server;
let users: DevUser[];
let forgedDid: string;

/** A DID in the real PLC whose document names one key, served by a PDS of ours with a real repo signed by another. */
async function createForgedRepo(plcUrl: string): Promise<string> {
  const [named, signer, rotation] = await Promise.all([Secp256k1Keypair.create(), Secp256k1Keypair.create(), Secp256k1Keypair.create()]);
  let car: Uint8Array = new Uint8Array();
  hostile = http.createServer((req, res) => {
    if ((req.url ?? '').startsWith('/xrpc/com.atproto.sync.getRepo')) res.writeHead(200, { 'content-type': 'application/vnd.ipld.car' }).end(car);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', () => r()));
  const pds = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  const did = await new PlcClient(plcUrl).createDid({ signingKey: named.did(), handle: 'forged.test', pds, rotationKeys: [rotation.did()], signer: rotation });
  const storage = new MemoryBlockstore();
  const repo = await Repo.create(storage, did, signer, [
    { action: WriteOpAction.Create, collection: 'app.bsky.feed.post', rkey: '3l4oq2p7ipa2a', record: { $type: 'app.bsky.feed.post', text: 'forged', createdAt: '2026-01-01T00:00:00.000Z' } },
  ] as never);
  car = await blocksToCarFile(repo.cid, storage.blocks);
  return did;
}

beforeAll(async () => {
  [network, pg] = await Promise.all([startDevNetwork(), startPrivatePostgres()]);
  sql = createSql(pg.url, { max: 4 });
  await applyMigrations(sql);
  ({ redis, cleanup: cleanupRedis } = await createTestRedis('backfill_outages'));
  const plc = new URL(network.plcUrl);
  plcProxy = await startTcpProxy({ target: { host: plc.hostname, port: Number(plc.port) } });
  users = [];
  for (const name of ['olga', 'omar', 'otto', 'oona', 'orla']) {
    const u = await network.createUser(name);
    await u.agent.upsertProfile(() => ({ displayName: name }));
    for (let i = 0; i < 3; i++) await u.agent.post({ text: `${name} ${i}`, createdAt: new Date().toISOString() });
    users.push(u);
  }
  await users[0]!.agent.follow(users[1]!.did);
  const liked = await users[1]!.agent.post({ text: 'liked', createdAt: new Date().toISOString() });
  await users[2]!.agent.like(liked.uri, liked.cid);
  forgedDid = await createForgedRepo(network.plcUrl);
}, 180_000);

afterAll(async () => {
  await Promise.all([
    network?.close(), cleanupRedis?.(), plcProxy?.close(),
    hostile === undefined ? undefined : new Promise((r) => hostile.close(r)),
    (async () => {
      await sql?.end();
      await pg?.close();
    })(),
  ]);
}, 60_000);

interface Run {
  keys: KeySpace;
  metrics: MetricsBundle;
  outages: OutageBoard;
  lines: string[];
  stop(): Promise<void>;
}

/** Two repo_backfill consumer loops, as backfillTasks wires them (probe, outage board), over `ports`. */
function startBackfill(fetch: Fetch): Run {
  const keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  const metrics = createMetrics({ hosts: [], streams: [STREAMS.repoBackfill] });
  const lines: string[] = [];
  const log: Log = { ...silentLog, info: (msg) => void lines.push(msg), warn: (msg) => void lines.push(msg), child: () => log };
  const outages = createOutageBoard({ log, metrics: metrics.metrics });
  const ports: BackfillPorts = {
    clock: systemClock, log: silentLog, metrics: metrics.metrics, sql, fetch, timeoutMs: 15_000, concurrency: 1,
    pdsRetry: { retries: 2, minDelayMs: 50, maxDelayMs: 200 },
    identity: createIdentityResolver({ fetch: globalThis.fetch, plcUrl: `http://127.0.0.1:${plcProxy.port}`, allowPrivate: true }),
  };
  const controller = new AbortController();
  const loops = [0, 1].map((i) =>
    runStreamConsumer({
      redis, keys, stream: STREAMS.repoBackfill, group: GROUPS.repoBackfill, consumer: `bf-${i}`, batchSize: 1, blockMs: 50,
      claimIdleMs: CLAIM_IDLE_MS, maxAttempts: MAX_ATTEMPTS, parse: parseRepoFields,
      probe: async () => void (await sql.query('select 1')), outages,
      handle: async (items) => (await backfillRepos(items, ports)).outcomes,
      log: silentLog, metrics: metrics.metrics, signal: controller.signal, backoff: { baseMs: 50, maxMs: 300 },
    }),
  );
  return {
    keys, metrics, outages, lines,
    stop: async () => {
      controller.abort();
      await Promise.all(loops);
    },
  };
}

async function queue(keys: KeySpace, dids: readonly string[]): Promise<void> {
  for (const did of dids) await redis.xadd(keys.stream(STREAMS.repoBackfill), '*', 'repo', JSON.stringify({ did, host: network.pdsUrl }));
}

async function drained(keys: KeySpace): Promise<void> {
  const stream = keys.stream(STREAMS.repoBackfill);
  await waitFor(async () => (await redis.xlen(stream)) + Number(((await redis.xpending(stream, GROUPS.repoBackfill)) as [number])[0]), (n) => n === 0, 'backfill drained', 60_000);
}

async function dlq(keys: KeySpace): Promise<{ repo: string; reason: string }[]> {
  return (await redis.xrange(keys.dlq(STREAMS.repoBackfill), '-', '+')).map(([, f]) => ({ repo: JSON.parse(f[f.indexOf('repo') + 1]!).did as string, reason: f[f.indexOf('reason') + 1]! }));
}

const syncStates = async (dids: readonly string[]) =>
  checkRows(await sql.query(`select did, status, reason from repo_sync where did = any($1::text[]) order by did`, [dids]), { did: 'string', status: 'string', reason: 'string?' });
const waits = async (m: MetricsBundle, dependency: string) =>
  Number((await m.registry.metrics()).match(new RegExp(`skytide_outage_waits_total\\{dependency="${dependency}"\\} (\\d+)`))?.[1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('outages under a running backfill', () => {
  it('Postgres stopped mid-run: nothing dead-lettered, nothing marked for the outage, all synchronized after', { timeout: 120_000 }, async () => {
    // Every getRepo after the first waits at the gate until Postgres is down, so the outage lands mid-run.
    let fetches = 0;
    let openGate: () => void = () => {};
    const gate = new Promise<void>((r) => (openGate = r));
    const gated: Fetch = async (input, init) => {
      if (String(input).includes('getRepo') && ++fetches > 1) await gate;
      return globalThis.fetch(input, init);
    };
    const run = startBackfill(gated);
    try {
      await queue(run.keys, [...users.map((u) => u.did), forgedDid]);
      await waitFor(async () => (await syncStates(users.map((u) => u.did))).filter((s) => s.status === 'synchronized').length, (n) => n >= 1, 'a first repo synchronized');
      await pg.stop('fast');
      openGate();
      await sleep(OUTAGE_MS);
      expect(run.outages.degraded()).toEqual([expect.stringMatching(/^waiting on postgres since /)]);
      expect(await dlq(run.keys)).toEqual([]);
      await pg.start();
      await drained(run.keys);
      await run.stop();

      expect(await dlq(run.keys)).toEqual([{ repo: forgedDid, reason: 'bad_signature' }]);
      const dids = users.map((u) => u.did);
      expect(await syncStates(dids)).toEqual([...dids].sort().map((did) => ({ did, status: 'synchronized', reason: null })));
      expect(await readIndex(sql, dids)).toEqual(await readTruth(users));
      expect(await waits(run.metrics, 'postgres')).toBeGreaterThan(0);
      expect(run.lines.filter((l) => l === 'outage started' || l === 'outage ended')).toEqual(['outage started', 'outage ended']);
      expect(run.outages.degraded()).toEqual([]);
    } finally {
      openGate();
      if (!pg.running) await pg.start();
      await run.stop();
    }
  });

  it('the PLC directory unreachable: the repos wait, none is marked desynchronized or dead-lettered, all synchronized after', { timeout: 120_000 }, async () => {
    await sql.query(`truncate repo_sync`);
    const run = startBackfill(globalThis.fetch);
    try {
      await plcProxy.setMode('refuse');
      await queue(run.keys, users.map((u) => u.did));
      await waitFor(() => run.outages.degraded(), (d) => d.length === 1, 'waiting on plc');
      expect(run.outages.degraded()).toEqual([expect.stringMatching(/^waiting on plc since /)]);
      await sleep(OUTAGE_MS);
      expect(await dlq(run.keys)).toEqual([]);
      // Queued and being worked on, never judged: in-progress at most.
      expect((await syncStates(users.map((u) => u.did))).filter((s) => s.status !== 'in-progress')).toEqual([]);
      await plcProxy.setMode('open');
      await drained(run.keys);
      await run.stop();

      expect(await dlq(run.keys)).toEqual([]);
      const dids = users.map((u) => u.did);
      expect(await syncStates(dids)).toEqual([...dids].sort().map((did) => ({ did, status: 'synchronized', reason: null })));
      expect(await waits(run.metrics, 'plc')).toBeGreaterThan(0);
      expect(run.lines.filter((l) => l === 'outage started' || l === 'outage ended')).toEqual(['outage started', 'outage ended']);
    } finally {
      await plcProxy.setMode('open');
      await run.stop();
    }
  });
});
