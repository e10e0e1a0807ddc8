// The Worker's backfill consumer (adapters/runtime/backfill-settlement.ts, called by worker.ts) settles a `wait` of
// backfill-repo (a PDS still answering 429) as an outage: sent again with WORKER_OUTAGE_DELAY_MS and no attempt
// counted, never a counted Cloudflare retry that walks it towards the dead-letter queue. Driven through the
// Cloudflare Queues adapter over a plain object of the platform's MessageBatch shape, as cloudflare-settlement.test.ts
// does; the contract suite (tests/contract/cloudflare-work-queue.test.ts) runs the adapter under workerd's real queues.
import { describe, expect, it } from 'vitest';
import { createCloudflareWorkQueue, type CloudflareMessage, type Envelope, type QueueProducerBinding } from '../../../adapters/queue/cloudflare-work-queue.ts';
import { settleBackfill } from '../../../adapters/runtime/backfill-settlement.ts';
import { retry, wait, type ItemOutcome } from '../../../functions/result.ts';

type Call = { id: string; op: 'ack' } | { id: string; op: 'retry'; delaySeconds: number | undefined };

/** One message of the platform's batch, delivered for the `attempts`th time (Cloudflare's own count). */
function batchOf(id: string, attempts: number, calls: Call[]): { queue: string; messages: CloudflareMessage[] } {
  return {
    queue: 'repo_backfill',
    messages: [{
      id,
      body: { v: 1, body: id, prior: 0 },
      attempts,
      ack: () => void calls.push({ id, op: 'ack' }),
      retry: (o?: { delaySeconds?: number }) => void calls.push({ id, op: 'retry', delaySeconds: o?.delaySeconds }),
    }],
  };
}

type Sent = { body: Envelope<string>; delaySeconds: number | undefined };

function producer(): QueueProducerBinding<Envelope<string>> & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    send: async (body, o) => void sent.push({ body, delaySeconds: o?.delaySeconds }),
    sendBatch: async () => {},
  };
}

const MAX_ATTEMPTS = 3;
const OUTAGE_DELAY_MS = 30_000;

async function settle(outcome: ItemOutcome, attempts: number) {
  const calls: Call[] = [];
  const queue = producer();
  const dlq = producer();
  const settlements: string[] = [];
  await createCloudflareWorkQueue<string>({ producer: queue, deadLetters: dlq, maxAttempts: MAX_ATTEMPTS }).consume(batchOf('did:plc:a', attempts, calls), async (messages) => {
    for (const message of messages) settlements.push(settleBackfill(message, outcome, { outageDelayMs: OUTAGE_DELAY_MS }));
  });
  return { calls, resent: queue.sent, letters: dlq.sent, settlements };
}

const rateLimited = wait('fetch_failed', 'RepoFetchError: getRepo for did:plc:a: HTTP 429');

describe('the Worker settles a backfill `wait` (a PDS answering 429) as an outage: no attempt counted', () => {
  it('re-sends the message with the outage delay and its attempts so far, and acks the original (no platform retry)', async () => {
    const { calls, resent, letters, settlements } = await settle(rateLimited, 2);
    // prior 1: the re-sent message's first delivery is its 2nd attempt again, not its 3rd.
    expect(resent).toEqual([{ body: { v: 1, body: 'did:plc:a', prior: 1 }, delaySeconds: OUTAGE_DELAY_MS / 1000 }]);
    expect(calls).toEqual([{ id: 'did:plc:a', op: 'ack' }]);
    expect(letters).toEqual([]);
    expect(settlements).toEqual(['outage']);
  });

  it('at maxAttempts deliveries it still waits, where a counted failure is dead-lettered', async () => {
    const waited = await settle(rateLimited, MAX_ATTEMPTS);
    expect(waited.letters).toEqual([]);
    expect(waited.resent).toEqual([{ body: { v: 1, body: 'did:plc:a', prior: MAX_ATTEMPTS - 1 }, delaySeconds: OUTAGE_DELAY_MS / 1000 }]);
    expect(waited.calls).toEqual([{ id: 'did:plc:a', op: 'ack' }]);

    const failed = await settle(retry('fetch_failed', 'RepoFetchError: getRepo for did:plc:a: HTTP 500'), MAX_ATTEMPTS);
    expect(failed.settlements).toEqual(['retry']);
    expect(failed.letters.map((l) => [l.body.reason, l.body.attempts])).toEqual([['fetch_failed', MAX_ATTEMPTS]]);
    expect(failed.resent).toEqual([]);
  });
});
