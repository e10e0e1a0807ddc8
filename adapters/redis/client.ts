// The one place an ioredis client is made, so every long-runner gets the same retry and error behaviour.
import { Redis } from 'ioredis';

export type { Redis } from 'ioredis';

export interface RedisOptions {
  url: string;
  /** Name shown in CLIENT LIST, for operators. */
  connectionName?: string;
}

export function createRedis(options: RedisOptions): Redis {
  return new Redis(options.url, {
    connectionName: options.connectionName ?? 'skytide',
    // Commands wait for a reconnect rather than failing fast: a Redis restart must not drop accepted work.
    maxRetriesPerRequest: null,
    enableAutoPipelining: false,
    lazyConnect: false,
  });
}
