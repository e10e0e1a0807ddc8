// Stream cursors as rsky stores them: a plain string key holding the last seq. A value that is not an integer is
// our own corruption (or someone else's key): refuse to guess a position from it.
// A seq cursor only rises: batches raise it with RAISE_SEQ_CURSOR inside their MULTI, so no process, crash or second
// connection can move it back. The one deliberate exception is `resetSeqCursor`, for an upstream whose sequence was
// reset (FutureCursor); its caller logs and counts it. A Redis that comes back with an older state (a restart from an
// older snapshot, a failover to a lagging replica) holds a lower value than its writer stored: the writer's batches
// begin with CURSOR_FLOOR, which refuses them then, so the writer resumes from what is stored (the lost seqs again)
// rather than raising the cursor over them.
import type { Redis } from 'ioredis';
import { InvariantError } from '../../functions/errors.ts';
import type { RedisScript } from './scripts.ts';
import type { BatchOp } from './stream-writer.ts';

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

/**
 * KEYS[1] = a seq cursor, ARGV[1] = the value its writer last knew stored. The first step of a subscription's batch:
 * when the cursor stands lower (or is gone), Redis lost writes this writer made (a restart from an older snapshot, a
 * failover to a replica that had not received them), and raising it from there would step over the lost seqs for good.
 * An error reply (BEHIND, GUARD_CODES) ends the batch script before any write; the writer resumes from the stored
 * cursor instead. A value that is not a seq passes (RAISE_SEQ_CURSOR refuses it).
 */
export const CURSOR_FLOOR: RedisScript = {
  name: 'skytideCursorFloor',
  numberOfKeys: 1,
  keyTypes: ['string'],
  lua: `
local stored = redis.call('GET', KEYS[1])
local n = stored and tonumber(stored)
if stored and n == nil then return 1 end
if not stored or n < tonumber(ARGV[1]) then
  return redis.error_reply('BEHIND ' .. KEYS[1] .. ' holds ' .. (stored or 'nothing') .. ', below ' .. ARGV[1] .. ' this writer stored')
end
return 1
`,
};

/** The batch op that refuses the batch, nothing written, when `key` stands below `floor` (CURSOR_FLOOR). */
export function cursorFloorOp(key: string, floor: number): BatchOp {
  return { kind: 'script', script: CURSOR_FLOOR, keys: [key], args: [String(floor)] };
}

/** Whether `err` (or its cause) is a batch refused by CURSOR_FLOOR: Redis holds an older cursor than was written. */
export function cursorBehindIn(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e.message.startsWith('BEHIND ')) return true;
  }
  return false;
}

/** Sets the cursor to `seq` even when that is lower: only for an upstream that was reset (FutureCursor). */
export async function resetSeqCursor(redis: Redis, key: string, seq: number): Promise<void> {
  await redis.set(key, String(seq));
}
