// Parked labels while Redis is out of memory (maxmemory reached, noeviction: a script's first write that could grow
// memory is refused; the rest of a script that has already written goes on), on a redis-server of the test's own.
// A park moves entries out of label_live into a list or a due set, and a release moves them back: neither grows what
// Redis holds. Both used to add first (RPUSH or ZADD, then XACK and XDEL; XADD, then LTRIM or ZREM), so at maxmemory
// every park was refused and waited out (the label loop stood still with its batch pending) and every release too.
// Each now removes before it adds, and goes through.
import { describe, expect, it } from 'vitest';
import { createLabelParking, waitHost } from '../../../adapters/redis/label-parking.ts';
import { createKeySpace, STREAMS } from '../../../adapters/redis/keys.ts';
import { notDueOn } from '../../../functions/label/future-cts.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';
import { uniqueName } from '../../helpers/services.ts';

const own = useFullableRedis();
const GROUP = 'labels';
const SOURCE = 'did:web:dead.example.com';
const LABELER = 'labeler.example.com';

/** A fresh key space with two label_live entries read by the group (pending), memory then capped. */
async function pendingEntries() {
  await own.redis.config('SET', 'maxmemory', '0');
  const keys = createKeySpace(`${uniqueName('oomlabels')}:`);
  const stream = keys.stream(STREAMS.labelLive);
  await own.redis.xgroup('CREATE', stream, GROUP, '0', 'MKSTREAM');
  for (const n of [1, 2]) await own.redis.xadd(stream, '*', 'label', JSON.stringify({ n }));
  const read = (await own.redis.xreadgroup('GROUP', GROUP, 'c1', 'COUNT', 10, 'STREAMS', stream, '>')) as [string, [string, string[]][]][];
  const entries = (read[0]?.[1] ?? []).map(([id, f]) => ({ id, fields: { [f[0] ?? '']: f[1] ?? '' } }));
  return { keys, stream, entries, parking: createLabelParking(own.redis, keys) };
}

async function full<T>(work: () => Promise<T>): Promise<T> {
  await own.redis.config('SET', 'maxmemory', '1');
  try {
    return await work();
  } finally {
    await own.redis.config('SET', 'maxmemory', '0');
  }
}

describe('parked labels out of memory', () => {
  it('parks entries waiting on a host (off the stream, into its list), and releases them back', async () => {
    const { stream, entries, parking } = await pendingEntries();
    const parked = await full(() => parking.park(GROUP, entries.map((entry) => ({ entry, on: SOURCE, from: LABELER })), Date.now()));
    expect(parked).toHaveLength(2);
    expect(await own.redis.xlen(stream)).toBe(0);
    expect(((await own.redis.xpending(stream, GROUP)) as unknown[])[0]).toBe(0);
    expect(await parking.parkedFrom(LABELER)).toBe(2);
    const released = await full(() => parking.release(waitHost(SOURCE), 10));
    expect(released).toMatchObject({ released: 2, left: 0 });
    expect((await own.redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual([JSON.stringify({ n: 1 }), JSON.stringify({ n: 2 })]);
  });

  it('parks entries not due yet (into the source\'s due set), and releases them once due', async () => {
    const { stream, entries, parking } = await pendingEntries();
    const due = Date.now() + 60_000;
    const on = notDueOn('did:plc:sourcesourcesourcesource', due);
    const parked = await full(() => parking.park(GROUP, entries.map((entry) => ({ entry, on, from: LABELER })), Date.now()));
    expect(parked).toHaveLength(2);
    expect(await own.redis.xlen(stream)).toBe(0);
    const released = await full(() => parking.releaseDueAt(waitHost(on), due, 10));
    expect(released).toMatchObject({ released: 2, left: 0 });
    expect(await own.redis.xlen(stream)).toBe(2);
  });
});
