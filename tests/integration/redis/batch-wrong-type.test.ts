// A once-batch (a batch with a seq cursor, or a release of parked frames) one of whose keys has another type than its
// step needs, against real Redis: someone made the stream, the cursor or the parked list by hand with another type.
// Redis does not undo a script's writes when a later command fails, so the batch script checks every key's type
// first and refuses the batch whole: nothing written, the cursor not raised past entries that were not, the marker
// not stored (sent again once the key is fixed, the batch lands), and an error naming the step and the key.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { StreamWriteError, appendBatch, writeBatch, writeSlotBatches } from '../../../adapters/redis/stream-writer.ts';
import { createIdentityWaitStore } from '../../../adapters/redis/identity-waits.ts';
import { replayDeadLetters } from '../../../adapters/redis/dead-letters.ts';
import { STREAMS, createKeySpace, lastBatchKey } from '../../../adapters/redis/keys.ts';
import { createTestRedis } from '../../helpers/services.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('batch_wrong_type'));
});
afterAll(async () => cleanup());

const entries = (stream: string, n: number) => Array.from({ length: n }, (_, i) => ({ stream, fields: { event: `e${i}` } }));

describe('a once-batch meeting a key of the wrong type', () => {
  it('a stream that is a string: nothing written, the cursor not raised, and the batch lands once the key is fixed', async () => {
    const good = `${prefix}a:firehose_live`;
    const bad = `${prefix}a:firehose_backfill`;
    const cursor = `${prefix}a:firehose_live:cursor:relay`;
    await redis.set(bad, 'made by hand');
    const batch = { entries: [...entries(good, 2), ...entries(bad, 1), ...entries(good, 1)], seqCursor: { key: cursor, seq: 10 } };
    const err = await writeBatch(redis, batch).catch((e: unknown) => e);
    // Before the check, the two XADDs before it and the one after it landed and the cursor stood at 10: a writer
    // resuming from the cursor never wrote the third entry again.
    expect(await redis.xlen(good)).toBe(0);
    expect(await redis.get(cursor)).toBeNull();
    expect(await redis.exists(lastBatchKey(cursor))).toBe(0);
    expect(err).toBeInstanceOf(StreamWriteError);
    expect((err as Error).message).toBe(`batch refused: WRONGTYPE step 3 needs ${bad} to be a stream but it is a string: nothing of the batch was written`);
    await redis.del(bad);
    expect((await writeBatch(redis, batch)).seqCursor).toBe(10);
    expect(await redis.xlen(good)).toBe(3);
    expect(await redis.xlen(bad)).toBe(1);
  });

  it('a seq cursor that is a list: the entries are not written without it', async () => {
    const stream = `${prefix}b:firehose_live`;
    const cursor = `${prefix}b:firehose_live:cursor:relay`;
    await redis.rpush(cursor, '5');
    const err = await writeBatch(redis, { entries: entries(stream, 3), seqCursor: { key: cursor, seq: 10 } }).catch((e: unknown) => e);
    expect(await redis.xlen(stream)).toBe(0);
    expect(await redis.lrange(cursor, 0, -1)).toEqual(['5']);
    expect((err as Error).message).toBe(`batch refused: WRONGTYPE step 4 needs ${cursor} to be a string but it is a list: nothing of the batch was written`);
  });

  it('a release of parked frames whose waiting hash is a string: no frame released into the stream, none trimmed', async () => {
    const keys = createKeySpace(`${prefix}c:`);
    const store = createIdentityWaitStore(redis, keys, 'relay.example');
    const did = 'did:plc:wrongtypewrongtypewrong';
    const stream = keys.stream(STREAMS.firehoseLive);
    await writeBatch(redis, { ops: [store.parkOp(did, new Uint8Array([1])), store.parkOp(did, new Uint8Array([2]))] });
    const shard = keys.shardFor(STREAMS.firehoseLive, did);
    const parkedKey = keys.parked(shard, 'relay.example', did);
    const waitingKey = keys.waiting(shard, 'relay.example');
    await redis.set(waitingKey, 'made by hand');
    const release = store.releaseOp(did, 2, new Uint8Array([1]), () => {});
    const err = await writeBatch(redis, { ops: [{ kind: 'entry', entry: { stream, fields: { event: 'released' } } }, release] }).catch((e: unknown) => e);
    expect(await redis.xlen(stream)).toBe(0);
    expect(await redis.llen(parkedKey)).toBe(2);
    expect((err as Error).message).toBe(`batch refused: WRONGTYPE step 2 needs ${waitingKey} to be a hash but it is a string: nothing of the batch was written`);
  });
});

// A batch without a seq cursor or an op that must not run twice (a listRepos cursor with its entries, a frame parked
// with its DID's wait record) was a MULTI: Redis runs every other command of a MULTI when one meets a key of the wrong
// type, so part of the batch landed (a parked frame without its wait record, a cursor past an entry never written).
// It is the batch script without a marker now: the same type checks first, refused whole, and still at least once.
describe('a batch without a seq cursor meeting a key of the wrong type', () => {
  it('a waiting hash that is a string: the frame is not parked without its wait record, nor the entry written', async () => {
    const keys = createKeySpace(`${prefix}d:`);
    const store = createIdentityWaitStore(redis, keys, 'relay.example');
    const did = 'did:plc:wrongtypewrongtypewrong';
    const stream = keys.stream(STREAMS.firehoseLive);
    const shard = keys.shardFor(STREAMS.firehoseLive, did);
    const waitingKey = keys.waiting(shard, 'relay.example');
    const parkedKey = keys.parked(shard, 'relay.example', did);
    await redis.set(waitingKey, 'made by hand');
    const ops = [
      { kind: 'entry' as const, entry: { stream, fields: { event: 'before' } } },
      store.startOp(did, { since: 1, on: 'plc' }),
      store.parkOp(did, new Uint8Array([1])),
    ];
    const err = await writeBatch(redis, { ops }).catch((e: unknown) => e);
    // As a MULTI, the XADD and the RPUSH around the refused HSET landed: a frame parked that no wait record names.
    expect(await redis.xlen(stream)).toBe(0);
    expect(await redis.exists(parkedKey)).toBe(0);
    expect(await redis.get(waitingKey)).toBe('made by hand');
    expect(err).toBeInstanceOf(StreamWriteError);
    expect((err as StreamWriteError).reason).toBe('stream_write_failed');
    expect((err as Error).message).toBe(`batch refused: WRONGTYPE step 2 needs ${waitingKey} to be a hash but it is a string: nothing of the batch was written`);
    // No marker is left behind: a batch without one keeps none.
    expect(await redis.exists(lastBatchKey(waitingKey))).toBe(0);
    await redis.del(waitingKey);
    await writeBatch(redis, { ops });
    expect(await redis.xlen(stream)).toBe(1);
    expect(await redis.llen(parkedKey)).toBe(1);
    expect(await redis.hlen(waitingKey)).toBe(1);
  });

  it('a listRepos cursor is not SET past entries whose stream is a string (appendBatch)', async () => {
    const good = `${prefix}e:repo_backfill`;
    const bad = `${prefix}e:firehose_backfill`;
    const cursor = `${prefix}e:repo_backfill:cursor:pds`;
    await redis.set(bad, 'made by hand');
    const err = await appendBatch(redis, { entries: [...entries(good, 2), ...entries(bad, 1)], cursor: { key: cursor, value: 'page-2' } }).catch((e: unknown) => e);
    expect(await redis.xlen(good)).toBe(0);
    expect(await redis.get(cursor)).toBeNull();
    expect((err as Error).message).toBe(`batch refused: WRONGTYPE step 3 needs ${bad} to be a stream but it is a string: nothing of the batch was written`);
  });

  it('one slot refused whole, the other written (writeSlotBatches: each slot is its own batch)', async () => {
    const streams = [`${prefix}{f0}repo_backfill`, `${prefix}{f1}repo_backfill`];
    const other = `${prefix}{f1}firehose_backfill`;
    await redis.set(other, 'made by hand');
    const ops = [...entries(streams[0]!, 2), ...entries(streams[1]!, 2), ...entries(other, 1)].map((entry) => ({ kind: 'entry' as const, entry }));
    const err = await writeSlotBatches(redis, { ops }).catch((e: unknown) => e);
    expect(await redis.xlen(streams[0]!)).toBe(2);
    expect(await redis.xlen(streams[1]!)).toBe(0);
    expect((err as Error).message).toBe(`batch refused: WRONGTYPE step 3 needs ${other} to be a stream but it is a string: nothing of the batch was written`);
  });
});

// `skytide dlq replay` moved each chunk in a MULTI: XADDs to the stream, then the XDEL from the DLQ. Into a stream
// someone made with another type, every XADD failed and the XDEL ran: the letters were in neither, gone for good.
describe('a DLQ replay into a stream of another type', () => {
  it('moves nothing: the letters stay in the DLQ, and are replayed once the stream is fixed', async () => {
    const stream = `${prefix}g:firehose_live`;
    const dlq = `${stream}_dlq`;
    for (const n of [1, 2]) await redis.xadd(dlq, '*', 'event', String(n), 'reason', 'handler_error', 'attempts', '5');
    await redis.set(stream, 'made by hand');
    const err = await replayDeadLetters(redis, dlq, stream).catch((e: unknown) => e);
    expect(await redis.xlen(dlq)).toBe(2);
    expect(await redis.get(stream)).toBe('made by hand');
    expect(err).toBeInstanceOf(StreamWriteError);
    expect((err as Error).message).toBe(`replay ${dlq}: ${stream} is a string, not a stream`);
    await redis.del(stream);
    expect(await replayDeadLetters(redis, dlq, stream)).toEqual({ replayed: 2, unreplayable: 0 });
    expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f)).toEqual([['event', '1'], ['event', '2']]);
    expect(await redis.xlen(dlq)).toBe(0);
  });
});
