// Operating on a stream's dead-letter queue (<stream>_dlq): list what is there and why, move entries back to their
// stream with their verdict removed (so the consumer counts attempts afresh), or purge them. Replay pages through the
// DLQ (an exclusive start id, so what it deletes behind itself shifts nothing) and moves each page in one script
// (MOVE_LETTERS) that writes a letter back only while it is still in the DLQ: two replays at once (two operators, a
// job retried while the first runs), or one sent again after its reply was lost, move each letter once, and each
// reports what it moved. Both keys' types are checked first: a stream or DLQ of another type (made by hand) refuses
// the page whole, nothing moved.
// A letter with nothing but its verdict (an entry deleted while pending, which consumers dead-lettered without fields
// before they acknowledged and counted such entries instead) cannot be replayed: XADD needs a field, and one such
// XADD would fail in its page, every replay again.
// It stays in the DLQ, counted, for `dlq list` to show and `dlq purge` to remove.
import type { Redis } from 'ioredis';
import { refuseWrongType, StreamWriteError } from './stream-writer.ts';
import { runScript } from './scripts.ts';
import { KEY_TYPES_LUA } from './lua/key-types.ts';
// Fields the consumer adds when it dead-letters an entry; everything else is the original entry.
import { VERDICT_FIELDS } from './consumer-group.ts';

export interface DeadLetterEntry {
  id: string;
  reason: string;
  attempts: number;
  /** What was said about the entry when it was dead-lettered; absent from letters written before it was kept (and rsky's). */
  error?: string;
  /** The entry's id in its source stream. */
  sourceId?: string;
  /** The original entry's fields (`event`, `repo`, ...), as they will be replayed. */
  fields: Record<string, string>;
}

export interface DeadLetterFilter {
  /** Only entries dead-lettered for this reason. */
  reason?: string;
  /** At most this many entries (oldest first). */
  limit?: number;
}

function toEntry(id: string, flat: unknown): DeadLetterEntry {
  const fields: Record<string, string> = {};
  let reason = '';
  let attempts = 0;
  let error: string | undefined;
  let sourceId: string | undefined;
  if (Array.isArray(flat)) {
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = String(flat[i]);
      const value = String(flat[i + 1]);
      if (name === 'reason') reason = value;
      else if (name === 'attempts') attempts = Number(value) || 0;
      else if (name === 'error') error = value;
      else if (name === 'source_id') sourceId = value;
      else fields[name] = value;
    }
  }
  return { id, reason, attempts, ...(error === undefined ? {} : { error }), ...(sourceId === undefined ? {} : { sourceId }), fields };
}

const PAGE = 500;

/** Walks the DLQ oldest first, yielding the entries that pass the filter, up to its limit. */
export async function* readDeadLetters(redis: Redis, dlq: string, filter: DeadLetterFilter = {}): AsyncGenerator<DeadLetterEntry> {
  let start = '-';
  let yielded = 0;
  const limit = filter.limit ?? Infinity;
  for (;;) {
    const page = (await redis.xrange(dlq, start, '+', 'COUNT', PAGE)) as [string, unknown][];
    for (const [id, flat] of page) {
      const entry = toEntry(id, flat);
      if (filter.reason !== undefined && entry.reason !== filter.reason) continue;
      yield entry;
      if (++yielded >= limit) return;
    }
    if (page.length < PAGE) return;
    start = `(${page.at(-1)![0]}`;
  }
}

export interface ReplayResult {
  /** Letters moved back to the stream. */
  replayed: number;
  /** Matching letters left in the DLQ because they hold no field of an entry (nothing to write back). */
  unreplayable: number;
}

/** Original fields of a letter, as they are written back: the verdict removed. */
const originalFields = (e: DeadLetterEntry): Record<string, string> =>
  Object.fromEntries(Object.entries(e.fields).filter(([n]) => !VERDICT_FIELDS.has(n)));

/**
 * KEYS: the DLQ, the stream. ARGV: per letter its id, its field count n, then n field names and values. A letter
 * still in the DLQ is XADDed to the stream, then XDELed (in that order: a write refused midway leaves it in the DLQ,
 * never in neither); one gone already (another replay moved it, or a purge removed it) is skipped. Answers how many
 * moved, or refusedType's text when a key has another type (nothing moved).
 */
export const MOVE_LETTERS = `${KEY_TYPES_LUA}
local dlq, stream = KEYS[1], KEYS[2]
local refused = refusedType(stream, 'stream') or refusedType(dlq, 'stream')
if refused then return refused end
local moved, a = 0, 1
while a <= #ARGV do
  local id, n = ARGV[a], tonumber(ARGV[a + 1])
  if #redis.call('XRANGE', dlq, id, id) > 0 then
    redis.call('XADD', stream, '*', unpack(ARGV, a + 2, a + 1 + n))
    redis.call('XDEL', dlq, id)
    moved = moved + 1
  end
  a = a + 2 + n
end
return moved`;

/**
 * Moves matching entries back to `stream` (appended at its end, in DLQ order), removing them from the DLQ, a page at
 * a time. `replayed` counts only what this call moved: a letter another replay moved first is not counted here.
 */
export async function replayDeadLetters(redis: Redis, dlq: string, stream: string, filter: DeadLetterFilter = {}): Promise<ReplayResult> {
  let moved = 0;
  let unreplayable = 0;
  let chunk: DeadLetterEntry[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    const args = chunk.flatMap((e) => {
      const flat = Object.entries(originalFields(e)).flat();
      return [e.id, String(flat.length), ...flat];
    });
    chunk = [];
    const reply = await runScript(redis, MOVE_LETTERS, [dlq, stream], args);
    refuseWrongType(`replay ${dlq}`, reply);
    if (typeof reply !== 'number') throw new StreamWriteError(`replay ${dlq}: the script answered ${typeof reply}, not a count`);
    moved += reply;
  };
  // readDeadLetters pages from just past the last id it read, so the letters moved behind it shift nothing.
  for await (const e of readDeadLetters(redis, dlq, filter)) {
    if (Object.keys(originalFields(e)).length === 0) {
      unreplayable++;
      continue;
    }
    chunk.push(e);
    if (chunk.length >= PAGE) await flush();
  }
  await flush();
  return { replayed: moved, unreplayable };
}

/** Deletes matching entries from the DLQ for good. Returns how many. */
export async function purgeDeadLetters(redis: Redis, dlq: string, filter: DeadLetterFilter = {}): Promise<number> {
  const ids: string[] = [];
  for await (const e of readDeadLetters(redis, dlq, filter)) ids.push(e.id);
  let removed = 0;
  for (let i = 0; i < ids.length; i += PAGE) removed += await redis.xdel(dlq, ...ids.slice(i, i + PAGE));
  return removed;
}
