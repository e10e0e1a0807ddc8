// The subscription core with a handler of its own, the way the label subscriber plugs in (a stream, a cursor key, an
// NSID and a message-to-entries function): entries and cursor in one MULTI, seq order kept, unknown messages ignored
// while their seq still moves the cursor, everything read written on abort; a write between batches that meets a key of
// the wrong type is refused whole and counted.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { entriesHandler, runSubscription } from '../../../long-runners/subscription/subscription.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { StreamWriteError } from '../../../adapters/redis/stream-writer.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { encodeFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let relay: FakeRelay;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('subscription_core'));
  relay = await startFakeRelay();
});
afterAll(async () => {
  await relay.close();
  await cleanup();
});
afterEach(() => {
  relay.onConnect = undefined;
});

describe('subscription core with a plugged-in handler', () => {
  it('writes each message as its entries with the cursor, keeps seq order, and passes unknown messages', async () => {
    const stream = `${prefix}things_live`;
    const cursorKey = `${prefix}things_live:cursor:${hostKey(relay.host)}`;
    const thing = (seq: number, value: string) => encodeFrame({ op: 1, t: '#thing' }, { seq, value });
    relay.append(1, thing(1, 'a'));
    relay.append(2, encodeFrame({ op: 1, t: '#unknown' }, { seq: 2 }));
    relay.append(3, thing(3, 'b'));
    relay.append(3, thing(3, 'again'));
    relay.append(4, thing(4, 'c'));
    const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: [] });
    const controller = new AbortController();
    const written: string[] = [];
    const done = runSubscription(
      {
        redis, host: relay.host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey, highWaterMark: 1000, batchSize: 100,
        batchTimeoutMs: 60_000, initialCursor: 0, maxFrameBytes: 1024, log: silentLog, metrics: metrics.metrics, signal: controller.signal,
        counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
      },
      entriesHandler(
        (m) => (m.t === '#thing' ? [{ stream, fields: { thing: String(m.body['value']) } }] : undefined),
        (e) => written.push(e.fields['thing'] ?? ''),
      ),
    );
    await waitFor(() => relay.openConnections, (n) => n === 1, 'connected');
    await new Promise((r) => setTimeout(r, 100));
    // Nothing written before the batch is full or times out (60 s here)...
    expect(await redis.xlen(stream)).toBe(0);
    // ...and everything read is written, with its cursor, when the subscription stops.
    controller.abort();
    await done;
    expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['a', 'b', 'c']);
    expect(written).toEqual(['a', 'b', 'c']);
    expect(await redis.get(cursorKey)).toBe('4');
    const text = await metrics.registry.metrics();
    expect(text).toContain(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="seq_not_increasing"} 1`);
    expect(text).toContain(`skytide_firehose_frames_total{host="${hostKey(relay.host)}",kind="ignored"} 1`);
  });
});

describe('a write between batches that meets a key of the wrong type', () => {
  it('writes nothing of it, is counted stream_write_failed and ends the subscription with an error naming the key', async () => {
    const stream = `${prefix}wrong_live`;
    const side = `${prefix}wrong_side`;
    const parked = `${prefix}wrong_parked`;
    const waiting = `${prefix}wrong_waiting`;
    const cursorKey = `${prefix}wrong_live:cursor:${hostKey(relay.host)}`;
    await redis.set(waiting, 'made by hand');
    relay.append(1, encodeFrame({ op: 1, t: '#thing' }, { seq: 1, value: 'a' }));
    const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: [] });
    const controller = new AbortController();
    let added = false;
    const err = await runSubscription(
      {
        redis, host: relay.host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey, highWaterMark: 1000, batchSize: 1,
        batchTimeoutMs: 20, initialCursor: 0, maxFrameBytes: 1024, log: silentLog, metrics: metrics.metrics, signal: controller.signal,
        counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
      },
      {
        onMessage(message, batch) {
          batch.append({ stream, fields: { thing: String(message.body['value']) } });
          return 'sequenced';
        },
        // Written without a seq cursor (as a release or a park between batches is): an entry, a frame, its record.
        between(batch) {
          if (added) return Promise.resolve();
          added = true;
          batch.append({ stream: side, fields: { event: 'side' } });
          batch.add({ kind: 'command', name: 'RPUSH', args: [parked, 'frame'] });
          batch.add({ kind: 'command', name: 'HSET', args: [waiting, 'did', '{}'] });
          return Promise.resolve();
        },
      },
    ).then(() => undefined, (e: unknown) => e);
    controller.abort();
    // The message's own batch landed with its cursor; the one between batches landed not at all (as a MULTI, the
    // XADD and the RPUSH around the refused HSET did).
    expect(await redis.xlen(stream)).toBe(1);
    expect(await redis.get(cursorKey)).toBe('1');
    expect(await redis.xlen(side)).toBe(0);
    expect(await redis.exists(parked)).toBe(0);
    expect(err).toBeInstanceOf(StreamWriteError);
    // Step 1 is the batch's cursor guard (CURSOR_FLOOR), then the XADD, the RPUSH and the HSET.
    expect((err as Error).message).toBe(`batch refused: WRONGTYPE step 4 needs ${waiting} to be a hash but it is a string: nothing of the batch was written`);
    const text = await metrics.registry.metrics();
    expect(text).toContain(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="stream_write_failed"} 1`);
  });
});
