// Writes a chunk of events to a firehose stream (firehose_backfill) in rsky's entry format: field `event` = JSON.
// `stream` may name the stream per DID (its shard, STREAM_SHARDS): a chunk comes from one repo, so one MULTI holds it.
import type { Redis } from 'ioredis';
import type { StreamEvent } from '../../functions/events.ts';
import { appendBatch } from './stream-writer.ts';

export async function emitToStream(redis: Redis, stream: string | ((did: string) => string), events: readonly StreamEvent[]): Promise<void> {
  const to = typeof stream === 'string' ? () => stream : stream;
  await appendBatch(redis, { entries: events.map((e) => ({ stream: to(e.did), fields: { event: JSON.stringify(e) } })) });
}
