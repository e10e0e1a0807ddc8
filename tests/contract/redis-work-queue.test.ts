// The work-queue contract against the Redis adapter (adapters/queue/redis-work-queue.ts) on the real Redis: a pull
// loop calls `receive`, and each message waits in its handler until the case settles it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createRedisWorkQueue, repoBackfillCodec, type RedisWorkQueue } from '../../adapters/queue/redis-work-queue.ts';
import type { QueueMessage } from '../../adapters/queue/work-queue.ts';
import { readDeadLetters } from '../../adapters/redis/dead-letters.ts';
import { StreamWriteError } from '../../adapters/redis/stream-writer.ts';
import { createRedis } from '../../adapters/redis/client.ts';
import { silentLog, type LogFields, type Metrics } from '../../functions/ports.ts';
import { TEST_REDIS_URL, createTestRedis } from '../helpers/services.ts';
import { startLostReplyProxy } from '../helpers/lost-reply-proxy.ts';
import { waitFor } from '../helpers/wait.ts';
import { createDeliveryChannel, startPullLoop } from './delivery-channel.ts';
import { workQueueContract, type ContractBody, type ContractQueue } from './work-queue.cases.ts';

let redis: Redis;
let loopRedis: Redis;
let cleanup: () => Promise<void>;
let harness: ContractQueue<ContractBody>;
let stopLoop: () => Promise<void> = async () => {};
let harnessPrefix: string;

beforeAll(async () => {
  let prefix: string;
  ({ redis, prefix, cleanup } = await createTestRedis('work_queue'));
  harnessPrefix = prefix;
  // XREADGROUP BLOCK holds its connection: the loop gets one of its own.
  loopRedis = redis.duplicate();
  const stream = `${prefix}work`;
  const options = { stream, group: 'work_group', consumer: 'contract', maxAttempts: 3, claimIdleMs: 60_000 };
  const producer = createRedisWorkQueue<ContractBody>({ ...options, redis });
  const consumer: RedisWorkQueue<ContractBody> = createRedisWorkQueue<ContractBody>({ ...options, redis: loopRedis });
  await consumer.ensure();
  const channel = createDeliveryChannel<ContractBody>();
  stopLoop = startPullLoop<ContractBody>((handler, o) => consumer.receive(handler, o), channel);
  harness = {
    maxAttempts: options.maxAttempts,
    send: (bodies, o) => producer.send(bodies, o),
    next: (waitMs) => channel.next(waitMs),
    deadLetters: async () => {
      const out: { body: ContractBody; reason: string }[] = [];
      for await (const letter of readDeadLetters(redis, `${stream}_dlq`)) out.push({ body: JSON.parse(letter.fields.body ?? 'null') as ContractBody, reason: letter.reason });
      return out;
    },
    close: async () => {},
  };
});

afterAll(async () => {
  await stopLoop();
  await loopRedis?.quit();
  await cleanup?.();
});

workQueueContract('Redis streams', () => harness, { deliveryMs: 5_000, quietMs: 600, delayMs: 1_500 });

// Beyond the contract, what only the pull side shows: a consumer that dies mid-batch (its handler throws) leaves the
// batch pending, and after claimIdleMs another consumer claims it, the claim counted as a delivery.
describe('Redis work queue: a consumer that crashes', () => {
  it('leaves its batch pending; another consumer claims it after claimIdleMs, one attempt more', async () => {
    const stream = `${harnessPrefix}crash`;
    const options = { stream, group: 'crash_group', maxAttempts: 3, claimIdleMs: 200 };
    const a = createRedisWorkQueue<ContractBody>({ ...options, redis, consumer: 'a' });
    const b = createRedisWorkQueue<ContractBody>({ ...options, redis, consumer: 'b' });
    await a.ensure();
    await a.send([{ key: 'crash', n: 1 }]);
    await expect(a.receive(async () => { throw new Error('the process died here'); }, { blockMs: 100 })).rejects.toThrow('died');
    let seen: { attempts: number; body: ContractBody } | undefined;
    await waitFor(
      () => b.receive(async ([m]) => { seen = { attempts: m!.attempts, body: m!.body }; m!.ack(); }, { blockMs: 100 }),
      (n) => n > 0,
      'the pending entry to be claimed',
    );
    expect(seen).toEqual({ attempts: 2, body: { key: 'crash', n: 1 } });
    expect(await redis.xlen(stream)).toBe(0);
  });
});

describe('Redis work queue: repo_backfill entries', () => {
  it("keeps rsky's format (the entry as JSON in `repo`), and an entry that does not parse is dead-lettered as invalid_event", async () => {
    const stream = `${harnessPrefix}repo_backfill`;
    const q = createRedisWorkQueue({ stream, group: 'repo_backfill_group', consumer: 'a', maxAttempts: 3, redis, codec: repoBackfillCodec });
    await q.ensure();
    await q.send([{ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', rev: '3laaaaaaaaaaa' }]);
    const [[, fields]] = (await redis.xrange(stream, '-', '+')) as [[string, string[]]];
    // rsky-backfiller's BackfillEvent requires host, rev and active: what the entry does not know is written empty.
    expect(fields).toEqual(['repo', JSON.stringify({ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', host: '', rev: '3laaaaaaaaaaa', active: true })]);
    await redis.xadd(stream, '*', 'repo', JSON.stringify({ rev: 'no did' }));
    const bodies: unknown[] = [];
    await q.receive(async (messages) => { for (const m of messages) { bodies.push(m.body); m.ack(); } }, { blockMs: 100 });
    expect(bodies).toEqual([{ did: 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa', rev: '3laaaaaaaaaaa', active: true }]);
    const letters = [];
    for await (const l of readDeadLetters(redis, `${stream}_dlq`)) letters.push({ reason: l.reason, fields: l.fields });
    expect(letters).toEqual([{ reason: 'invalid_event', fields: { repo: JSON.stringify({ rev: 'no did' }) } }]);
  });
});

// A member of the delayed set that is not the queue's own (truncated, another version's, written by hand) sorts first
// among the due ones; failing the promotion there held back every entry due after it, on every pull, for good.
describe('Redis work queue: a damaged delayed entry', () => {
  it('goes to the DLQ as it is stored (invalid_delayed_entry, counted invalid), and the entries due after it are delivered', async () => {
    const stream = `${harnessPrefix}damaged_delayed`;
    const counted: { name: string; labels: unknown; by: number | undefined }[] = [];
    const metrics: Metrics = { inc: (name, labels, by) => void counted.push({ name, labels, by }) };
    let t = 1_000;
    const q = createRedisWorkQueue<ContractBody>({ stream, group: 'damaged_group', consumer: 'a', maxAttempts: 3, redis, metrics, now: () => t });
    await q.ensure();
    await redis.zadd(`${stream}:delayed`, 500, '["u1","body"', 600, JSON.stringify(['u2', 'body', 7]));
    await q.send([{ key: 'due', n: 1 }, { key: 'due', n: 2 }], { delayMs: 100 });
    t = 2_000;
    const bodies: ContractBody[] = [];
    await q.receive(async (messages) => { for (const m of messages) { bodies.push(m.body); m.ack(); } }, { blockMs: 100 });
    // Due at the same time, they are promoted in the order of their random member ids.
    expect(bodies.sort((a, b) => a.n - b.n)).toEqual([{ key: 'due', n: 1 }, { key: 'due', n: 2 }]);
    expect(await redis.zcard(`${stream}:delayed`)).toBe(0);
    const letters = [];
    for await (const l of readDeadLetters(redis, `${stream}_dlq`)) letters.push({ reason: l.reason, delayed: l.fields['delayed'] });
    expect(letters).toEqual([
      { reason: 'invalid_delayed_entry', delayed: '["u1","body"' },
      { reason: 'invalid_delayed_entry', delayed: JSON.stringify(['u2', 'body', 7]) },
    ]);
    expect(counted).toContainEqual({ name: 'skytide_consumer_entries_total', labels: { stream, outcome: 'invalid' }, by: 2 });
    expect(counted).toContainEqual({ name: 'skytide_dead_letters_total', labels: { stream, reason: 'invalid_delayed_entry' }, by: 2 });
  });

  it('counts each letter a settle writes by its reason (skytide_dead_letters_total)', async () => {
    const stream = `${harnessPrefix}counted_letters`;
    const counted: { name: string; labels: unknown; by: number | undefined }[] = [];
    const metrics: Metrics = { inc: (name, labels, by) => void counted.push({ name, labels, by }) };
    const q = createRedisWorkQueue<ContractBody>({ stream, group: 'counted_group', consumer: 'a', maxAttempts: 1, redis, metrics });
    await q.ensure();
    await q.send([{ key: 'dead', n: 1 }, { key: 'spent', n: 2 }]);
    await q.receive(async (messages) => {
      for (const m of messages) {
        if (m.body.key === 'dead') m.deadLetter('bad_signature');
        else m.retry({ reason: 'fetch_failed' });
      }
    }, { blockMs: 100 });
    const letters = counted.filter((c) => c.name === 'skytide_dead_letters_total').map((c) => c.labels);
    expect(letters.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
      { stream, reason: 'bad_signature' }, { stream, reason: 'fetch_failed' },
    ]);
  });
});

// A key of another type (made by hand): the promotion refuses before it moves anything, with an error naming the key,
// rather than move the good entries before a damaged one and then fail at the damaged one's letter, every pull.
describe('Redis work queue: a promotion beside a key of another type', () => {
  it('moves nothing when a damaged member is due and the DLQ is not a stream; all of it once the DLQ is fixed', async () => {
    const stream = `${harnessPrefix}wrong_dlq`;
    let t = 1_000;
    const q = createRedisWorkQueue<ContractBody>({ stream, group: 'wrong_group', consumer: 'a', maxAttempts: 3, redis, now: () => t });
    await q.ensure();
    await q.send([{ key: 'due', n: 1 }], { delayMs: 100 });
    await redis.zadd(`${stream}:delayed`, 1_500, '["u1","body"');
    await redis.set(`${stream}_dlq`, 'made by hand');
    t = 2_000;
    const bodies: ContractBody[] = [];
    const handler = async (messages: readonly QueueMessage<ContractBody>[]) => { for (const m of messages) { bodies.push(m.body); m.ack(); } };
    const err = await q.receive(handler, { blockMs: 10 }).catch((e: unknown) => e);
    expect(await redis.zcard(`${stream}:delayed`)).toBe(2);
    expect(await redis.xlen(stream)).toBe(0);
    expect(err).toBeInstanceOf(StreamWriteError);
    expect((err as Error).message).toBe(`promote ${stream}: ${stream}_dlq is a string, not a stream`);
    await redis.del(`${stream}_dlq`);
    await q.receive(handler, { blockMs: 10 });
    expect(bodies).toEqual([{ key: 'due', n: 1 }]);
    expect(await redis.xlen(`${stream}_dlq`)).toBe(1);
  });

  it('promotes as before when the DLQ is not a stream but nothing due needs it', async () => {
    const stream = `${harnessPrefix}wrong_dlq_unused`;
    let t = 1_000;
    const q = createRedisWorkQueue<ContractBody>({ stream, group: 'wrong_group', consumer: 'a', maxAttempts: 3, redis, now: () => t });
    await q.ensure();
    await q.send([{ key: 'due', n: 1 }], { delayMs: 100 });
    await redis.set(`${stream}_dlq`, 'made by hand');
    t = 2_000;
    const bodies: ContractBody[] = [];
    await q.receive(async (messages) => { for (const m of messages) { bodies.push(m.body); m.ack(); } }, { blockMs: 10 });
    expect(bodies).toEqual([{ key: 'due', n: 1 }]);
  });
});

// ioredis resends a command whose reply a dropped connection lost (the long-runners' client, client.ts): a settle run
// twice must write each retry and dead letter once (tests/helpers/lost-reply-proxy.ts cuts the socket after Redis ran it).
describe('Redis work queue: a settle whose reply is lost', () => {
  it('writes each retry, delayed retry and dead letter once, and settles nothing else', async () => {
    const stream = `${harnessPrefix}lost_reply`;
    const target = new URL(TEST_REDIS_URL);
    const proxy = await startLostReplyProxy({ host: target.hostname, port: Number(target.port || 6379) });
    const client = createRedis({ url: proxy.url, log: silentLog });
    try {
      const q = createRedisWorkQueue<ContractBody>({ stream, group: 'lost_group', consumer: 'a', maxAttempts: 3, redis: client });
      await q.ensure();
      // A first settle, so that the one whose reply is lost runs for real (not a NOSCRIPT for an uncached script).
      await q.send([{ key: 'warm', n: 0 }]);
      await q.receive(async ([m]) => m!.ack(), { blockMs: 100 });
      await q.send([{ key: 'ack', n: 1 }, { key: 'retry', n: 2 }, { key: 'later', n: 3 }, { key: 'dead', n: 4 }, { key: 'left', n: 5 }]);
      const lostBefore = proxy.lost;
      const handled = await q.receive(async (messages) => {
        const [ack, retry, later, dead] = messages as [QueueMessage<ContractBody>, QueueMessage<ContractBody>, QueueMessage<ContractBody>, QueueMessage<ContractBody>];
        ack.ack();
        retry.retry({ reason: 'busy' });
        later.retry({ delayMs: 60_000 });
        dead.deadLetter('refused');
        // The next batch command is the settle: Redis runs it, its reply is lost, and ioredis sends it again.
        proxy.arm();
      }, { count: 4, blockMs: 100 });
      expect(handled).toBe(4);
      expect(proxy.lost).toBe(lostBefore + 1);
      const letters = [];
      for await (const l of readDeadLetters(redis, `${stream}_dlq`)) letters.push({ reason: l.reason, attempts: l.attempts, fields: l.fields });
      expect(letters).toEqual([{ reason: 'refused', attempts: 1, fields: { body: JSON.stringify({ key: 'dead', n: 4 }) } }]);
      const entries = (await redis.xrange(stream, '-', '+')).map(([, f]) => f);
      expect(entries).toEqual([['body', JSON.stringify({ key: 'left', n: 5 })], ['body', JSON.stringify({ key: 'retry', n: 2 }), 'prior', '1']]);
      expect(await redis.zcard(`${stream}:delayed`)).toBe(1);
      expect(await redis.xpending(stream, 'lost_group')).toEqual([0, null, null, null]);
    } finally {
      client.disconnect();
      await proxy.close();
    }
  });
});

// An entry deleted (XDEL, XTRIM by hand) while pending for a consumer that crashed: XAUTOCLAIM lists it apart with
// nothing to process, and a letter of it could hold nothing to replay.
describe('Redis work queue: a pending entry whose data was deleted', () => {
  it('is acknowledged, counted and logged when claimed, never dead-lettered, and the others are handled', async () => {
    const stream = `${harnessPrefix}deleted`;
    const warned: { msg: string; fields: LogFields | undefined }[] = [];
    const log = { ...silentLog, warn: (msg: string, fields?: LogFields) => warned.push({ msg, fields }) };
    const counted: { labels: Record<string, string> | undefined; value: number | undefined }[] = [];
    const metrics: Metrics = { inc: (name, labels, value) => { if (name === 'skytide_consumer_entries_total') counted.push({ labels, value }); } };
    const options = { stream, group: 'deleted_group', maxAttempts: 3, claimIdleMs: 200 };
    const a = createRedisWorkQueue<ContractBody>({ ...options, redis, consumer: 'a' });
    const b = createRedisWorkQueue<ContractBody>({ ...options, redis, consumer: 'b', log, metrics, metricStream: 'repo_backfill' });
    await a.ensure();
    await a.send([{ key: 'gone', n: 1 }, { key: 'kept', n: 2 }]);
    await expect(a.receive(async () => { throw new Error('the process died here'); }, { blockMs: 100 })).rejects.toThrow('died');
    const [[gone]] = (await redis.xrange(stream, '-', '+')) as [[string, string[]]];
    await redis.xdel(stream, gone);
    const seen: ContractBody[] = [];
    await waitFor(
      () => b.receive(async (messages) => { for (const m of messages) { seen.push(m.body); m.ack(); } }, { blockMs: 100 }),
      (n) => n > 0,
      'the pending entries to be claimed',
    );
    expect(seen).toEqual([{ key: 'kept', n: 2 }]);
    expect(warned).toEqual([{ msg: 'pending entries whose data was deleted: acknowledged, nothing to process or dead-letter', fields: { stream, count: 1, ids: [gone] } }]);
    expect(counted).toEqual([{ labels: { stream: 'repo_backfill', outcome: 'deleted' }, value: 1 }]);
    expect(await redis.xlen(`${stream}_dlq`)).toBe(0);
    expect(await redis.xpending(stream, 'deleted_group')).toEqual([0, null, null, null]);
  });
});
