// The one place an ioredis client is made, so every long-runner gets the same retry and error behaviour.
import { Cluster, Redis } from 'ioredis';
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';

export type { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  /** REDIS_CLUSTER_NODES: host:port seeds of a Redis Cluster; empty or absent means the one Redis at `url`. */
  clusterNodes?: readonly string[];
  /** Name shown in CLIENT LIST, for operators. */
  connectionName?: string;
  /** Where connection errors go (as JSON lines, sampled), instead of ioredis printing each one to stderr. */
  log: Log;
  /**
   * Fail a command that has no reply after this long (ioredis's commandTimeout), for one-shot CLI commands whose
   * operator must be told Redis does not answer. Absent (the long-runners): a command waits for the reconnect.
   * Such a client also never sends again, after a reconnect, a command whose reply the dropped connection lost
   * (Redis may have run it): a DLQ replay's MULTI sent twice would write its entries twice. It fails by its timeout
   * instead, and the operator runs the command again, which finds what the first run did.
   */
  commandTimeoutMs?: number;
}

export function createRedis(options: RedisOptions): Redis {
  if (options.clusterNodes !== undefined && options.clusterNodes.length > 0) return createCluster(options, options.clusterNodes);
  const client = new Redis(options.url, {
    connectionName: options.connectionName ?? 'skytide',
    // Commands wait for a reconnect rather than failing fast: a Redis restart must not drop accepted work.
    maxRetriesPerRequest: null,
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs, autoResendUnfulfilledCommands: false }),
    enableAutoPipelining: false,
    lazyConnect: false,
  });
  return watchConnection(client, options.log);
}

/**
 * A Redis Cluster behind the same command surface. ioredis's Cluster routes each command by its key's slot and sends
 * a MULTI or a script to the slot of its keys, which keys.ts keeps to one slot per MULTI. It is typed as `Redis`
 * because every command we use has the same signature on both; the one that differs, `duplicate`, is only ever
 * called without arguments (a consumer's blocking reader), which on a Cluster makes a new Cluster on the same seeds.
 */
function createCluster(options: RedisOptions, nodes: readonly string[]): Redis {
  const url = new URL(options.url);
  const cluster = new Cluster(
    nodes.map((n) => {
      const i = n.lastIndexOf(':');
      return { host: n.slice(0, i), port: Number(n.slice(i + 1)) };
    }),
    {
      redisOptions: {
        connectionName: options.connectionName ?? 'skytide',
        maxRetriesPerRequest: null,
        ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs, autoResendUnfulfilledCommands: false }),
        ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
        ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
      },
      enableAutoPipelining: false,
      // Commands wait for the cluster to come back rather than fail: as for one Redis, accepted work is never dropped.
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
    },
  );
  return watchConnection(cluster as unknown as Redis, options.log);
}

/**
 * ioredis prints `[ioredis] Unhandled error event` to stderr on every failed reconnect when nothing listens for
 * `error`: not a JSON line, and one every two seconds per connection while Redis is down. Count them instead, log the
 * 1st, 10th, 100th... of each outage and its end. Duplicates (the consumers' blocking readers) are watched the same way.
 */
export function watchConnection(client: Redis, log: Log): Redis {
  let errors = 0;
  client.on('error', (err: unknown) => {
    errors++;
    if (Number.isInteger(Math.log10(errors))) log.warn('redis connection error', { err: describeError(err), occurrences: errors });
  });
  client.on('ready', () => {
    if (errors > 0) log.info('redis connection restored', { errors });
    errors = 0;
  });
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (override) => watchConnection(duplicate(override), log);
  return client;
}
