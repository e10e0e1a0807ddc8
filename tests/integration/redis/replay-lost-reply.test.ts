// A DLQ replay whose reply is lost (the connection dies after Redis ran its batch), through a proxy that cuts the
// client's socket right after forwarding it (lost-reply-proxy.ts), with the client the CLI's dlq command uses (a
// command timeout, resources.ts). Each letter must land in the stream once: ioredis resending the batch on the new
// connection would XADD the chunk a second time (its XDELs then find nothing), and the consumer would process every
// replayed entry twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { replayDeadLetters } from '../../../adapters/redis/dead-letters.ts';
import { silentLog } from '../../../functions/ports.ts';
import { TEST_REDIS_URL, createTestRedis } from '../../helpers/services.ts';
import { startLostReplyProxy, type LostReplyProxy } from '../../helpers/lost-reply-proxy.ts';

let direct: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let proxy: LostReplyProxy;
let cli: Redis;

beforeAll(async () => {
  ({ redis: direct, prefix, cleanup } = await createTestRedis('replay_lost_reply'));
  // In front of the Redis the suite tests (the in-process one too: memory-redis-suites.long.test.ts).
  const target = new URL(TEST_REDIS_URL);
  proxy = await startLostReplyProxy({ host: target.hostname, port: Number(target.port || 6379) });
  cli = createRedis({ url: proxy.url, log: silentLog, commandTimeoutMs: 1_000 });
  await cli.ping();
  // A first replay, so the one whose reply is lost runs for real (not a NOSCRIPT for a batch script not cached yet).
  await direct.xadd(`${prefix}warm_up_dlq`, '*', 'event', '0', 'reason', 'handler_error', 'attempts', '5');
  await replayDeadLetters(cli, `${prefix}warm_up_dlq`, `${prefix}warm_up`);
});
afterAll(async () => {
  cli.disconnect();
  await proxy.close();
  await cleanup();
});

describe('a replay whose reply is lost', () => {
  it('moves each letter once: the command fails after its timeout instead of being sent again', async () => {
    const stream = `${prefix}firehose_live`;
    const dlq = `${stream}_dlq`;
    for (const n of [1, 2, 3]) await direct.xadd(dlq, '*', 'event', String(n), 'reason', 'handler_error', 'attempts', '5');
    proxy.arm();
    await expect(replayDeadLetters(cli, dlq, stream)).rejects.toThrow(/timed out/i);
    expect(proxy.lost).toBe(1);
    const back = (await direct.xrange(stream, '-', '+')) as [string, string[]][];
    expect(back.map(([, f]) => f)).toEqual([['event', '1'], ['event', '2'], ['event', '3']]);
    expect(await direct.xlen(dlq)).toBe(0);
    // Run again (the operator, told it failed): nothing left to move, nothing written twice.
    expect(await replayDeadLetters(cli, dlq, stream)).toEqual({ replayed: 0, unreplayable: 0 });
    expect(await direct.xlen(stream)).toBe(3);
  });
});
