// A batch Redis refuses as a whole server (out of memory at maxmemory, a read-only replica after a failover) writes
// nothing at all, so the writer can hold it and send it again once Redis takes writes. Out of memory, Redis refuses
// only a script's first write that could grow memory; one that shrinks it (LTRIM, HDEL) passes, and every write after
// it passes too. A release of parked frames (their entries, then the trim of the parked list) would then trim frames
// whose entries were refused: gone from both. On a redis-server of the test's own, its maxmemory set below its use.
import { describe, expect, it } from 'vitest';
import { writeBatch } from '../../../adapters/redis/stream-writer.ts';
import { createIdentityWaitStore } from '../../../adapters/redis/identity-waits.ts';
import { createKeySpace, lastBatchKey } from '../../../adapters/redis/keys.ts';
import { describeError } from '../../../functions/errors.ts';
import { useFullableRedis } from '../../helpers/fullable-redis.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const HOST = 'relay.example';

/** A redis-server of this file's own, put out of memory by the tests. */
const own = useFullableRedis();

describe('a batch refused out of memory', () => {
  it('writes nothing: the parked frames stay parked, no marker is set, and the same batch lands once Redis takes writes', async () => {
    const keys = createKeySpace('');
    const store = createIdentityWaitStore(own.redis, keys, HOST);
    const parked = keys.parked('firehose_live', HOST, DID);
    const waiting = keys.waiting('firehose_live', HOST);
    const stream = keys.stream('firehose_live');
    await own.redis.rpush(parked, 'frame-1', 'frame-2');
    await own.redis.hset(waiting, DID, JSON.stringify({ since: 0, on: 'plc' }));
    // As identity-wait.ts releases them: their entries, then the trim.
    let left: number | undefined;
    const ops = [
      { kind: 'entry' as const, entry: { stream, fields: { event: 'released-1' } } },
      { kind: 'entry' as const, entry: { stream, fields: { event: 'released-2' } } },
      store.releaseOp(DID, 2, new TextEncoder().encode('frame-1'), (n) => (left = n)),
    ];
    await own.redis.config('SET', 'maxmemory', '1');
    const refused = await writeBatch(own.redis, { ops }).then(() => undefined, (err: unknown) => err);
    expect(await own.redis.lrange(parked, 0, -1)).toEqual(['frame-1', 'frame-2']);
    expect(describeError(refused)).toContain('OOM command not allowed');
    expect(await own.redis.hget(waiting, DID)).not.toBeNull();
    expect(await own.redis.xlen(stream)).toBe(0);
    expect(await own.redis.get(lastBatchKey(waiting))).toBeNull();

    await own.redis.config('SET', 'maxmemory', '0');
    await writeBatch(own.redis, { ops });
    expect((await own.redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['released-1', 'released-2']);
    expect(await own.redis.llen(parked)).toBe(0);
    expect(left).toBe(0);
  });
});
