// Account events through the live pipeline against a real PDS: deactivation and reactivation, and deletion, each
// ending with the index equal to the PDS's truth. Deleted and reactivated accounts are resynced through
// repo_backfill; a deletion is confirmed by the PDS (RepoNotFound) before the account's rows go.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createKeySpace, GROUPS, STREAMS } from '../../adapters/redis/keys.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import { createRepoStateStore } from '../../adapters/redis/repo-state.ts';
import { appendBatch } from '../../adapters/redis/stream-writer.ts';
import { runFirehoseIngester } from '../../long-runners/firehose/firehose-ingester.ts';
import { runStreamConsumer } from '../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../long-runners/consumer/parse-event-fields.ts';
import { parseRepoFields } from '../../long-runners/consumer/parse-repo-fields.ts';
import { indexBatch } from '../../functions/index/handler.ts';
import { backfillRepos, type BackfillPorts } from '../../functions/backfill-repo/handler.ts';
import { noMetrics, silentLog, systemClock } from '../../functions/ports.ts';
import { startDevNetwork, type DevNetwork, type DevUser } from '../helpers/dev-network.ts';
import { createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { createTestRedis } from '../helpers/services.ts';
import { readTruth } from '../helpers/pds-truth.ts';
import { readIndex } from '../helpers/read-index.ts';
import { waitFor } from '../helpers/wait.ts';

let network: DevNetwork;
let db: IndexDb;
let redis: Redis;
let cleanupRedis: () => Promise<void>;
const keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
const controller = new AbortController();
let tasks: Promise<void>[] = [];

beforeAll(async () => {
  [network, db] = await Promise.all([startDevNetwork(), createIndexDb('e2e_accounts')]);
  ({ redis, cleanup: cleanupRedis } = await createTestRedis('e2e_accounts'));
  const identity = createIdentityResolver({ fetch: globalThis.fetch, plcUrl: network.plcUrl, allowPrivate: true });
  const ports: BackfillPorts = { clock: systemClock, log: silentLog, metrics: noMetrics, sql: db.sql, fetch: globalThis.fetch, identity };
  const signal = controller.signal;
  tasks = [
    runFirehoseIngester({
      redis, keys, host: network.firehoseHost, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 30, initialCursor: 0,
      log: silentLog, metrics: noMetrics, signal, identity, repoState: createRepoStateStore(redis, keys.stream('')),
      backoff: { baseMs: 50, maxMs: 300, healthyAfterMs: 5000 },
    }),
    runStreamConsumer({
      redis, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: 'acct-index', batchSize: 100, blockMs: 50,
      claimIdleMs: 5000, maxAttempts: 5, parse: parseEventFields, log: silentLog, metrics: noMetrics, signal,
      handle: async (events) => {
        const result = await indexBatch(events, ports);
        const stream = keys.stream(STREAMS.repoBackfill);
        await appendBatch(redis, { entries: result.resync.map((r) => ({ stream, fields: { repo: JSON.stringify(r) } })) });
        return result.outcomes;
      },
    }),
    runStreamConsumer({
      redis, keys, stream: STREAMS.repoBackfill, group: GROUPS.repoBackfill, consumer: 'acct-backfill', batchSize: 1, blockMs: 50,
      claimIdleMs: 30_000, maxAttempts: 3, parse: parseRepoFields, log: silentLog, metrics: noMetrics, signal,
      handle: async (items) => (await backfillRepos(items, ports)).outcomes,
    }),
  ];
}, 120_000);

afterAll(async () => {
  controller.abort();
  await Promise.all(tasks);
  await Promise.all([network?.close(), db?.close(), cleanupRedis?.()]);
});

async function settle(): Promise<void> {
  const latest = await network.latestSeq();
  await waitFor(async () => Number((await redis.get(keys.cursor(STREAMS.firehoseLive, network.firehoseHost))) ?? -1), (c) => c >= latest, 'cursor', 30_000);
  await waitFor(async () => {
    let n = 0;
    for (const [name, group] of [[STREAMS.firehoseLive, GROUPS.firehose], [STREAMS.repoBackfill, GROUPS.repoBackfill]] as const) {
      const key = keys.stream(name);
      n += (await redis.xlen(key)) + Number(((await redis.xpending(key, group)) as [number])[0]);
    }
    return n;
  }, (n) => n === 0, 'streams drained', 60_000);
}

const status = async (did: string) => (await db.sql.query<{ s: string | null }>(`select "upstreamStatus" as s from actor where did = $1`, [did]))[0]?.s;

describe('e2e: account lifecycle through the live pipeline', () => {
  let vic: DevUser;
  let wes: DevUser;

  it('deactivation is recorded, and after reactivation the index equals the PDS truth', async () => {
    vic = await network.createUser('vic');
    wes = await network.createUser('wes');
    const post = await vic.agent.post({ text: 'before a break', createdAt: new Date().toISOString() });
    await wes.agent.like(post.uri, post.cid);
    await wes.agent.follow(vic.did);
    await settle();
    await vic.agent.com.atproto.server.deactivateAccount({});
    await settle();
    expect(await status(vic.did)).toBe('deactivated');
    await vic.agent.com.atproto.server.activateAccount();
    await vic.agent.post({ text: 'back again', createdAt: new Date().toISOString() });
    await settle();
    expect(await status(vic.did)).toBeNull();
    expect(await readIndex(db.sql, [vic.did, wes.did])).toEqual(await readTruth([vic, wes]));
  });

  it('a deletion, confirmed by the PDS, removes the account and corrects the counts it fed', async () => {
    await vic.agent.follow(wes.did);
    await settle();
    const res = await fetch(`${network.pdsUrl}/xrpc/com.atproto.admin.deleteAccount`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from('admin:admin-pass').toString('base64')}` },
      body: JSON.stringify({ did: vic.did }),
    });
    expect(res.status).toBe(200);
    await settle();
    expect(await status(vic.did)).toBe('deleted');
    expect(await db.sql.query(`select count(*)::int as n from record where did = $1 and json <> ''`, [vic.did])).toEqual([{ n: 0 }]);
    expect(await db.sql.query(`select "followersCount" from profile_agg where did = $1`, [wes.did])).toEqual([{ followersCount: 0 }]);
    expect(await readIndex(db.sql, [wes.did])).toEqual(await readTruth([wes]));
  });
});
