// The work-queue port (work-queue.ts) in this process's memory, for `npm run dev` on a machine with no Redis at all.
// NOT DURABLE: a message lives only as long as the process; the dev command says so in a banner. Everything else is
// the port's promise, checked by the same contract suite as the Redis and Cloudflare queues
// (tests/contract/in-process-work-queue.test.ts):
// - a delivery counts an attempt; `retry` requeues after its delay with that count, `retry({ outage })` gives the
//   attempt back; a retry at `maxAttempts` deliveries dead-letters the message with its reason;
// - a message the handler left unsettled, or whose handler threw, is delivered again (as after a crash), counted.
import type { QueueHandler, QueueMessage, WorkQueue } from './work-queue.ts';

interface Held<T> {
  id: string;
  body: T;
  /** Deliveries counted so far. */
  attempts: number;
  /** Not delivered before this time (ms). */
  visibleAt: number;
  /** Order among messages visible at once: sending order, then requeue order. */
  order: number;
}

export interface DeadLetter<T> {
  id: string;
  body: T;
  reason: string;
  attempts: number;
}

export interface InProcessWorkQueueOptions {
  /** Deliveries after which a retried message is dead-lettered. */
  maxAttempts: number;
  now?: () => number;
}

export interface InProcessWorkQueue<T> extends WorkQueue<T> {
  /** One pull: waits up to `blockMs` for visible messages, hands up to `count` to `handler`, settles them. */
  receive(handler: QueueHandler<T>, options?: { count?: number; blockMs?: number }): Promise<number>;
  /** Messages waiting or being handled. */
  size(): number;
  deadLetters(): readonly DeadLetter<T>[];
}

export function createInProcessWorkQueue<T>(options: InProcessWorkQueueOptions): InProcessWorkQueue<T> {
  const now = options.now ?? Date.now;
  const waiting: Held<T>[] = [];
  const letters: DeadLetter<T>[] = [];
  let inFlight = 0;
  let sequence = 0;
  const wakers = new Set<() => void>();

  const enqueue = (held: Held<T>) => {
    waiting.push(held);
    for (const w of [...wakers]) w();
  };

  /** Visible messages, oldest first, up to `count`, taken out of the waiting list. */
  const take = (count: number): Held<T>[] => {
    const t = now();
    const visible = waiting.filter((h) => h.visibleAt <= t).sort((a, b) => a.visibleAt - b.visibleAt || a.order - b.order).slice(0, count);
    for (const h of visible) waiting.splice(waiting.indexOf(h), 1);
    return visible;
  };

  /** Waits until a message may be visible (a send, a requeue, or the earliest delay ending), at most `ms`. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const soonest = waiting.reduce((m, h) => Math.min(m, h.visibleAt), Infinity) - now();
      const timer = setTimeout(done, Math.max(0, Math.min(ms, soonest)));
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });

  return {
    async send(bodies, sendOptions) {
      const visibleAt = now() + (sendOptions?.delayMs ?? 0);
      for (const body of bodies) enqueue({ id: `m${++sequence}`, body, attempts: 0, visibleAt, order: sequence });
    },

    async receive(handler, receiveOptions) {
      const count = receiveOptions?.count ?? 10;
      const deadline = now() + (receiveOptions?.blockMs ?? 0);
      let batch = take(count);
      while (batch.length === 0 && now() < deadline) {
        await pause(deadline - now());
        batch = take(count);
      }
      if (batch.length === 0) return 0;
      type Verdict = { kind: 'ack' } | { kind: 'retry'; delayMs: number; outage: boolean; reason: string } | { kind: 'dead'; reason: string };
      const verdicts = new Map<Held<T>, Verdict>();
      const messages: QueueMessage<T>[] = batch.map((held) => {
        held.attempts++;
        const settle = (v: Verdict) => {
          if (!verdicts.has(held)) verdicts.set(held, v);
        };
        return {
          id: held.id,
          body: held.body,
          attempts: held.attempts,
          ack: () => settle({ kind: 'ack' }),
          retry: (o) => settle({ kind: 'retry', delayMs: o?.delayMs ?? 0, outage: o?.outage === true, reason: o?.reason ?? 'retry' }),
          deadLetter: (reason) => settle({ kind: 'dead', reason }),
        };
      });
      inFlight += batch.length;
      try {
        await handler(messages);
      } catch {
        // As a crash: every message not settled yet is delivered again.
      } finally {
        inFlight -= batch.length;
      }
      for (const held of batch) {
        const v = verdicts.get(held);
        if (v?.kind === 'ack') continue;
        if (v?.kind === 'dead') {
          letters.push({ id: held.id, body: held.body, reason: v.reason, attempts: held.attempts });
          continue;
        }
        if (v?.kind === 'retry' && v.outage) held.attempts--;
        else if (v?.kind === 'retry' && held.attempts >= options.maxAttempts) {
          letters.push({ id: held.id, body: held.body, reason: v.reason, attempts: held.attempts });
          continue;
        }
        enqueue({ ...held, visibleAt: now() + (v?.kind === 'retry' ? v.delayMs : 0), order: ++sequence });
      }
      return batch.length;
    },

    size: () => waiting.length + inFlight,
    deadLetters: () => [...letters],
  };
}
