// A batch Redis refuses as a whole server (out of memory at maxmemory, a read-only replica after a failover) writes
// nothing at all, so the writer can hold it and send it again once Redis takes writes. Out of memory, Redis refuses
// only a script's first write that could grow memory; one that shrinks it (LTRIM, HDEL) passes, and every write after
// it passes too. A release of parked frames (their entries, then the trim of the parked list) would then trim frames
// whose entries were refused: gone from both. On a redis-server of the test's own, its maxmemory set below its use.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { writeBatch } from '../../../adapters/redis/stream-writer.ts';
import { createIdentityWaitStore } from '../../../adapters/redis/identity-waits.ts';
import { createKeySpace, lastBatchKey } from '../../../adapters/redis/keys.ts';
import { describeError } from '../../../functions/errors.ts';
import { startPrivateRedis, type PrivateRedis } from '../../helpers/private-services.ts';

const DID = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz';
const HOST = 'relay.example';

let server: PrivateRedis;
let redis: Redis;

beforeAll(async () => {
  server = await startPrivateRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  await redis?.config('SET', 'maxmemory', '0').catch(() => {});
  redis?.disconnect();
  await server?.close();
});

describe('a batch refused out of memory', () => {
  it('writes nothing: the parked frames stay parked, no marker is set, and the same batch lands once Redis takes writes', async () => {
    const keys = createKeySpace('');
    const store = createIdentityWaitStore(redis, keys, HOST);
    const parked = keys.parked('firehose_live', HOST, DID);
    const waiting = keys.waiting('firehose_live', HOST);
    const stream = keys.stream('firehose_live');
    await redis.rpush(parked, 'frame-1', 'frame-2');
    await redis.hset(waiting, DID, JSON.stringify({ since: 0, on: 'plc' }));
    // As identity-wait.ts releases them: their entries, then the trim.
    let left: number | undefined;
    const ops = [
      { kind: 'entry' as const, entry: { stream, fields: { event: 'released-1' } } },
      { kind: 'entry' as const, entry: { stream, fields: { event: 'released-2' } } },
      store.releaseOp(DID, 2, (n) => (left = n)),
    ];
    await redis.config('SET', 'maxmemory', '1');
    const refused = await writeBatch(redis, { ops }).then(() => undefined, (err: unknown) => err);
    expect(await redis.lrange(parked, 0, -1)).toEqual(['frame-1', 'frame-2']);
    expect(describeError(refused)).toContain('OOM command not allowed');
    expect(await redis.hget(waiting, DID)).not.toBeNull();
    expect(await redis.xlen(stream)).toBe(0);
    expect(await redis.get(lastBatchKey(waiting))).toBeNull();

    await redis.config('SET', 'maxmemory', '0');
    await writeBatch(redis, { ops });
    expect((await redis.xrange(stream, '-', '+')).map(([, f]) => f[1])).toEqual(['released-1', 'released-2']);
    expect(await redis.llen(parked)).toBe(0);
    expect(left).toBe(0);
  });
});
