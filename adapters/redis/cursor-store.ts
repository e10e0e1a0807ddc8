// Stream cursors as rsky stores them: a plain string key holding the last seq. A value that is not an integer is
// our own corruption (or someone else's key): refuse to guess a position from it.
// A seq cursor only rises: batches raise it with RAISE_SEQ_CURSOR inside their MULTI, so no process, crash or second
// connection can move it back. The one deliberate exception is `resetSeqCursor`, for an upstream whose sequence was
// reset (FutureCursor); its caller logs and counts it.
import type { Redis } from 'ioredis';
import { InvariantError } from '../../functions/errors.ts';
import type { RedisScript } from './scripts.ts';

export async function readSeqCursor(redis: Redis, key: string): Promise<number | undefined> {
  const value = await redis.get(key);
  if (value === null) return undefined;
  if (!/^\d+$/.test(value)) throw new InvariantError(`cursor ${key} holds ${JSON.stringify(value)}, not a seq`);
  return Number(value);
}

/**
 * KEYS[1] = the cursor, ARGV[1] = a seq. SETs it only when above the stored value; answers the value stored
 * afterwards (ours, or the higher one another writer left), as a string.
 */
export const RAISE_SEQ_CURSOR: RedisScript = {
  name: 'skytideRaiseSeqCursor',
  numberOfKeys: 1,
  keyTypes: ['string'],
  lua: `
local stored = redis.call('GET', KEYS[1])
if stored then
  local n = tonumber(stored)
  if n == nil or not string.match(stored, '^%d+$') then
    return redis.error_reply('cursor ' .. KEYS[1] .. ' holds a value that is not a seq')
  end
  if n >= tonumber(ARGV[1]) then return stored end
end
redis.call('SET', KEYS[1], ARGV[1])
return ARGV[1]
`,
};

/** Sets the cursor to `seq` even when that is lower: only for an upstream that was reset (FutureCursor). */
export async function resetSeqCursor(redis: Redis, key: string, seq: number): Promise<void> {
  await redis.set(key, String(seq));
}
