// A batch whose reply is lost (the connection dies after Redis ran it) against real Redis, through a proxy that
// cuts the client's socket right after forwarding it (lost-reply-proxy.ts). ioredis reconnects and, by default, sends the whole
// MULTI again; a batch with a seq cursor must still land exactly once: its entries once, its cursor raised once. So must
// a release of parked frames without one: run twice, its LTRIM would drop as many frames again, never released.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { writeBatch, writeSlotBatches } from '../../../adapters/redis/stream-writer.ts';
import { createIdentityWaitStore } from '../../../adapters/redis/identity-waits.ts';
import { STREAMS, createKeySpace } from '../../../adapters/redis/keys.ts';
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

  it('a release of parked frames without a seq cursor lands once: events once, only the released frames trimmed', async () => {
    const keys = createKeySpace(`${prefix}release:`);
    const store = createIdentityWaitStore(writer, keys, 'relay.example');
    const did = 'did:plc:waiting';
    const parked = keys.parked(STREAMS.firehoseLive, 'relay.example', did);
    const waiting = keys.waiting(STREAMS.firehoseLive, 'relay.example');
    const stream = keys.stream(STREAMS.firehoseLive);
    await direct.rpush(parked, 'f1', 'f2', 'f3', 'f4');
    await direct.hset(waiting, did, JSON.stringify({ since: 1, on: 'plc' }));
    // The two oldest frames released: their events, then the trim, as identity-wait.ts stages them between batches.
    const release = (frames: string[], onLeft: (left: number) => void) => writeBatch(writer, {
      ops: [...frames.map((f) => ({ kind: 'entry' as const, entry: { stream, fields: { event: f } } })), store.releaseOp(did, frames.length, new TextEncoder().encode(frames[0]!), onLeft)],
    });
    const lostBefore = proxy.lost;
    proxy.arm();
    const lefts: number[] = [];
    await release(['f1', 'f2'], (left) => lefts.push(left));
    expect(proxy.lost).toBe(lostBefore + 1);
    // Run twice, the trim would have dropped f3 and f4 too, never released.
    expect(await direct.lrange(parked, 0, -1)).toEqual(['f3', 'f4']);
    expect((await direct.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['f1', 'f2']);
    expect(await direct.hlen(waiting)).toBe(1);
    // The next release (of the rest) answers what is left, and the DID is forgotten.
    await release(['f3', 'f4'], (left) => lefts.push(left));
    expect(lefts.at(-1)).toBe(0);
    expect((await direct.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['f1', 'f2', 'f3', 'f4']);
    expect(await direct.exists(parked, waiting)).toBe(0);
  });

  it('a release of parked frames lands once in its shard\'s slot (writeSlotBatches, no seq cursor)', async () => {
    const keys = createKeySpace(`${prefix}release_sharded:`, { shards: 2 });
    const store = createIdentityWaitStore(writer, keys, 'relay.example');
    const did = 'did:plc:waiting';
    const shard = keys.shardFor(STREAMS.firehoseLive, did);
    const parked = keys.parked(shard, 'relay.example', did);
    const stream = keys.stream(shard);
    await direct.rpush(parked, 'f1', 'f2', 'f3');
    await direct.hset(keys.waiting(shard, 'relay.example'), did, JSON.stringify({ since: 1, on: 'plc' }));
    const lostBefore = proxy.lost;
    proxy.arm();
    await writeSlotBatches(writer, {
      ops: [{ kind: 'entry', entry: { stream, fields: { event: 'f1' } } }, store.releaseOp(did, 1, new TextEncoder().encode('f1'), () => {})],
    });
    expect(proxy.lost).toBe(lostBefore + 1);
    expect(await direct.lrange(parked, 0, -1)).toEqual(['f2', 'f3']);
    expect(await direct.xlen(stream)).toBe(1);
  });
});
