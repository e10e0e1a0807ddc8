// The work-queue port's contract (adapters/queue/work-queue.ts), written once and run against every implementation:
// Redis streams (redis-work-queue.test.ts), Cloudflare Queues under workerd (cloudflare-work-queue.test.ts) and the
// in-process queue of `npm run dev`. An implementation passes by giving a `ContractQueue`: a producer (`send`), the
// next message its runtime delivered (`next`, settled by the test through the message's own ack/retry/deadLetter),
// and what its dead-letter queue holds. Consumption is push on Workers and pull on Node, so the harness decides how
// deliveries reach `next`; the cases only see messages.
//
// Each case uses its own keys and leaves nothing in flight, so one queue serves the whole suite. Cases never assert on
// wall-clock time: "not delivered again" means nothing arrived while the harness waited `quietMs`, and a delay is
// checked by order (a message sent after a delayed retry arrives first).
import { describe, expect, it } from 'vitest';

export interface ContractBody {
  key: string;
  n: number;
}

/** What the test does with a delivered message: one of QueueMessage's settlements, or nothing at all. */
export type Settlement =
  | { kind: 'ack' }
  | { kind: 'retry'; delayMs?: number; outage?: boolean; reason?: string }
  | { kind: 'deadLetter'; reason: string }
  /** Neither acked nor retried when the handler returns: the port says it is delivered again. */
  | { kind: 'leave' };

export interface Delivered<T> {
  readonly id: string;
  readonly body: T;
  readonly attempts: number;
  /** Applies the settlement to the message and lets its handler return. */
  settle(settlement: Settlement): Promise<void>;
}

export interface ContractQueue<T> {
  /** Deliveries after which a retried message goes to the dead-letter queue. */
  readonly maxAttempts: number;
  send(bodies: readonly T[], options?: { delayMs?: number }): Promise<void>;
  /** The next message delivered to the handler, or undefined when none came within `waitMs`. */
  next(waitMs: number): Promise<Delivered<T> | undefined>;
  /** The dead-letter queue's messages, with the reason each was dead-lettered for. */
  deadLetters(): Promise<{ body: T; reason: string }[]>;
  close(): Promise<void>;
}

export interface ContractOptions {
  /** How long a delivery may take to arrive (a Worker's batch timeout, a poll interval). */
  deliveryMs?: number;
  /** How long "nothing more arrives" is watched for. */
  quietMs?: number;
  /** A delay long enough that a message sent after it is delivered first. */
  delayMs?: number;
}

/** Registers the contract's cases in a `describe` block; `queue()` is the implementation set up by the caller. */
export function workQueueContract(name: string, queue: () => ContractQueue<ContractBody>, options: ContractOptions = {}): void {
  const deliveryMs = options.deliveryMs ?? 15_000;
  const quietMs = options.quietMs ?? 1_500;
  const delayMs = options.delayMs ?? 2_000;
  const timeout = 4 * deliveryMs + 10 * quietMs + delayMs;
  let counter = 0;
  const keyOf = (label: string) => `${label}-${Date.now().toString(36)}-${++counter}`;

  async function expectNext(key?: string): Promise<Delivered<ContractBody>> {
    const got = await queue().next(deliveryMs);
    expect(got, `a delivery${key === undefined ? '' : ` of ${key}`}`).toBeDefined();
    if (key !== undefined) expect(got!.body.key).toBe(key);
    return got!;
  }

  async function expectQuiet(): Promise<void> {
    const got = await queue().next(quietMs);
    if (got !== undefined) await got.settle({ kind: 'ack' });
    expect(got?.body, 'no further delivery').toBeUndefined();
  }

  async function lettersOf(key: string): Promise<{ body: ContractBody; reason: string }[]> {
    return (await queue().deadLetters()).filter((l) => l.body.key === key);
  }

  describe(`work-queue contract: ${name}`, () => {
    it('delivers a message sent, once, with attempts 1; ack removes it for good', async () => {
      const key = keyOf('ack');
      await queue().send([{ key, n: 1 }]);
      const m = await expectNext(key);
      expect(m.body).toEqual({ key, n: 1 });
      expect(m.attempts).toBe(1);
      expect(typeof m.id).toBe('string');
      await m.settle({ kind: 'ack' });
      await expectQuiet();
      expect(await lettersOf(key)).toEqual([]);
    }, timeout);

    it('delivers every message of a batch exactly once when each is acked', async () => {
      const key = keyOf('batch');
      const bodies = Array.from({ length: 25 }, (_, n) => ({ key, n }));
      await queue().send(bodies);
      const seen: number[] = [];
      while (seen.length < bodies.length) {
        const m = await expectNext(key);
        expect(m.attempts).toBe(1);
        seen.push(m.body.n);
        await m.settle({ kind: 'ack' });
      }
      expect(seen.sort((a, b) => a - b)).toEqual(bodies.map((b) => b.n));
      await expectQuiet();
    }, timeout);

    it('retry() delivers the message again with one more attempt', async () => {
      const key = keyOf('retry');
      await queue().send([{ key, n: 7 }]);
      const first = await expectNext(key);
      await first.settle({ kind: 'retry', reason: 'fetch_failed' });
      const second = await expectNext(key);
      expect(second.body).toEqual({ key, n: 7 });
      expect(second.attempts).toBe(2);
      await second.settle({ kind: 'ack' });
      await expectQuiet();
    }, timeout);

    it('a message neither acked nor retried is delivered again, as after a crash', async () => {
      const key = keyOf('leave');
      await queue().send([{ key, n: 1 }]);
      await (await expectNext(key)).settle({ kind: 'leave' });
      const again = await expectNext(key);
      expect(again.attempts).toBe(2);
      await again.settle({ kind: 'ack' });
      await expectQuiet();
    }, timeout);

    it('retry({ delayMs }) holds the message back: one sent after it arrives first', async () => {
      const key = keyOf('delay');
      await queue().send([{ key, n: 1 }]);
      await (await expectNext(key)).settle({ kind: 'retry', delayMs });
      await queue().send([{ key, n: 2 }]);
      const next = await expectNext(key);
      expect(next.body.n).toBe(2);
      await next.settle({ kind: 'ack' });
      const delayed = await expectNext(key);
      expect(delayed.body.n).toBe(1);
      expect(delayed.attempts).toBe(2);
      await delayed.settle({ kind: 'ack' });
      await expectQuiet();
    }, timeout);

    it('send({ delayMs }) holds the message back: one sent after it without delay arrives first', async () => {
      const key = keyOf('send-delay');
      await queue().send([{ key, n: 1 }], { delayMs });
      await queue().send([{ key, n: 2 }]);
      const first = await expectNext(key);
      expect(first.body.n).toBe(2);
      await first.settle({ kind: 'ack' });
      const second = await expectNext(key);
      expect(second.body.n).toBe(1);
      expect(second.attempts).toBe(1);
      await second.settle({ kind: 'ack' });
      await expectQuiet();
    }, timeout);

    it('an outage retry does not count an attempt, however many there are: never dead-lettered for it', async () => {
      const key = keyOf('outage');
      await queue().send([{ key, n: 1 }]);
      const max = queue().maxAttempts;
      let m = await expectNext(key);
      await m.settle({ kind: 'retry', reason: 'fetch_failed' });
      m = await expectNext(key);
      expect(m.attempts).toBe(2);
      for (let i = 0; i < max + 1; i++) {
        await m.settle({ kind: 'retry', outage: true });
        m = await expectNext(key);
        expect(m.attempts, `after ${i + 1} outage retries`).toBe(2);
      }
      await m.settle({ kind: 'ack' });
      await expectQuiet();
      expect(await lettersOf(key)).toEqual([]);
    }, timeout);

    it('a message retried past maxAttempts ends in the dead-letter queue with its reason, delivered no more', async () => {
      const key = keyOf('exhaust');
      await queue().send([{ key, n: 3 }]);
      const max = queue().maxAttempts;
      for (let attempt = 1; attempt <= max; attempt++) {
        const m = await expectNext(key);
        expect(m.attempts).toBe(attempt);
        await m.settle({ kind: 'retry', reason: 'fetch_failed' });
      }
      await expectQuiet();
      expect(await lettersOf(key)).toEqual([{ body: { key, n: 3 }, reason: 'fetch_failed' }]);
    }, timeout);

    it('deadLetter(reason) sends the message to the dead-letter queue at once', async () => {
      const key = keyOf('dead');
      await queue().send([{ key, n: 4 }, { key, n: 5 }]);
      const seen = new Set<number>();
      for (let i = 0; i < 2; i++) {
        const m = await expectNext(key);
        seen.add(m.body.n);
        await m.settle(m.body.n === 4 ? { kind: 'deadLetter', reason: 'bad_signature' } : { kind: 'ack' });
      }
      expect(seen).toEqual(new Set([4, 5]));
      await expectQuiet();
      expect(await lettersOf(key)).toEqual([{ body: { key, n: 4 }, reason: 'bad_signature' }]);
    }, timeout);
  });
}
