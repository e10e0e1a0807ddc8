// A Redis that comes back with an older state (a restart from an older snapshot, a failover to a replica that had not
// received the last writes) holds a cursor below what the subscription stored, and lost the entries between. Raising
// the cursor from there with the next frames stepped over those seqs for good (found in review:
// /tmp/review-redis/r3-restart-gap.ts). Each batch now begins with CURSOR_FLOOR: the subscription sees the rollback,
// logs and counts it (`cursor_rolled_back`), closes its socket and resumes from the stored cursor, so the relay sends
// the lost seqs again. Against a real private redis-server rolled back to a snapshot, two ways: in place (DEBUG RELOAD
// NOSAVE, the client's connection stays up) and by a restart from the dump file (the client reconnects).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createRedis } from '../../../adapters/redis/client.ts';
import { entriesHandler, runSubscription } from '../../../long-runners/subscription/subscription.ts';
import { createMetrics } from '../../../adapters/observability/metrics.ts';
import { hostKey } from '../../../adapters/redis/keys.ts';
import { silentLog, type Log } from '../../../functions/ports.ts';
import { startFakeRelay, type FakeRelay } from '../../../long-runners/dev/fake-relay.ts';
import { encodeFrame } from '../../helpers/frames.ts';
import { freePort } from '../../helpers/free-port.ts';
import { waitFor } from '../../helpers/wait.ts';

let dir: string;
let port: number;
let server: ChildProcess | undefined;
let redis: Redis;
let relay: FakeRelay;

const startServer = async () => {
  server = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb', '--save', '', '--appendonly', 'no',
    '--enable-debug-command', 'local', '--protected-mode', 'no',
  ], { stdio: 'ignore' });
  const probe = createRedis({ url: `redis://127.0.0.1:${port}`, log: silentLog });
  await waitFor(() => probe.ping().catch(() => 'down'), (r) => r === 'PONG', 'the private redis-server');
  probe.disconnect();
};
const stopServer = async () => {
  const s = server;
  server = undefined;
  if (s === undefined || s.exitCode !== null) return;
  const exited = new Promise((r) => s.once('exit', r));
  s.kill('SIGKILL');
  await exited;
};

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'skytide-rollback-'));
  port = await freePort();
  await startServer();
  redis = createRedis({ url: `redis://127.0.0.1:${port}`, log: silentLog });
  relay = await startFakeRelay();
});
afterEach(async () => {
  redis.disconnect();
  await relay.close();
  await stopServer();
  rmSync(dir, { recursive: true, force: true });
});

const stream = 'firehose_live';
const frame = (seq: number) => encodeFrame({ op: 1, t: '#thing' }, { seq, value: `event-${seq}` });

function subscribe() {
  const cursorKey = `firehose_live:cursor:${hostKey(relay.host)}`;
  const metrics = createMetrics({ hosts: [hostKey(relay.host)], streams: [] });
  const warnings: { msg: string; fields: Record<string, unknown> }[] = [];
  const log: Log = { ...silentLog, warn: (msg, fields) => void warnings.push({ msg, fields: fields ?? {} }), child: () => log };
  const controller = new AbortController();
  const done = runSubscription({
    redis, host: relay.host, nsid: 'com.atproto.sync.subscribeRepos', stream, cursorKey, highWaterMark: 1000, batchSize: 1,
    batchTimeoutMs: 20, initialCursor: 0, maxFrameBytes: 1 << 20, log, metrics: metrics.metrics, signal: controller.signal,
    lengthCheckIntervalMs: 20, backoff: { baseMs: 10, maxMs: 50, healthyAfterMs: 10_000 },
    counters: { frames: 'skytide_firehose_frames_total', errors: 'skytide_firehose_errors_total' },
  }, entriesHandler((m) => [{ stream, fields: { event: String(m.body['value']) } }]));
  const rolledBack = async () => {
    const line = (await metrics.registry.metrics()).split('\n').find((l) => l.startsWith(`skytide_firehose_errors_total{host="${hostKey(relay.host)}",reason="cursor_rolled_back"}`));
    return Number(line?.split(' ').at(-1) ?? NaN);
  };
  return {
    cursor: async () => Number((await redis.get(cursorKey).catch(() => null)) ?? -1),
    events: async () => (await redis.xrange(stream, '-', '+')).map(([, f]) => f[1]),
    rolledBack,
    warnings,
    stop: async () => {
      controller.abort();
      await done;
    },
  };
}

const events = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `event-${from + i}`);

describe('a Redis that comes back with an older state', () => {
  for (const how of ['in place (DEBUG RELOAD NOSAVE)', 'by a restart from its dump file'] as const) {
    it(`${how}: the lost seqs are asked for again, nothing stepped over`, async () => {
      const sub = subscribe();
      try {
        for (const seq of [1, 2, 3]) relay.append(seq, frame(seq));
        await waitFor(sub.cursor, (c) => c === 3, 'cursor 3');
        await redis.save();
        for (const seq of [4, 5]) relay.append(seq, frame(seq));
        await waitFor(sub.cursor, (c) => c === 5, 'cursor 5');
        // Redis goes back to its snapshot: cursor 3, entries 1-3; the relay's socket stayed up.
        if (how === 'in place (DEBUG RELOAD NOSAVE)') await redis.call('DEBUG', 'RELOAD', 'NOSAVE');
        else {
          await stopServer();
          await startServer();
        }
        await waitFor(sub.cursor, (c) => c === 3, 'cursor back at 3');
        for (const seq of [6, 7]) relay.append(seq, frame(seq));
        await waitFor(sub.cursor, (c) => c === 7, 'cursor 7');
        expect(await sub.events()).toEqual(events(1, 7));
        expect(relay.cursors).toEqual(['0', '3']);
        expect(await sub.rolledBack()).toBe(1);
        const warned = sub.warnings.find((w) => w.msg.startsWith('redis holds an older cursor'));
        expect(warned?.fields).toMatchObject({ stored: 3, written: 5 });
      } finally {
        await sub.stop();
      }
    });
  }
});
