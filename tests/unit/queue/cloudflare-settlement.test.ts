// When the Cloudflare Queues adapter (adapters/queue/cloudflare-work-queue.ts) tells the platform what became of each
// message: at once, as the handler settles it. Cloudflare keeps an explicit ack() even if the invocation then dies
// (a CPU, memory or wall-clock limit on a later repo of the batch); a decision held back until the batch ended dies
// with it, and the whole batch comes back with an attempt counted on each message. The batch here is a plain object
// of the platform's MessageBatch shape, so an invocation that never finishes can be observed mid-way; the contract
// suite (tests/contract/cloudflare-work-queue.test.ts) runs the adapter under workerd's real queues.
import { describe, expect, it } from 'vitest';
import { createCloudflareWorkQueue, type CloudflareMessage, type Envelope, type HandlerFailure, type QueueProducerBinding, type SendFailure } from '../../../adapters/queue/cloudflare-work-queue.ts';

type Call = { id: string; op: 'ack' } | { id: string; op: 'retry'; delaySeconds: number | undefined };

function batchOf(ids: readonly string[], calls: Call[]): { queue: string; messages: CloudflareMessage[] } {
  return {
    queue: 'work',
    messages: ids.map((id) => ({
      id,
      body: { v: 1, body: id, prior: 0 },
      attempts: 1,
      ack: () => void calls.push({ id, op: 'ack' }),
      retry: (o?: { delaySeconds?: number }) => void calls.push({ id, op: 'retry', delaySeconds: o?.delaySeconds }),
    })),
  };
}

function producer(send: (body: Envelope<string>) => Promise<unknown>): QueueProducerBinding<Envelope<string>> & { sent: Envelope<string>[] } {
  const sent: Envelope<string>[] = [];
  return {
    sent,
    send: (body) => {
      sent.push(body);
      return send(body);
    },
    sendBatch: async () => {},
  };
}

const never = () => new Promise<never>(() => {});
const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe('Cloudflare work queue: each settlement reaches the platform as it is made', () => {
  it('acks message 1 on the platform while the handler is still busy with message 2 (an invocation that dies there keeps it)', async () => {
    const calls: Call[] = [];
    const queue = createCloudflareWorkQueue<string>({ producer: producer(async () => {}), deadLetters: producer(async () => {}), maxAttempts: 5 });
    let second = false;
    void queue.consume(batchOf(['repo1', 'repo2', 'repo3'], calls), async (messages) => {
      messages[0]!.ack();
      second = true;
      await never();
    });
    await turns();
    expect(second).toBe(true);
    expect(calls).toEqual([{ id: 'repo1', op: 'ack' }]);
  });

  it('passes a counted retry below maxAttempts to the platform at once, with its delay in seconds', async () => {
    const calls: Call[] = [];
    const queue = createCloudflareWorkQueue<string>({ producer: producer(async () => {}), deadLetters: producer(async () => {}), maxAttempts: 5 });
    void queue.consume(batchOf(['a', 'b'], calls), async (messages) => {
      messages[0]!.retry({ reason: 'fetch_failed', delayMs: 60_000 });
      await never();
    });
    await turns();
    expect(calls).toEqual([{ id: 'a', op: 'retry', delaySeconds: 60 }]);
  });

  it('acks a dead-lettered message once its letter is sent, and consume lasts until then', async () => {
    const calls: Call[] = [];
    let deliver!: () => void;
    const dlq = producer(() => new Promise<void>((resolve) => (deliver = resolve)));
    const queue = createCloudflareWorkQueue<string>({ producer: producer(async () => {}), deadLetters: dlq, maxAttempts: 5 });
    let done = false;
    const consumed = queue.consume(batchOf(['bad', 'good'], calls), async (messages) => {
      messages[0]!.deadLetter('bad_signature');
      messages[1]!.ack();
    }).then(() => (done = true));
    await turns();
    expect(dlq.sent).toEqual([{ v: 1, body: 'bad', prior: 0, reason: 'bad_signature', attempts: 1 }]);
    expect(calls).toEqual([{ id: 'good', op: 'ack' }]);
    expect(done, 'consume waits for the letter').toBe(false);
    deliver();
    await consumed;
    expect(calls).toEqual([{ id: 'good', op: 'ack' }, { id: 'bad', op: 'ack' }]);
  });

  it('a failed outage re-send retries only its own message; the ones the handler acked are acked', async () => {
    const calls: Call[] = [];
    const failures: SendFailure[] = [];
    const refusing = producer(async () => {
      throw new Error('Too Many Requests');
    });
    const queue = createCloudflareWorkQueue<string>({ producer: refusing, deadLetters: refusing, maxAttempts: 5, onSendFailed: (f) => void failures.push(f) });
    await queue.consume(batchOf(['a', 'b', 'c'], calls), async (messages) => {
      messages[0]!.retry({ outage: true, delayMs: 30_000, reason: 'dependency_unavailable' });
      messages[1]!.ack();
      messages[2]!.ack();
    });
    expect(refusing.sent).toHaveLength(1);
    // Retried explicitly: a message left alone when the consumer returns would count as acked, and be lost.
    expect(calls).toEqual([
      { id: 'b', op: 'ack' },
      { id: 'c', op: 'ack' },
      { id: 'a', op: 'retry', delaySeconds: 30 },
    ]);
    expect(failures.map((f) => [f.id, f.what, (f.err as Error).message])).toEqual([['a', 'outage_resend', 'Too Many Requests']]);
  });
  it('a handler that throws does not fail the invocation: what it acked stays acked, the rest is retried, or dead-lettered at maxAttempts with handler_error', async () => {
    const calls: Call[] = [];
    const failures: HandlerFailure[] = [];
    const dlq = producer(async () => {});
    const queue = createCloudflareWorkQueue<string>({ producer: producer(async () => {}), deadLetters: dlq, maxAttempts: 2, onHandlerError: (f) => void failures.push(f) });
    const batch = batchOf(['done', 'fatal', 'untried'], calls);
    (batch.messages[2] as { attempts: number }).attempts = 2;
    await queue.consume(batch, async (messages) => {
      messages[0]!.ack();
      throw new Error('fatal error on fatal');
    });
    expect(calls).toEqual([{ id: 'done', op: 'ack' }, { id: 'fatal', op: 'retry', delaySeconds: 0 }, { id: 'untried', op: 'ack' }]);
    expect(dlq.sent).toEqual([{ v: 1, body: 'untried', prior: 0, reason: 'handler_error', attempts: 2 }]);
    expect(failures.map((f) => [(f.err as Error).message, f.retried, f.deadLettered])).toEqual([['fatal error on fatal', ['fatal'], ['untried']]]);
  });

  it('a delivery past maxAttempts (the invocations before it killed by the platform) is dead-lettered untried, with a reason', async () => {
    // A repo that exhausts the CPU or memory limit kills every invocation that takes it: no code of ours settles it,
    // and each delivery counts an attempt. Without this check it was tried max_retries + 1 times (11 killed
    // invocations of up to 5 minutes each) and dropped in the dead-letter queue with no reason.
    const calls: Call[] = [];
    const dlq = producer(async () => {});
    const queue = createCloudflareWorkQueue<string>({ producer: producer(async () => {}), deadLetters: dlq, maxAttempts: 5 });
    const batch = batchOf(['poison', 'fine'], calls);
    (batch.messages[0] as { attempts: number }).attempts = 6;
    (batch.messages[1] as { attempts: number }).attempts = 5;
    const handed: string[] = [];
    await queue.consume(batch, async (messages) => {
      for (const m of messages) {
        handed.push(m.body);
        m.ack();
      }
    });
    expect(handed, 'the poison repo is not tried a sixth time; the one at maxAttempts still is').toEqual(['fine']);
    expect(dlq.sent).toEqual([{ v: 1, body: 'poison', prior: 0, reason: 'max_retries_exceeded', attempts: 6 }]);
    expect(calls).toEqual([{ id: 'fine', op: 'ack' }, { id: 'poison', op: 'ack' }]);
  });

  it('an outage re-send keeps the count: a message sent again with prior attempts is past maxAttempts only by its deliveries', async () => {
    const calls: Call[] = [];
    const dlq = producer(async () => {});
    const queue = createCloudflareWorkQueue<string>({ producer: producer(async () => {}), deadLetters: dlq, maxAttempts: 5 });
    const batch = batchOf(['resent'], calls);
    (batch.messages[0] as { body: unknown }).body = { v: 1, body: 'resent', prior: 4 };
    const handed: string[] = [];
    await queue.consume(batch, async (messages) => {
      for (const m of messages) {
        handed.push(m.body);
        m.ack();
      }
    });
    expect(handed).toEqual(['resent']);
    expect(dlq.sent).toEqual([]);
  });
});

describe('Cloudflare work queue: dead letters told to onDeadLetter (skytide_dead_letters_total)', () => {
  it('once the dead-letter queue accepted each, with its reason; a refused send is retried and told to nobody', async () => {
    const calls: Call[] = [];
    const told: string[] = [];
    let refuse = false;
    const dlq = producer(async () => {
      if (refuse) throw new Error('queue refused');
    });
    const queue = createCloudflareWorkQueue<string>({ producer: producer(async () => {}), deadLetters: dlq, maxAttempts: 1, onDeadLetter: (reason) => told.push(reason) });
    await queue.consume(batchOf(['bad', 'spent'], calls), async (messages) => {
      messages[0]!.deadLetter('bad_signature');
      messages[1]!.retry({ reason: 'fetch_failed' });
    });
    expect(told).toEqual(['bad_signature', 'fetch_failed']);
    refuse = true;
    await queue.consume(batchOf(['again'], []), async (messages) => messages[0]!.deadLetter('bad_signature'));
    expect(told).toEqual(['bad_signature', 'fetch_failed']);
  });
});
