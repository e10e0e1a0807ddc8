// The consumer-group primitives against real Redis: delivery counts among many pending entries, claiming without
// counting a delivery, the PEL scan cursor, the one-script settlement and the backlog a tool reads.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import {
  claimIdle,
  deliveryCounts,
  ensureGroup,
  ERROR_FIELD_CHARS,
  forgetDeleted,
  keepClaimed,
  readBacklog,
  readNew,
  readOwnPending,
  settle,
} from '../../../adapters/redis/consumer-group.ts';
import { createTestRedis } from '../../helpers/services.ts';

let redis: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let stream: string;
const GROUP = 'firehose_group';

beforeAll(async () => {
  ({ redis, prefix, cleanup } = await createTestRedis('consumer_group'));
});
afterAll(async () => cleanup());
beforeEach(() => {
  stream = `${prefix}${Math.random().toString(36).slice(2)}:firehose_live`;
});

async function fill(n: number): Promise<string[]> {
  const multi = redis.multi();
  for (let i = 0; i < n; i++) multi.xadd(stream, '*', 'event', String(i));
  return ((await multi.exec()) ?? []).map(([, id]) => String(id));
}
/** [id, consumer, idleMs, deliveries] per pending entry. */
const pending = async () => (await redis.xpending(stream, GROUP, '-', '+', 1000)) as [string, string, number, number][];

describe('consumer-group primitives', () => {
  it('ensureGroup creates the stream and group at id 0 and is idempotent', async () => {
    await ensureGroup(redis, stream, GROUP);
    await ensureGroup(redis, stream, GROUP);
    const groups = (await redis.xinfo('GROUPS', stream)) as unknown[][];
    expect(groups.map((g) => [g[1], g[7]])).toEqual([[GROUP, '0-0']]);
  });

  it('deliveryCounts finds ids at both ends of a range holding hundreds of our other pending entries', async () => {
    await ensureGroup(redis, stream, GROUP);
    const ids = await fill(400);
    await redis.xreadgroup('GROUP', GROUP, 'c1', 'COUNT', 400, 'STREAMS', stream, '>');
    await redis.xclaim(stream, GROUP, 'c1', 0, ids[399]!);
    await redis.xclaim(stream, GROUP, 'c1', 0, ids[399]!);
    const counts = await deliveryCounts(redis, stream, GROUP, 'c1', [ids[399]!, ids[0]!]);
    expect(counts).toEqual(new Map([[ids[0]!, 1], [ids[399]!, 3]]));
  });

  it('keepClaimed resets idle time and takes entries over without counting a delivery', async () => {
    await ensureGroup(redis, stream, GROUP);
    const ids = await fill(2);
    await readNew(redis, stream, GROUP, 'other', 10, 10);
    await new Promise((r) => setTimeout(r, 30)); // idle time must grow to be seen reset
    await keepClaimed(redis, stream, GROUP, 'c1', ids);
    const rows = await pending();
    expect(rows.map(([id, consumer, , deliveries]) => [id, consumer, deliveries])).toEqual([[ids[0], 'c1', 1], [ids[1], 'c1', 1]]);
    for (const [, , idle] of rows) expect(idle).toBeLessThan(30);
  });

  it('claimIdle pages through the PEL with its cursor and reports the end as 0-0', async () => {
    await ensureGroup(redis, stream, GROUP);
    const ids = await fill(5);
    await readNew(redis, stream, GROUP, 'crashed', 10, 10);
    const first = await claimIdle(redis, stream, GROUP, 'c1', 0, 3);
    expect(first.entries.map((e) => e.id)).toEqual(ids.slice(0, 3));
    expect(first.entries[0]!.fields).toEqual({ event: '0' });
    expect(first.next).toBe(ids[3]);
    const second = await claimIdle(redis, stream, GROUP, 'c1', 0, 3, first.next);
    expect(second.entries.map((e) => e.id)).toEqual(ids.slice(3));
    expect(second.next).toBe('0-0');
    expect((await pending()).map(([, c, , d]) => [c, d])).toEqual(Array.from({ length: 5 }, () => ['c1', 2]));
  });

  it('both reads of pending entries report those deleted while pending apart, and forgetDeleted acknowledges them', async () => {
    await ensureGroup(redis, stream, GROUP);
    const ids = await fill(4);
    await readNew(redis, stream, GROUP, 'c1', 2, 10);
    await readNew(redis, stream, GROUP, 'crashed', 2, 10);
    await redis.xdel(stream, ids[0]!, ids[2]!);
    const own = await readOwnPending(redis, stream, GROUP, 'c1', 10, '0-0');
    expect(own).toEqual({ entries: [{ id: ids[1], fields: { event: '1' } }], deleted: [ids[0]], last: ids[1] });
    await forgetDeleted(redis, stream, GROUP, own.deleted);
    // The crashed consumer's only (from its first id on).
    const claimed = await claimIdle(redis, stream, GROUP, 'c2', 0, 10, ids[2]);
    expect(claimed).toEqual({ entries: [{ id: ids[3], fields: { event: '3' } }], deleted: [ids[2]], next: '0-0' });
    await forgetDeleted(redis, stream, GROUP, claimed.deleted);
    expect((await pending()).map(([id, c]) => [id, c])).toEqual([[ids[1], 'c1'], [ids[3], 'c2']]);
  });

  it('settle acks and deletes, and dead-letters with the original fields, a fresh reason, attempts, error and source id, in one script', async () => {
    await ensureGroup(redis, stream, GROUP);
    const [a, b] = await fill(2);
    await readNew(redis, stream, GROUP, 'c1', 10, 10);
    // A replayed letter dead-lettered again: its old verdict is replaced, not kept beside the new one.
    const fields = { repo: '{"did":"did:plc:x"}', reason: 'old', attempts: '9', error: 'old error', source_id: '1-1' };
    const letter = { entry: { id: b!, fields }, reason: 'invalid_car', attempts: 2, error: `car: ${'x'.repeat(5000)}` };
    await settle(redis, stream, `${stream}_dlq`, GROUP, { ack: [a!], letters: [letter] });
    expect(await redis.xlen(stream)).toBe(0);
    expect(await pending()).toEqual([]);
    const dlq = await redis.xrange(`${stream}_dlq`, '-', '+');
    const bounded = `car: ${'x'.repeat(ERROR_FIELD_CHARS - 6)}…`;
    expect(bounded).toHaveLength(ERROR_FIELD_CHARS);
    expect(dlq.map(([, f]) => f)).toEqual([['repo', '{"did":"did:plc:x"}', 'reason', 'invalid_car', 'attempts', '2', 'error', bounded, 'source_id', b]]);
  });

  it('settle run again writes nothing: only entries still pending are dead-lettered, acknowledged and deleted', async () => {
    await ensureGroup(redis, stream, GROUP);
    const [a, b, c] = await fill(3);
    await readNew(redis, stream, GROUP, 'c1', 10, 10);
    const settlement = { ack: [a!], letters: [{ entry: { id: b!, fields: { event: '1' } }, reason: 'invalid_event', attempts: 1 }] };
    expect(await settle(redis, stream, `${stream}_dlq`, GROUP, settlement)).toEqual({ acknowledged: 1, deadLettered: 1, requeued: 0 });
    expect(await settle(redis, stream, `${stream}_dlq`, GROUP, settlement)).toEqual({ acknowledged: 0, deadLettered: 0, requeued: 0 });
    expect(await redis.xlen(`${stream}_dlq`)).toBe(1);
    expect((await redis.xrange(stream, '-', '+')).map(([id]) => id)).toEqual([c]);
    expect((await pending()).map(([id]) => id)).toEqual([c]);
  });

  it('settle refuses a DLQ key of another type rather than ack an entry it could not dead-letter', async () => {
    await ensureGroup(redis, stream, GROUP);
    const [a, b] = await fill(2);
    await readNew(redis, stream, GROUP, 'c1', 10, 10);
    await redis.set(`${stream}_dlq`, 'not a stream');
    const letter = { entry: { id: b!, fields: { event: '1' } }, reason: 'invalid_event', attempts: 1 };
    await expect(settle(redis, stream, `${stream}_dlq`, GROUP, { ack: [a!], letters: [letter] })).rejects.toThrow(
      `settle ${stream}: ${stream}_dlq is a string, not a stream`,
    );
    expect(await redis.xlen(stream)).toBe(2);
    expect((await pending()).map(([id]) => id)).toEqual([a, b]);
  });

  it('settle refuses a delayed set of another type before writing anything: no letter, no ack, every entry still pending', async () => {
    await ensureGroup(redis, stream, GROUP);
    const [a, b, c] = await fill(3);
    await readNew(redis, stream, GROUP, 'c1', 10, 10);
    const delayed = `${stream}:delayed`;
    await redis.set(delayed, 'not a zset');
    const settlement = {
      ack: [a!],
      letters: [{ entry: { id: b!, fields: { event: '1' } }, reason: 'invalid_event', attempts: 1 }],
      requeue: [{ id: c!, score: 1, member: '["m","event","2"]' }],
      delayed,
    };
    // Found at its ZADD, the letter before it and its entry's ack and delete had been written.
    const err = await settle(redis, stream, `${stream}_dlq`, GROUP, settlement).catch((e: unknown) => e);
    expect(await redis.exists(`${stream}_dlq`)).toBe(0);
    expect(await redis.xlen(stream)).toBe(3);
    expect((await pending()).map(([id]) => id)).toEqual([a, b, c]);
    expect(await redis.get(delayed)).toBe('not a zset');
    expect((err as Error).message).toBe(`settle ${stream}: ${delayed} is a string, not a zset`);
    // Acknowledgements alone write nothing to it: they go through as beside a DLQ of another type.
    expect(await settle(redis, stream, `${stream}_dlq`, GROUP, { ack: [a!], letters: [], delayed })).toEqual({ acknowledged: 1, deadLettered: 0, requeued: 0 });
    await redis.del(delayed);
    expect(await settle(redis, stream, `${stream}_dlq`, GROUP, settlement)).toEqual({ acknowledged: 0, deadLettered: 1, requeued: 1 });
    expect(await redis.zcard(delayed)).toBe(1);
  });

  it('readBacklog reports length and pending, and zero pending for a group not created yet', async () => {
    expect(await readBacklog(redis, stream, GROUP)).toEqual({ length: 0, pending: 0 });
    await ensureGroup(redis, stream, GROUP);
    await fill(3);
    await readNew(redis, stream, GROUP, 'c1', 2, 10);
    expect(await readBacklog(redis, stream, GROUP)).toEqual({ length: 3, pending: 2 });
  });
});
