// Writes a chunk of events to a firehose stream (firehose_backfill) in rsky's entry format: field `event` = JSON.
// `stream` may name the stream per DID (its shard, STREAM_SHARDS): a chunk comes from one repo, so one MULTI holds it.
// Redis refusing the write as a server (out of memory, a read-only replica: write-refusal.ts; the MULTI wrote nothing)
// is thrown as an outage of Redis, which the consumers wait out, never a failure counted against the repo.
import type { Redis } from 'ioredis';
import type { StreamEvent } from '../../functions/events.ts';
import { DependencyError } from '../../functions/errors.ts';
import { appendBatch } from './stream-writer.ts';
import { writeRefusal } from './write-refusal.ts';

export async function emitToStream(redis: Redis, stream: string | ((did: string) => string), events: readonly StreamEvent[]): Promise<void> {
  const to = typeof stream === 'string' ? () => stream : stream;
  try {
    await appendBatch(redis, { entries: events.map((e) => ({ stream: to(e.did), fields: { event: JSON.stringify(e) } })) });
  } catch (err) {
    const refusal = writeRefusal(err);
    if (refusal === undefined) throw err;
    throw new DependencyError('redis', `Redis refuses the events of a backfill: ${refusal}`, { events: events.length }, { cause: err });
  }
}
