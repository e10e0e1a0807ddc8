// An identity outage is waited out on the live path (issue 8 item 5): a real PLC directory and PDS on loopback, the
// adapter resolving through a proxy that refuses every connection for a while, with an empty identity cache.
// Commits are neither dropped nor sent for a resync: they wait, parked with every later frame of their DID, and land
// verified, in per-DID order, once the directory answers; a DID the directory keeps failing holds up no other DID;
// and what waits survives a SIGKILL of the adapter. The oracle is the same firehose ingested with the PLC up.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runFirehoseIngester } from '../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { createMetrics } from '../../adapters/observability/metrics.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import { withRedisCache } from '../../adapters/identity/redis-cache.ts';
import { withOutageBreaker } from '../../adapters/identity/outage-breaker.ts';
import { createRepoStateStore } from '../../adapters/redis/repo-state.ts';
import { countWaitingDids } from '../../adapters/redis/identity-waits.ts';
import { silentLog } from '../../functions/ports.ts';
import { startDevNetwork, type DevNetwork, type DevUser } from '../helpers/dev-network.ts';
import { startPlcProxy, type PlcProxy } from '../helpers/plc-proxy.ts';
import { createTestRedis, TEST_REDIS_URL } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const CLI = new URL('../../long-runners/cli/main.ts', import.meta.url).pathname;

let network: DevNetwork;
let proxy: PlcProxy;
let redis: Redis;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  network = await startDevNetwork();
  proxy = await startPlcProxy(network.plcUrl);
  ({ redis, cleanup } = await createTestRedis('identity_outage'));
}, 120_000);
afterAll(async () => {
  await Promise.all([proxy?.close(), network?.close(), cleanup?.()]);
});

/** The adapter as `skytide run` wires it (cache, breaker, resolver; repo state), on its own key prefix. */
function startAdapter(keys: KeySpace, plcUrl: string) {
  const bundle = createMetrics({ hosts: [hostKey(network.firehoseHost)], streams: Object.values(STREAMS) });
  const breaker = withOutageBreaker(createIdentityResolver({ fetch: globalThis.fetch, plcUrl, allowPrivate: true }), { log: silentLog, baseMs: 100, maxMs: 500 });
  const identity = withRedisCache(breaker, { redis, prefix: keys.stream(''), log: silentLog });
  const controller = new AbortController();
  const done = runFirehoseIngester({
    redis, keys, host: network.firehoseHost, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 30, initialCursor: 0,
    log: silentLog, metrics: bundle.metrics, signal: controller.signal, backoff: { baseMs: 50, maxMs: 300, healthyAfterMs: 5000 },
    identity, outages: breaker, repoState: createRepoStateStore(redis, keys.stream('')), waitRetry: { baseMs: 100, maxMs: 500 },
  });
  const count = async (name: string, labels: string) =>
    Number((await bundle.registry.metrics()).split('\n').find((l) => l.startsWith(`${name}{${labels}}`))?.split(' ').at(-1) ?? NaN);
  return {
    count,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

type Ev = { type: string; did: string; seq: number; rev?: string; collection?: string; rkey?: string; cid?: string };

async function eventsByDid(keys: KeySpace): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [, fields] of await redis.xrange(keys.stream(STREAMS.firehoseLive), '-', '+')) {
    const e = JSON.parse(fields[1] ?? '{}') as Ev;
    const list = out.get(e.did) ?? [];
    list.push([e.type, e.seq, e.rev ?? '', e.collection ?? '', e.rkey ?? '', e.cid ?? ''].join(' '));
    out.set(e.did, list);
  }
  return out;
}

const cursorOf = (keys: KeySpace) => async () => Number((await redis.get(keys.cursor(STREAMS.firehoseLive, network.firehoseHost))) ?? -1);
const fresh = () => createKeySpace(`${Math.random().toString(36).slice(2)}:`);

/** What the adapter writes with the directory up all along: the oracle. */
async function reference(): Promise<Map<string, string[]>> {
  const keys = fresh();
  const adapter = startAdapter(keys, network.plcUrl);
  try {
    const latest = await network.latestSeq();
    await waitFor(cursorOf(keys), (c) => c >= latest, `reference at seq ${latest}`, 30_000);
    return await eventsByDid(keys);
  } finally {
    await adapter.stop();
  }
}

async function write(users: DevUser[], rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    for (const u of users) {
      const post = await u.agent.post({ text: `${u.name} ${i}`, createdAt: new Date().toISOString() });
      if (i % 2 === 1) await u.agent.like(post.uri, post.cid);
    }
  }
}

const recordEvents = (events: string[] | undefined) => (events ?? []).filter((e) => /^(create|update|delete) /.test(e));

describe('e2e: an identity outage is waited out on the live path', () => {
  it('parks commits while the PLC is unreachable and writes them all, verified and in per-DID order, once it answers; a DID it keeps failing holds up no other', async () => {
    const [alice, bob, carol] = [await network.createUser('olga'), await network.createUser('piet'), await network.createUser('quin')] as [DevUser, DevUser, DevUser];
    const keys = fresh();
    proxy.refuse(true);
    proxy.failing.add(carol.did);
    const adapter = startAdapter(keys, proxy.url);
    try {
      await write([alice, bob, carol], 4);
      const latest = await network.latestSeq();
      await waitFor(cursorOf(keys), (c) => c >= latest, `cursor at ${latest}`, 30_000);
      // Every commit waits; none is judged, none is sent for a resync.
      expect(await countWaitingDids(redis, keys, network.firehoseHost)).toBe(3);
      const during = await eventsByDid(keys);
      for (const u of [alice, bob, carol]) expect(recordEvents(during.get(u.did))).toEqual([]);
      expect(await redis.xlen(keys.stream(STREAMS.repoBackfill))).toBe(0);

      // The directory answers again, except for carol.
      proxy.refuse(false);
      await waitFor(() => countWaitingDids(redis, keys, network.firehoseHost), (n) => n === 1, 'only carol waiting', 30_000);
      const truth = await reference();
      const partial = await eventsByDid(keys);
      expect(partial.get(alice.did)).toEqual(truth.get(alice.did));
      expect(partial.get(bob.did)).toEqual(truth.get(bob.did));
      expect(recordEvents(partial.get(carol.did))).toEqual([]);

      // Carol's lookups succeed again: her frames follow, in order.
      proxy.failing.delete(carol.did);
      await waitFor(() => countWaitingDids(redis, keys, network.firehoseHost), (n) => n === 0, 'nobody waiting', 30_000);
      const after = await eventsByDid(keys);
      for (const u of [alice, bob, carol]) {
        expect(recordEvents(truth.get(u.did)).length).toBeGreaterThan(0);
        expect(after.get(u.did)).toEqual(truth.get(u.did));
      }

      expect(await redis.xlen(keys.stream(STREAMS.repoBackfill))).toBe(0);
      expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
      expect(await redis.xlen(keys.dlq(STREAMS.repoBackfill))).toBe(0);
      const host = `host="${hostKey(network.firehoseHost)}"`;
      for (const reason of ['identity_failed', 'bad_signature', 'dependency_unavailable', 'stale_rev', 'prev_data_mismatch', 'seq_not_increasing']) {
        expect([reason, await adapter.count('skytide_firehose_errors_total', `${host},reason="${reason}"`)]).toEqual([reason, 0]);
      }
      expect(await adapter.count('skytide_identity_waits_total', `${host},on="plc"`)).toBe(3);
    } finally {
      proxy.refuse(false);
      proxy.failing.clear();
      await adapter.stop();
    }
  }, 120_000);

  it('keeps what waits through a SIGKILL of the adapter: parked frames and waiting DIDs are in Redis, not in its memory', async () => {
    const users = [await network.createUser('rosa'), await network.createUser('sven')];
    const prefix = `${Math.random().toString(36).slice(2)}:`;
    const keys = createKeySpace(prefix);
    const spawnAdapter = (): ChildProcess =>
      spawn(process.execPath, [CLI, 'run', '--only', 'firehose'], {
        env: {
          PATH: process.env['PATH'] ?? '', REDIS_URL: TEST_REDIS_URL, REDIS_KEY_PREFIX: prefix, INGESTER_RELAY_HOSTS: network.firehoseHost,
          FIREHOSE_INITIAL_CURSOR: '0', INGESTER_BATCH_SIZE: '25', INGESTER_BATCH_TIMEOUT_MS: '20', LOG_LEVEL: 'error',
          PLC_URL: proxy.url, IDENTITY_ALLOW_PRIVATE: 'true',
          HTTP_PORT: '0', // every `run` process serves /health: any free port
        },
        stdio: 'ignore',
      });
    proxy.refuse(true);
    const first = spawnAdapter();
    try {
      await write(users, 3);
      const latest = await network.latestSeq();
      await waitFor(cursorOf(keys), (c) => c >= latest, `cursor at ${latest}`, 30_000);
      // From cursor 0 with an empty cache, every account on the PDS waits, these two among them.
      for (const u of users) expect(await redis.hexists(keys.waiting(STREAMS.firehoseLive, network.firehoseHost), u.did)).toBe(1);
      expect(recordEvents((await eventsByDid(keys)).get(users[0]!.did))).toEqual([]);
    } finally {
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
    }
    proxy.refuse(false);
    const second = spawnAdapter();
    try {
      // The killed adapter's lease (SUBSCRIPTION_LEASE_TTL_MS) runs out before the new one may connect.
      await waitFor(() => countWaitingDids(redis, keys, network.firehoseHost), (n) => n === 0, 'nobody waiting after the restart', 60_000);
      const truth = await reference();
      const after = await eventsByDid(keys);
      for (const u of users) {
        expect(recordEvents(after.get(u.did)).length).toBeGreaterThan(0);
        expect(after.get(u.did)).toEqual(truth.get(u.did));
      }
      expect(await redis.xlen(keys.stream(STREAMS.repoBackfill))).toBe(0);
    } finally {
      second.kill('SIGTERM');
      await new Promise((r) => second.once('exit', r));
      proxy.refuse(false);
    }
  }, 120_000);
});
