// Indexing throughput (issue 11): skytide end to end, from entries waiting in `firehose_live` through the stream
// consumer (two loops, batches of 500: INDEXER_CONCURRENCY and INDEXER_BATCH_SIZE at their defaults) and the index
// function into Postgres, against the official AppView indexer (`@atproto/bsky`'s IndexingService, on its own schema
// and migrations, its background queue drained) on the same seeded network-shaped events, round-robin in one run.
// Postgres is the machine's own, on the same 2 cores. Each round continues the stream, so the tables grow as they do
// in production; the AppView, much slower, takes the first events of each round's slice.
import { Redis } from 'ioredis';
import { indexBatch, type IndexPorts } from '../../functions/index/handler.ts';
import type { StreamEvent } from '../../functions/events.ts';
import { noMetrics, silentLog } from '../../functions/ports.ts';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { runStreamConsumer } from '../../long-runners/consumer/stream-consumer.ts';
import { parseEventFields } from '../../long-runners/consumer/parse-event-fields.ts';
import { createIndexDb } from '../helpers/index-db.ts';
import { TEST_REDIS_URL, uniqueName } from '../helpers/services.ts';
import { networkCorpus } from './network-corpus.ts';
import { createAppViewIndexer } from './appview-indexer.ts';
import type { BenchRow } from './types.ts';

const ROUNDS = Number(process.env['BENCH_INDEX_ROUNDS'] ?? 3);
/** Events per round for skytide, and for the AppView (the first ones of the same slice). */
const RECORDS = Number(process.env['BENCH_INDEX_RECORDS'] ?? 40_000);
const APPVIEW_RECORDS = Number(process.env['BENCH_INDEX_APPVIEW_RECORDS'] ?? 2_000);
const BATCH_SIZE = 500;
const LOOPS = 2;

async function preload(redis: Redis, keys: KeySpace, events: readonly StreamEvent[]): Promise<void> {
  const stream = keys.stream(STREAMS.firehoseLive);
  for (let i = 0; i < events.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const e of events.slice(i, i + 1000)) pipeline.xadd(stream, '*', 'event', JSON.stringify(e));
    await pipeline.exec();
  }
}

/** Seconds from starting the consumers until the stream is empty with nothing pending. */
async function drainThroughConsumers(redis: Redis, keys: KeySpace, ports: IndexPorts): Promise<number> {
  const controller = new AbortController();
  let done!: () => void;
  const idle = new Promise<void>((resolve) => (done = resolve));
  const connections = Array.from({ length: LOOPS }, () => redis.duplicate());
  const start = performance.now();
  const loops = connections.map((connection, i) =>
    runStreamConsumer({
      redis: connection, keys, stream: STREAMS.firehoseLive, group: GROUPS.firehose, consumer: `bench-${i}`,
      batchSize: BATCH_SIZE, blockMs: 20, claimIdleMs: 600_000, maxAttempts: 5, parse: parseEventFields,
      handle: async (events) => (await indexBatch(events, ports)).outcomes,
      probe: async () => void (await ports.sql.query('select 1')),
      log: silentLog, metrics: noMetrics, signal: controller.signal, onIdle: done,
    }),
  );
  await idle;
  const seconds = (performance.now() - start) / 1000;
  controller.abort();
  await Promise.all(loops);
  await Promise.all(connections.map((c) => c.quit()));
  return seconds;
}

export async function runIndexBench(): Promise<BenchRow[]> {
  const db = await createIndexDb('bench_index');
  const redis = new Redis(TEST_REDIS_URL);
  const keys = createKeySpace(`${uniqueName('bench_index')}:`);
  const appview = await createAppViewIndexer();
  const corpus = networkCorpus();
  const total = { skytide: { records: 0, seconds: 0 }, appview: { records: 0, seconds: 0 } };
  try {
    // Warm-up (JIT, caches, first rows of every table), not counted.
    const warm = corpus.next(5_000);
    await preload(redis, keys, warm);
    await drainThroughConsumers(redis, keys, db.ports);
    await appview.index(warm.slice(0, 300));

    for (let round = 0; round < ROUNDS; round++) {
      const slice = corpus.next(RECORDS);
      await preload(redis, keys, slice);
      total.skytide.seconds += await drainThroughConsumers(redis, keys, db.ports);
      total.skytide.records += slice.length;

      const mine = slice.slice(0, APPVIEW_RECORDS);
      const start = performance.now();
      await appview.index(mine);
      total.appview.seconds += (performance.now() - start) / 1000;
      total.appview.records += mine.length;
      process.stderr.write(`round ${round + 1}: skytide ${Math.round(total.skytide.records / total.skytide.seconds)}/s, AppView ${Math.round(total.appview.records / total.appview.seconds)}/s so far\n`);
    }
    const dlq = await redis.xlen(keys.dlq(STREAMS.firehoseLive));
    if (dlq > 0) throw new Error(`${dlq} entries were dead-lettered: the figures would not be honest`);
    const skytide = total.skytide.records / total.skytide.seconds;
    const official = total.appview.records / total.appview.seconds;
    const baseline = 'AppView IndexingService';
    const shape = `${ROUNDS} rounds; network mix over 2,000 DIDs`;
    return [
      {
        name: 'index: firehose_live -> consumer -> Postgres', unit: 'records/s', value: skytide, ratio: skytide / official, baseline,
        note: `${total.skytide.records.toLocaleString('en-US')} records, 2 loops x batches of ${BATCH_SIZE}; ${shape}`,
      },
      {
        name: 'index: AppView IndexingService (baseline)', unit: 'records/s', value: official, ratio: 1, baseline,
        note: `${total.appview.records.toLocaleString('en-US')} records, per-DID order, DIDs in parallel, background queue drained`,
      },
    ];
  } finally {
    await appview.close();
    await redis.quit();
    await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await runIndexBench()) console.log(row);
}
