// Writes a chunk of events to a firehose stream (firehose_backfill) in rsky's entry format: field `event` = JSON.
import type { Redis } from 'ioredis';
import type { StreamEvent } from '../../functions/events.ts';
import { appendBatch } from './stream-writer.ts';

export async function emitToStream(redis: Redis, stream: string, events: readonly StreamEvent[]): Promise<void> {
  await appendBatch(redis, { entries: events.map((e) => ({ stream, fields: { event: JSON.stringify(e) } })) });
}
