// The Redis work queue (repo_backfill's) while Redis is out of memory (maxmemory reached, noeviction: a script's first
// write that could grow memory is refused), on a redis-server of the test's own. A pull first moves the delayed
// entries that are due into the stream, and that XADD was the script's first write: every pull failed before reading
// anything, so nothing was handled and acknowledged to free memory, and the queue stood still. A settle of retries
// only (a PDS that fails every repo of a batch) was refused the same way. Each now removes before it adds: an entry
// moved, not grown, and let through.
import { describe, expect, it } from 'vitest';
import { createRedisWorkQueue } from '../../../adapters/queue/redis-work-queue.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';
import { uniqueName } from '../../helpers/services.ts';

const own = useFullableRedis();

function queue() {
  const stream = uniqueName('oom_queue');
  return { stream, q: createRedisWorkQueue<{ n: number }>({ redis: own.redis, stream, group: 'g', consumer: 'c1', maxAttempts: 5 }) };
}

describe('the Redis work queue out of memory', () => {
  it('moves a delayed entry that is due and hands it over, instead of failing every pull', async () => {
    await own.redis.config('SET', 'maxmemory', '0');
    const { q } = queue();
    await q.ensure();
    await q.send([{ n: 1 }], { delayMs: 1 });
    await new Promise((r) => setTimeout(r, 20));
    await own.redis.config('SET', 'maxmemory', '1');
    try {
      const got: number[] = [];
      const handled = await q.receive(async (messages) => {
        for (const m of messages) {
          got.push(m.body.n);
          m.ack();
        }
      }, { blockMs: 10 });
      expect(handled).toBe(1);
      expect(got).toEqual([1]);
    } finally {
      await own.redis.config('SET', 'maxmemory', '0');
    }
  });

  it('settles a batch of retries only, each one attempt on, nothing pending', async () => {
    await own.redis.config('SET', 'maxmemory', '0');
    const { stream, q } = queue();
    await q.ensure();
    await q.send([{ n: 1 }, { n: 2 }]);
    try {
      await q.receive(async (messages) => {
        await own.redis.config('SET', 'maxmemory', '1');
        for (const m of messages) m.retry();
      }, { blockMs: 10 });
      const entries = await own.redis.xrange(stream, '-', '+');
      expect(entries.map(([, f]) => [JSON.parse(f[1] ?? '{}').n, f[3]])).toEqual([[1, '1'], [2, '1']]);
      expect(((await own.redis.xpending(stream, 'g')) as unknown[])[0]).toBe(0);
    } finally {
      await own.redis.config('SET', 'maxmemory', '0');
    }
  });
});
