// An upstream that streams #info frames (a hostile or broken relay or labeler) is counted frame by frame, but logged
// sampled, as every other problem of a subscription is (problems.ts: the 1st, 10th, 100th...): one line per #info
// let it write the logs at network speed, each line carrying the frame's message (up to the frame limit).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { entriesHandler, runSubscription } from '../../../long-runners/subscription/subscription.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { hostKey } from '../../../adapters/redis/keys.ts';
import type { Log } from '../../../functions/ports.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { encodeFrame, infoFrame } from '../../helpers/frames.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let relay: FakeRelay;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('info_flood'));
  relay = await startFakeRelay();
});
afterAll(async () => {
  await relay.close();
  await cleanup();
});

describe('a flood of #info frames', () => {
  it('is counted in full and logged sampled', async () => {
    const FLOOD = 1000;
    relay.onConnect = (socket) => {
      for (let i = 0; i < FLOOD; i++) {
        socket.send(infoFrame(`Chatty${i}`, 'x'.repeat(1000)));
        socket.send(infoFrame('OutdatedCursor', 'too old'));
      }
    };
    const stream = `${prefix}things_live`;
    const cursorKey = `${prefix}things_live:cursor:${hostKey(relay.host)}`;
    relay.append(1, encodeFrame({ op: 1, t: '#thing' }, { seq: 1 }));
    const lines: string[] = [];
    const log: Log = { ...silentLog, info: (msg) => void lines.push(msg), warn: (msg) => void lines.push(msg), child: () => log };
    const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: [] });
    const controller = new AbortController();
    const done = runSubscription(
      {
        redis, host: relay.host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey, highWaterMark: 1000, batchSize: 1,
        batchTimeoutMs: 50, initialCursor: 0, maxFrameBytes: 1024 * 1024, log, metrics: metrics.metrics, signal: controller.signal,
        counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
      },
      entriesHandler((m) => (m.t === '#thing' ? [{ stream, fields: { thing: 'yes' } }] : undefined)),
    );
    try {
      await waitFor(() => redis.get(cursorKey), (c) => c === '1', 'the frame after the flood');
    } finally {
      controller.abort();
      await done;
    }
    const text = await metrics.registry.metrics();
    expect(text).toContain(`skytide_firehose_frames_total{host="${hostKey(relay.host)}",kind="info"} ${2 * FLOOD}`);
    expect(text).toContain(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="outdated_cursor"} ${FLOOD}`);
    // The 1st, 10th, 100th and 1000th of each: 4 lines, not 1000.
    expect(lines.filter((m) => m === 'subscription info message')).toHaveLength(4);
    expect(lines.filter((m) => m.startsWith('cursor older than upstream window'))).toHaveLength(4);
  });
});
