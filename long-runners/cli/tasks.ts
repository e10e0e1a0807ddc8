// The supervised tasks `skytide run` can start. Each one only wires an adapter loop to its function; the loops
// themselves live in long-runners/firehose and long-runners/consumer.
import type { Task } from '../supervisor.ts';
import type { Resources } from './resources.ts';
import { runFirehoseIngester } from '../firehose/firehose-ingester.ts';
import { reportUnconfiguredWaits } from '../firehose/unconfigured-waits.ts';
import { runStreamConsumer } from '../consumer/stream-consumer.ts';
import { parseEventFields } from '../consumer/parse-event-fields.ts';
import { GROUPS, STREAMS, hostKey } from '../../adapters/redis/keys.ts';
import { parseRepoFields } from '../consumer/parse-repo-fields.ts';
import { backfillRepos } from '../../functions/backfill-repo/handler.ts';
import { indexBatch } from '../../functions/index/handler.ts';
import { didLanes, INDEX_READS_IN_FLIGHT } from '../consumer/split-by-did.ts';
import { repoBackfillJson, type StreamEvent } from '../../functions/events.ts';
import type { Hono } from 'hono';
import { createApp, createOperationsApp, type OperationsDeps } from '../../adapters/http/app.ts';
import { serveApp } from '../../adapters/runtime/node.ts';
import { createStatusReader, readIdentityWaits } from '../../adapters/observability/pipeline-status.ts';
import { createSweeper, type Sweeper } from '../sweeper/sweeper.ts';
import { scheduledSweepTask } from '../sweeper/schedule.ts';
import { createOnDemandSweeps, type OnDemandSweeps } from '../sweeper/on-demand.ts';
import { createRepoStateStore } from '../../adapters/redis/repo-state.ts';
import { appendBatch, writeSlotBatches } from '../../adapters/redis/stream-writer.ts';
import { probeWritablePostgres } from '../../adapters/postgres/write-probe.ts';
import type { ResyncRequest } from '../../functions/result.ts';
import { LABEL_RELEASE_TASK, labelSubscriberTasks, labelTasks } from './label-tasks.ts';
import { outagesDegradedCheck } from '../../adapters/observability/outage-board.ts';
import type { GaugeSource } from '../../adapters/observability/metrics.ts';
import { createStatusHistory, type StatusHistory } from '../../adapters/observability/status-history.ts';
import { sleep } from '../sleep.ts';
import { DependencyError, describeError, InvariantError } from '../../functions/errors.ts';
import type { Log } from '../../functions/ports.ts';
import type { SubscriptionLease } from '../subscription/subscription.ts';

export const TASK_KINDS = ['firehose', 'labels', 'index', 'label', 'backfill', 'sweep', 'http'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

export function firehoseTasks(r: Resources): Task[] {
  return r.config.relayHosts.map((host, i) => ({
    name: `firehose:${hostKey(host)}`,
    run: async (signal, beat) => {
      // Once per process (the first host's task): waits left under relays no longer configured are said out loud.
      if (i === 0) await reportUnconfiguredWaits({ redis: r.redis(), keys: r.keys, hosts: r.config.relayHosts, log: r.log.child('firehose'), metrics: r.metrics.metrics, beat });
      return runFirehoseIngester({
        redis: r.redis(),
        keys: r.keys,
        host,
        highWaterMark: r.config.highWaterMark,
        batchSize: r.config.ingesterBatchSize,
        batchTimeoutMs: r.config.ingesterBatchTimeoutMs,
        ...(r.config.firehoseInitialCursor === undefined ? {} : { initialCursor: r.config.firehoseInitialCursor }),
        log: r.log.child(`firehose:${hostKey(host)}`),
        metrics: r.metrics.metrics,
        signal,
        outageBoard: { board: r.outages, waiter: `firehose:${hostKey(host)}` },
        ...(r.config.trustUpstream ? {} : r.liveIdentity()),
        repoState: createRepoStateStore(r.redis(), r.keys),
        maxParkedFrames: r.config.identityWaitMaxFrames,
        didWaitMs: r.config.identityDidWaitMs,
        filter: r.config.filter,
        maxFrameBytes: r.config.maxFrameBytes,
        onConnection: (open) => r.metrics.gauges.firehoseConnected.set({ host: hostKey(host) }, open ? 1 : 0),
        lease: subscriptionLease(r, `firehose:${hostKey(host)}`),
        beat,
      });
    },
  }));
}

/**
 * One adapter per relay, one subscriber per labeler, however many processes run them: each holds its host's lease
 * (subscription.ts), and one that waits for it is listed in /ready's `degraded` with the holder.
 */
export function subscriptionLease(r: Resources, task: string): SubscriptionLease {
  return {
    holder: r.consumerName,
    onWait: (holder) => {
      if (holder === undefined) r.leaseWaits.delete(task);
      else r.leaseWaits.set(task, holder);
    },
  };
}

export function indexTasks(r: Resources): Task[] {
  const tasks: Task[] = [];
  const handles = r.handles();
  // Every shard of every stream (STREAM_SHARDS), or those of INDEXER_SHARDS, each read by INDEXER_CONCURRENCY loops
  // (one group per shard stream), each read indexed in INDEXER_SPLIT lanes at once.
  const mine = (shard: number) => r.config.indexerShards.length === 0 || r.config.indexerShards.includes(shard);
  for (const logical of r.config.indexerStreams) for (const [shard, stream] of r.keys.shardsOf(logical).entries()) {
    if (!mine(shard)) continue;
    for (let i = 0; i < r.config.indexerConcurrency; i++) {
      const log = r.log.child(`consumer:index:${stream}`);
      tasks.push({
        name: `index:${stream}:${i}`,
        run: (signal, beat) =>
          runStreamConsumer({
            redis: r.redis(),
            keys: r.keys,
            stream,
            metricStream: logical,
            group: GROUPS.firehose,
            consumer: `${r.consumerName}-${i}`,
            // A read is split by DID into INDEXER_SPLIT lanes, a transaction in each at once (split-by-did.ts).
            batchSize: r.config.indexerBatchSize * r.config.indexerSplit,
            lanes: didLanes(r.config.indexerSplit, (e: StreamEvent) => e.did),
            // A backlog's next read overlaps this batch's indexing, and a lane done with its part of a read starts on
            // its part of the next (stream-consumer.ts).
            readAhead: true,
            batchesInFlight: INDEX_READS_IN_FLIGHT,
            claimIdleMs: r.config.indexerClaimIdleMs,
            maxAttempts: r.config.indexerMaxAttempts,
            parse: parseEventFields,
            probe: () => probeWritablePostgres(r.sql()),
            outages: r.outages,
            handle: async (part) => {
              const result = await indexBatch(part, { ...r.ports, log, sql: r.sql(), identity: r.identity(), handles });
              await queueResyncOrWait(r, result.resync);
              return result.outcomes;
            },
            log,
            metrics: r.metrics.metrics,
            signal,
            beat,
          }),
      });
    }
  }
  return tasks;
}

/**
 * repo_backfill consumers: BACKFILLER_CONCURRENCY loops of one repo each, so a slow repo never holds a batch of
 * others behind it. An entry is claimed again only after it sat idle twice the per-repo deadline. With shards, loop
 * i reads shard i mod STREAM_SHARDS, and there are at least as many loops as shards, so every shard is read.
 */
export function backfillTasks(r: Resources): Task[] {
  const tasks: Task[] = [];
  const shards = r.keys.shardsOf(STREAMS.repoBackfill);
  for (let i = 0; i < Math.max(r.config.backfillerConcurrency, shards.length); i++) {
    const log = r.log.child('consumer:backfill');
    const stream = shards[i % shards.length] ?? STREAMS.repoBackfill;
    tasks.push({
      name: shards.length === 1 ? `backfill:${i}` : `backfill:${stream}:${i}`,
      run: (signal, beat) =>
        runStreamConsumer({
          redis: r.redis(), keys: r.keys, stream, metricStream: STREAMS.repoBackfill, group: GROUPS.repoBackfill,
          consumer: `${r.consumerName}-backfill-${i}`, batchSize: 1, claimIdleMs: r.config.backfillerTimeoutMs * 2,
          maxAttempts: r.config.backfillerMaxRetries, parse: parseRepoFields,
          probe: () => probeWritablePostgres(r.sql()), outages: r.outages,
          // A stop cuts a download short: the repo waits for the next process rather than the stop for the download.
          // A huge repo is slow but moving: each phase and chunk of records it indexes beats.
          handle: async (items) => (await backfillRepos(items, { ...r.backfillPorts(), stop: signal, ...(beat === undefined ? {} : { onProgress: () => beat() }) })).outcomes,
          log, metrics: r.metrics.metrics, signal, beat,
        }),
    });
  }
  return tasks;
}

/**
 * A pool smaller than the transactions the tasks can hold at once (a lane of each index loop, each label and backfill
 * loop) makes them wait for connections: slower, never wrong, so a warning at start-up. One connection is a choice,
 * not a shortage: the dev command's PGlite is one session.
 */
function warnIfPoolShort(r: Resources, transactions: number): void {
  const pool = r.config.databasePoolMax;
  if (pool > 1 && transactions > pool) {
    r.log.warn('DATABASE_POOL_MAX is below the transactions these tasks can hold at once; they will wait for connections', { databasePoolMax: pool, transactions });
  }
}

/** The one wiring of sweeps (`skytide sweep`, SWEEP_CRON, POST /sweep): every relay, under per-host leases. */
export function sweeperFor(r: Resources): Sweeper {
  return createSweeper({
    redis: r.redis(), keys: r.keys, sql: r.sql(), fetch: globalThis.fetch, hosts: r.config.relayHosts, highWaterMark: r.config.highWaterMark,
    limits: { pageSize: r.config.sweepPageSize, pageTimeoutMs: r.config.sweepPageTimeoutMs, pageAttempts: r.config.sweepPageAttempts, leaseTtlMs: r.config.sweepLeaseTtlMs, maxSkippedInARow: r.config.sweepMaxSkippedInARow },
    holder: r.consumerName, log: r.log.child('sweeper'), metrics: r.metrics.metrics, filter: r.config.filter,
  });
}

/**
 * The resync requests of a batch that has committed, queued before its entries are acknowledged. Redis refusing them
 * (out of memory, a failover's READONLY; a Redis that is down only delays the command) is an outage, not the
 * entries' defect: the consumer waits it out (run-batch.ts: no delivery counted, the wait on the outage board) and
 * calls the batch again, whose replay asks again (account_state keeps what the current change asked for, migration
 * 0010). A bug of ours (a TypeError, a broken invariant) is not mistaken for one.
 */
async function queueResyncOrWait(r: Resources, requests: readonly ResyncRequest[]): Promise<void> {
  try {
    await queueResync(r, requests);
  } catch (err) {
    if (err instanceof TypeError || err instanceof InvariantError) throw err;
    throw new DependencyError('redis', 'Redis refused the resync requests of a committed batch', { requests: requests.length }, { cause: err });
  }
}

/** Follow-up work a function asked for: repos to fetch whole, queued in repo_backfill in one MULTI. */
async function queueResync(r: Resources, requests: readonly ResyncRequest[]): Promise<void> {
  if (requests.length === 0) return;
  const entry = (q: ResyncRequest) => ({ stream: r.keys.stream(r.keys.shardFor(STREAMS.repoBackfill, q.did)), fields: { repo: repoBackfillJson({ did: q.did, reason: q.reason }) } });
  // Tagged (shards, a cluster): one MULTI per shard, since a MULTI cannot span slots.
  if (r.keys.tagged) await writeSlotBatches(r.redis(), { ops: requests.map((q) => ({ kind: 'entry' as const, entry: entry(q) })) });
  else await appendBatch(r.redis(), { entries: requests.map(entry) });
  for (const q of requests) r.metrics.metrics.inc('skytide_resync_requests_total', { reason: q.reason });
}

/**
 * The readiness and degraded checks and the metrics exposition every HTTP server of the process shares, and the
 * status reader behind its gauges (GET / reads the same one).
 */
function operations(r: Resources, needsPostgres: boolean): { deps: OperationsDeps; status: ReturnType<typeof createStatusReader> } {
  // A process without Postgres work (firehose, labels) never opens a pool for a scrape: its status reads Redis only.
  const sql = needsPostgres ? () => r.sql() : () => { throw new Error('this process does not use Postgres'); };
  const sources = { redis: r.redis(), sql, keys: r.keys, hosts: r.config.relayHosts, labelerHosts: r.config.labelerHosts, clock: r.ports.clock, log: r.log };
  const status = createStatusReader(sources);
  const deps: OperationsDeps = {
    ports: r.ports,
    metrics: { contentType: r.metrics.registry.contentType, render: () => r.metrics.registry.metrics() },
    readiness: [
      { name: 'redis', check: async () => void (await r.redis().ping()) },
      ...(needsPostgres ? [{ name: 'postgres', check: async () => void (await r.sql().query('select 1')) }] : []),
      // A task the watchdog found hung: the process is about to exit, and takes no traffic meanwhile.
      {
        name: 'tasks',
        check: async () => {
          if (r.stuckTasks.length > 0) throw new Error(`hung (no progress for SKYTIDE_TASK_STUCK_MS): ${r.stuckTasks.join(', ')}`);
        },
      },
    ],
    // Waiting out an identity outage is work in progress, not a fault of this instance: reported, still ready.
    degraded: [
      {
        name: 'identity_wait',
        check: async () => {
          const waiting = Object.entries(await readIdentityWaits(sources)).filter(([, n]) => n > 0);
          return waiting.length === 0 ? undefined : { waitingDids: Object.fromEntries(waiting) };
        },
      },
      // A consumer waiting out an outage of Postgres, Redis, the PLC directory or DNS: reported, still ready.
      outagesDegradedCheck(r.outages),
      // A standby subscription: another process holds its host's lease and writes for it.
      {
        name: 'subscription_lease',
        check: async () => (r.leaseWaits.size === 0 ? undefined : { heldElsewhere: Object.fromEntries(r.leaseWaits) }),
      },
    ],
    refreshGauges: () => status.refreshGauges(r.metrics.gauges),
    onReadiness: (ready) => r.metrics.gauges.ready.set(ready ? 1 : 0),
  };
  return { deps, status };
}

/** Serves `app` on HTTP_HOST:HTTP_PORT until the supervisor asks to stop. */
async function serveUntilAborted(r: Resources, app: Hono, routes: 'all' | 'operations', signal: AbortSignal): Promise<void> {
  const served = await serveApp(app, { host: r.config.httpHost, port: r.config.httpPort });
  r.log.info('http listening', { host: r.config.httpHost, port: served.port, routes });
  const onAbort = () => void served.close();
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) onAbort();
  await served.closed;
}

export function httpTask(r: Resources, sweeps?: OnDemandSweeps): Task {
  return {
    name: 'http',
    // A server: requests drive it, no loop of its own beats (its sampling waits on Redis and Postgres, outages included).
    watched: false,
    run: async (signal) => {
      const { deps, status } = operations(r, true);
      const readStatus = async () => ({ ...(await status.read()), outages: r.outages.snapshot() });
      // The status page's charts: one sample a second in memory (adapters/observability/status-history.ts).
      const sim = r.devControls?.stats;
      const history = createStatusHistory({
        registry: r.metrics.registry, read: readStatus,
        ...(sim === undefined ? {} : { extra: () => Object.fromEntries(Object.entries(sim()).map(([k, v]) => [`sim:${k}`, v])) }),
      });
      const sampling = sampleEvery(history, 1000, signal, r.log);
      const app = createApp({
        ...deps,
        auth: { dev: r.config.env === 'dev', token: r.config.apiToken },
        bodyLimitBytes: r.config.httpBodyLimitBytes,
        labelQueryTimeoutMs: r.config.labelQueryTimeoutMs,
        ports: { ...r.ports, sql: r.sql() },
        backfill: r.backfillPorts(),
        label: { identity: r.identity(), trustedSources: new Set(r.config.labelTrustedSources) },
        ...(sweeps === undefined ? {} : { startSweep: () => sweeps.start() }),
        status: readStatus,
        history: () => history.samples(),
        ...(r.devControls === undefined ? {} : { devControls: r.devControls }),
      });
      await serveUntilAborted(r, app, 'all', signal);
      await sampling;
    },
  };
}

/** Kinds whose work reads or writes Postgres; the others (firehose, labels) need Redis only. */
const POSTGRES_KINDS: readonly TaskKind[] = ['index', 'label', 'backfill', 'sweep', 'http'];

/** Whether a process running these kinds uses Postgres (its /ready checks it, its /metrics shows its counts). */
export function usesPostgres(only: readonly TaskKind[]): boolean {
  return only.some((k) => POSTGRES_KINDS.includes(k));
}

/**
 * The state gauges a `run` process running these kinds shows (MetricDimensions.stateGauges): Redis's and its own
 * always, Postgres's only where it uses Postgres.
 */
export function stateGaugesFor(only: readonly TaskKind[]): GaugeSource[] {
  return usesPostgres(only) ? ['redis', 'postgres', 'process'] : ['redis', 'process'];
}

/**
 * `/health`, `/ready` and `/metrics` on HTTP_PORT for a process that does not run the `http` task, so every service
 * of a split deployment can be health-gated and scraped. /ready checks only what this process's tasks use.
 */
export function operationsHttpTask(r: Resources, only: readonly TaskKind[]): Task {
  return {
    name: 'http:operations',
    watched: false,
    run: (signal) => serveUntilAborted(r, createOperationsApp(operations(r, usesPostgres(only)).deps), 'operations', signal),
  };
}

/** What `skytide run --only …` supervises: the chosen tasks, and the operations server unless `http` is among them. */
export function runTasks(r: Resources, only: readonly TaskKind[]): Task[] {
  const tasks = buildTasks(r, only);
  if (tasks.length === 0 || only.includes('http')) return tasks;
  return [...tasks, operationsHttpTask(r, only)];
}

/** Takes a sample every `ms` until `signal` aborts; a failed sample (Redis or Postgres down) is skipped, not fatal. */
async function sampleEvery(history: StatusHistory, ms: number, signal: AbortSignal, log: Log): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    try {
      await history.sample();
    } catch (err) {
      if (Number.isInteger(Math.log10(++failures))) log.warn('status sample failed', { err: describeError(err), occurrences: failures });
    }
    await sleep(ms, signal);
  }
}

export function buildTasks(r: Resources, only: readonly TaskKind[]): Task[] {
  const tasks: Task[] = [];
  if (only.includes('firehose')) tasks.push(...firehoseTasks(r));
  const index = only.includes('index') ? indexTasks(r) : [];
  const label = only.includes('label') ? labelTasks(r) : [];
  const backfill = only.includes('backfill') ? backfillTasks(r) : [];
  tasks.push(...index);
  if (only.includes('labels')) tasks.push(...labelSubscriberTasks(r));
  tasks.push(...label, ...backfill);
  // The release of parked labels holds no transaction: only the label loops count.
  const labelLoops = label.filter((t) => t.name !== LABEL_RELEASE_TASK).length;
  warnIfPoolShort(r, index.length * r.config.indexerSplit + labelLoops + backfill.length);
  const cron = only.includes('sweep') ? r.config.sweepCron : undefined;
  const sweeper = r.config.relayHosts.length > 0 && (cron !== undefined || only.includes('http')) ? sweeperFor(r) : undefined;
  if (sweeper !== undefined && cron !== undefined) tasks.push(scheduledSweepTask(sweeper, cron, r.log.child('sweeper')));
  if (only.includes('http')) {
    // POST /sweep hands its sweeps to a task of their own, supervised beside the server.
    const sweeps = sweeper === undefined ? undefined : createOnDemandSweeps(sweeper, r.log.child('sweeper'));
    tasks.push(httpTask(r, sweeps));
    if (sweeps !== undefined) tasks.push(sweeps.task);
  }
  return tasks;
}
