// The consumer loop against real Redis: ack+delete, retries through XAUTOCLAIM, dead letters, poison isolation,
// outages, crashed consumers and shutdown.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runStreamConsumer, type StreamConsumerOptions } from '../../../long-runners/consumer/stream-consumer.ts';
import { createKeySpace, type KeySpace } from '../../../adapters/redis/keys.ts';
import { silentLog, noMetrics } from '../../../functions/ports.ts';
import { dead, ok, retry, type ItemOutcome } from '../../../functions/result.ts';
import type { ParseResult } from '../../../functions/events.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: KeySpace;
let stops: (() => Promise<void>)[] = [];

beforeAll(async () => {
  ({ redis, cleanup } = await createTestRedis('consumer'));
});
afterAll(async () => cleanup());
beforeEach(() => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
});
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

const STREAM = 'firehose_live';
const key = () => keys.stream(STREAM);
const parseN = (fields: Record<string, string>): ParseResult<number> =>
  /^\d+$/.test(fields['event'] ?? '') ? { ok: true, value: Number(fields['event']) } : { ok: false, message: 'not a number' };

async function add(...values: string[]) {
  for (const v of values) await redis.xadd(key(), '*', 'event', v);
}

function start(handle: (items: number[]) => Promise<ItemOutcome[]>, extra: Partial<StreamConsumerOptions<number>> = {}) {
  const controller = new AbortController();
  const done = runStreamConsumer<number>({
    redis, keys, stream: STREAM, group: 'firehose_group', consumer: extra.consumer ?? 'c1', batchSize: 10, blockMs: 50,
    claimIdleMs: 150, maxAttempts: 3, parse: parseN, handle, log: silentLog, metrics: noMetrics, signal: controller.signal, ...extra,
  });
  const stop = async () => {
    controller.abort();
    await done;
  };
  stops.push(stop);
  return { stop, done };
}

const dlq = async () => (await redis.xrange(keys.dlq(STREAM), '-', '+')).map(([, f]) => {
  const o: Record<string, string> = {};
  for (let i = 0; i < f.length; i += 2) o[f[i]!] = f[i + 1]!;
  return o;
});
const pending = async () => Number(((await redis.xpending(key(), 'firehose_group')) as [number])[0]);
const settled = async () => ({ len: await redis.xlen(key()), pending: await pending() });

describe('stream consumer', () => {
  it('acks and deletes what succeeds', async () => {
    await add('1', '2', '3');
    const seen: number[] = [];
    start(async (items) => (seen.push(...items), items.map(() => ok)));
    await waitFor(settled, (s) => s.len === 0 && s.pending === 0, 'drained');
    expect(seen).toEqual([1, 2, 3]);
    expect(await dlq()).toEqual([]);
  });

  it('moves an unparseable entry straight to the DLQ with its original fields', async () => {
    await add('1', 'garbage');
    start(async (items) => items.map(() => ok));
    await waitFor(settled, (s) => s.len === 0 && s.pending === 0, 'drained');
    expect(await dlq()).toEqual([{ event: 'garbage', reason: 'invalid_event', attempts: '1' }]);
  });

  it('dead outcomes go to the DLQ at once with their reason', async () => {
    await add('1', '2');
    start(async (items) => items.map((n) => (n === 2 ? dead('invalid_syntax', 'bad did') : ok)));
    await waitFor(settled, (s) => s.len === 0 && s.pending === 0, 'drained');
    expect(await dlq()).toEqual([{ event: '2', reason: 'invalid_syntax', attempts: '1' }]);
  });

  it('retries come back through XAUTOCLAIM and reach the DLQ after maxAttempts deliveries', async () => {
    await add('7');
    const calls: number[] = [];
    start(async (items) => (calls.push(...items), items.map(() => retry('handler_error', 'not yet'))));
    await waitFor(dlq, (d) => d.length === 1, 'dead letter', 10_000);
    expect(calls).toEqual([7, 7, 7]);
    expect(await dlq()).toEqual([{ event: '7', reason: 'handler_error', attempts: '3' }]);
    expect(await settled()).toEqual({ len: 0, pending: 0 });
  });

  it('isolates a poison entry that makes the whole batch throw; the others are acked', async () => {
    await add('1', '2', '13', '4');
    const ok1: number[] = [];
    start(
      async (items) => {
        if (items.includes(13)) throw new Error('violates a constraint');
        ok1.push(...items);
        return items.map(() => ok);
      },
      { probe: async () => {} },
    );
    await waitFor(dlq, (d) => d.length === 1, 'poison in the dlq', 10_000);
    expect(ok1.sort((a, b) => a - b)).toEqual([1, 2, 4]);
    expect(await dlq()).toEqual([{ event: '13', reason: 'handler_error', attempts: '3' }]);
    expect(await settled()).toEqual({ len: 0, pending: 0 });
  });

  it('an outage (every entry throws) dead-letters nothing and recovers when the function does', async () => {
    await add('1', '2');
    let failures = 0;
    const down = () => failures < 8;
    start(
      async (items) => {
        if (down()) {
          failures++;
          throw new Error('connect ECONNREFUSED');
        }
        return items.map(() => ok);
      },
      { probe: async () => { if (down()) throw new Error('connect ECONNREFUSED'); } },
    );
    await waitFor(settled, (s) => s.len === 0 && s.pending === 0, 'drained after outage', 10_000);
    expect(await dlq()).toEqual([]);
  });

  it("processes a crashed consumer's pending entries", async () => {
    await redis.xgroup('CREATE', key(), 'firehose_group', '0', 'MKSTREAM');
    await add('5', '6');
    // A consumer that read and died without acking.
    await redis.xreadgroup('GROUP', 'firehose_group', 'crashed', 'COUNT', 10, 'STREAMS', key(), '>');
    const seen: number[] = [];
    start(async (items) => (seen.push(...items), items.map(() => ok)), { consumer: 'survivor' });
    await waitFor(settled, (s) => s.len === 0 && s.pending === 0, 'claimed and processed');
    expect(seen).toEqual([5, 6]);
  });

  it('stops on abort and leaves unfinished work pending, not lost', async () => {
    await add('1');
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const run = start(async (items) => {
      await gate;
      return items.map(() => retry('handler_error'));
    });
    await waitFor(pending, (n) => n === 1, 'delivered');
    const stopping = run.stop();
    release();
    await stopping;
    expect(await settled()).toEqual({ len: 1, pending: 1 });
  });
});
