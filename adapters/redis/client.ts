// The one place an ioredis client is made, so every long-runner gets the same retry and error behaviour.
import { Redis } from 'ioredis';
import type { Log } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';

export type { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  /** Name shown in CLIENT LIST, for operators. */
  connectionName?: string;
  /** Where connection errors go (as JSON lines, sampled), instead of ioredis printing each one to stderr. */
  log: Log;
}

export function createRedis(options: RedisOptions): Redis {
  const client = new Redis(options.url, {
    connectionName: options.connectionName ?? 'skytide',
    // Commands wait for a reconnect rather than failing fast: a Redis restart must not drop accepted work.
    maxRetriesPerRequest: null,
    enableAutoPipelining: false,
    lazyConnect: false,
  });
  return watchConnection(client, options.log);
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
