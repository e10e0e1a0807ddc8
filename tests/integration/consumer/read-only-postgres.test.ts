// The index consumer against a Postgres that answers `select 1` but refuses writes (25006: a pool left on a demoted
// primary after a failover, a hot standby, default_transaction_read_only during maintenance). That is an outage of
// the write path: nothing may be dead-lettered for it, however long it lasts and whatever the probe says, and the
// entries are indexed once the database takes writes again. The database is a scratch one of this file's own, made
// read-only for new sessions with ALTER DATABASE; "failing back" resets it and ends the read-only sessions.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { applyMigrations } from '../../../adapters/postgres/migrate.ts';
import { probeWritablePostgres } from '../../../adapters/postgres/write-probe.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { noMetrics, silentLog, systemClock } from '../../../functions/ports.ts';
import { createScratchDatabase, type ScratchDatabase } from '../../helpers/scratch-database.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { post, write } from '../../helpers/events.ts';
import { waitFor } from '../../helpers/wait.ts';

const MAX_ATTEMPTS = 2;
const CLAIM_IDLE_MS = 300;
const DID = 'did:plc:readonly00000000000000000';

let db: ScratchDatabase;
let admin: PostgresSql;
let redis: Redis;
let prefix: string;
let cleanupRedis: () => Promise<void>;

beforeAll(async () => {
  db = await createScratchDatabase('readonly');
  admin = createSql(db.url, { max: 1 });
  await applyMigrations(admin);
  ({ redis, prefix, cleanup: cleanupRedis } = await createTestRedis('read_only_pg'));
}, 60_000);

afterAll(async () => {
  await cleanupRedis?.();
  await admin?.end();
  await db?.drop();
}, 60_000);

const dbName = () => new URL(db.url).pathname.slice(1);
const setReadOnly = (on: boolean) => admin.query(`alter database "${dbName()}" ${on ? 'set default_transaction_read_only = on' : 'reset default_transaction_read_only'}`);
/** Ends every other session of the database, as a failover does: the pools reconnect to what is there now. */
const endOtherSessions = () => admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()`, [dbName()]);

describe('index consumer on a read-only Postgres', () => {
  it('dead-letters nothing while writes are refused, even with a probe that only reads, and indexes every entry once writable', { timeout: 60_000 }, async () => {
    await setReadOnly(true);
    const sql = createSql(db.url, { max: 2 });
    const keys = createKeySpace(`${prefix}a:`);
    const stream = keys.stream(STREAMS.firehoseLive);
    for (let n = 1; n <= 8; n++) {
      await redis.xadd(stream, '*', 'event', JSON.stringify(write({ did: DID, collection: 'app.bsky.feed.post', rkey: `3lreadonly${n}`, rev: n, record: post(`post ${n}`) })));
    }
    const ports = { sql, clock: systemClock, log: silentLog, metrics: noMetrics };
    let calls = 0;
    const controller = new AbortController();
    const done = runStreamConsumer({
      redis, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: 'c1', batchSize: 10, blockMs: 50,
      claimIdleMs: CLAIM_IDLE_MS, maxAttempts: MAX_ATTEMPTS, parse: parseEventFields,
      // The old probe: it passes on a read-only database, so only the error's classification can keep the entries.
      probe: async () => void (await sql.query('select 1')),
      handle: async (items) => {
        calls++;
        return (await indexBatch(items, ports)).outcomes;
      },
      log: silentLog, metrics: noMetrics, signal: controller.signal, backoff: { baseMs: 10, maxMs: 40 },
    });
    try {
      // Long enough for every entry to be delivered past MAX_ATTEMPTS had the refusals counted.
      await waitFor(() => calls, (n) => n >= 12, 'calls against the read-only database');
      await new Promise((r) => setTimeout(r, (MAX_ATTEMPTS + 2) * CLAIM_IDLE_MS));
      expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
      expect(await redis.xlen(stream)).toBe(8);
      await setReadOnly(false);
      await endOtherSessions();
      await waitFor(async () => (await admin.query(`select count(*)::int as n from post`))[0]?.['n'], (n) => n === 8, 'posts indexed once writable');
      await waitFor(() => redis.xlen(stream), (n) => n === 0, 'stream drained');
    } finally {
      controller.abort();
      await done;
      await setReadOnly(false);
      await sql.end();
    }
    expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
  });

  it('the consumers\' probe fails on a read-only session with a postgres DependencyError, and passes on a writable one', { timeout: 30_000 }, async () => {
    const readOnly = createSql(`${db.url}?options=${encodeURIComponent('-c default_transaction_read_only=on')}`, { max: 1 });
    try {
      const err = await probeWritablePostgres(readOnly).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(DependencyError);
      expect((err as DependencyError).dependency).toBe('postgres');
      expect((err as DependencyError).message).toMatch(/read-only/);
    } finally {
      await readOnly.end();
    }
    await expect(probeWritablePostgres(admin)).resolves.toBeUndefined();
  });
});
