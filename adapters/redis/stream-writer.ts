// Writes a batch of stream entries and, in the SAME MULTI/EXEC, the cursor that says they are written. Either all of
// it lands or none does, so a crash can neither lose an event behind an advanced cursor nor write one twice. Every
// reply is checked: ioredis reports per-command errors inside EXEC's result instead of throwing.
import type { Redis } from 'ioredis';

export interface StreamEntry {
  /** Full key (already prefixed). */
  stream: string;
  fields: Record<string, string>;
}

export interface BatchWrite {
  entries: readonly StreamEntry[];
  cursor?: { key: string; value: string };
  /** Other keys whose values describe the same events (per-repo state), written atomically with them. */
  sets?: readonly { key: string; value: string; ttlMs: number }[];
}

export class StreamWriteError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StreamWriteError';
  }
}

export async function appendBatch(redis: Redis, batch: BatchWrite): Promise<string[]> {
  if (batch.entries.length === 0 && batch.cursor === undefined) return [];
  const multi = redis.multi();
  for (const entry of batch.entries) {
    // NOTE: never MAXLEN: trimming could delete entries no consumer has processed yet.
    multi.xadd(entry.stream, '*', ...Object.entries(entry.fields).flat());
  }
  for (const s of batch.sets ?? []) multi.set(s.key, s.value, 'PX', s.ttlMs);
  if (batch.cursor !== undefined) multi.set(batch.cursor.key, batch.cursor.value);
  const replies = await multi.exec();
  if (replies === null) throw new StreamWriteError('MULTI was aborted (EXEC returned null)');
  const ids: string[] = [];
  replies.forEach(([err, result], i) => {
    if (err !== null) {
      throw new StreamWriteError(`command ${i} of the batch failed`, { cause: err });
    }
    if (i < batch.entries.length) ids.push(String(result));
  });
  return ids;
}
