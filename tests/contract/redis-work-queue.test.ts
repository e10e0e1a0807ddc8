// The work-queue contract against the Redis adapter (adapters/queue/redis-work-queue.ts) on the real Redis: a pull
// loop calls `receive`, and each message waits in its handler until the case settles it.
import { afterAll, beforeAll } from 'vitest';
import type { Redis } from 'ioredis';
import { createRedisWorkQueue, type RedisWorkQueue } from '../../adapters/queue/redis-work-queue.ts';
import { readDeadLetters } from '../../adapters/redis/dead-letters.ts';
import { createTestRedis } from '../helpers/services.ts';
import { createDeliveryChannel } from './delivery-channel.ts';
import { workQueueContract, type ContractBody, type ContractQueue, type Settlement } from './work-queue.cases.ts';

let redis: Redis;
let loopRedis: Redis;
let cleanup: () => Promise<void>;
let harness: ContractQueue<ContractBody>;
let stopped = false;
let loop: Promise<void>;

beforeAll(async () => {
  let prefix: string;
  ({ redis, prefix, cleanup } = await createTestRedis('work_queue'));
  // XREADGROUP BLOCK holds its connection: the loop gets one of its own.
  loopRedis = redis.duplicate();
  const stream = `${prefix}work`;
  const options = { stream, group: 'work_group', consumer: 'contract', maxAttempts: 3, claimIdleMs: 60_000 };
  const producer = createRedisWorkQueue<ContractBody>({ ...options, redis });
  const consumer: RedisWorkQueue<ContractBody> = createRedisWorkQueue<ContractBody>({ ...options, redis: loopRedis });
  await consumer.ensure();
  const channel = createDeliveryChannel<ContractBody>();
  loop = (async () => {
    while (!stopped) {
      await consumer.receive(
        (messages) =>
          Promise.all(
            messages.map(
              (m) =>
                new Promise<void>((done) =>
                  channel.push({
                    id: m.id,
                    body: m.body,
                    attempts: m.attempts,
                    settle: async (s: Settlement) => {
                      if (s.kind === 'ack') m.ack();
                      else if (s.kind === 'retry') m.retry(s);
                      else if (s.kind === 'deadLetter') m.deadLetter(s.reason);
                      done();
                    },
                  }),
                ),
            ),
          ).then(() => undefined),
        { count: 10, blockMs: 100 },
      );
    }
  })();
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
  stopped = true;
  await loop;
  await loopRedis?.quit();
  await cleanup?.();
});

workQueueContract('Redis streams', () => harness, { deliveryMs: 5_000, quietMs: 600, delayMs: 1_500 });
