// Two `skytide dlq replay` runs over the same DLQ at once (two operators, a job retried while the first still runs),
// each on its own connection as two processes would be. Each collected every letter, then XADDed them back beside an
// XDEL that no longer found them: every letter landed in the stream twice (review: 2000 letters, stream length 4000).
// Each letter must land once, and the two runs' counts must add up to what was moved.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { replayDeadLetters } from '../../../adapters/redis/dead-letters.ts';
import { TEST_REDIS_URL, createTestRedis } from '../../helpers/services.ts';

let redis: Redis;
let other: Redis;
let prefix: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('replay_race'));
  other = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 3 });
});
afterAll(async () => {
  other.disconnect();
  await cleanup();
});

describe('two replays of one DLQ at once', () => {
  it('move each letter exactly once, over several pages, and count only what each moved', async () => {
    const stream = `${prefix}firehose_live`;
    const dlq = `${stream}_dlq`;
    const n = 2_000;
    for (let at = 0; at < n; at += 500) {
      const m = redis.multi();
      for (let i = at; i < at + 500; i++) m.xadd(dlq, '*', 'event', String(i), 'reason', 'handler_error', 'attempts', '5', 'source_id', `${i}-0`);
      await m.exec();
    }
    const [a, b] = await Promise.all([replayDeadLetters(redis, dlq, stream), replayDeadLetters(other, dlq, stream)]);
    const back = ((await redis.xrange(stream, '-', '+')) as [string, string[]][]).map(([, f]) => f);
    expect(back.length).toBe(n);
    // In DLQ order, verdict removed: each page moved by one run or the other, in turn.
    expect(back).toEqual(Array.from({ length: n }, (_, i) => ['event', String(i)]));
    expect(await redis.xlen(dlq)).toBe(0);
    expect(a.replayed + b.replayed).toBe(n);
    expect([a.unreplayable, b.unreplayable]).toEqual([0, 0]);
  });
});
