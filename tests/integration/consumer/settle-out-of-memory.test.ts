// A batch's settle while Redis is out of memory (maxmemory reached: it refuses a script's first write that could grow
// memory), on a redis-server of the test's own. A dead letter's XADD used to be the settle's first write: the whole
// settle was refused, the batch's good entries processed again and its dead one dead-lettered later as
// max_retries_exceeded, its own reason lost, while nothing else could drain the stream. The acknowledgements now come
// first (they free memory, and let the rest of the script write; each moved entry's own too, before its letter), and
// a settle Redis refuses all the same (a replica after a failover: READONLY) is waited out on the outage board until
// it takes writes.
import { describe, expect, it } from 'vitest';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { createKeySpace, GROUPS } from '../../../adapters/redis/keys.ts';
import { createOutageBoard } from '../../../adapters/observability/outage-board.ts';
import { dead, ok, type ItemOutcome } from '../../../functions/result.ts';
import { silentLog } from '../../../functions/ports.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';
import { waitFor } from '../../helpers/wait.ts';

/** A redis-server of this file's own, put out of memory by the tests. */
const own = useFullableRedis();

/** Runs a consumer whose function answers `outcomes` by entry value, Redis put out of memory before it answers. */
function run(prefix: string, outcomes: Record<string, ItemOutcome>, refuse: () => Promise<unknown> = () => own.redis.config('SET', 'maxmemory', '1')) {
  const keys = createKeySpace(prefix);
  const controller = new AbortController();
  const board = createOutageBoard({ log: silentLog, metrics: { inc() {} } });
  const done = runStreamConsumer<string>({
    redis: own.redis, keys, stream: 'firehose_live', group: GROUPS.firehose, consumer: 'c1', batchSize: 10, blockMs: 50,
    claimIdleMs: 60_000, maxAttempts: 3, parse: (f) => ({ ok: true, value: f['event'] ?? '' }),
    handle: async (items) => {
      // Full now (by default): any write that could grow memory is refused from here on.
      await refuse();
      return items.map((v) => outcomes[v] ?? ok);
    },
    log: silentLog, metrics: { inc() {} }, signal: controller.signal, backoff: { baseMs: 20, maxMs: 50 }, outages: board,
  });
  return { keys, board, stop: async () => { controller.abort(); await done; } };
}

const fields = (entry: [string, string[]]) => Object.fromEntries(entry[1].flatMap((v, i, a) => (i % 2 === 0 ? [[v, a[i + 1]]] : [])));

describe('a settle while Redis is out of memory', () => {
  it('with good entries and a dead one: settles at once, the dead letter with its own reason', async () => {
    await own.redis.config('SET', 'maxmemory', '0');
    const c = run('oom1:', { bad: dead('invalid_event', 'not an event') });
    const stream = c.keys.stream('firehose_live');
    await own.redis.xadd(stream, '*', 'event', 'good');
    await own.redis.xadd(stream, '*', 'event', 'bad');
    try {
      await waitFor(() => own.redis.xlen(c.keys.dlq('firehose_live')), (n) => n === 1, 'the dead letter written');
      expect(fields((await own.redis.xrange(c.keys.dlq('firehose_live'), '-', '+'))[0]!)).toMatchObject({ event: 'bad', reason: 'invalid_event', attempts: '1' });
      expect(((await own.redis.xpending(stream, GROUPS.firehose)) as unknown[])[0]).toBe(0);
      expect(await own.redis.xlen(stream)).toBe(0);
    } finally {
      await c.stop();
      await own.redis.config('SET', 'maxmemory', '0');
    }
  });

  it('with only a dead letter to write: settles at once, its acknowledgement letting the letter through', async () => {
    await own.redis.config('SET', 'maxmemory', '0');
    const c = run('oom2:', { bad: dead('invalid_event', 'not an event') });
    const stream = c.keys.stream('firehose_live');
    await own.redis.xadd(stream, '*', 'event', 'bad');
    try {
      await waitFor(() => own.redis.xlen(c.keys.dlq('firehose_live')), (n) => n === 1, 'the dead letter written');
      expect(fields((await own.redis.xrange(c.keys.dlq('firehose_live'), '-', '+'))[0]!)).toMatchObject({ event: 'bad', reason: 'invalid_event' });
      expect(await own.redis.xlen(stream)).toBe(0);
    } finally {
      await c.stop();
      await own.redis.config('SET', 'maxmemory', '0');
    }
  });

  it('refused all the same (a read-only replica): waited out on the outage board, then written with its reason once Redis takes writes', async () => {
    await own.redis.config('SET', 'maxmemory', '0');
    // A replica of a master nobody answers at keeps its data and refuses every write (READONLY).
    const c = run('ro2:', { bad: dead('invalid_event', 'not an event') }, () => own.redis.replicaof('127.0.0.1', '1'));
    const stream = c.keys.stream('firehose_live');
    await own.redis.xadd(stream, '*', 'event', 'bad');
    try {
      await waitFor(async () => c.board.snapshot().length, (n) => n > 0, 'the settle waiting on redis');
      expect(c.board.snapshot()[0]).toMatchObject({ dependency: 'redis' });
      expect(await own.redis.xlen(c.keys.dlq('firehose_live'))).toBe(0);
      await own.redis.replicaof('NO', 'ONE');
      await waitFor(() => own.redis.xlen(c.keys.dlq('firehose_live')), (n) => n === 1, 'the dead letter written');
      expect(fields((await own.redis.xrange(c.keys.dlq('firehose_live'), '-', '+'))[0]!)).toMatchObject({ event: 'bad', reason: 'invalid_event' });
      await waitFor(async () => c.board.snapshot().length, (n) => n === 0, 'the outage over');
    } finally {
      await own.redis.replicaof('NO', 'ONE');
      await c.stop();
    }
  });
});
