// A redis-server of the test file's own, for the tests that put Redis out of memory (maxmemory set below its use, with
// noeviction): started before the file's tests with a client; maxmemory lifted, the client dropped and the server
// stopped after them. Kept apart from private-services.ts, which the bench loads outside vitest.
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { startPrivateRedis, type PrivateRedis } from './private-services.ts';

export function useFullableRedis(): { readonly redis: Redis; readonly server: PrivateRedis } {
  let server: PrivateRedis | undefined;
  let redis: Redis | undefined;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = new Redis(server.url);
  });
  afterAll(async () => {
    await redis?.config('SET', 'maxmemory', '0').catch(() => {});
    redis?.disconnect();
    await server?.close();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the private Redis is not started yet: use it inside a test');
    return value;
  };
  return {
    get redis() {
      return started(redis);
    },
    get server() {
      return started(server);
    },
  };
}
