// A park refused while the next batch runs: the park's contract leaves its waiting entries pending, back through
// XAUTOCLAIM. Its failure rejected the settle promise the next batch awaits, so that batch, all good, was never
// settled: its entries were processed again a claim later (counted ok twice), and the step logged as failed. With the
// real label parking, refused whole by a key of another type where it schedules hosts (a park at maxmemory, the case
// first seen, goes through since parks remove before they add: label-parking-out-of-memory.test.ts).
import { describe, expect, it } from 'vitest';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { createKeySpace, GROUPS, STREAMS } from '../../../adapters/redis/keys.ts';
import { createLabelParking } from '../../../adapters/redis/label-parking.ts';
import { ok, wait } from '../../../functions/result.ts';
import { silentLog } from '../../../functions/ports.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';
import { waitFor } from '../../helpers/wait.ts';

const own = useFullableRedis();

describe('a park refused', () => {
  it('leaves only its waiting entries pending: the next batch settles, none of its entries processed twice', async () => {
    const redis = own.redis;
    const keys = createKeySpace('park_refused:');
    const stream = keys.stream(STREAMS.labelLive);
    for (const v of ['w1', 'g1', 'g2', 'g3']) await redis.xadd(stream, '*', 'event', v);
    const parking = createLabelParking(redis, keys);
    const parkedHosts = keys.beside(STREAMS.labelLive, ':parked_hosts');
    const calls: string[] = [];
    const counted = new Map<string, number>();
    const controller = new AbortController();
    const done = runStreamConsumer<string>({
      redis, keys, stream: STREAMS.labelLive, group: GROUPS.label, consumer: 'c1', batchSize: 2, blockMs: 50,
      claimIdleMs: 1000, maxAttempts: 5, parse: (f) => ({ ok: true, value: f['event'] ?? '' }),
      handle: async (items) => {
        calls.push(...items);
        // While the first batch is processed, the parked hosts' key becomes a string: its park is refused.
        if (calls.length === 2) await redis.set(parkedHosts, 'not a sorted set');
        // The second batch runs while the first's park fails; parks go through again after it.
        if (items.includes('g2')) setTimeout(() => void redis.del(parkedHosts), 200);
        return items.map((v) => (v.startsWith('w') ? wait('identity_failed', 'its source host is down', 'did:web:down.example') : ok));
      },
      park: async (waiting) => {
        await parking.park(GROUPS.label, waiting.map(({ entry, on }) => ({ entry, on, from: 'labeler.example' })), Date.now() + 60_000);
      },
      log: silentLog,
      metrics: { inc: (name, labels, value = 1) => void (name === 'skytide_consumer_entries_total' && counted.set(labels!['outcome']!, (counted.get(labels!['outcome']!) ?? 0) + value)) },
      signal: controller.signal, backoff: { baseMs: 20, maxMs: 50 },
    });
    try {
      // w1 comes back after its refused park, and is parked then: nothing is left pending or in the stream.
      await waitFor(async () => calls.filter((c) => c === 'w1').length, (n) => n >= 2, 'w1 read again after its park was refused', 15_000);
      await waitFor(() => redis.xlen(stream), (n) => n === 0, 'the stream drained', 15_000);
    } finally {
      await redis.del(parkedHosts);
      controller.abort();
      await done;
    }
    expect(calls.filter((c) => c.startsWith('g')).sort()).toEqual(['g1', 'g2', 'g3']);
    expect(counted.get('ok')).toBe(3);
  }, 40_000);
});
