// The resync requests of an index batch that has committed reach repo_backfill even when Redis refuses them at first.
// The refusal is an outage, waited out with the batch kept claimed (no delivery counted, the wait on the outage
// board), and the batch called again asks again although its change is now stored (a duplicate of the same event:
// account_state keeps what it asked for, migration 0010). The index loop as
// `skytide run --only index` wires it (createResources + buildTasks), on a redis-server of the test's own whose
// maxmemory is set below its use: XADD is refused (OOM) while reads and acknowledgements still pass.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { parseConfig } from '../../../adapters/config/parse.ts';
import { createResources, type Resources } from '../../../long-runners/cli/resources.ts';
import { buildTasks } from '../../../long-runners/cli/tasks.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { startPrivateRedis, type PrivateRedis } from '../../helpers/private-services.ts';
import { account } from '../../helpers/events.ts';
import { waitFor } from '../../helpers/wait.ts';

const DID = 'did:plc:resyncqueueresyncqueuexx';

let db: IndexDb;
let server: PrivateRedis;
let redis: Redis;
let r: Resources;
const lines: Record<string, unknown>[] = [];
const controller = new AbortController();
let running: Promise<unknown>[] = [];

beforeAll(async () => {
  [db, server] = await Promise.all([createIndexDb('resync_queue'), startPrivateRedis()]);
  redis = new Redis(server.url);
  const { config } = parseConfig({
    REDIS_URL: server.url, DATABASE_URL: db.url, INDEXER_STREAMS: STREAMS.firehoseLive, INDEXER_CONSUMER: 'resync-test', LOG_LEVEL: 'warn',
  });
  const created = createResources(config, 'resync-queue-test');
  r = { ...created, log: createLogger({ level: 'warn', component: 'resync-queue-test', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }) };
  running = buildTasks(r, ['index']).map((t) => t.run(controller.signal));
  // The loop has made its group and is reading.
  await waitFor(() => redis.xinfo('GROUPS', r.keys.stream(STREAMS.firehoseLive)).catch(() => []), (groups) => (groups as unknown[]).length > 0, 'the consumer group');
});

afterAll(async () => {
  controller.abort();
  await Promise.allSettled(running);
  await r?.close();
  redis?.disconnect();
  await server?.close();
  await db?.close();
});

describe('resync requests of a committed batch', () => {
  it('are queued once Redis takes writes again: the refusal is waited out and the retried batch asks again', async () => {
    const live = r.keys.stream(STREAMS.firehoseLive);
    // The event, then Redis full, in one MULTI: the loop reads the event only once writes are refused.
    await redis.multi().xadd(live, '*', 'event', JSON.stringify(account(DID, true, undefined, 1))).config('SET', 'maxmemory', '1').exec();
    await waitFor(() => db.sql.query(`select did from account_state where did = $1`, [DID]), (rows) => rows.length === 1, 'the batch committed');
    // Redis has refused the requests: the loop waits on it, as /ready's degraded check shows.
    await waitFor(() => r.outages.snapshot(), (outages) => outages.some((o) => o.dependency === 'redis'), 'a wait on redis');
    expect(await redis.xlen(r.keys.stream(STREAMS.repoBackfill))).toBe(0);
    // The entry waits, not acknowledged, while its batch's requests are not queued.
    expect(Number(((await redis.xpending(live, GROUPS.firehose)) as [number])[0])).toBe(1);

    await redis.config('SET', 'maxmemory', '0');
    const queued = await waitFor(() => redis.xrange(r.keys.stream(STREAMS.repoBackfill), '-', '+'), (entries) => entries.length > 0, 'the resync request');
    expect(queued.map(([, fields]) => JSON.parse(fields[1] as string) as unknown)).toEqual([{ did: DID, host: '', rev: '', active: true, reason: 'account_active' }]);
    await waitFor(async () => Number(((await redis.xpending(live, GROUPS.firehose)) as [number])[0]) + (await redis.xlen(live)), (n) => n === 0, 'the entry acknowledged');
    expect(r.outages.snapshot()).toEqual([]);
    expect(lines.filter((line) => line['level'] === 'error')).toEqual([]);
  });
});
