// The index consumer with its Postgres stopped mid-stream (issue 8, item 4): two consumer loops over firehose_live
// as `skytide run --only index` wires them (probe, outage board), a Postgres of the test's own stopped while batches
// are in flight for longer than INDEXER_MAX_ATTEMPTS deliveries would last, then started again. Nothing is
// dead-lettered, no entry's delivery count rises, every event is indexed afterwards, and the outage was counted and
// logged once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { createSql, type PostgresSql } from '../../../adapters/postgres/client.ts';
import { applyMigrations } from '../../../adapters/postgres/migrate.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { createOutageBoard } from '../../../adapters/observability/outage-board.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../../long-runners/consumer/parse-event-fields.ts';
import { indexBatch } from '../../../functions/index/handler.ts';
import { silentLog, systemClock, type Log } from '../../../functions/ports.ts';
import type { StreamEvent } from '../../../functions/events.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../../helpers/private-services.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { post, write } from '../../helpers/events.ts';
import { waitFor } from '../../helpers/wait.ts';
import { checkRows } from '../../../functions/sql-rows.ts';

const MAX_ATTEMPTS = 2;
const CLAIM_IDLE_MS = 1500;
const OUTAGE_MS = (MAX_ATTEMPTS + 3) * CLAIM_IDLE_MS;
const BATCH = 25;
const DIDS = Array.from({ length: 6 }, (_, i) => `did:plc:indexoutage${String(i).padStart(13, 'a')}`);

let pg: PrivatePostgres;
let sql: PostgresSql;
let redis: Redis;
let cleanupRedis: () => Promise<void>;

beforeAll(async () => {
  pg = await startPrivatePostgres();
  sql = createSql(pg.url, { max: 4 });
  await applyMigrations(sql);
  ({ redis, cleanup: cleanupRedis } = await createTestRedis('index_outage'));
}, 60_000);

afterAll(async () => {
  await cleanupRedis?.();
  await sql?.end();
  await pg?.close();
}, 60_000);

describe('index consumer under a Postgres outage', () => {
  it('dead-letters nothing, counts no delivery, and indexes every event once Postgres is back', { timeout: 120_000 }, async () => {
    const keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
    const stream = keys.stream(STREAMS.firehoseLive);
    const events: StreamEvent[] = [];
    for (let n = 1; n <= 600; n++) {
      events.push(write({ did: DIDS[n % DIDS.length]!, collection: 'app.bsky.feed.post', rkey: `3l${String(n).padStart(11, 'a')}`, rev: n, record: post(`post ${n}`) }));
    }
    const multi = redis.multi();
    for (const e of events) multi.xadd(stream, '*', 'event', JSON.stringify(e));
    await multi.exec();

    const metrics = createMetrics({ hosts: [], streams: [STREAMS.firehoseLive] });
    const lines: string[] = [];
    const log: Log = { ...silentLog, info: (msg) => void lines.push(msg), warn: (msg) => void lines.push(msg), child: () => log };
    const outages = createOutageBoard({ log, metrics: metrics.metrics });
    // Batches after the first two wait until Postgres is down, so the outage lands mid-stream with batches in flight.
    let calls = 0;
    let openGate: () => void = () => {};
    const gate = new Promise<void>((r) => (openGate = r));
    const ports = { sql, clock: systemClock, log: silentLog, metrics: metrics.metrics };
    const controller = new AbortController();
    const loops = [0, 1].map((i) =>
      runStreamConsumer({
        redis, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: `index-${i}`, batchSize: BATCH, blockMs: 50,
        claimIdleMs: CLAIM_IDLE_MS, maxAttempts: MAX_ATTEMPTS, parse: parseEventFields,
        probe: async () => void (await sql.query('select 1')), outages,
        handle: async (batch) => {
          if (++calls > 2) await gate;
          return (await indexBatch(batch, ports)).outcomes;
        },
        log: silentLog, metrics: metrics.metrics, signal: controller.signal, backoff: { baseMs: 50, maxMs: 300 },
      }),
    );
    const indexed = async () => Number((checkRows(await sql.query(`select count(*)::int as n from record`), { n: 'number' }))[0]?.n);
    try {
      await waitFor(indexed, (n) => n >= BATCH, 'first batches indexed');
      await pg.stop('fast');
      openGate();
      const since = Date.now();
      await waitFor(() => outages.degraded(), (d) => d.length === 1, 'waiting on postgres');
      expect(outages.degraded()).toEqual([expect.stringMatching(/^waiting on postgres since /)]);
      await waitFor(() => Date.now() - since, (ms) => ms > OUTAGE_MS, 'outage lasting');
      // Everything read is still ours, delivered once: waiting counts against nobody.
      const pending = (await redis.xpending(stream, GROUPS.firehose, '-', '+', 1000)) as [string, string, number, number][];
      expect(pending.length).toBeGreaterThan(0);
      expect(new Set(pending.map(([, , , deliveries]) => deliveries))).toEqual(new Set([1]));
      expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
      await pg.start();
      await waitFor(async () => (await redis.xlen(stream)) + Number(((await redis.xpending(stream, GROUPS.firehose)) as [number])[0]), (n) => n === 0, 'stream drained', 60_000);
    } finally {
      openGate();
      if (!pg.running) await pg.start();
      controller.abort();
      await Promise.all(loops);
    }
    expect(await redis.xlen(keys.dlq(STREAMS.firehoseLive))).toBe(0);
    expect(await indexed()).toBe(events.length);
    expect(await sql.query(`select count(*)::int as n from post`)).toEqual([{ n: events.length }]);
    expect((await metrics.registry.metrics()).match(/skytide_outage_waits_total\{dependency="postgres"\} (\d+)/)?.[1]).not.toBe('0');
    expect(lines.filter((l) => l === 'outage started' || l === 'outage ended')).toEqual(['outage started', 'outage ended']);
    expect(outages.degraded()).toEqual([]);
  });
});
