// A consumer's settle whose reply is lost (the connection dies after Redis ran it), against the Redis the suite tests,
// through the proxy that cuts the client's socket right after forwarding it (lost-reply-proxy.ts). ioredis reconnects
// and sends the settle again; its dead letters must still land once, and nothing else may be acknowledged or deleted
// by the second run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../../adapters/redis/client.ts';
import { ensureGroup, readNew, settle } from '../../../adapters/redis/consumer-group.ts';
import { silentLog } from '../../../functions/ports.ts';
import { TEST_REDIS_URL, createTestRedis } from '../../helpers/services.ts';
import { startLostReplyProxy, type LostReplyProxy } from '../../helpers/lost-reply-proxy.ts';

const GROUP = 'firehose_group';
let direct: Redis;
let prefix: string;
let cleanup: () => Promise<void>;
let proxy: LostReplyProxy;
let client: Redis;

/** A stream with `n` entries, all delivered to consumer c1 (pending). */
async function delivered(name: string, n: number): Promise<{ stream: string; dlq: string; ids: string[] }> {
  const stream = `${prefix}${name}`;
  await ensureGroup(direct, stream, GROUP);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await direct.xadd(stream, '*', 'event', `e${i}`))!);
  await readNew(direct, stream, GROUP, 'c1', n, 10);
  return { stream, dlq: `${stream}_dlq`, ids };
}

beforeAll(async () => {
  ({ redis: direct, prefix, cleanup } = await createTestRedis('settle_lost_reply'));
  const target = new URL(TEST_REDIS_URL);
  proxy = await startLostReplyProxy({ host: target.hostname, port: Number(target.port || 6379) });
  // The long-runners' client, options and all (client.ts): it resends a command whose reply a reconnect lost.
  client = createRedis({ url: proxy.url, log: silentLog });
  // A first settle, so the one whose reply is lost runs for real (not a NOSCRIPT for an uncached script).
  const warm = await delivered('warm_up', 2);
  await settle(client, warm.stream, warm.dlq, GROUP, { ack: [warm.ids[0]!], letters: [{ entry: { id: warm.ids[1]!, fields: {} }, reason: 'invalid_event', attempts: 1 }] });
});
afterAll(async () => {
  client.disconnect();
  await proxy.close();
  await cleanup();
});

describe('a settle whose reply is lost', () => {
  it('dead-letters each entry once and acknowledges and deletes what it settled, and nothing more', async () => {
    const { stream, dlq, ids } = await delivered('firehose_live', 4);
    const [a, b, c, d] = ids as [string, string, string, string];
    const letter = (id: string, i: number) => ({ entry: { id, fields: { event: `e${i}` } }, reason: 'invalid_event', attempts: 1, error: 'bad' });
    const lostBefore = proxy.lost;
    proxy.arm();
    const settled = await settle(client, stream, dlq, GROUP, { ack: [a], letters: [letter(b, 1), letter(c, 2)] });
    expect(proxy.lost).toBe(lostBefore + 1);
    const letters = await direct.xrange(dlq, '-', '+');
    expect(letters.map(([, f]) => f.at(-1))).toEqual([b, c]);
    // What answered was the second run, sent again on the new connection: it found nothing pending.
    expect(settled).toEqual({ acknowledged: 0, deadLettered: 0, requeued: 0 });
    // The entry it did not settle is still there and pending.
    expect((await direct.xrange(stream, '-', '+')).map(([id]) => id)).toEqual([d]);
    expect(((await direct.xpending(stream, GROUP, '-', '+', 10)) as unknown[][]).map(([id]) => id)).toEqual([d]);
  });
});
