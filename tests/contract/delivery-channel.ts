// Hands the contract cases one delivered message at a time, whoever delivered it (a pull loop on Node, a Worker's
// queue handler reporting over HTTP): a delivery waits in the channel until a case takes it with `next`.
import type { Delivered } from './work-queue.cases.ts';

export interface DeliveryChannel<T> {
  push(delivery: Delivered<T>): void;
  next(waitMs: number): Promise<Delivered<T> | undefined>;
}

export function createDeliveryChannel<T>(): DeliveryChannel<T> {
  const ready: Delivered<T>[] = [];
  const waiting: ((d: Delivered<T>) => void)[] = [];
  return {
    push(delivery) {
      const waiter = waiting.shift();
      if (waiter !== undefined) waiter(delivery);
      else ready.push(delivery);
    },
    next(waitMs) {
      const first = ready.shift();
      if (first !== undefined) return Promise.resolve(first);
      return new Promise((resolve) => {
        const take = (d: Delivered<T>) => {
          clearTimeout(timer);
          resolve(d);
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(take), 1);
          resolve(undefined);
        }, waitMs);
        waiting.push(take);
      });
    },
  };
}

/** What a pull-side adapter delivers: a message the handler settles (the work-queue port's QueueMessage). */
interface PulledMessage<T> {
  id: string;
  body: T;
  attempts: number;
  ack(): void;
  retry(options?: { delayMs?: number; outage?: boolean; reason?: string }): void;
  deadLetter(reason: string): void;
}

type Receive<T> = (handler: (messages: readonly PulledMessage<T>[]) => Promise<void>, options: { count: number; blockMs: number }) => Promise<unknown>;

/**
 * A pull loop (Redis streams, in-process) that pushes each delivered message into `channel` and holds it in its
 * handler until a case settles it, as a Worker's queue handler does. Returns the loop's stop.
 */
export function startPullLoop<T>(receive: Receive<T>, channel: DeliveryChannel<T>): () => Promise<void> {
  let stopped = false;
  const settleInto = (m: PulledMessage<T>) =>
    new Promise<void>((done) =>
      channel.push({
        id: m.id,
        body: m.body,
        attempts: m.attempts,
        settle: async (s) => {
          if (s.kind === 'ack') m.ack();
          else if (s.kind === 'retry') m.retry(s);
          else if (s.kind === 'deadLetter') m.deadLetter(s.reason);
          done();
        },
      }),
    );
  const loop = (async () => {
    while (!stopped) await receive(async (messages) => void (await Promise.all(messages.map(settleInto))), { count: 10, blockMs: 100 });
  })();
  return async () => {
    stopped = true;
    await loop;
  };
}
