// Real Postgres and Redis for integration tests: each test file gets its own schema and key prefix, so files can
// run in parallel against the one server on this machine. Nothing here mocks a service.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { Redis } from 'ioredis';

export const TEST_DATABASE_URL = process.env['TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
export const TEST_REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

export function uniqueName(label: string): string {
  return `t_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
}

/** Creates an empty schema and returns its name plus a connection URL whose search_path points at it. */
export async function createTestSchema(label: string): Promise<{ schema: string; url: string; drop: () => Promise<void> }> {
  const schema = uniqueName(label);
  const admin = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create schema "${schema}"`);
  await admin.end();
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return {
    schema,
    url: url.toString(),
    drop: async () => {
      const a = postgres(TEST_DATABASE_URL, { max: 1, onnotice: () => {} });
      await a.unsafe(`drop schema if exists "${schema}" cascade`);
      await a.end();
    },
  };
}

/** A Redis client plus a unique key prefix; `cleanup` deletes every key under the prefix. */
export async function createTestRedis(label: string): Promise<{ redis: Redis; prefix: string; cleanup: () => Promise<void> }> {
  const prefix = `${uniqueName(label)}:`;
  const redis = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
  return {
    redis,
    prefix,
    cleanup: async () => {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== '0');
      await redis.quit();
    },
  };
}
