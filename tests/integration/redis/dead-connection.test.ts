// A Redis connection whose peer is gone without a FIN or RST (a failover, a NAT or firewall that dropped the flow, a
// paused VM), against real Redis behind a proxy that black-holes the connections open at a moment and lets new ones
// pass (lost-reply-proxy.ts). Without a socket timeout a command on such a connection waits for the kernel to give up
// retransmitting, about 15 minutes; the long-runners' client (client.ts) closes it after REDIS_SOCKET_TIMEOUT_MS
// of silence and sends the command again on a new connection. The timeout here is 1 s instead of 30 so the test can
// see it; a blocking read longer than that on a healthy connection must not be taken for a dead one.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBlockingReader, createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { ensureGroup, readNew } from '../../../adapters/redis/consumer-group.ts';
import { writeBatch } from '../../../adapters/redis/stream-writer.ts';
import { createKeySpace } from '../../../adapters/redis/keys.ts';
import { createLogger } from '../../../adapters/observability/logger.ts';
import { silentLog } from '../../../functions/ports.ts';
import { ok } from '../../../functions/result.ts';
import { runStreamConsumer } from '../../../long-runners/consumer/stream-consumer.ts';
import { TEST_REDIS_URL, createTestRedis } from '../../helpers/services.ts';
import { startLostReplyProxy, type LostReplyProxy } from '../../helpers/lost-reply-proxy.ts';
import { waitFor } from '../../helpers/wait.ts';

const SOCKET_TIMEOUT_MS = 1_000;
/** Well past the timeout plus a reconnect (its first delay is under 250 ms), far below the kernel's 15 minutes. */
const BOUND_MS = SOCKET_TIMEOUT_MS + 4_000;

let direct: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let closing: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  ({ redis: direct, prefix, cleanup } = await createTestRedis('dead_connection'));
});
afterEach(async () => {
  for (const close of closing.reverse()) await close();
  closing = [];
});
afterAll(async () => cleanup());

async function proxy(): Promise<LostReplyProxy> {
  const target = new URL(TEST_REDIS_URL);
  const p = await startLostReplyProxy({ host: target.hostname, port: Number(target.port || 6379) });
  closing.push(() => p.close());
  return p;
}

/** The long-runners' client with a 1 s socket timeout, and the lines it logs. */
function client(url: string): { redis: Redis; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level: 'info', component: 'test', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  const redis = createRedis({ url, log, socketTimeoutMs: SOCKET_TIMEOUT_MS });
  closing.push(() => redis.disconnect());
  return { redis, lines };
}

function track<R>(r: Redis): Redis {
  closing.push(() => r.disconnect());
  return r;
}

/** `promise`, or a failure once `ms` have passed: without the timeout the command would hang for 15 minutes. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return { value: await Promise.race([promise, late]), ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

const connectionErrors = (lines: Record<string, unknown>[]) => lines.filter((l) => l['msg'] === 'redis connection error');

describe('a connection gone silent', () => {
  it('is closed after the socket timeout and its pending command answered on a new one, run once', async () => {
    const p = await proxy();
    const { redis, lines } = client(p.url);
    await redis.ping();
    expect(p.blackhole()).toBe(1);
    const key = `${prefix}counter`;
    const { value, ms } = await within(redis.incr(key), 10_000, 'INCR on a black-holed connection');
    expect(value).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(SOCKET_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(BOUND_MS);
    expect(await direct.get(key)).toBe('1');
    expect(connectionErrors(lines)[0]).toMatchObject({ err: expect.stringContaining('Socket timeout') });
  }, 20_000);

  it('a batch Redis ran but whose reply the black hole swallowed is sent again and lands once', async () => {
    const p = await proxy();
    const { redis } = client(p.url);
    // A first batch, so the script is cached and the one black-holed runs for real.
    await writeBatch(redis, { seqCursor: { key: `${prefix}warm_up:cursor`, seq: 1 } });
    expect(p.blackhole('replies')).toBe(1);
    const stream = `${prefix}firehose_live`;
    const key = `${prefix}firehose_live:cursor:relay`;
    const entries = [0, 1, 2].map((i) => ({ stream, fields: { event: `e${i}` } }));
    const { value } = await within(writeBatch(redis, { entries, seqCursor: { key, seq: 7 } }), 10_000, 'a batch on a black-holed connection');
    // Sent again on the new connection, it found its own token and wrote nothing: 3 entries, not 6.
    expect(value).toEqual({ ids: [], seqCursor: 7, ranBefore: true });
    expect(await direct.xlen(stream)).toBe(3);
    expect(await direct.get(key)).toBe('7');
  }, 20_000);

  it("a consumer's blocking reader is closed after its BLOCK plus the timeout, and its read answered", async () => {
    const p = await proxy();
    const { redis } = client(p.url);
    const stream = `${prefix}blackholed_reads`;
    await ensureGroup(redis, stream, 'g');
    const reader = track(createBlockingReader(redis, 1_000));
    await reader.ping();
    p.blackhole();
    const { value } = await within(readNew(reader, stream, 'g', 'c', 10, 1_000), 10_000, 'XREADGROUP BLOCK on a black-holed connection');
    expect(value).toEqual([]);
  }, 20_000);
});

describe('a healthy blocking read longer than the socket timeout', () => {
  it('is not cut: it waits out its BLOCK and returns', async () => {
    const { redis, lines } = client(TEST_REDIS_URL);
    const stream = `${prefix}quiet_reads`;
    await ensureGroup(redis, stream, 'g');
    const reader = track(createBlockingReader(redis, 3_000));
    await reader.ping();
    const { value, ms } = await within(readNew(reader, stream, 'g', 'c', 10, 3_000), 10_000, 'XREADGROUP BLOCK 3000');
    expect(value).toEqual([]);
    expect(ms).toBeGreaterThanOrEqual(2_900);
    expect(connectionErrors(lines)).toEqual([]);
  }, 20_000);

  it("in the consumer loop: reads of 3 s on a quiet stream, then an entry, and no connection closed", async () => {
    const { redis, lines } = client(TEST_REDIS_URL);
    const keys = createKeySpace(`${prefix}consumer:`);
    const stream = 'firehose_live';
    const handled: string[] = [];
    const controller = new AbortController();
    const done = runStreamConsumer<string>({
      redis, keys, stream, group: 'g', consumer: 'c', batchSize: 10, blockMs: 3_000, maxAttempts: 3,
      parse: (fields) => ({ ok: true, value: fields['event'] ?? '' }),
      handle: async (items) => {
        handled.push(...items);
        return items.map(() => ok);
      },
      log: silentLog, metrics: { inc() {} }, signal: controller.signal,
    });
    closing.push(async () => {
      controller.abort();
      await done;
    });
    // Two whole BLOCKs on an empty stream, each three times the socket timeout.
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    await direct.xadd(keys.stream(stream), '*', 'event', 'late');
    await waitFor(() => handled, (h) => h.includes('late'), 'the entry added after the quiet reads', 10_000);
    expect(connectionErrors(lines)).toEqual([]);
  }, 30_000);
});
