// Seqs only increase (event-stream spec: "sequence numbers ... are strictly increasing"; issue 8 item 1): a frame
// whose seq is not above the last one accepted is dropped, counted, and never moves the cursor back; the cursor in
// Redis only rises whoever writes it; FutureCursor is the one explicit, logged and counted reset.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { runFirehoseIngester, type FirehoseIngesterOptions } from '../../../long-runners/firehose/firehose-ingester.ts';
import { createKeySpace, hostKey, type KeySpace } from '../../../adapters/redis/keys.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { silentLog, type Log, type LogFields } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { buildCommitFrame, errorFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';
import { tid } from '../../helpers/events.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const POST = { $type: 'app.bsky.feed.post', text: 'hi', createdAt: '2026-01-01T00:00:00.000Z' };

let redis: Redis;
let cleanup: () => Promise<void>;
let keys: KeySpace;
let relay: FakeRelay;
let running: { stop: () => Promise<void> } | undefined;

beforeAll(async () => {
  ({ redis, cleanup } = await createTestRedis('seq_order'));
});
afterAll(async () => cleanup());
beforeEach(async () => {
  keys = createKeySpace(`${Math.random().toString(36).slice(2)}:`);
  relay = await startFakeRelay();
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
  await relay.close();
});

function recordingLog(lines: { level: string; msg: string; fields: LogFields }[]): Log {
  const at = (level: string) => (msg: string, fields: LogFields = {}) => void lines.push({ level, msg, fields });
  const log: Log = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return log;
}

function start(extra: Partial<FirehoseIngesterOptions> = {}) {
  const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: ['firehose_live'] });
  const controller = new AbortController();
  const done = runFirehoseIngester({
    redis, keys, host: relay.host, highWaterMark: 100_000, batchSize: 1, batchTimeoutMs: 20, initialCursor: 0,
    log: silentLog, metrics: metrics.metrics, signal: controller.signal, lengthCheckIntervalMs: 20,
    backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 }, ...extra,
  });
  running = { stop: async () => { controller.abort(); await done; } };
  return { metrics };
}

const cursor = () => redis.get(keys.cursor('firehose_live', relay.host));
const rkeys = async () => (await redis.xrange(keys.stream('firehose_live'), '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '').rkey as string);
const counter = async (m: ReturnType<typeof createMetrics>, reason: string) => {
  const line = (await m.registry.metrics()).split('\n').find((l) => l.startsWith(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="${reason}"}`));
  return Number(line?.split(' ').at(-1) ?? NaN);
};
const commit = async (seq: number, rkey: string, n: number) =>
  (await buildCommitFrame({ seq, did: DID, rev: tid(n), ops: [{ action: 'create', collection: 'app.bsky.feed.post', rkey, record: POST }] })).frame;

describe('seqs only increase', () => {
  it('drops a repeated and a lower seq whole, counts them, never lowers the cursor, and takes later frames', async () => {
    relay.append(1, await commit(1, 'a', 1));
    relay.append(2, await commit(2, 'b', 2));
    // Upstream misbehaves: seq 2 again, then seq 1 again, with commits of their own.
    relay.append(2, await commit(2, 'repeated', 3));
    relay.append(1, await commit(1, 'lower', 4));
    const run = start();
    await waitFor(() => counter(run.metrics, 'seq_not_increasing'), (n) => n === 2, 'both bad frames counted');
    // Each frame is its own batch here, so a cursor set to a bad frame's seq would show.
    expect(await cursor()).toBe('2');
    expect(await rkeys()).toEqual(['a', 'b']);

    relay.append(3, await commit(3, 'later', 5));
    await waitFor(cursor, (c) => c === '3', 'cursor 3');
    expect(await rkeys()).toEqual(['a', 'b', 'later']);
    expect(await counter(run.metrics, 'seq_not_increasing')).toBe(2);
  });

  it('judges seqs against the stored cursor on connect, not only this connection', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '5');
    // A relay that ignores our cursor and replays from its start.
    relay.onConnect = (socket) => {
      void (async () => {
        for (let s = 1; s <= 7; s++) socket.send(await commit(s, `k${s}`, s));
      })();
      return false;
    };
    const run = start();
    await waitFor(cursor, (c) => c === '7', 'cursor 7');
    expect(await rkeys()).toEqual(['k6', 'k7']);
    expect(await counter(run.metrics, 'seq_not_increasing')).toBe(5);
  });

  it('never lowers a cursor another writer raised, and takes nothing at or below it afterwards', async () => {
    for (let s = 1; s <= 3; s++) relay.append(s, await commit(s, `k${s}`, s));
    const run = start();
    await waitFor(cursor, (c) => c === '3', 'cursor 3');
    // Another process for the same host has written up to 100 meanwhile.
    await redis.set(keys.cursor('firehose_live', relay.host), '100');
    relay.append(4, await commit(4, 'k4', 4));
    await waitFor(rkeys, (r) => r.includes('k4'), 'seq 4 written');
    expect(await cursor()).toBe('100');
    relay.append(5, await commit(5, 'k5', 5));
    await waitFor(() => counter(run.metrics, 'seq_not_increasing'), (n) => n === 1, 'seq 5 judged against 100');
    expect(await rkeys()).toEqual(['k1', 'k2', 'k3', 'k4']);
    expect(await cursor()).toBe('100');
  });

  it('on FutureCursor resets the cursor in plain sight (logged with both values, counted) and replays the window', async () => {
    await redis.set(keys.cursor('firehose_live', relay.host), '999');
    relay.append(1, await commit(1, 'a', 1));
    relay.append(2, await commit(2, 'b', 2));
    relay.onConnect = (socket, c) => {
      if (c !== '999') return true;
      socket.send(errorFrame('FutureCursor', 'cursor in the future'));
      socket.close();
      return false;
    };
    const lines: { level: string; msg: string; fields: LogFields }[] = [];
    const run = start({ log: recordingLog(lines) });
    await waitFor(cursor, (c) => c === '2', 'cursor 2 after the reset');
    expect(relay.cursors.slice(0, 2)).toEqual(['999', '0']);
    expect(await rkeys()).toEqual(['a', 'b']);
    expect(await counter(run.metrics, 'cursor_reset')).toBe(1);
    expect(await counter(run.metrics, 'future_cursor')).toBe(1);
    expect(lines.filter((l) => l.level === 'error').map((l) => [l.fields['old'], l.fields['new']])).toEqual([[999, 0]]);
    // The stream goes on after the reset.
    relay.append(3, await commit(3, 'c', 3));
    await waitFor(cursor, (c) => c === '3', 'cursor 3');
    expect(await rkeys()).toEqual(['a', 'b', 'c']);
  });
});
