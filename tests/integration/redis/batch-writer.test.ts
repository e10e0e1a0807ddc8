// The batch writer against real Redis: a seq cursor is raised by compare-and-set inside the MULTI and never lowered,
// whoever writes it; a command Redis refuses is a StreamWriteError with its reason, never a silent partial batch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { StreamWriteError, writeBatch } from '../../../adapters/redis/stream-writer.ts';
import { resetSeqCursor } from '../../../adapters/redis/cursor-store.ts';
import { createTestRedis } from '../../helpers/services.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('batch_writer'));
});
afterAll(async () => cleanup());

describe('writeBatch', () => {
  it('raises a seq cursor with its entries and never lowers it', async () => {
    const key = `${prefix}firehose_live:cursor:a`;
    const stream = `${prefix}firehose_live`;
    const entry = (n: number) => ({ stream, fields: { event: String(n) } });
    expect((await writeBatch(redis, { entries: [entry(1)], seqCursor: { key, seq: 10 } })).seqCursor).toBe(10);
    // A lower seq (a second connection behind this one, a replay): the entries land, the cursor stays.
    const lower = await writeBatch(redis, { entries: [entry(2)], seqCursor: { key, seq: 7 } });
    expect(lower.seqCursor).toBe(10);
    expect(lower.ids).toHaveLength(1);
    expect(await redis.get(key)).toBe('10');
    expect((await writeBatch(redis, { entries: [], seqCursor: { key, seq: 12 } })).seqCursor).toBe(12);
    expect(await redis.get(key)).toBe('12');
    // Only an explicit reset goes back.
    await resetSeqCursor(redis, key, 0);
    expect((await writeBatch(redis, { seqCursor: { key, seq: 3 } })).seqCursor).toBe(3);
  });

  it('refuses to raise a cursor that holds something other than a seq, as a StreamWriteError with its reason', async () => {
    const key = `${prefix}firehose_live:cursor:b`;
    await redis.set(key, 'not-a-seq');
    const err = await writeBatch(redis, { seqCursor: { key, seq: 5 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamWriteError);
    expect((err as StreamWriteError).reason).toBe('stream_write_failed');
    expect(await redis.get(key)).toBe('not-a-seq');
  });

  it('reports a command Redis refuses inside the MULTI', async () => {
    const notAStream = `${prefix}plain`;
    await redis.set(notAStream, 'x');
    const err = await writeBatch(redis, { entries: [{ stream: notAStream, fields: { event: '{}' } }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamWriteError);
  });
});
