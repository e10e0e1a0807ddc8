// The live pipeline in-process, wired exactly as `skytide run --only firehose,index` wires it: the firehose adapter
// into firehose_live, and a consumer calling the index function.
import type { Redis } from 'ioredis';
import { runFirehoseIngester } from '../../long-runners/firehose/firehose-ingester.ts';
import { runStreamConsumer } from '../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../long-runners/consumer/parse-event-fields.ts';
import { GROUPS, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { indexBatch } from '../../functions/index/handler.ts';
import { noMetrics, silentLog, systemClock, type Sql } from '../../functions/ports.ts';
import { waitFor } from './wait.ts';
import type { IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import type { HandleResolver } from '../../functions/atproto/identity/handle.ts';

export interface PipelineOptions {
  redis: Redis;
  keys: KeySpace;
  sql: Sql;
  host: string;
  initialCursor?: number;
  /** Signing keys for the sync 1.1 checks; without it commits pass unverified. */
  identity?: IdentityResolver;
  /** With identity: #identity handles are verified both ways through this resolver. */
  handles?: HandleResolver;
}

export function startPipeline(o: PipelineOptions) {
  const controller = new AbortController();
  const ports = {
    sql: o.sql, clock: systemClock, log: silentLog, metrics: noMetrics,
    ...(o.identity === undefined || o.handles === undefined ? {} : { identity: o.identity, handles: o.handles }),
  };
  const ingester = runFirehoseIngester({
    redis: o.redis, keys: o.keys, host: o.host, highWaterMark: 100_000, batchSize: 100, batchTimeoutMs: 50,
    ...(o.initialCursor === undefined ? {} : { initialCursor: o.initialCursor }),
    log: silentLog, metrics: noMetrics, signal: controller.signal, backoff: { baseMs: 50, maxMs: 500, healthyAfterMs: 5000 },
    ...(o.identity === undefined ? {} : { identity: o.identity }),
  });
  const consumer = runStreamConsumer({
    redis: o.redis, keys: o.keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: 'e2e', batchSize: 200,
    blockMs: 50, claimIdleMs: 5000, maxAttempts: 5, parse: parseEventFields,
    handle: async (events) => (await indexBatch(events, ports)).outcomes,
    probe: async () => void (await o.sql.query('select 1')), log: silentLog, metrics: noMetrics, signal: controller.signal,
  });
  return {
    /** Waits until the cursor reached `seq` and every entry is indexed and deleted from the stream. */
    async settle(seq: number): Promise<void> {
      const cursorKey = o.keys.cursor(STREAMS.firehoseLive, o.host);
      const stream = o.keys.stream(STREAMS.firehoseLive);
      await waitFor(async () => Number((await o.redis.get(cursorKey)) ?? -1), (c) => c >= seq, `cursor ${seq}`, 30_000);
      await waitFor(async () => {
        const len = await o.redis.xlen(stream);
        const pending = Number(((await o.redis.xpending(stream, GROUPS.firehose)) as [number])[0]);
        return len + pending;
      }, (n) => n === 0, 'stream drained', 30_000);
    },
    async stop(): Promise<void> {
      controller.abort();
      await Promise.all([ingester, consumer]);
    },
  };
}
