// Stream cursors as rsky stores them: a plain string key holding the last seq. A value that is not an integer is
// our own corruption (or someone else's key): refuse to guess a position from it.
import type { Redis } from 'ioredis';
import { InvariantError } from '../../functions/errors.ts';

export async function readSeqCursor(redis: Redis, key: string): Promise<number | undefined> {
  const value = await redis.get(key);
  if (value === null) return undefined;
  if (!/^\d+$/.test(value)) throw new InvariantError(`cursor ${key} holds ${JSON.stringify(value)}, not a seq`);
  return Number(value);
}
