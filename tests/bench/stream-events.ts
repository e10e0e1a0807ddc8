// Events into a Redis stream as the firehose adapter writes them (one entry per event, its JSON in the field `event`),
// for the benchmarks that start from a filled stream.
import type { Redis } from 'ioredis';
import type { StreamEvent } from '../../functions/events.ts';

/** Appends each event to the stream `streamOf` names for it, a thousand to a pipeline. */
export async function appendEvents(redis: Redis, streamOf: (e: StreamEvent) => string, events: readonly StreamEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += 1000) {
    const pipeline = redis.pipeline();
    for (const e of events.slice(i, i + 1000)) pipeline.xadd(streamOf(e), '*', 'event', JSON.stringify(e));
    await pipeline.exec();
  }
}

