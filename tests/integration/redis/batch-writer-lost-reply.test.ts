// A batch whose reply is lost (the connection dies after Redis ran it) against real Redis, through a proxy that
// cuts the client's socket right after forwarding it (lost-reply-proxy.ts). ioredis reconnects and, by default, sends the whole
// MULTI again; a batch with a seq cursor must still land exactly once: its entries once, its cursor raised once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { writeBatch, writeSlotBatches } from '../../../adapters/redis/stream-writer.ts';
import { silentLog } from '../../../functions/ports.ts';
import { TEST_REDIS_URL, createTestRedis } from '../../helpers/services.ts';
import { startLostReplyProxy, type LostReplyProxy } from '../../helpers/lost-reply-proxy.ts';

let direct: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let proxy: LostReplyProxy;
let writer: Redis;

beforeAll(async () => {
  ({ redis: direct, prefix, cleanup } = await createTestRedis('batch_lost_reply'));
  // In front of the Redis the suite tests (the in-process one too: memory-redis-suites.long.test.ts).
  const target = new URL(TEST_REDIS_URL);
  proxy = await startLostReplyProxy({ host: target.hostname, port: Number(target.port || 6379) });
  // The long-runners' client, options and all (client.ts), reaching Redis through the proxy.
  writer = createRedis({ url: proxy.url, log: silentLog });
  // A first batch, so the one whose reply is lost runs for real (not a NOSCRIPT for an uncached script).
  await writeBatch(writer, { seqCursor: { key: `${prefix}warm_up:cursor`, seq: 1 } });
});
afterAll(async () => {
  writer.disconnect();
  await proxy.close();
  await cleanup();
});

const entries = (stream: string, n: number) => Array.from({ length: n }, (_, i) => ({ stream, fields: { event: `e${i}` } }));

describe('a batch whose reply is lost', () => {
  it('lands once: entries and seq cursor (writeBatch)', async () => {
    const stream = `${prefix}firehose_live`;
    const key = `${prefix}firehose_live:cursor:relay`;
    proxy.arm();
    const result = await writeBatch(writer, { entries: entries(stream, 3), seqCursor: { key, seq: 42 } });
    expect(proxy.lost).toBe(1);
    expect(await direct.xlen(stream)).toBe(3);
    expect(await direct.get(key)).toBe('42');
    // ioredis sent it again on the new connection; that second run found its own token and wrote nothing.
    expect(result).toEqual({ ids: [], seqCursor: 42, ranBefore: true });
    // The next batch goes through as usual.
    await writeBatch(writer, { entries: entries(stream, 2), seqCursor: { key, seq: 43 } });
    expect(await direct.xlen(stream)).toBe(5);
    expect(await direct.get(key)).toBe('43');
  });

  it('lands once in each slot (writeSlotBatches)', async () => {
    const streams = [`${prefix}{0}firehose_live`, `${prefix}{1}firehose_live`];
    const keys = [`${prefix}{0}firehose_live:cursor:relay`, `${prefix}{1}firehose_live:cursor:relay`];
    const lostBefore = proxy.lost;
    proxy.arm();
    const stored = await writeSlotBatches(writer, {
      ops: [...entries(streams[0]!, 2), ...entries(streams[1]!, 3)].map((entry) => ({ kind: 'entry' as const, entry })),
      seqCursors: { keys, seq: 7 },
    });
    expect(proxy.lost).toBe(lostBefore + 1);
    expect([...stored.values()]).toEqual([7, 7]);
    expect(await direct.xlen(streams[0]!)).toBe(2);
    expect(await direct.xlen(streams[1]!)).toBe(3);
    expect(await direct.mget(...keys)).toEqual(['7', '7']);
  });
});
