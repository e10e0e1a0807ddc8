// Operating on a stream's dead-letter queue (<stream>_dlq): list what is there and why, move entries back to their
// stream with their verdict removed (so the consumer counts attempts afresh), or purge them. Replay is one batch per
// chunk (stream-writer.ts, the batch script without a marker): the XADD to the stream and the XDEL from the DLQ land
// together, so an entry is never in both or in neither. A stream or DLQ of another type (made by hand) refuses the
// chunk whole: as a MULTI, every XADD failed and the XDEL ran, and the letters were gone from both.
// A letter with nothing but its verdict (an entry deleted while pending, which consumers dead-lettered without fields
// before they acknowledged and counted such entries instead) cannot be replayed: XADD needs a field, and one such
// XADD would fail in its chunk, every replay again.
// It stays in the DLQ, counted, for `dlq list` to show and `dlq purge` to remove.
import type { Redis } from 'ioredis';
import { writeBatch } from './stream-writer.ts';
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

/** Moves matching entries back to `stream` (appended at its end, in DLQ order), removing them from the DLQ. */
export async function replayDeadLetters(redis: Redis, dlq: string, stream: string, filter: DeadLetterFilter = {}): Promise<ReplayResult> {
  let moved = 0;
  let unreplayable = 0;
  let chunk: DeadLetterEntry[] = [];
  const flush = async () => {
    if (chunk.length === 0) return;
    // writeBatch throws a StreamWriteError for a refused batch or step.
    await writeBatch(redis, {
      entries: chunk.map((e) => ({ stream, fields: originalFields(e) })),
      ops: [{ kind: 'command', name: 'XDEL', args: [dlq, ...chunk.map((e) => e.id)] }],
    });
    moved += chunk.length;
    chunk = [];
  };
  // Collect first, then write: XADDs to the same key as the DLQ are impossible (different keys), but deleting while
  // paging would shift the pages under us.
  const all: DeadLetterEntry[] = [];
  for await (const e of readDeadLetters(redis, dlq, filter)) all.push(e);
  for (const e of all) {
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
