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
