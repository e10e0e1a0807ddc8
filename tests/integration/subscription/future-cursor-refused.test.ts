// FutureCursor while Redis refuses writes (a failover left the client on a read-only replica; out of memory alike):
// the cursor's reset to 0 is waited out as a batch's write is, never the task's end. It was a plain SET, whose
// ReplyError ended the firehose task, and after each restart the same FutureCursor ended it again. On a redis-server of
// the test's own, made a replica of a master that is not there.
import { describe, expect, it } from 'vitest';
import { entriesHandler, runSubscription } from '../../../long-runners/subscription/subscription.ts';
import { silentLog, type Log } from '../../../functions/ports.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { startFakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { encodeFrame, errorFrame } from '../../helpers/frames.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';
import { waitFor } from '../../helpers/wait.ts';

const own = useFullableRedis();

describe('FutureCursor while Redis is read-only', () => {
  it('waits for Redis to take writes, then resets the cursor and replays the window', async () => {
    const relay = await startFakeRelay();
    const head = 3;
    relay.onConnect = (socket, cursor) => {
      if (cursor === null || Number(cursor) <= head) return true;
      socket.send(errorFrame('FutureCursor', 'Cursor in the future.'));
      socket.close();
      return false;
    };
    for (let seq = 1; seq <= head; seq++) relay.append(seq, encodeFrame({ op: 1, t: '#thing' }, { seq, value: `v${seq}` }));
    const stream = 'things_live';
    const cursorKey = `things_live:cursor:${hostKey(relay.host)}`;
    await own.redis.set(cursorKey, '100');
    await own.redis.replicaof('127.0.0.1', 1);
    const waits: string[] = [];
    const log: Log = { ...silentLog, warn: (msg) => void waits.push(msg), child: () => log };
    const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: [] });
    const controller = new AbortController();
    let ended: unknown = 'running';
    const done = runSubscription(
      {
        redis: own.redis, host: relay.host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey, highWaterMark: 1000, batchSize: 1,
        batchTimeoutMs: 50, initialCursor: 0, maxFrameBytes: 64 * 1024, log, metrics: metrics.metrics, signal: controller.signal,
        counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
        backoff: { baseMs: 20, maxMs: 100, healthyAfterMs: 60_000 }, refusalBackoff: { baseMs: 20, maxMs: 100 },
      },
      entriesHandler((m) => (m.t === '#thing' ? [{ stream, fields: { thing: String(m.body['value']) } }] : undefined)),
    ).then(
      () => void (ended = 'returned'),
      (err: unknown) => void (ended = err),
    );
    try {
      await waitFor(async () => waits, (w) => w.includes('redis refuses writes: the cursor reset waits'), 'the reset waiting');
      expect(ended).toBe('running');
      expect(await own.redis.get(cursorKey)).toBe('100');
      await own.redis.replicaof('NO', 'ONE');
      await waitFor(() => own.redis.get(cursorKey), (c) => c === String(head), 'the window replayed');
      expect(ended).toBe('running');
    } finally {
      await own.redis.replicaof('NO', 'ONE');
      controller.abort();
      await done;
      await relay.close();
    }
    expect((await own.redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['v1', 'v2', 'v3']);
    expect(await metrics.registry.metrics()).toContain(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="cursor_reset"} 1`);
  });
});
