// The work-queue contract against the in-process adapter (adapters/queue/in-process-work-queue.ts): a pull loop calls
// `receive`, and each message waits in its handler until the case settles it, as in redis-work-queue.test.ts.
import { afterAll, beforeAll } from 'vitest';
import { createInProcessWorkQueue } from '../../adapters/queue/in-process-work-queue.ts';
import { createDeliveryChannel } from './delivery-channel.ts';
import { workQueueContract, type ContractBody, type ContractQueue, type Settlement } from './work-queue.cases.ts';

let harness: ContractQueue<ContractBody>;
let stopped = false;
let loop: Promise<void>;

beforeAll(() => {
  const queue = createInProcessWorkQueue<ContractBody>({ maxAttempts: 3 });
  const channel = createDeliveryChannel<ContractBody>();
  loop = (async () => {
    while (!stopped) {
      await queue.receive(
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
    maxAttempts: 3,
    send: (bodies, o) => queue.send(bodies, o),
    next: (waitMs) => channel.next(waitMs),
    deadLetters: async () => queue.deadLetters().map((l) => ({ body: l.body, reason: l.reason })),
    close: async () => {},
  };
});

afterAll(async () => {
  stopped = true;
  await loop;
});

workQueueContract('in-process', () => harness, { deliveryMs: 5_000, quietMs: 600, delayMs: 1_500 });
