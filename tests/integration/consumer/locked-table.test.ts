// The index consumer while a maintenance session holds a table locked (ALTER TABLE, VACUUM FULL, CREATE INDEX, a
// pg_repack swap) on a database whose operator set a statement_timeout: every statement waits on the lock until the
// timeout cancels it (57014), each entry then fails on its own, and the probe (only pg_is_in_recovery then) passed, so
// every entry counted its deliveries and went to the DLQ as handler_error. The probe now asks for the write lock on
// the index's tables under a short lock_timeout: the lock held is an outage, waited out, nothing dead-lettered.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { applyMigrations } from '../../../adapters/postgres/migrate.ts';
import { probeWritablePostgres } from '../../../adapters/postgres/write-probe.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import { createScratchDatabase, type ScratchDatabase } from '../../helpers/scratch-database.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { post, write } from '../../helpers/events.ts';
import { waitFor } from '../../helpers/wait.ts';

const DID = 'did:plc:stmttimeout00000000000000';
let db: ScratchDatabase;
let redis: Redis;
let prefix: string;
let cleanupRedis: () => Promise<void>;

beforeAll(async () => {
  db = await createScratchDatabase('locked_table');
  const admin = createSql(db.url, { max: 1 });
  await applyMigrations(admin);
  await admin.query(`alter database "${new URL(db.url).pathname.slice(1)}" set statement_timeout = '150ms'`);
  await admin.end();
  ({ redis, prefix, cleanup: cleanupRedis } = await createTestRedis('locked_table'));
}, 60_000);
afterAll(async () => {
  await cleanupRedis?.();
  await db?.drop();
}, 60_000);

describe('a table held locked under a statement_timeout', () => {
  it('is waited out: nothing dead-lettered, every entry indexed once the lock is released', async () => {
    const keys = createKeySpace(prefix);
    const stream = keys.stream(STREAMS.firehoseLive);
    for (let n = 1; n <= 6; n++) {
      await redis.xadd(stream, '*', 'event', JSON.stringify(write({ did: DID, collection: 'app.bsky.feed.post', rkey: `3lstmt${String(n).padStart(7, 'a')}`, rev: n, record: post(`post ${n}`) })));
    }
    const locker: PostgresSql = createSql(db.url, { max: 1 });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    let unlock!: () => void;
    const released = new Promise<void>((resolve) => (unlock = resolve));
    const held = locker.transaction(async (tx) => {
      await tx.query(`set local statement_timeout = 0`);
      await tx.query(`lock table post in access exclusive mode`);
      locked();
      await released;
    });
    await isLocked;
    const sql = createSql(db.url, { max: 2 });
    const ports = { sql, clock: systemClock, log: silentLog, metrics: noMetrics };
    const controller = new AbortController();
    let calls = 0;
    const loop = runStreamConsumer({
      redis, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: 'locked-0', batchSize: 10, blockMs: 50,
      claimIdleMs: 500, maxAttempts: 2, parse: parseEventFields, probe: () => probeWritablePostgres(sql),
      handle: async (batch) => {
        calls++;
        return (await indexBatch(batch, ports)).outcomes;
      },
      log: silentLog, metrics: noMetrics, signal: controller.signal, backoff: { baseMs: 50, maxMs: 200 },
    });
    try {
      // Long enough for the entries, each failing alone and counted, to pass maxAttempts deliveries and be
      // dead-lettered (as they were, within about 5 s): held for 10 s, tried again and again, nothing dead-lettered.
      await waitFor(async () => calls, (n) => n >= 2, 'the consumer to try the batch', 20_000);
      await new Promise((r) => setTimeout(r, 10_000));
      expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
      unlock();
      await held;
      await waitFor(async () => Number((await sql.query(`select count(*)::int as n from post`))[0]?.['n']), (n) => n === 6, 'every post indexed', 20_000);
      expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
    } finally {
      unlock();
      controller.abort();
      await loop;
      await sql.end();
      await locker.end();
    }
  }, 60_000);
});
