// The work-queue contract against the in-process adapter (adapters/queue/in-process-work-queue.ts): a pull loop calls
// `receive`, and each message waits in its handler until the case settles it, as in redis-work-queue.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInProcessWorkQueue } from '../../adapters/queue/in-process-work-queue.ts';
import { createDeliveryChannel, startPullLoop } from './delivery-channel.ts';
import { workQueueContract, type ContractBody, type ContractQueue } from './work-queue.cases.ts';

let harness: ContractQueue<ContractBody>;
let stopLoop: () => Promise<void> = async () => {};

beforeAll(() => {
  const queue = createInProcessWorkQueue<ContractBody>({ maxAttempts: 3 });
  const channel = createDeliveryChannel<ContractBody>();
  stopLoop = startPullLoop<ContractBody>((handler, o) => queue.receive(handler, o), channel);
  harness = {
    maxAttempts: 3,
    send: (bodies, o) => queue.send(bodies, o),
    next: (waitMs) => channel.next(waitMs),
    deadLetters: async () => queue.deadLetters().map((l) => ({ body: l.body, reason: l.reason })),
    close: async () => {},
  };
});

afterAll(async () => {
  await stopLoop();
});

workQueueContract('in-process', () => harness, { deliveryMs: 5_000, quietMs: 600, delayMs: 1_500 });

// Beyond the contract: what "in-process" means. A second queue (another process) sees nothing the first was sent,
// which is why the dev command's banner says it is not durable.
describe('in-process: one process only', () => {
  it('shares nothing between two queues', async () => {
    const a = createInProcessWorkQueue<ContractBody>({ maxAttempts: 3 });
    const b = createInProcessWorkQueue<ContractBody>({ maxAttempts: 3 });
    await a.send([{ key: 'only-a', n: 1 }]);
    const seen: unknown[] = [];
    await b.receive(async (messages) => void seen.push(...messages.map((m) => m.body)), { count: 10, blockMs: 50 });
    expect(seen).toEqual([]);
    const got: unknown[] = [];
    await a.receive(async (messages) => { for (const m of messages) { got.push(m.body); m.ack(); } }, { count: 10, blockMs: 50 });
    expect(got).toEqual([{ key: 'only-a', n: 1 }]);
  });
});
