// Indexing throughput (issue 11): skytide end to end, from entries waiting in `firehose_live` through the stream
// consumer (a loop per stream, each read split by DID into INDEXER_SPLIT's default lanes, a transaction in each at
// once and two reads in flight, batches of 500 and of INDEXER_BATCH_SIZE's default; and a loop per shard with
// STREAM_SHARDS=2) and the index function into Postgres, against the official AppView indexer (`@atproto/bsky`'s
// IndexingService, on its own schema and migrations, its background queue drained) on the same seeded network-shaped
// events, round-robin in one run.
// Postgres is the machine's own, on the same 2 cores. Each round continues the stream, so the tables grow as they do
// in production; skytide runs it in both write modes (each on its own database), the AppView, much slower, takes the
// first events of each round's slice, on tables given skytide's rows at the round's start so that both meet tables of
// the same size.
import { availableParallelism } from 'node:os';
import { Redis } from 'ioredis';
import { indexBatch, type IndexPorts } from '../../functions/index/handler.ts';
import type { StreamEvent } from '../../functions/events.ts';
import { noMetrics, silentLog } from '../../functions/ports.ts';
import { createKeySpace, GROUPS, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { runStreamConsumer } from '../../long-runners/consumer/stream-consumer.ts';
import { didLanes, INDEX_READS_IN_FLIGHT } from '../../long-runners/consumer/split-by-did.ts';
import { parseEventFields } from '../../long-runners/consumer/parse-event-fields.ts';
import { analyzeSchema, createIndexDb, type IndexDb } from '../helpers/index-db.ts';
import { COPY_MIN_ROWS } from '../../adapters/postgres/client.ts';
import { TEST_REDIS_URL, uniqueName } from '../helpers/services.ts';
import { networkCorpus } from './network-corpus.ts';
import { createAppViewIndexer } from './appview-indexer.ts';
import type { BenchRow } from './types.ts';
import { serviceCpuSeconds } from '../helpers/cpu-time.ts';
import { postgresFloorSeconds, streamFloorSeconds } from './index-floor.ts';
import { appendEvents } from './stream-events.ts';
import { parseConfig } from '../../adapters/config/parse.ts';

const ROUNDS = Number(process.env['BENCH_INDEX_ROUNDS'] ?? 3);
/** Events per round for skytide, and for the AppView (the first ones of the same slice). */
const RECORDS = Number(process.env['BENCH_INDEX_RECORDS'] ?? 30_000);
const APPVIEW_RECORDS = Number(process.env['BENCH_INDEX_APPVIEW_RECORDS'] ?? 2_000);
/** Which configurations to run (comma-separated: copy, rows, large, sharded), for profiling one; all by default. */
const ONLY = process.env['BENCH_INDEX_MODES']?.split(',').map((m) => m.trim());
const BATCH_SIZE = 500;
/** The CLI's configuration with nothing set: its defaults, as `skytide run` parses them. */
const CLI_DEFAULTS = parseConfig({}).config;
/** The CLI's default batch size (INDEXER_BATCH_SIZE), for the defaults' configuration and the shards'. */
const DEFAULT_BATCH_SIZE = CLI_DEFAULTS.indexerBatchSize;
const batches = DEFAULT_BATCH_SIZE.toLocaleString('en-US');
/** Shards of the sharded configuration (a loop on each). */
const SHARDS = Number(process.env['BENCH_INDEX_SHARDS'] ?? 2);
/** Lanes a read is split into (INDEXER_SPLIT's default) where a stream is not sharded. */
const SPLIT = Number(process.env['BENCH_INDEX_SPLIT'] ?? CLI_DEFAULTS.indexerSplit);
/** Whether the consumers read the next batch while indexing one, as the CLI's do (BENCH_INDEX_READ_AHEAD=0: not). */
const READ_AHEAD = process.env['BENCH_INDEX_READ_AHEAD'] !== '0';
/** Reads in flight per loop, as the CLI's loops hold them (BENCH_INDEX_IN_FLIGHT=1: a read's lanes all end before the next starts). */
const IN_FLIGHT = Number(process.env['BENCH_INDEX_IN_FLIGHT'] ?? INDEX_READS_IN_FLIGHT);
/** Whether the AppView's tables are given skytide's rows before each round (see the round loop). */
const MIRROR = process.env['BENCH_INDEX_APPVIEW_MIRROR'] !== '0';

/** The database whose tables the AppView's are made equal to: the sharded configuration's, or the first one run. */
const mirrorSource = (configs: readonly { mode: string; db: IndexDb }[]): IndexDb =>
  (configs.find((c) => c.mode === 'sharded') ?? configs[0] as { db: IndexDb }).db;

export async function preload(redis: Redis, keys: KeySpace, events: readonly StreamEvent[]): Promise<void> {
  await appendEvents(redis, (e) => keys.stream(keys.shardFor(STREAMS.firehoseLive, e.did)), events);
}

/**
 * Seconds from starting the consumers until every entry has left the stream (acknowledged and deleted, or moved to
 * the DLQ in the same MULTI: the consumer's settle), so nothing is waiting and nothing is pending.
 */
export async function drainThroughConsumers(redis: Redis, keys: KeySpace, ports: IndexPorts, batchSize: number, split = 1): Promise<number> {
  const controller = new AbortController();
  // A loop per stream, as the CLI runs them (tasks.ts, INDEXER_CONCURRENCY=1): the one stream, its reads split by DID
  // into `split` lanes (INDEXER_SPLIT), or each shard (STREAM_SHARDS=2, INDEXER_SPLIT=1).
  const streams = keys.shardsOf(STREAMS.firehoseLive);
  const connections = streams.map(() => redis.duplicate());
  const lengths = async (): Promise<number[]> => {
    const pipeline = redis.pipeline();
    for (const stream of streams) pipeline.xlen(keys.stream(stream));
    return ((await pipeline.exec()) ?? []).map(([err, n]) => (err === null ? Number(n) : Number.NaN));
  };
  const waiting = (await lengths()).reduce((a, b) => a + b, 0);
  // The loops count what the index function returned; once that is every waiting entry, only their last settle is left.
  let handled = 0;
  let allHandled = (): void => {};
  const handledAll = new Promise<void>((resolve) => (allHandled = resolve));
  if (waiting === 0) allHandled();
  const start = performance.now();
  const loops = connections.map((connection, i) =>
    runStreamConsumer({
      redis: connection, keys, stream: streams[i] as string, group: GROUPS.firehose, consumer: `bench-${i}`,
      batchSize: batchSize * split, lanes: didLanes(split, (e: StreamEvent) => e.did), readAhead: READ_AHEAD, batchesInFlight: IN_FLIGHT, blockMs: 20, claimIdleMs: 600_000, maxAttempts: 5, parse: parseEventFields,
      handle: async (events) => {
        const { outcomes } = await indexBatch(events, ports);
        if ((handled += events.length) >= waiting) allHandled();
        return outcomes;
      },
      probe: async () => void (await ports.sql.query('select 1')),
      log: silentLog, metrics: noMetrics, signal: controller.signal,
    }),
  );
  // A loop ends only when aborted: one that ends before is a failure, and the drain would never finish.
  const ended = Promise.race(loops.map((loop) => loop.then(() => {
    throw new Error('a consumer loop ended before its stream was drained');
  })));
  // The end is when every entry has left the stream. Redis is asked how many are left only once the loops have
  // handled as many entries as were waiting, then every millisecond until their settles are done. Polling through
  // the whole drain (every 2 ms) cost this process about 8% of its CPU in socket writes, the pipeline's CPU on these
  // 2 cores; the loops' idle callback comes after a read of the empty stream, whose BLOCK ends on Redis's timer (hz
  // 10: about 100 ms whatever BLOCK asks), 6% of a 30,000-record round. A running pipeline waits on neither, and the
  // AppView's drain ends with its work too.
  await Promise.race([handledAll, ended]);
  for (;;) {
    const left = await lengths();
    if (left.every((n) => n === 0)) break;
    if (left.some((n) => Number.isNaN(n))) throw new Error('Redis could not say how many entries are left');
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 1)), ended]);
  }
  const seconds = (performance.now() - start) / 1000;
  controller.abort();
  await Promise.all(loops);
  await Promise.all(connections.map((c) => c.quit()));
  return seconds;
}

/** Runs `run`, adding the CPU seconds it cost this process (Node), Postgres and Redis to `tally`; returns what it returned. */
async function withCpu<T>(tally: { node: number; postgres: number; redis: number }, run: () => Promise<T>): Promise<T> {
  const before = { node: process.cpuUsage(), services: serviceCpuSeconds() };
  const result = await run();
  const node = process.cpuUsage(before.node);
  const after = serviceCpuSeconds();
  tally.node += (node.user + node.system) / 1e6;
  if (before.services !== undefined && after !== undefined) {
    tally.postgres += after.postgres - before.services.postgres;
    tally.redis += after.redis - before.services.redis;
  }
  return result;
}

export async function runIndexBench(): Promise<BenchRow[]> {
  // Both write modes, each on its own database and stream: COPY into staging tables (how Node runs it) and multi-row
  // statements (Workers, PGlite).
  const all = [
    { mode: 'copy', db: () => createIndexDb('bench_index_copy', 'copy'), batchSize: BATCH_SIZE, split: SPLIT },
    { mode: 'rows', db: () => createIndexDb('bench_index_rows', 'rows'), batchSize: BATCH_SIZE, split: SPLIT },
    // The defaults: INDEXER_BATCH_SIZE, and the adapter's own COPY threshold (COPY_MIN_ROWS: text parameters at this size).
    { mode: 'large', db: () => createIndexDb('bench_index_large', 'copy', COPY_MIN_ROWS), batchSize: DEFAULT_BATCH_SIZE, split: SPLIT },
    // The same, sharded by DID: no two loops index the same repo, so they never wait on each other's row locks.
    { mode: 'sharded', db: () => createIndexDb('bench_index_sharded', 'copy', COPY_MIN_ROWS), batchSize: DEFAULT_BATCH_SIZE, split: 1, shards: SHARDS },
  ] as const;
  const configs: { mode: (typeof all)[number]['mode']; batchSize: number; split: number; shards?: number; db: IndexDb }[] = [];
  for (const c of all) if (ONLY === undefined || ONLY.includes(c.mode)) configs.push({ ...c, db: await c.db() });
  const modes = configs.map((c) => ({ ...c, keys: createKeySpace(`${uniqueName(`bench_index_${c.mode}`)}:`, { shards: c.shards ?? 1 }) }));
  const redis = new Redis(TEST_REDIS_URL);
  const appview = await createAppViewIndexer();
  const corpus = networkCorpus();
  // Records and seconds of each configuration, and the CPU seconds its drains cost Node (this process), Postgres and
  // Redis: where the time goes.
  const tally = () => ({ records: 0, seconds: 0, node: 0, postgres: 0, redis: 0 });
  const total = { copy: tally(), rows: tally(), large: tally(), sharded: tally(), appview: tally() };
  const perRecord = (mode: keyof typeof total) => {
    const t = total[mode];
    if (t.records === 0) return '';
    const us = (seconds: number) => Math.round((seconds / t.records) * 1e6);
    const cpu = (m: keyof typeof total) => (total[m].node + total[m].postgres + total[m].redis) / total[m].records;
    const fewer = mode === 'appview' || total.appview.records === 0 ? '' : ` (the AppView's per record: ${(cpu('appview') / cpu(mode)).toFixed(1)}x as much)`;
    return `; CPU per record: Node ${us(t.node)} µs, Postgres ${us(t.postgres)} µs, Redis ${us(t.redis)} µs${fewer}`;
  };
  try {
    // Warm-up (JIT, caches, first rows of every table), not counted.
    const warm = corpus.next(5_000);
    let indexed = warm.length;
    let lastSlice: StreamEvent[] = [];
    for (const { db, keys, batchSize, split } of modes) {
      await preload(redis, keys, warm);
      await drainThroughConsumers(redis, keys, db.ports, batchSize, split);
    }
    await appview.index(warm.slice(0, 300));
    for (let round = 0; round < ROUNDS; round++) {
      // Planner statistics, as autovacuum gathers them on a running system (it analyses a table again once a tenth of
      // it changed; each round adds more than that), for skytide and the AppView alike, outside the timing. Without
      // them Postgres guesses the sizes of tables it never analysed (seen: 7 ms per statement that reads posts by key
      // on a 6,000-row table), and prepared statements keep generic plans made when the tables were a fraction of
      // their size; the bench would measure that rather than the steady state.
      // The AppView meets tables as large as ours: its own rounds index only the first events of each slice, so its
      // tables would hold a fifteenth of ours, and an index's cost grows with its tables (a like's B-trees, its
      // recounts). Before each round its tables get the rows skytide's hold, which are the AppView's rows of the same
      // events (tests/e2e/appview-parity.test.ts); BENCH_INDEX_APPVIEW_MIRROR=0 leaves its tables its own.
      if (MIRROR && configs[0] !== undefined) await appview.mirror(mirrorSource(configs).schema);
      for (const { db } of modes) await analyzeSchema(db.schema);
      await appview.analyze();
      const slice = corpus.next(RECORDS);
      indexed += slice.length;
      lastSlice = slice;
      for (const { mode, db, keys, batchSize, split } of round % 2 === 0 ? modes : [...modes].reverse()) {
        await preload(redis, keys, slice);
        total[mode].seconds += await withCpu(total[mode], () => drainThroughConsumers(redis, keys, db.ports, batchSize, split));
        total[mode].records += slice.length;
      }

      const mine = slice.slice(0, APPVIEW_RECORDS);
      // Its CPU too (the AppView runs in this process, alone while timed): a ratio of CPU per record moves less with
      // the machine's load than one of rates, since its many small statements wait on round trips that ours batch.
      total.appview.seconds += await withCpu(total.appview, async () => {
        const start = performance.now();
        await appview.index(mine);
        return (performance.now() - start) / 1000;
      });
      total.appview.records += mine.length;
      const rate = (t: { records: number; seconds: number }) => Math.round(t.records / t.seconds);
      const labels = { copy: 'COPY', rows: 'statements', large: `batches of ${batches}`, sharded: 'sharded' } as const;
      const so = modes.map(({ mode }) => `${labels[mode]} ${rate(total[mode])}/s`).join(', ');
      process.stderr.write(`round ${round + 1}: ${so}, AppView ${rate(total.appview)}/s so far\n`);
    }
    for (const { keys } of modes) {
      let dlq = 0;
      for (const stream of keys.shardsOf(STREAMS.firehoseLive)) dlq += await redis.xlen(keys.dlq(stream));
      if (dlq > 0) throw new Error(`${dlq} entries were dead-lettered: the figures would not be honest`);
    }
    // The floor, on the first configuration's database (every configuration indexed the same events into the same rows).
    const floorDb = configs.length === 0 ? undefined : mirrorSource(configs);
    const floorPostgres = floorDb === undefined ? undefined : await postgresFloorSeconds(floorDb.ports.sql, floorDb.schema);
    const floorStream = await streamFloorSeconds(redis, uniqueName('bench_index_floor'), lastSlice, 2000);
    const floor = {
      postgres: floorPostgres === undefined ? undefined : (floorPostgres / indexed) * 1e6,
      node: (floorStream.node / lastSlice.length) * 1e6,
      redis: floorStream.redis === undefined ? undefined : (floorStream.redis / lastSlice.length) * 1e6,
    };
    const cores = availableParallelism();
    const official = total.appview.records / total.appview.seconds;
    const baseline = 'AppView IndexingService';
    const shape = `a loop, reads split in ${SPLIT} x batches of ${BATCH_SIZE}; ${ROUNDS} rounds; network mix over 2,000 DIDs`;
    const copy = total.copy.records / total.copy.seconds;
    const statements = total.rows.records / total.rows.seconds;
    const large = total.large.records / total.large.seconds;
    const sharded = total.sharded.records / total.sharded.seconds;
    const ran = (mode: string) => mode === 'appview' || mode === 'floor' || configs.some((c) => c.mode === mode);
    const rows: (BenchRow & { mode: string })[] = [
      {
        mode: 'copy', name: 'index: firehose_live -> consumer -> Postgres (COPY every batch)', unit: 'records/s', value: copy, ratio: copy / official, baseline,
        note: `${total.copy.records.toLocaleString('en-US')} records; ${shape}${perRecord('copy')}`,
      },
      {
        mode: 'rows', name: 'index: firehose_live -> consumer -> Postgres (multi-row statements)', unit: 'records/s', value: statements, ratio: statements / official, baseline,
        note: `${total.rows.records.toLocaleString('en-US')} records; Workers, and Node below DATABASE_COPY_MIN_ROWS${perRecord('rows')}`,
      },
      {
        mode: 'large', name: `index: firehose_live -> consumer -> Postgres (batches of ${batches})`, unit: 'records/s', value: large, ratio: large / official, baseline,
        note: `${total.large.records.toLocaleString('en-US')} records; the defaults: INDEXER_BATCH_SIZE=${DEFAULT_BATCH_SIZE}, INDEXER_SPLIT=${SPLIT}, INDEXER_CONCURRENCY=1, text parameters${perRecord('large')}`,
      },
      {
        mode: 'sharded', name: `index: firehose_live -> consumer -> Postgres (${SHARDS} shards, batches of ${batches})`, unit: 'records/s', value: sharded, ratio: sharded / official, baseline,
        note: `${total.sharded.records.toLocaleString('en-US')} records; STREAM_SHARDS=${SHARDS}, INDEXER_SPLIT=1, INDEXER_BATCH_SIZE=${DEFAULT_BATCH_SIZE}: a loop per shard, no repo in two loops${perRecord('sharded')}`,
      },
      ...(floor.postgres === undefined || floor.redis === undefined ? [] : [{
        mode: 'floor', name: 'index: the floor (least CPU any indexer needs for the same rows)', unit: 'µs CPU/record',
        value: floor.postgres + floor.node + floor.redis,
        note: `Postgres ${Math.round(floor.postgres)} µs writing the final rows alone into empty copies of the tables (every index), ` +
          `Node ${Math.round(floor.node)} µs and Redis ${Math.round(floor.redis)} µs reading, parsing and acknowledging the stream; ` +
          `at most ${Math.round((cores * 1e6) / (floor.postgres + floor.node + floor.redis)).toLocaleString('en-US')} records/s on ${cores} busy cores. ` +
          `Compare with each row's CPU per record`,
      }]),
      {
        mode: 'appview', name: 'index: AppView IndexingService (baseline)', unit: 'records/s', value: official, ratio: 1, baseline,
        note: `${total.appview.records.toLocaleString('en-US')} records, per-DID order, DIDs in parallel, background queue drained, ` +
          `${MIRROR ? 'on tables holding the rows skytide held at each round\'s start' : 'on its own tables (BENCH_INDEX_APPVIEW_MIRROR=0)'}${perRecord('appview')}`,
      },
    ];
    return rows.filter((r) => ran(r.mode)).map(({ mode: _, ...row }) => row);
  } finally {
    await appview.close();
    await redis.quit();
    for (const { db } of modes) await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const row of await runIndexBench()) console.log(row);
}
