// The live pipeline in-process, built by the CLI's own wiring rather than by hand: a Config from parseConfig over an
// env map (the variables a test names, every other one at the default `skytide run` would use), createResources
// (long-runners/cli/resources.ts) and buildTasks (long-runners/cli/tasks.ts), whose tasks run here as the supervisor
// would run them. So an e2e test through this helper exercises the same adapters, identity and handle resolvers,
// caches, consumer groups and resync queueing as `skytide run --only <kinds>`; nothing in between is the test's.
// `startPipeline` is `--only firehose,index`; `startFullPipeline` (full-pipeline.ts) adds `backfill`.
import { parseConfig } from '../../adapters/config/parse.ts';
import { GROUPS, STREAMS } from '../../adapters/redis/keys.ts';
import { createResources, type Resources } from '../../long-runners/cli/resources.ts';
import { buildTasks, type TaskKind } from '../../long-runners/cli/tasks.ts';
import { describeError } from '../../functions/errors.ts';
import { TEST_REDIS_URL } from './services.ts';
import { waitFor } from './wait.ts';

export interface PipelineOptions {
  /** REDIS_KEY_PREFIX: the test file's prefix from createTestRedis, so its cleanup deletes every key the tasks wrote. */
  redisKeyPrefix: string;
  /** DATABASE_URL: the test file's migrated schema (createIndexDb's `url`, search_path in its options). */
  databaseUrl: string;
  /** INGESTER_RELAY_HOSTS: the one firehose to subscribe to (http:// means ws://). */
  host: string;
  /** PLC_URL: the dev network's PLC; its DID documents point at loopback, so IDENTITY_ALLOW_PRIVATE is set too. */
  plcUrl: string;
  /** HANDLE_RESOLVER_URL: the PDS, which resolves the network's `.test` handles (they have no DNS). */
  handleResolverUrl: string;
  /** FIREHOSE_INITIAL_CURSOR (default 0: the host's whole history). */
  initialCursor?: number;
  /** Any further variables, read as `skytide run` reads its environment; they win over the ones above. */
  env?: Record<string, string>;
}

export interface RunningPipeline {
  /** The CLI's resources: its key space, metrics registry, Redis and Postgres clients. */
  resources: Resources;
  /**
   * Waits until the cursor reached `seq` and every stream the tasks read (firehose_live and firehose_backfill for
   * `index`, repo_backfill for `backfill`) is empty with nothing pending. Throws at once if a task ended.
   */
  settle(seq: number): Promise<void>;
  /** Stops every task (flushing batches and cursors), closes Redis and Postgres, and throws if a task failed. */
  stop(): Promise<void>;
}

/** The env map the pipeline's Config is parsed from. */
function pipelineEnv(o: PipelineOptions): Record<string, string> {
  return {
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: o.redisKeyPrefix,
    DATABASE_URL: o.databaseUrl,
    INGESTER_RELAY_HOSTS: o.host,
    FIREHOSE_INITIAL_CURSOR: String(o.initialCursor ?? 0),
    PLC_URL: o.plcUrl,
    IDENTITY_ALLOW_PRIVATE: 'true',
    HANDLE_RESOLVER_URL: o.handleResolverUrl,
    INDEXER_CONSUMER: 'e2e',
    LOG_LEVEL: 'error',
    ...o.env,
  };
}

/** The tasks of `skytide run --only <kinds>` (without its operations HTTP server), on the config `o` describes. */
export function startCliPipeline(kinds: readonly TaskKind[], o: PipelineOptions): RunningPipeline {
  const { config, unknown } = parseConfig(pipelineEnv(o));
  // A misspelt variable would silently leave its default in place: refused here, where the CLI only warns.
  if (unknown.length > 0) throw new Error(`unknown variables ${unknown.join(', ')}`);
  const r = createResources(config, 'e2e');
  const controller = new AbortController();
  const { signal } = controller;
  // As the supervisor sees it: a task that returns before it is asked to stop, or throws, has failed.
  const failures: string[] = [];
  const running = buildTasks(r, kinds).map((task) =>
    task.run(signal).then(
      () => void (signal.aborted || failures.push(`${task.name} returned without being asked to stop`)),
      (err: unknown) => void failures.push(`${task.name} threw: ${JSON.stringify(describeError(err))}`),
    ),
  );
  const checkTasks = () => {
    if (failures.length > 0) throw new Error(`pipeline task failed: ${failures.join('; ')}`);
  };
  // Every shard stream of every stream a chosen task reads, with the group it reads it in, in the order work flows:
  // the index queues its resyncs before it deletes the entry that asked, so once firehose_live reads empty, what it
  // queued is already in repo_backfill, read after it.
  const read: [string, string][] = [];
  if (kinds.includes('index')) for (const logical of config.indexerStreams) for (const s of r.keys.shardsOf(logical)) read.push([r.keys.stream(s), GROUPS.firehose]);
  if (kinds.includes('backfill')) for (const s of r.keys.shardsOf(STREAMS.repoBackfill)) read.push([r.keys.stream(s), GROUPS.repoBackfill]);
  // One shard (STREAM_SHARDS' default): the ingester keeps one cursor per host.
  const cursorKey = r.keys.cursor(STREAMS.firehoseLive, o.host);
  return {
    resources: r,
    async settle(seq: number): Promise<void> {
      const redis = r.redis();
      await waitFor(async () => {
        checkTasks();
        return Number((await redis.get(cursorKey)) ?? -1);
      }, (c) => c >= seq, `cursor ${seq}`, 30_000);
      await waitFor(async () => {
        checkTasks();
        let n = 0;
        for (const [stream, group] of read) {
          // NOGROUP until the stream's consumer made its group: not drained yet.
          const pending = await redis.xpending(stream, group).then((p) => Number((p as [number])[0]), () => Infinity);
          n += (await redis.xlen(stream)) + pending;
        }
        return n;
      }, (n) => n === 0, 'streams drained', 60_000);
    },
    async stop(): Promise<void> {
      controller.abort();
      await Promise.all(running);
      await r.close();
      checkTasks();
    },
  };
}

/** `skytide run --only firehose,index`: the firehose adapter into firehose_live, and the index consumers. */
export function startPipeline(o: PipelineOptions): RunningPipeline {
  return startCliPipeline(['firehose', 'index'], o);
}
