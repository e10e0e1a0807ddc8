// The whole live pipeline in-process, as `skytide run --only firehose,index,backfill` wires it: the firehose adapter
// with sync 1.1 checks and per-repo state, the index consumer queueing the resyncs it asks for, and the repo_backfill
// consumer repairing them. `settle` waits until the cursor reached a seq and both streams are empty.
import type { Redis } from 'ioredis';
import type { KeySpace } from '../../adapters/redis/keys.ts';
import { GROUPS, STREAMS } from '../../adapters/redis/keys.ts';
import { createRepoStateStore } from '../../adapters/redis/repo-state.ts';
import { appendBatch } from '../../adapters/redis/stream-writer.ts';
import { runFirehoseIngester } from '../../long-runners/firehose/firehose-ingester.ts';
import { runStreamConsumer } from '../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../long-runners/consumer/parse-event-fields.ts';
import { parseRepoFields } from '../../long-runners/consumer/parse-repo-fields.ts';
import { indexBatch } from '../../functions/index/handler.ts';
import { backfillRepos, type BackfillPorts } from '../../functions/backfill-repo/handler.ts';
import { silentLog } from '../../functions/ports.ts';
import { waitFor } from './wait.ts';

export interface FullPipelineOptions {
  redis: Redis;
  keys: KeySpace;
  /** The firehose to subscribe to (http:// means ws://). */
  host: string;
  /** Postgres, fetch, identity, metrics: shared by the index and backfill functions. */
  ports: BackfillPorts;
}

export function startFullPipeline(o: FullPipelineOptions) {
  const { redis, keys, ports } = o;
  const controller = new AbortController();
  const signal = controller.signal;
  const metrics = ports.metrics;
  const tasks = [
    runFirehoseIngester({
      redis, keys, host: o.host, highWaterMark: 100_000, batchSize: 50, batchTimeoutMs: 30, initialCursor: 0, log: silentLog, metrics, signal,
      identity: ports.identity, repoState: createRepoStateStore(redis, keys.stream('')), backoff: { baseMs: 50, maxMs: 300, healthyAfterMs: 5000 },
    }),
    runStreamConsumer({
      redis, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: 'full-index', batchSize: 100, blockMs: 50,
      claimIdleMs: 5000, maxAttempts: 5, parse: parseEventFields, log: silentLog, metrics, signal,
      handle: async (events) => {
        const result = await indexBatch(events, ports);
        const stream = keys.stream(STREAMS.repoBackfill);
        await appendBatch(redis, { entries: result.resync.map((r) => ({ stream, fields: { repo: JSON.stringify(r) } })) });
        return result.outcomes;
      },
    }),
    runStreamConsumer({
      redis, keys, stream: STREAMS.repoBackfill, group: GROUPS.repoBackfill, consumer: 'full-backfill', batchSize: 1, blockMs: 50,
      claimIdleMs: 30_000, maxAttempts: 3, parse: parseRepoFields, log: silentLog, metrics, signal,
      handle: async (items) => (await backfillRepos(items, ports)).outcomes,
    }),
  ];
  return {
    async settle(seq: number): Promise<void> {
      await waitFor(async () => Number((await redis.get(keys.cursor(STREAMS.firehoseLive, o.host))) ?? -1), (c) => c >= seq, `cursor ${seq}`, 30_000);
      await waitFor(async () => {
        let n = 0;
        for (const [name, group] of [[STREAMS.firehoseLive, GROUPS.firehose], [STREAMS.repoBackfill, GROUPS.repoBackfill]] as const) {
          const key = keys.stream(name);
          n += (await redis.xlen(key)) + Number(((await redis.xpending(key, group)) as [number])[0]);
        }
        return n;
      }, (n) => n === 0, 'streams drained', 60_000);
    },
    async stop(): Promise<void> {
      controller.abort();
      await Promise.all(tasks);
    },
  };
}
