// The consumer loop against real Redis: ack+delete, retries through XAUTOCLAIM, dead letters, poison isolation,
// outages, crashed consumers, shutdown, idle detection and the entry counter. Waits poll the stream state.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runStreamConsumer, type StreamConsumerOptions } from '../../../long-runners/consumer/stream-consumer.ts';
import { readBacklog } from '../../../adapters/redis/consumer-group.ts';
import { createKeySpace, GROUPS, type KeySpace } from '../../../adapters/redis/keys.ts';
import { silentLog, type Metrics } from '../../../functions/ports.ts';
import { DependencyError, InvariantError } from '../../../functions/errors.ts';
import { createOutageBoard } from '../../../adapters/observability/outage-board.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import type { Log } from '../../../functions/ports.ts';
import { dead, ok, retry, wait, type ItemOutcome } from '../../../functions/result.ts';
import type { ParseResult } from '../../../functions/events.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';
import { parsePrometheusText } from '../../helpers/prometheus-text.ts';
import { REASONS } from '../../../functions/reasons.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let keys: KeySpace;
let stops: (() => Promise<void>)[] = [];
let counted: Map<string, number>;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('consumer'));
});
afterAll(async () => cleanup());
beforeEach(() => {
  keys = createKeySpace(`${prefix}${Math.random().toString(36).slice(2)}:`);
  counted = new Map();
});
afterEach(async () => {
  await Promise.all(stops.map((s) => s()));
  stops = [];
});

const STREAM = 'firehose_live';
const GROUP = GROUPS.firehose;
const CLAIM_IDLE_MS = 150;
const key = () => keys.stream(STREAM);
const parseN = (fields: Record<string, string>): ParseResult<number> =>
  /^\d+$/.test(fields['event'] ?? '') ? { ok: true, value: Number(fields['event']) } : { ok: false, message: 'not a number' };
const metrics: Metrics = {
  inc(name, labels, value = 1) {
    const k = `${name}{${labels?.['stream']},${labels?.['outcome']}}`;
    counted.set(k, (counted.get(k) ?? 0) + value);
  },
};
const outcomesCounted = () =>
  // Only the outcome counters (the consumer also counts its function's calls and their time).
  Object.fromEntries([...counted].filter(([k]) => k.startsWith('skytide_consumer_entries_total')).map(([k, v]) => [k.replace(/^skytide_consumer_entries_total\{firehose_live,(\w+)\}$/, '$1'), v]));

async function add(...values: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const v of values) ids.push((await redis.xadd(key(), '*', 'event', v))!);
  return ids;
}

function start(handle: (items: number[]) => Promise<ItemOutcome[]>, extra: Partial<StreamConsumerOptions<number>> = {}) {
  const controller = new AbortController();
  const done = runStreamConsumer<number>({
    redis, keys, stream: STREAM, group: GROUP, consumer: 'c1', batchSize: 10, blockMs: 50, claimIdleMs: CLAIM_IDLE_MS,
    maxAttempts: 3, parse: parseN, handle, log: silentLog, metrics, signal: controller.signal,
    backoff: { baseMs: 10, maxMs: 40 }, ...extra,
  });
  const stop = async () => {
    controller.abort();
    await done;
  };
  stops.push(stop);
  return { stop, done, controller };
}

const dlq = async () =>
  (await redis.xrange(keys.dlq(STREAM), '-', '+')).map(([, f]) => {
    const o: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) o[f[i]!] = f[i + 1]!;
    return o;
  });
const backlog = () => readBacklog(redis, key(), GROUP);
const drained = (b: { length: number; pending: number }) => b.length === 0 && b.pending === 0;
/** [id, consumer, idleMs, deliveries] of every pending entry. */
const pendingDetail = async () => (await redis.xpending(key(), GROUP, '-', '+', 100)) as [string, string, number, number][];

describe('stream consumer', () => {
  it('acks and deletes what succeeds, in stream order', async () => {
    await add('1', '2', '3');
    const seen: number[] = [];
    start(async (items) => (seen.push(...items), items.map(() => ok)));
    await waitFor(backlog, drained, 'drained');
    expect(seen).toEqual([1, 2, 3]);
    expect(await dlq()).toEqual([]);
    expect(outcomesCounted()).toEqual({ ok: 3 });
  });

  it("counts a shard's function calls under the logical stream, the series that exists at zero from start-up", async () => {
    const sharded = createKeySpace(`${prefix}${Math.random().toString(36).slice(2)}:`, { shards: 2 });
    const shard = sharded.shardsOf(STREAM)[1]!;
    await redis.xadd(sharded.stream(shard), '*', 'event', '1');
    const bundle = createMetrics({ hosts: [], streams: [STREAM] });
    start(async (items) => items.map(() => ok), { keys: sharded, stream: shard, metricStream: STREAM, metrics: bundle.metrics });
    await waitFor(() => readBacklog(redis, sharded.stream(shard), GROUP), drained, 'drained');
    const text = await bundle.registry.metrics();
    expect(text).toContain(`skytide_function_calls_total{stream="${STREAM}"} 1`);
    expect(text).not.toContain(shard);
  });

  it('moves an unparseable entry straight to the DLQ with its original fields, without calling the function on it', async () => {
    const [, garbage] = await add('1', 'garbage');
    const labels = await redis.xadd(key(), '*', 'labels', '{}');
    const seen: number[] = [];
    start(async (items) => (seen.push(...items), items.map(() => ok)));
    await waitFor(backlog, drained, 'drained');
    expect(seen).toEqual([1]);
    expect(await dlq()).toEqual([
      { event: 'garbage', reason: 'invalid_event', attempts: '1', error: 'not a number', source_id: garbage },
      { labels: '{}', reason: 'invalid_event', attempts: '1', error: 'not a number', source_id: labels },
    ]);
    expect(outcomesCounted()).toEqual({ ok: 1, invalid: 2 });
  });

  it('dead outcomes go to the DLQ at once with every original field and their reason', async () => {
    await add('1');
    const id = await redis.xadd(key(), '*', 'event', '2', 'source', 'relay.example');
    const calls: number[][] = [];
    start(async (items) => (calls.push(items), items.map((n) => (n === 2 ? dead('invalid_syntax', 'bad did') : ok))));
    await waitFor(backlog, drained, 'drained');
    expect(calls).toEqual([[1, 2]]);
    expect(await dlq()).toEqual([{ event: '2', source: 'relay.example', reason: 'invalid_syntax', attempts: '1', error: 'bad did', source_id: id }]);
    expect(outcomesCounted()).toEqual({ ok: 1, dead: 1 });
  });

  it('retries come back through XAUTOCLAIM after claimIdleMs and reach the DLQ after maxAttempts deliveries', async () => {
    const [id] = await add('7', '8');
    const calls: { items: number[]; at: number }[] = [];
    start(async (items) => {
      calls.push({ items, at: Date.now() });
      return items.map((n) => (n === 7 ? retry('missing_block', 'not yet') : ok));
    });
    await waitFor(dlq, (d) => d.length === 1, 'dead letter', 10_000);
    expect(calls.map((c) => c.items)).toEqual([[7, 8], [7], [7]]);
    for (let i = 1; i < calls.length; i++) expect(calls[i]!.at - calls[i - 1]!.at).toBeGreaterThanOrEqual(CLAIM_IDLE_MS);
    expect(await dlq()).toEqual([{ event: '7', reason: 'missing_block', attempts: '3', error: 'not yet', source_id: id }]);
    expect(await backlog()).toEqual({ length: 0, pending: 0 });
    expect(outcomesCounted()).toEqual({ ok: 1, retry: 2, dlq: 1 });
  });

  it('counts each dead letter by stream and the reason it carries, in series that exist at zero from start-up', async () => {
    await add('garbage', '1', '2', '3');
    const bundle = createMetrics({ hosts: [], streams: [STREAM] });
    const deadLetters = async () => {
      const family = parsePrometheusText(await bundle.registry.metrics()).get('skytide_dead_letters_total');
      return Object.fromEntries((family?.samples ?? []).filter((s) => s.value > 0).map((s) => [`${s.labels['stream']} ${s.labels['reason']}`, s.value]));
    };
    // Before anything: every reason of the closed set, at zero.
    const before = parsePrometheusText(await bundle.registry.metrics()).get('skytide_dead_letters_total');
    expect(before?.type).toBe('counter');
    expect(before?.samples.filter((s) => s.labels['stream'] === STREAM && s.value === 0).map((s) => s.labels['reason']).sort()).toEqual([...REASONS].sort());
    start(async (items) => items.map((n) => (n === 2 ? dead('invalid_syntax', 'bad did') : n === 3 ? retry('missing_block', 'not yet') : ok)), { metrics: bundle.metrics });
    await waitFor(dlq, (d) => d.length === 3, 'three dead letters', 10_000);
    // One per letter, as `skytide dlq list` shows them: not a number, a verdict, retries used up.
    expect((await dlq()).map((d) => d['reason']).sort()).toEqual(['invalid_event', 'invalid_syntax', 'missing_block']);
    expect(await deadLetters()).toEqual({ [`${STREAM} invalid_event`]: 1, [`${STREAM} invalid_syntax`]: 1, [`${STREAM} missing_block`]: 1 });
  });

  it('a wait outcome keeps the entry pending past maxAttempts deliveries without counting them, until it is ok', async () => {
    await add('7', '8');
    let calls7 = 0;
    const deliveriesSeen: number[] = [];
    start(async (items) => {
      if (items.includes(7)) {
        calls7++;
        deliveriesSeen.push(...(await pendingDetail()).filter(([, , , n]) => n > 0).map(([, , , n]) => n));
      }
      // More deliveries than maxAttempts (3) and than the crash limit (twice that): none of them counts.
      return items.map((n) => (n === 7 && calls7 <= 7 ? wait('identity_failed', 'the labeler host is down') : ok));
    });
    await waitFor(backlog, drained, 'the waiting entry indexed at last', 10_000);
    expect(calls7).toBe(8);
    expect(await dlq()).toEqual([]);
    // Each delivery is the first as far as the DLQ is concerned.
    expect(new Set(deliveriesSeen)).toEqual(new Set([1]));
    expect(outcomesCounted()).toEqual({ ok: 2, wait: 7 });
  });

  it('isolates a poison entry that makes the whole batch throw: the others are acked, it ends in the DLQ', async () => {
    const [, , poison] = await add('1', '2', '13', '4');
    const acked: number[] = [];
    start(async (items) => {
      if (items.includes(13)) throw new Error('violates a constraint');
      acked.push(...items);
      return items.map(() => ok);
    });
    await waitFor(dlq, (d) => d.length === 1, 'poison in the dlq', 10_000);
    expect(acked.sort((a, b) => a - b)).toEqual([1, 2, 4]);
    // What it threw goes with it, so the letter says why without the log.
    expect(await dlq()).toEqual([{ event: '13', reason: 'handler_error', attempts: '3', error: 'Error: violates a constraint', source_id: poison }]);
    expect(await backlog()).toEqual({ length: 0, pending: 0 });
    expect(outcomesCounted()).toEqual({ ok: 3, retry: 2, dlq: 1 });
  });

  it('with a passing probe, two poison entries claimed together still reach the DLQ', async () => {
    const [first, second] = await add('13', '14', '5');
    start(
      async (items) => {
        if (items.some((n) => n > 10)) throw new Error('violates a constraint');
        return items.map(() => ok);
      },
      { probe: async () => {} },
    );
    await waitFor(dlq, (d) => d.length === 2, 'both poison entries in the dlq', 10_000);
    expect(await dlq()).toEqual([
      { event: '13', reason: 'handler_error', attempts: '3', error: 'Error: violates a constraint', source_id: first },
      { event: '14', reason: 'handler_error', attempts: '3', error: 'Error: violates a constraint', source_id: second },
    ]);
    expect(await backlog()).toEqual({ length: 0, pending: 0 });
  });

  it('a function that throws on its first two calls only: everything acked on the first delivery, nothing in the DLQ', async () => {
    await add('1', '2', '3');
    const calls: number[][] = [];
    start(async (items) => {
      calls.push(items);
      if (calls.length <= 2) throw new Error('connection reset');
      return items.map(() => ok);
    });
    await waitFor(backlog, drained, 'drained');
    // Two whole-batch throws, then the batch is split in halves, each of which succeeds.
    expect(calls).toEqual([[1, 2, 3], [1, 2, 3], [1, 2], [3]]);
    expect(await dlq()).toEqual([]);
    expect(outcomesCounted()).toEqual({ ok: 3 });
  });

  it('an outage longer than claimIdleMs dead-letters nothing, keeps the entries claimed without new deliveries, and recovers', async () => {
    await add('1', '2');
    let down = true;
    let calls = 0;
    start(
      async (items) => {
        calls++;
        if (down) throw new Error('connect ECONNREFUSED');
        return items.map(() => ok);
      },
      { probe: async () => { if (down) throw new Error('connect ECONNREFUSED'); } },
    );
    await waitFor(() => calls, (n) => n >= 3, 'retrying');
    const since = Date.now();
    await waitFor(() => Date.now() - since, (ms) => ms > 3 * CLAIM_IDLE_MS, 'outage lasting');
    const during = await pendingDetail();
    expect(during.map(([, consumer, , deliveries]) => [consumer, deliveries])).toEqual([['c1', 1], ['c1', 1]]);
    expect(calls).toBeGreaterThan(3);
    down = false;
    await waitFor(backlog, drained, 'drained after outage');
    expect(await dlq()).toEqual([]);
    expect(outcomesCounted()).toEqual({ ok: 2 });
  });

  describe('a DependencyError is an outage at once', () => {
    const pgDown = () => new DependencyError('postgres', 'postgres unavailable: connect ECONNREFUSED');
    function board() {
      const lines: string[] = [];
      const log: Log = { ...silentLog, info: (msg) => void lines.push(msg), warn: (msg) => void lines.push(msg), child: () => log };
      const bundle = createMetrics({ hosts: [], streams: [STREAM] });
      return { outages: createOutageBoard({ log, metrics: bundle.metrics }), lines, waits: async () => (await bundle.registry.metrics()).match(/skytide_outage_waits_total\{dependency="postgres"\} (\d+)/)?.[1] };
    }

    it('waits with the same whole batch, no bisection and no probe, counts no delivery, and logs the outage once', async () => {
      await add('1', '2', '3');
      const b = board();
      const calls: number[][] = [];
      let probes = 0;
      start(
        async (items) => {
          calls.push(items);
          if (calls.length <= 6) throw pgDown();
          return items.map(() => ok);
        },
        { probe: async () => void probes++, outages: b.outages },
      );
      await waitFor(() => calls.length, (n) => n >= 4, 'waiting out the outage');
      expect(b.outages.degraded()).toEqual([expect.stringMatching(/^waiting on postgres since \d{4}-\d\d-\d\dT/)]);
      expect((await pendingDetail()).map(([, c, , d]) => [c, d])).toEqual([['c1', 1], ['c1', 1], ['c1', 1]]);
      await waitFor(backlog, drained, 'drained after the outage');
      expect(calls).toEqual(Array.from({ length: 7 }, () => [1, 2, 3]));
      expect(probes).toBe(0);
      expect(await dlq()).toEqual([]);
      expect(outcomesCounted()).toEqual({ ok: 3 });
      expect(await b.waits()).toBe('6');
      expect(b.lines).toEqual(['outage started', 'outage ended']);
      expect(b.outages.degraded()).toEqual([]);
    });

    it('finds it anywhere in the cause chain', async () => {
      await add('1');
      let calls = 0;
      start(async (items) => {
        if (++calls <= 3) throw new Error('index batch failed', { cause: new Error('transaction', { cause: pgDown() }) });
        return items.map(() => ok);
      });
      await waitFor(backlog, drained, 'drained');
      expect(calls).toBe(4);
      expect(await dlq()).toEqual([]);
      expect(outcomesCounted()).toEqual({ ok: 1 });
    });

    it('an outage that begins while a batch is bisected ends the bisection: nothing is marked, the whole batch waits', async () => {
      await add('1', '2', '3', '4');
      const calls: number[][] = [];
      start(async (items) => {
        calls.push(items);
        // Two unexplained throws start a bisection; then the database goes down under it, then comes back.
        if (calls.length <= 2) throw new Error('something odd');
        if (calls.length <= 5) throw pgDown();
        return items.map(() => ok);
      }, { probe: async () => {} });
      await waitFor(backlog, drained, 'drained');
      expect(calls.slice(0, 3)).toEqual([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2]]);
      expect(calls.slice(3)).toEqual([[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]]);
      expect(await dlq()).toEqual([]);
      expect(outcomesCounted()).toEqual({ ok: 4 });
    });

    it('however long the backoff, each wait is shorter than claimIdleMs: no other consumer takes the batch meanwhile', async () => {
      await add('1', '2');
      let down = true;
      const seenBy: string[] = [];
      const handle = (name: string) => async (items: number[]) => {
        seenBy.push(name);
        if (down) throw pgDown();
        return items.map(() => ok);
      };
      start(handle('c1'), { backoff: { baseMs: 5000, maxMs: 60_000 } });
      await waitFor(() => seenBy.length, (n) => n >= 1, 'first call');
      start(handle('c2'), { consumer: 'c2' });
      const since = Date.now();
      await waitFor(() => Date.now() - since, (ms) => ms > 4 * CLAIM_IDLE_MS, 'outage lasting');
      expect((await pendingDetail()).map(([, c, , d]) => [c, d])).toEqual([['c1', 1], ['c1', 1]]);
      down = false;
      await waitFor(backlog, drained, 'drained');
      expect(new Set(seenBy)).toEqual(new Set(['c1']));
      expect(await dlq()).toEqual([]);
    });
  });

  it("a second consumer processes a crashed consumer's pending entries", async () => {
    await redis.xgroup('CREATE', key(), GROUP, '0', 'MKSTREAM');
    await add('5', '6');
    // A consumer that read and died without acking.
    await redis.xreadgroup('GROUP', GROUP, 'crashed', 'COUNT', 10, 'STREAMS', key(), '>');
    expect((await pendingDetail()).map(([, c]) => c)).toEqual(['crashed', 'crashed']);
    const seen: number[] = [];
    start(async (items) => (seen.push(...items), items.map(() => ok)), { consumer: 'survivor' });
    await waitFor(backlog, drained, 'claimed and processed');
    expect(seen).toEqual([5, 6]);
  });

  it('a pending entry whose data was deleted is counted and logged, not dead-lettered, read back as its own or claimed alike', async () => {
    await redis.xgroup('CREATE', key(), GROUP, '0', 'MKSTREAM');
    // c1's own (a previous run of this consumer name), then a crashed consumer's; one of each deleted while pending.
    const [ownGone] = await add('1', '2');
    await redis.xreadgroup('GROUP', GROUP, 'c1', 'COUNT', 10, 'STREAMS', key(), '>');
    const [claimedGone] = await add('3', '4');
    await redis.xreadgroup('GROUP', GROUP, 'crashed', 'COUNT', 10, 'STREAMS', key(), '>');
    await redis.xdel(key(), ownGone!, claimedGone!);
    const warned: unknown[] = [];
    const log = { ...silentLog, warn: (msg: string, fields?: Record<string, unknown>) => warned.push({ msg, ids: fields?.['ids'] }) };
    const seen: number[] = [];
    start(async (items) => (seen.push(...items), items.map(() => ok)), { log });
    await waitFor(backlog, drained, 'drained');
    expect(seen).toEqual([2, 4]);
    // Its content is gone: a letter could hold nothing to replay.
    expect(await dlq()).toEqual([]);
    expect(outcomesCounted()).toEqual({ ok: 2, deleted: 2 });
    const msg = 'pending entries whose data was deleted: acknowledged, nothing to process or dead-letter';
    expect(warned).toEqual([{ msg, ids: [ownGone] }, { msg, ids: [claimedGone] }]);
  });

  it('a call that outlasts claimIdleMs keeps its entry claimed: sibling loops on the group never start it again', async () => {
    // backfillTasks' shape: several loops of batch 1 on one group, and a repo whose indexing takes far longer than
    // the claim timeout.
    await add('7');
    const starts: string[] = [];
    for (const name of ['b0', 'b1', 'b2', 'b3']) {
      start(async (items) => {
        starts.push(`${name}:${items.join()}`);
        await new Promise((r) => setTimeout(r, CLAIM_IDLE_MS * 8));
        return items.map(() => ok);
      }, { consumer: name, batchSize: 1 });
    }
    await waitFor(backlog, drained, 'the long call settled', 10_000);
    expect(starts).toHaveLength(1);
    expect(await dlq()).toEqual([]);
  });

  it('an entry delivered twice maxAttempts times without a verdict (it kills its consumer) goes to the DLQ unprocessed', async () => {
    await redis.xgroup('CREATE', key(), GROUP, '0', 'MKSTREAM');
    const [id] = await add('9');
    await redis.xreadgroup('GROUP', GROUP, 'crashed', 'COUNT', 10, 'STREAMS', key(), '>');
    for (let i = 0; i < 5; i++) await redis.xclaim(key(), GROUP, 'crashed', 0, id!);
    const seen: number[] = [];
    start(async (items) => (seen.push(...items), items.map(() => ok)));
    await waitFor(backlog, drained, 'dead-lettered');
    expect(seen).toEqual([]);
    expect(await dlq()).toEqual([{ event: '9', reason: 'max_retries_exceeded', attempts: '7', error: 'delivered 7 times without an outcome', source_id: id }]);
  });

  for (const restart of ['under the same name (own pending)', 'under a new name (XAUTOCLAIM)'] as const) {
    it(`an entry that kills its process goes to the DLQ alone, restarted ${restart}: its batch is processed`, async () => {
      await add('1', '2', '3', '4', '5');
      const handled: number[] = [];
      let runs = 0;
      while (!drained(await backlog()) && runs < 20) {
        runs++;
        // A consumer that dies on 4 (the loop throws out; a real process would be gone) and is started again.
        const { done, stop } = start(async (items) => {
          if (items.includes(4)) throw new InvariantError('poison kills the process');
          handled.push(...items);
          return items.map(() => ok);
        }, restart.startsWith('under the same') ? {} : { consumer: `run${runs}` });
        const crashed = await Promise.race([done.then(() => false, () => true), new Promise((r) => setTimeout(r, 1_000, false))]);
        if (!crashed) await stop();
        stops = stops.filter((s) => s !== stop);
        // Idle long enough for the next consumer's XAUTOCLAIM.
        await new Promise((r) => setTimeout(r, CLAIM_IDLE_MS + 20));
      }
      expect(drained(await backlog())).toBe(true);
      expect([...new Set(handled)].sort()).toEqual([1, 2, 3, 5]);
      expect((await dlq()).map((l) => [l['event'], l['reason']])).toEqual([['4', 'max_retries_exceeded']]);
    });
  }

  it('abort while the function runs: the in-flight batch finishes and what completed is acked', async () => {
    await add('1', '2');
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const run = start(async (items) => {
      await gate;
      return items.map((n) => (n === 1 ? ok : retry('handler_error')));
    });
    await waitFor(backlog, (b) => b.pending === 2, 'delivered');
    const stopping = run.stop();
    release();
    await stopping;
    expect(await backlog()).toEqual({ length: 1, pending: 1 });
    expect(await dlq()).toEqual([]);
  });

  it('abort while waiting out an outage resolves and leaves the batch pending, not lost, its delivery taken back', async () => {
    await add('1', '2');
    let calls = 0;
    const run = start(
      async () => {
        calls++;
        throw new Error('connect ECONNREFUSED');
      },
      { probe: async () => { throw new Error('connect ECONNREFUSED'); }, backoff: { baseMs: 60_000, maxMs: 60_000 } },
    );
    await waitFor(() => calls, (n) => n === 1, 'first attempt');
    await run.stop();
    expect(await backlog()).toEqual({ length: 2, pending: 2 });
    // A graceful stop is not a crash: the delivery it abandoned does not count.
    expect((await pendingDetail()).map(([, c, , d]) => [c, d])).toEqual([['c1', 0], ['c1', 0]]);
    expect(await dlq()).toEqual([]);
  });

  describe('stopped during an outage (a deploy, a restart during the incident)', () => {
    const outage = () => { throw new DependencyError('postgres', 'connection refused'); };
    const slowOutage = { backoff: { baseMs: 60_000, maxMs: 60_000 }, claimIdleMs: 60_000 };

    it('stopped and started again more than twice maxAttempts times: no delivery counted, and once the outage ends the entry is processed, never dead-lettered', async () => {
      const [id] = await add('7');
      let calls = 0;
      for (let cycle = 1; cycle <= 8; cycle++) {
        const run = start(async () => (calls++, outage()), slowOutage);
        await waitFor(() => calls, (n) => n === cycle, `call of run ${cycle}`);
        await run.stop();
        // Back to no delivery at all: the next run's read of it (its own pending entry) is its one delivery.
        expect((await pendingDetail()).map(([i, c, , d]) => [i, c, d])).toEqual([[id, 'c1', 0]]);
      }
      // The outage ends; the first call after it still fails once (a statement timeout: a retry), then succeeds.
      const seen: number[][] = [];
      start(async (items) => (seen.push(items), items.map(() => (seen.length === 1 ? retry('handler_error', 'statement timeout') : ok))));
      await waitFor(backlog, drained, 'processed');
      expect(seen).toEqual([[7], [7]]);
      expect(await dlq()).toEqual([]);
      expect(outcomesCounted()).toEqual({ retry: 1, ok: 1 });
    });

    it('stopped with a batch read ahead (readAhead): both batches are left with no delivery counted, and processed once the outage ends', async () => {
      const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
      await add(...numbers(1, 20));
      let calls = 0;
      for (let cycle = 1; cycle <= 8; cycle++) {
        const run = start(async () => (calls++, outage()), { ...slowOutage, readAhead: true });
        await waitFor(() => calls, (n) => n === cycle, `call of run ${cycle}`);
        await run.stop();
        expect(await backlog()).toEqual({ length: 20, pending: 20 });
        expect((await pendingDetail()).map(([, c, , d]) => [c, d])).toEqual(numbers(1, 20).map(() => ['c1', 0]));
      }
      const seen: number[] = [];
      start(async (items) => (seen.push(...items), items.map(() => ok)), { readAhead: true });
      await waitFor(backlog, drained, 'processed');
      expect(seen).toEqual(numbers(1, 20).map(Number));
      expect(await dlq()).toEqual([]);
    });

    it('with lanes and two batches in flight: the waiting lane\'s entries, its part of the next read included, keep no delivery; the other lane settles', async () => {
      const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
      await add(...numbers(1, 20));
      const calls: number[][] = [];
      const run = start(async (items) => {
        calls.push(items);
        if ((items[0] as number) % 2 === 0) outage();
        return items.map(() => ok);
      }, { lanes: { count: 2, of: (n: number) => n % 2 }, readAhead: true, batchesInFlight: 2, ...slowOutage });
      await waitFor(() => calls, (c) => c.some((d) => d[0] === 11) && c.some((d) => d[0] === 2), 'odd lane done, even lane waiting');
      await run.stop();
      const evens = numbers(1, 20).map(Number).filter((n) => n % 2 === 0);
      expect((await redis.xrange(key(), '-', '+')).map(([, fields]) => Number(fields[1]))).toEqual(evens);
      expect((await pendingDetail()).map(([, c, , d]) => [c, d])).toEqual(evens.map(() => ['c1', 0]));
      expect(await dlq()).toEqual([]);
    });

    it('a run that dies (no stop: its delivery never taken back) still counts, between graceful stops that do not: the crash heuristic holds', async () => {
      const [id] = await add('9');
      const deliveries = async () => (await pendingDetail()).find(([i]) => i === id)?.[3];
      await redis.xgroup('CREATE', key(), GROUP, '0', 'MKSTREAM');
      // A run of c1 reads it and is killed (SIGKILL: nothing after its read).
      await redis.xreadgroup('GROUP', GROUP, 'c1', 'COUNT', 10, 'STREAMS', key(), '>');
      let calls = 0;
      for (let killed = 1; killed < 2 * 3; killed++) {
        expect(await deliveries()).toBe(killed);
        // A run stopped gracefully during the outage: its read of the entry is taken back.
        const run = start(async () => (calls++, outage()), slowOutage);
        await waitFor(() => calls, (n) => n === killed, `call of run ${killed}`);
        await run.stop();
        expect(await deliveries()).toBe(killed);
        // The next run reads it back (its own pending entry) and dies.
        await redis.xreadgroup('GROUP', GROUP, 'c1', 'COUNT', 10, 'STREAMS', key(), '0');
      }
      expect(await deliveries()).toBe(2 * 3);
      // Twice maxAttempts deliveries without a verdict: the next run's read is one too many, the entry goes untried.
      const seen: number[] = [];
      start(async (items) => (seen.push(...items), items.map(() => ok)));
      await waitFor(backlog, drained, 'dead-lettered');
      expect(seen).toEqual([]);
      expect((await dlq()).map((l) => [l['event'], l['reason'], l['attempts']])).toEqual([['9', 'max_retries_exceeded', '7']]);
    });
  });

  describe('reading ahead (readAhead)', () => {
    const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

    it('reads the next batch of a backlog while one is processed, and acks everything in stream order', async () => {
      await add(...numbers(1, 25));
      const seen: number[][] = [];
      start(async (items) => {
        // The first batch is held until the second is delivered too: without reading ahead this never happens.
        if (seen.length === 0) await waitFor(backlog, (b) => b.pending === 20, 'next batch read ahead');
        seen.push(items);
        return items.map(() => ok);
      }, { readAhead: true });
      await waitFor(backlog, drained, 'drained');
      expect(seen.flat()).toEqual(numbers(1, 25).map(Number));
      expect(seen.map((b) => b.length)).toEqual([10, 10, 5]);
      expect(outcomesCounted()).toEqual({ ok: 25 });
    });

    it.each([
      { batchesInFlight: 1, entries: 20, what: 'the one in flight' },
      { batchesInFlight: 2, entries: 30, what: 'both in flight (batchesInFlight 2)' },
    ])('a stop processes the batch read ahead after $what: nothing is left pending', async ({ batchesInFlight, entries }) => {
      await add(...numbers(1, entries));
      let release: () => void = () => {};
      const gate = new Promise<void>((r) => (release = r));
      const seen: number[] = [];
      const run = start(async (items) => {
        await gate;
        seen.push(...items);
        return items.map(() => ok);
      }, { readAhead: true, batchesInFlight, lanes: { count: 2, of: (n: number) => n % 2 }, claimIdleMs: 60_000 });
      await waitFor(backlog, (b) => b.pending === entries, 'every batch delivered');
      const stopping = run.stop();
      release();
      await stopping;
      expect([...seen].sort((x, y) => x - y)).toEqual(numbers(1, entries).map(Number));
      expect(await backlog()).toEqual({ length: 0, pending: 0 });
    });

    it('parses the batch read ahead while the one before is processed', async () => {
      await add(...numbers(1, 25));
      const parsedNumbers: number[] = [];
      const seen: number[][] = [];
      start(async (items) => {
        // The first batch is held until the second is parsed: parsed only between batches, it never would be.
        if (seen.length === 0) await waitFor(() => parsedNumbers, (p) => p.includes(20), 'next batch parsed');
        seen.push(items);
        return items.map(() => ok);
      }, {
        readAhead: true,
        parse: (fields) => {
          const result = parseN(fields);
          if (result.ok) parsedNumbers.push(result.value);
          return result;
        },
      });
      await waitFor(backlog, drained, 'drained');
      expect(seen.flat()).toEqual(numbers(1, 25).map(Number));
      // Each entry parsed once: the batch read ahead is not parsed again when its turn comes.
      expect([...parsedNumbers].sort((a, b) => a - b)).toEqual(numbers(1, 25).map(Number));
    });

    it("a batch's settle does not hold back the next batch", async () => {
      const ids = await add(...numbers(1, 30));
      // The consumer's own connection, blocked by the test for a moment right after the first batch (a blocking read
      // of an empty stream): its settle (XACK+XDEL) waits behind that, on this connection only.
      const connection = redis.duplicate();
      const idle = keys.stream('idle');
      await redis.xgroup('CREATE', idle, 'g', '$', 'MKSTREAM');
      const pendingAtSecond: string[] = [];
      const seen: number[][] = [];
      start(async (items) => {
        if (seen.length === 1) {
          const pending = (await redis.xpending(key(), GROUP, '-', '+', 100)) as [string, ...unknown[]][];
          pendingAtSecond.push(...pending.map(([id]) => id));
        }
        seen.push(items);
        if (seen.length === 1) void connection.xreadgroup('GROUP', 'g', 'c', 'BLOCK', 500, 'STREAMS', idle, '>');
        return items.map(() => ok);
      }, { readAhead: true, redis: connection, claimIdleMs: 60_000 });
      await waitFor(backlog, drained, 'drained');
      connection.disconnect();
      expect(seen.flat()).toEqual(numbers(1, 30).map(Number));
      // The second batch ran while the first was still being acknowledged.
      expect(pendingAtSecond).toEqual(expect.arrayContaining(ids.slice(0, 10)));
      expect(outcomesCounted()).toEqual({ ok: 30 });
    });

    it('an outage keeps the batch read ahead claimed too, and a stop then leaves both pending, their deliveries taken back', async () => {
      await add(...numbers(1, 20));
      let calls = 0;
      const run = start(
        async () => {
          calls++;
          throw new Error('connect ECONNREFUSED');
        },
        { readAhead: true, probe: async () => { throw new Error('connect ECONNREFUSED'); } },
      );
      await waitFor(() => calls, (n) => n >= 3, 'waiting out the outage');
      const since = Date.now();
      await waitFor(() => Date.now() - since, (ms) => ms > 3 * CLAIM_IDLE_MS, 'outage lasting');
      // Another consumer looking for idle entries finds none: both batches are kept claimed, their deliveries unchanged.
      const [, claimed] = (await redis.xautoclaim(key(), GROUP, 'c2', CLAIM_IDLE_MS, '0-0', 'COUNT', 100)) as [string, unknown[]];
      expect(claimed).toEqual([]);
      await run.stop();
      expect(await backlog()).toEqual({ length: 20, pending: 20 });
      expect((await pendingDetail()).map(([, c, , d]) => [c, d])).toEqual(numbers(1, 20).map(() => ['c1', 0]));
      expect(await dlq()).toEqual([]);
    });
  });

  describe('lanes', () => {
    const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
    // Even numbers in lane 0, odd ones in lane 1.
    const lanes = { count: 2, of: (n: number) => n % 2 };

    it("calls the function once per lane's part, the lanes at once, each part in stream order", async () => {
      await add(...numbers(1, 10));
      const parts: number[][] = [];
      let release = (): void => {};
      const bothCalled = new Promise<void>((r) => (release = r));
      start(async (items) => {
        parts.push(items);
        // Resolves only once both lanes' calls are in flight: one after the other, this would never settle.
        if (parts.length === 2) release();
        await bothCalled;
        return items.map(() => ok);
      }, { lanes });
      await waitFor(backlog, drained, 'drained');
      expect(parts.sort((a, b) => (a[0] as number) - (b[0] as number))).toEqual([[1, 3, 5, 7, 9], [2, 4, 6, 8, 10]]);
      expect(outcomesCounted()).toEqual({ ok: 10 });
    });

    it("retries a lane's part alone, and that lane's part of the next read waits for it while the other lane goes on", async () => {
      await add(...numbers(1, 20));
      const calls: number[][] = [];
      let thrown = false;
      start(async (items) => {
        calls.push(items);
        if (items[0] === 2 && !thrown) {
          thrown = true;
          throw new Error('deadlock detected');
        }
        return items.map(() => ok);
      }, { lanes, readAhead: true, batchesInFlight: 2, backoff: { baseMs: 300, maxMs: 300 } });
      await waitFor(backlog, drained, 'drained');
      const at = (first: number, nth = 1) => calls.findIndex((c, i) => c[0] === first && calls.slice(0, i + 1).filter((d) => d[0] === first).length === nth);
      // The other lane went on to the next read during the retry's backoff, its own part of the first read called once.
      expect(calls.filter((c) => c[0] === 1)).toHaveLength(1);
      expect(at(11)).toBeLessThan(at(2, 2));
      // The failing lane's part of the next read came only after its retry succeeded: a lane keeps stream order.
      expect(at(12)).toBeGreaterThan(at(2, 2));
      expect(calls.flat().sort((a, b) => a - b)).toEqual([...numbers(1, 20).map(Number), 2, 4, 6, 8, 10].sort((a, b) => a - b));
      expect(outcomesCounted()).toEqual({ ok: 20 });
    });

    it('a stop during one lane\'s outage settles the other lane and leaves the waiting lane pending, no later part of it run', async () => {
      await add(...numbers(1, 20));
      const calls: number[][] = [];
      const run = start(async (items) => {
        calls.push(items);
        if ((items[0] as number) % 2 === 0) throw new DependencyError('postgres', 'connection refused');
        return items.map(() => ok);
      }, { lanes, readAhead: true, batchesInFlight: 2, claimIdleMs: 60_000 });
      // The odd lane is done with both reads (neither settles before the even lane's part of the first read); the even
      // lane waits out its outage on the first.
      await waitFor(() => calls, (c) => c.some((d) => d[0] === 11) && c.filter((d) => d[0] === 2).length >= 2, 'odd lane done, even lane waiting');
      await run.stop();
      const left = (await redis.xrange(key(), '-', '+')).map(([, fields]) => Number(fields[1]));
      expect(left).toEqual(numbers(1, 20).map(Number).filter((n) => n % 2 === 0));
      expect(await backlog()).toEqual({ length: 10, pending: 10 });
      // The even lane's part of the second read never ran: it would have overtaken the first read's, left pending.
      expect(calls.some((c) => c[0] === 12)).toBe(false);
      expect(await dlq()).toEqual([]);
    });
  });

  describe('batches in flight (batchesInFlight)', () => {
    const numbers = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

    it('a lane done with its part of a read goes on to the next read, two reads at most, and reads settle in order', async () => {
      // Reads of 10: 1 to 10; then ten odd numbers, all in lane 1; then 30 to 49.
      const odd = Array.from({ length: 10 }, (_, i) => String(11 + 2 * i));
      await add(...numbers(1, 10), ...odd, ...numbers(30, 49));
      let release: () => void = () => {};
      const firstHeld = new Promise<void>((r) => (release = r));
      const called: number[] = [];
      start(async (items) => {
        called.push(items[0] as number);
        // Lane 0's part of the first read is held: lane 1 goes on without it.
        if (items[0] === 2) await firstHeld;
        return items.map(() => ok);
      }, { lanes: { count: 2, of: (n: number) => n % 2 }, readAhead: true, batchesInFlight: 2, claimIdleMs: 60_000 });
      try {
        await waitFor(() => called, (c) => c.includes(11), 'the second read, all in lane 1');
        await new Promise((resolve) => setTimeout(resolve, 50));
        // The second read ended while the first is held, but it settles only after the first: every entry is left.
        const left = (await redis.xrange(key(), '-', '+')).map(([, fields]) => fields[1]);
        expect([...numbers(1, 10), ...odd].filter((n) => !left.includes(n))).toEqual([]);
        // And no third read is started while the first is in flight.
        expect(called.sort((a, b) => a - b)).toEqual([1, 2, 11]);
      } finally {
        release();
      }
      await waitFor(backlog, drained, 'drained');
      expect(called.sort((a, b) => a - b)).toEqual([1, 2, 11, 30, 31, 40, 41]);
      expect(outcomesCounted()).toEqual({ ok: 40 });
    });
  });

  it('onIdle fires only once nothing is new and nothing is pending', async () => {
    const [, id] = await add('1', '7');
    const seenAtIdle: { length: number; pending: number }[] = [];
    let idle = 0;
    start(async (items) => items.map((n) => (n === 7 ? retry('handler_error') : ok)), {
      onIdle: () => {
        idle++;
        void backlog().then((b) => seenAtIdle.push(b));
      },
    });
    await waitFor(() => idle, (n) => n > 0, 'idle');
    await waitFor(() => seenAtIdle.length, (n) => n > 0, 'backlog read');
    expect(seenAtIdle[0]).toEqual({ length: 0, pending: 0 });
    // An outcome without a message: the letter has no error field.
    expect(await dlq()).toEqual([{ event: '7', reason: 'handler_error', attempts: '3', source_id: id }]);
  });

  it('a function that breaks its contract (wrong number of outcomes) stops the consumer loudly, settling nothing', async () => {
    await add('1', '2');
    const run = start(async () => [ok]);
    stops = stops.filter((s) => s !== run.stop);
    await expect(run.done).rejects.toBeInstanceOf(InvariantError);
    expect(await backlog()).toEqual({ length: 2, pending: 2 });
  });

  it('survives its stream being deleted under it: the group is recreated and new entries are processed', async () => {
    await add('1');
    const seen: number[] = [];
    const errors: unknown[] = [];
    const log = { ...silentLog, error: (msg: string, fields?: Record<string, unknown>) => errors.push({ msg, err: fields?.['err'] }) };
    start(async (items) => (seen.push(...items), items.map(() => ok)), { log });
    await waitFor(backlog, drained, 'first drained');
    await redis.del(key());
    await waitFor(async () => (await redis.exists(key())) === 1, (e) => e, 'group recreated', 5000);
    await add('2');
    await waitFor(() => seen.length, (n) => n === 2, 'second processed');
    expect(seen).toEqual([1, 2]);
    expect(await backlog()).toEqual({ length: 0, pending: 0 });
    // Redis says so when the key vanishes under a blocked read; the loop logs it, recreates the group, goes on.
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) expect(e).toMatchObject({ msg: 'consumer step failed; retrying', err: expect.stringMatching(/UNBLOCKED|NOGROUP/) });
  });
});
