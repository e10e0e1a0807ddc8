// The shared clients one process needs, made once from the parsed config and closed once at exit.
import os from 'node:os';
import type { Config } from '../../adapters/config/parse.ts';
import { createLogger } from '../../adapters/observability/logger.ts';
import { createMetrics, type GaugeSource, type MetricsBundle } from '../../adapters/observability/metrics.ts';
import { createOutageBoard, type OutageBoard } from '../../adapters/observability/outage-board.ts';
import { connectionWaiting, createRedis, type Redis } from '../../adapters/redis/client.ts';
import { createKeySpace, hostKey, STREAMS, type KeySpace } from '../../adapters/redis/keys.ts';
import { createSql, type PostgresSql } from '../../adapters/postgres/client.ts';
import { systemClock, type BasePorts, type Log } from '../../functions/ports.ts';
import { createIdentityResolver } from '../../adapters/identity/resolver.ts';
import { createHandleResolver } from '../../adapters/identity/handle-resolver.ts';
import { withRedisCache } from '../../adapters/identity/redis-cache.ts';
import { withOutageBreaker, type OutageView } from '../../adapters/identity/outage-breaker.ts';
import { withStubbornDidCheck } from '../../adapters/identity/stubborn-did.ts';
import type { IdentityResolver } from '../../functions/atproto/identity/did-document.ts';
import type { HandleResolver } from '../../functions/atproto/identity/handle.ts';
import { createGuardedFetch } from '../../adapters/xrpc/guarded-fetch.ts';
import { createHostSlots } from '../../adapters/xrpc/host-slots.ts';
import { createResolverCheck, withDnsOutageCheck } from '../../adapters/xrpc/dns-outage-check.ts';
import { emitToStream } from '../../adapters/redis/emit-events.ts';
import type { BackfillPorts } from '../../functions/backfill-repo/handler.ts';
import { DEFAULT_REPO_LIMITS } from '../../functions/atproto/repo/read-car.ts';
import type { DevControls } from '../../adapters/http/routes/status-page.ts';
import { withDeadline } from '../../adapters/http/deadline.ts';

export interface Resources {
  config: Config;
  log: Log;
  metrics: MetricsBundle;
  ports: BasePorts;
  keys: KeySpace;
  /** The dependencies this process's consumers are waiting on (every loop that waits out an outage reports here). */
  outages: OutageBoard;
  /** Consumer name unique to this instance (INDEXER_CONSUMER or hostname-pid). */
  consumerName: string;
  redis(): Redis;
  sql(): PostgresSql;
  /** DID documents through the Redis cache (`identity:<did>`), one resolver for every task of the process. */
  identity(): IdentityResolver;
  /**
   * Handle -> DID (DNS and the well-known, or HANDLE_RESOLVER_URL), one for every task of the process; a DNS failure
   * of one handle's domain while the PLC directory's name resolves is that domain's, not an outage.
   */
  handles(): HandleResolver;
  /** Ports of the backfill-repo function: Postgres, fetch, identity, handles. */
  backfillPorts(): BackfillPorts;
  /**
   * The firehose's identity resolver (Redis cache, then an outage breaker, then PLC or did:web) and the breaker's
   * view, shared by every relay connection of the process.
   */
  liveIdentity(): { identity: IdentityResolver; outages: OutageView };
  /** Tasks the supervisor's watchdog found hung (no progress for SKYTIDE_TASK_STUCK_MS): /ready fails once any is. */
  stuckTasks: string[];
  /**
   * Subscriptions of this process waiting for a host's lease that another process holds (task name -> its holder, null
   * when unknown): a standby, not a fault, so /ready lists them under `degraded` and stays 200.
   */
  leaseWaits: Map<string, string | null>;
  /**
   * Why every Redis command waits inside the client now (it is reconnecting: an outage, waited out), or undefined.
   * Opens no connection: a process that made no client has nothing waiting on one.
   */
  redisWaiting(): string | undefined;
  /** The simulated network's controls for the status page, set by `skytide dev` when it runs one. */
  devControls?: DevControls;
  close(): Promise<void>;
}

export interface ResourceOptions {
  /** Redis commands fail after this long without a reply (one-shot commands); absent: they wait out an outage. */
  redisCommandTimeoutMs?: number;
  /** The state gauges /metrics shows, by the sources this process reads (MetricDimensions.stateGauges); default all. */
  stateGauges?: readonly GaugeSource[];
}

/** How long close() lets Redis's QUIT and Postgres's end finish before their connections are dropped. */
const CLOSE_GRACE_MS = 2000;

/**
 * QUIT, or the connection dropped. QUIT queues behind the commands waiting for a reconnect, so with Redis down it
 * never answers, and the process, its tasks stopped, would never exit: a client that is not ready is disconnected at
 * once, and one that does not answer QUIT in time after the grace.
 */
async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    try {
      await withDeadline(client.quit(), CLOSE_GRACE_MS, 'redis QUIT');
      return;
    } catch {
      // No answer in time (or the QUIT failed): the connection is dropped below.
    }
  }
  client.disconnect();
}

export function createResources(config: Config, component = 'skytide', options: ResourceOptions = {}): Resources {
  const log = createLogger({ level: config.logLevel, component });
  const metrics = createMetrics({
    hosts: config.relayHosts.map(hostKey),
    streams: [...Object.values(STREAMS)],
    labelHosts: config.labelerHosts.map(hostKey),
    labelSources: config.labelTrustedSources,
    ...(options.stateGauges === undefined ? {} : { stateGauges: options.stateGauges }),
  });
  const keys = createKeySpace(config.redisKeyPrefix, { shards: config.streamShards, cluster: config.redisClusterNodes.length > 0 });
  let redis: Redis | undefined;
  let sql: PostgresSql | undefined;
  let backfill: BackfillPorts | undefined;
  let live: { identity: IdentityResolver; outages: OutageView } | undefined;
  let identity: IdentityResolver | undefined;
  let handles: HandleResolver | undefined;
  // A DNS failure of one host is its own unless the PLC directory's name fails to resolve too (then: an outage).
  const resolverAnswers = createResolverCheck({ referenceHost: new URL(config.plcUrl).hostname });
  // One construction for the live path's resolver and the others': the live one was built without the DNS check, so
  // one did:web whose own DNS failed counted as a `dns` outage and, with a second, opened the breaker for every DID.
  // A did:plc the directory keeps failing for, alone, becomes its own failure (stubborn-did.ts) rather than an outage
  // that holds a consumer's batch for ever.
  const documentResolver = (): IdentityResolver =>
    withStubbornDidCheck(createIdentityResolver({
      fetch: withDnsOutageCheck(globalThis.fetch, resolverAnswers), plcUrl: config.plcUrl, allowPrivate: config.identityAllowPrivate,
      webFetch: withDnsOutageCheck(createGuardedFetch({ allowPrivate: config.identityAllowPrivate }), resolverAnswers),
    }), { log: log.child('identity') });
  return {
    config,
    log,
    metrics,
    keys,
    ports: { clock: systemClock, log, metrics: metrics.metrics },
    outages: createOutageBoard({ log: log.child('outages'), metrics: metrics.metrics }),
    consumerName: config.indexerConsumer ?? `${os.hostname()}-${process.pid}`,
    stuckTasks: [],
    leaseWaits: new Map(),
    redisWaiting: () => (redis === undefined ? undefined : connectionWaiting(redis)),
    // Lazily made: `skytide migrate` needs no Redis, `run --only firehose` no Postgres.
    redis: () => (redis ??= createRedis({
      url: config.redisUrl, clusterNodes: config.redisClusterNodes, connectionName: `skytide:${component}`, log: log.child('redis'),
      socketTimeoutMs: config.redisSocketTimeoutMs,
      ...(options.redisCommandTimeoutMs === undefined ? {} : { commandTimeoutMs: options.redisCommandTimeoutMs }),
    })),
    sql: () => (sql ??= createSql(config.databaseUrl, {
      max: config.databasePoolMax, copyMinRows: config.databaseCopyMinRows,
      onSilent: (info) => log.child('postgres').error('postgres went silent under a statement: its connections cut, the work retried', info),
    })),
    identity() {
      return (identity ??= withRedisCache(documentResolver(), { redis: this.redis(), prefix: config.redisKeyPrefix, log: log.child('identity') }));
    },
    handles() {
      return (handles ??= createHandleResolver({
        fetch: createGuardedFetch({ allowPrivate: config.identityAllowPrivate }),
        resolverAnswers,
        ...(config.handleResolverUrl === undefined ? {} : { serviceUrl: config.handleResolverUrl }),
      }));
    },
    backfillPorts() {
      const identity = this.identity();
      return (backfill ??= {
        clock: systemClock, log: log.child('backfill'), metrics: metrics.metrics, sql: this.sql(),
        fetch: withDnsOutageCheck(createGuardedFetch({ allowPrivate: config.identityAllowPrivate }), resolverAnswers),
        // BACKFILLER_PER_HOST downloads per PDS across the process's backfill loops (one set of slots, made once).
        hostSlots: createHostSlots(config.backfillerPerHost),
        identity,
        // Every backfilled account gets its handle verified both ways, as #identity does (issue 8, item 8).
        handles: this.handles(),
        timeoutMs: config.backfillerTimeoutMs, stallMs: config.backfillerStallMs, concurrency: 1, filter: config.filter,
        limits: { ...DEFAULT_REPO_LIMITS, maxBytes: config.backfillerMaxRepoBytes },
        ...(config.backfillerOutput === 'stream' ? { emit: (events) => emitToStream(this.redis(), (did) => keys.stream(keys.shardFor(STREAMS.firehoseBackfill, did)), events) } : {}),
      });
    },
    liveIdentity() {
      if (live === undefined) {
        const breaker = withOutageBreaker(documentResolver(), { log: log.child('identity') });
        live = { identity: withRedisCache(breaker, { redis: this.redis(), prefix: config.redisKeyPrefix, log: log.child('identity') }), outages: breaker };
      }
      return live;
    },
    // Bounded whatever state Redis and Postgres are in: the process exits after it (its exit code already decided).
    close: async () => {
      await Promise.allSettled([
        redis === undefined ? undefined : closeRedis(redis),
        sql === undefined ? undefined : withDeadline(sql.end(), CLOSE_GRACE_MS * 3, 'postgres end'),
      ]);
    },
  };
}
