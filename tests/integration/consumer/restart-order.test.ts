// A consumer that dies holding a batch and restarts under the same name (INDEXER_CONSUMER, or hostname-pid in a
// restarted container) processes what it held before anything newer, at once, not claimIdleMs later: otherwise a
// DID's later events are indexed before its earlier ones, and an #account change is not guarded by the rev rule.
// End to end: the real consumer, parser and index function on a Postgres schema of the file's own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { readBacklog } from '../../../adapters/redis/consumer-group.ts';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { noMetrics, silentLog } from '../../../functions/ports.ts';
import { checkRows } from '../../../functions/sql-rows.ts';
import { createIndexDb, type IndexDb } from '../../helpers/index-db.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { account, post, write } from '../../helpers/events.ts';
import { waitFor } from '../../helpers/wait.ts';

const ALICE = 'did:plc:alice00000000000000000000';
const CONSUMER = 'host-1-0';

let db: IndexDb;
let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  db = await createIndexDb('restart_order');
  ({ redis, prefix, cleanup } = await createTestRedis('restart_order'));
}, 60_000);
afterAll(async () => {
  await cleanup?.();
  await db?.close();
}, 60_000);

describe('a consumer restarted under its name', () => {
  it('indexes the deactivation it held before the post that came after it: the post is not indexed', { timeout: 30_000 }, async () => {
    const keys = createKeySpace(`${prefix}a:`);
    const stream = keys.stream(STREAMS.firehoseLive);
    await redis.xgroup('CREATE', stream, GROUPS.firehose, '0', 'MKSTREAM');
    await redis.xadd(stream, '*', 'event', JSON.stringify(account(ALICE, false, 'deactivated', 11)));
    // The process reads the deactivation and is SIGKILLed before settling it.
    await redis.xreadgroup('GROUP', GROUPS.firehose, CONSUMER, 'COUNT', 10, 'STREAMS', stream, '>');
    // A write after the deactivation lands in the stream while the process restarts.
    await redis.xadd(stream, '*', 'event', JSON.stringify(write({ did: ALICE, collection: 'app.bsky.feed.post', rkey: 'b', rev: 12, record: post('during') })));
    const seen: string[] = [];
    const controller = new AbortController();
    const done = runStreamConsumer({
      redis, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: CONSUMER, batchSize: 10, blockMs: 50,
      claimIdleMs: 1500, maxAttempts: 5, parse: parseEventFields, probe: async () => void (await db.sql.query('select 1')),
      handle: async (items) => {
        seen.push(...items.map((e) => e.type));
        return (await indexBatch(items, db.ports)).outcomes;
      },
      log: silentLog, metrics: noMetrics, signal: controller.signal, backoff: { baseMs: 10, maxMs: 40 },
    });
    try {
      await waitFor(() => readBacklog(redis, stream, GROUPS.firehose), (b) => b.length === 0 && b.pending === 0, 'both entries processed');
    } finally {
      controller.abort();
      await done;
    }
    expect(seen).toEqual(['account', 'create']);
    expect(checkRows(await db.sql.query(`select text from post`), { text: 'string' })).toEqual([]);
    expect(checkRows(await db.sql.query(`select "upstreamStatus" as s from actor where did = $1`, [ALICE]), { s: 'string?' })).toEqual([{ s: 'deactivated' }]);
    expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
  });
});
