// A relay (or a load balancer in front of one) that accepts the TCP connection and never answers the WebSocket
// upgrade must not hold the subscription forever: the opening handshake has the heartbeat's deadline (a peer silent
// for two heartbeats is dead, as after the upgrade), then the subscription reconnects.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { entriesHandler, runSubscription } from '../../../long-runners/subscription/subscription.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { silentLog } from '../../../functions/ports.ts';
import { createTestRedis } from '../../helpers/services.ts';
import { waitFor } from '../../helpers/wait.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('handshake_deadline'));
});
afterAll(async () => {
  await cleanup();
});

describe('a relay that never answers the WebSocket upgrade', () => {
  it('is given up on and reconnected to, not waited for forever', async () => {
    const sockets: net.Socket[] = [];
    let closedByUs = 0;
    // Reads the upgrade request and answers nothing, keeping the connection open.
    const server = net.createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
      socket.on('close', () => closedByUs++);
      socket.resume();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const controller = new AbortController();
    const stream = `${prefix}things_live`;
    const done = runSubscription(
      {
        redis, host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey: `${prefix}things_live:cursor:${hostKey(host)}`,
        highWaterMark: 1000, batchSize: 100, batchTimeoutMs: 50, maxFrameBytes: 1024, heartbeatMs: 100,
        backoff: { baseMs: 10, maxMs: 20, healthyAfterMs: 60_000 },
        log: silentLog, metrics: createMetrics({ hosts: [hostKey(host)], streams: [] }).metrics, signal: controller.signal,
        counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
      },
      entriesHandler(() => undefined),
    );
    try {
      // The first connection is dropped by us (the server never closes one) and a second one made.
      await waitFor(() => ({ connections: sockets.length, closedByUs }), (v) => v.connections >= 2 && v.closedByUs >= 1, 'a dropped connection and a second attempt', 10_000);
      expect(sockets.length).toBeGreaterThanOrEqual(2);
    } finally {
      controller.abort();
      await done;
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
