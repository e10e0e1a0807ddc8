// The one place an ioredis client is made, so every long-runner gets the same retry and error behaviour.
import { Cluster, Redis } from 'ioredis';
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';
import { ConfigError } from '../config/parse.ts';

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
  /**
   * REDIS_SOCKET_TIMEOUT_MS: a connection that owes a reply and has received nothing for this long is taken for dead
   * (default DEFAULT_SOCKET_TIMEOUT_MS). See socketOptions.
   */
  socketTimeoutMs?: number;
  /**
   * Called once (for the client and its duplicates together) when Redis refuses the database `url` names (SELECT
   * fails: `ERR DB index is out of range`), with the refusing connection already closed. Default: the error is thrown
   * as an uncaught exception, which `skytide run`'s supervisor logs (`uncaught error`) and exits 1 on, and which ends
   * any other command with exit 1. Tests pass their own.
   */
  onFatal?: (err: ConfigError) => void;
}

/**
 * How long a connection that owes a reply may stay silent before it is closed and made again. A peer gone without a
 * FIN or RST (a failover, a NAT or firewall that dropped the flow, a paused VM) otherwise holds every command on it
 * until the kernel gives up retransmitting (tcp_retries2, about 15 minutes). Well above any reply Redis owes us (our
 * scripts and MULTIs take milliseconds), and above an event-loop stall of ours, which makes the timer fire before the
 * reply sitting in the socket is read (then the command is only sent again, see socketOptions).
 */
export const DEFAULT_SOCKET_TIMEOUT_MS = 30_000;

/**
 * ioredis's socketTimeout: armed when a command is written, reset by each byte received while replies are still owed,
 * never running on an idle connection (which stalls nothing; its next command arms it). When it fires, the socket is
 * destroyed and the usual reconnect follows; the commands in flight are NOT failed: with maxRetriesPerRequest null
 * and autoResendUnfulfilledCommands (the default) they are sent again on the new connection, as after any dropped
 * connection, so accepted work is never dropped. One Redis had run already runs twice: the writers are built for
 * that (stream-writer.ts: a batch with a seq cursor or a once-marker lands once, any other MULTI at least once).
 * Not used: keepAlive (probes only an idle connection, and Node cannot shorten their interval or count) and
 * blockingTimeout (it resolves a blocked read with null but leaves the dead connection in place, and a late reply's
 * entries would be dropped by the client, left pending until claimed).
 */
function socketOptions(options: RedisOptions): { socketTimeout: number } {
  return { socketTimeout: options.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS };
}

export function createRedis(options: RedisOptions): Redis {
  if (options.clusterNodes !== undefined && options.clusterNodes.length > 0) return createCluster(options, options.clusterNodes);
  const client = new Redis(options.url, {
    connectionName: options.connectionName ?? 'skytide',
    // Commands wait for a reconnect rather than failing fast: a Redis restart must not drop accepted work.
    maxRetriesPerRequest: null,
    ...socketOptions(options),
    ...(options.commandTimeoutMs === undefined ? {} : { commandTimeout: options.commandTimeoutMs, autoResendUnfulfilledCommands: false }),
    enableAutoPipelining: false,
    lazyConnect: false,
  });
  return watchConnection(client, options.log, databaseRefused(options));
}

/**
 * A connection's SELECT of REDIS_URL's database, refused (a database index past the server's `databases`, a Redis
 * restarted with fewer). ioredis only emits it as an `error` and finishes its handshake, then runs every command on
 * database 0: another deployment's data. Fatal instead: a configuration error naming REDIS_URL, reported once.
 */
function databaseRefused(options: RedisOptions): (err: Error) => void {
  let reported = false;
  return (err) => {
    if (reported) return;
    reported = true;
    const db = String((err as { command?: { args?: unknown[] } }).command?.args?.[0] ?? '?');
    // Where, not the URL: it may carry a password.
    const fatal = new ConfigError([`REDIS_URL names database ${db}, which the Redis at ${new URL(options.url).host} refuses (${err.message})`]);
    options.log.error('redis refuses the configured database', { err: describeError(fatal) });
    if (options.onFatal !== undefined) options.onFatal(fatal);
    else
      process.nextTick(() => {
        throw fatal;
      });
  };
}

/** The error of a SELECT ioredis sent in its handshake (ioredis names the command of a ReplyError). */
function isRefusedSelect(err: unknown): err is Error {
  return err instanceof Error && (err as { command?: { name?: unknown } }).command?.name === 'select';
}

/**
 * A Redis Cluster behind the same command surface. ioredis's Cluster routes each command by its key's slot and sends
 * a MULTI or a script to the slot of its keys, which keys.ts keeps to one slot per MULTI. It is typed as `Redis`
 * because every command we use has the same signature on both; the one that differs, `duplicate`, is called with
 * arguments only by createBlockingReader, which tells the two apart; without, on a Cluster it makes a new Cluster on
 * the same seeds.
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
        // Each node's connection: a silent one is closed, its commands fail as "Connection is closed" and the Cluster
        // sends them again once it has fetched the slots anew (retryDelayOnFailover), as when a node goes away.
        ...socketOptions(options),
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
export function watchConnection(client: Redis, log: Log, onRefusedDatabase?: (err: Error) => void): Redis {
  let errors = 0;
  client.on('error', (err: unknown) => {
    if (onRefusedDatabase !== undefined && isRefusedSelect(err)) {
      // Emitted before the handshake ends, so closed here the connection writes nothing more: no queued command runs
      // on database 0, and none is sent again (closed by us, the client does not reconnect).
      client.disconnect();
      onRefusedDatabase(err);
      return;
    }
    errors++;
    if (Number.isInteger(Math.log10(errors))) log.warn('redis connection error', { err: describeError(err), occurrences: errors });
  });
  client.on('ready', () => {
    if (errors > 0) log.info('redis connection restored', { errors });
    errors = 0;
  });
  // Every argument passed on: a Cluster's duplicate takes (startupNodes, options), createBlockingReader's override.
  const duplicate = client.duplicate.bind(client) as (...args: unknown[]) => Redis;
  client.duplicate = ((...args: unknown[]) => {
    const copy = watchConnection(duplicate(...args), log, onRefusedDatabase);
    const copies = duplicatesOf.get(client) ?? new Set<Redis>();
    duplicatesOf.set(client, copies);
    copies.add(copy);
    // Closed for good (quit or disconnect at a consumer's stop): no longer one of the client's connections.
    copy.once('end', () => copies.delete(copy));
    return copy;
  }) as Redis['duplicate'];
  return client;
}

/** The live duplicates of each watched client (the consumers' blocking readers), for connectionWaiting. */
const duplicatesOf = new WeakMap<Redis, Set<Redis>>();

/**
 * Why a command may be waiting inside the client now: `client`, or one of its live duplicates, is not connected and
 * ready (reconnecting after Redis closed it, or after REDIS_SOCKET_TIMEOUT_MS took a silent one for dead), or
 * undefined. A consumer blocked on its reader's connection uses no other: the reader's state is what says it waits.
 */
export function connectionWaiting(client: Redis): string | undefined {
  if (client.status !== 'ready') return `redis connection ${client.status}`;
  for (const copy of duplicatesOf.get(client) ?? []) {
    const why = connectionWaiting(copy);
    if (why !== undefined) return why.replace('redis connection', 'redis reader connection');
  }
  return undefined;
}

/**
 * A connection of its own for blocking reads of up to `blockMs` (a consumer's XREADGROUP ... BLOCK): a copy of
 * `client` whose socket timeout is the client's plus `blockMs`, since a healthy Redis answers a blocked read only when
 * its BLOCK ends and the plain timeout (shorter than a BLOCK an operator may choose) would close it as dead, and do so
 * again each time the read is sent again. A dead one is still found within the client's timeout after the BLOCK.
 */
export function createBlockingReader(client: Redis, blockMs: number): Redis {
  if (client.isCluster) {
    const cluster = client as unknown as Cluster;
    const timeout = cluster.options.redisOptions?.socketTimeout;
    if (timeout === undefined) return client.duplicate();
    return cluster.duplicate([], { redisOptions: { socketTimeout: timeout + blockMs } }) as unknown as Redis;
  }
  const timeout = client.options.socketTimeout;
  return timeout === undefined ? client.duplicate() : client.duplicate({ socketTimeout: timeout + blockMs });
}
