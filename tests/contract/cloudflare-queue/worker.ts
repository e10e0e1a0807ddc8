// The contract's test Worker: POST /send sends through the Cloudflare Queues adapter; the `queue` export consumes
// through it, asking the test (CONTROL_URL, a server in the vitest process) how to settle each message and holding
// the message until it answers. The dead-letter queue's messages are reported to the test as they arrive.
// The `contract-abort` queue (POST /send-abort) goes through its batch one message at a time, as the backfill
// consumer does, asking the test (CONTROL_URL/abort) whether to ack each message or throw out of the handler.
import { createCloudflareWorkQueue, openEnvelope, type CloudflareMessageBatch, type Envelope, type QueueProducerBinding } from '../../../adapters/queue/cloudflare-work-queue.ts';

interface Env {
  WORK: QueueProducerBinding<Envelope<unknown>>;
  DEAD: QueueProducerBinding<Envelope<unknown>>;
  ABORT: QueueProducerBinding<Envelope<unknown>>;
  ABORT_DEAD: QueueProducerBinding<Envelope<unknown>>;
  CONTROL_URL: string;
  MAX_ATTEMPTS: string;
}

type Settlement = { kind: 'ack' } | { kind: 'retry'; delayMs?: number; outage?: boolean; reason?: string } | { kind: 'deadLetter'; reason: string } | { kind: 'leave' };

function queueOf(env: Env) {
  return createCloudflareWorkQueue<unknown>({ producer: env.WORK, deadLetters: env.DEAD, maxAttempts: Number(env.MAX_ATTEMPTS) });
}

function abortQueueOf(env: Env) {
  return createCloudflareWorkQueue<unknown>({ producer: env.ABORT, deadLetters: env.ABORT_DEAD, maxAttempts: Number(env.MAX_ATTEMPTS) });
}

async function reportDead(env: Env, path: string, batch: CloudflareMessageBatch): Promise<void> {
  for (const m of batch.messages) {
    const letter = openEnvelope(m.body);
    await fetch(`${env.CONTROL_URL}${path}`, { method: 'POST', body: JSON.stringify({ body: letter.body, reason: letter.reason ?? 'max_retries' }) });
    m.ack();
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/health') return new Response('ok');
    if (url.pathname === '/send' && request.method === 'POST') {
      const { bodies, delayMs } = (await request.json()) as { bodies: unknown[]; delayMs?: number };
      await queueOf(env).send(bodies, delayMs === undefined ? undefined : { delayMs });
      return new Response(null, { status: 204 });
    }
    if (url.pathname === '/send-abort' && request.method === 'POST') {
      const { bodies } = (await request.json()) as { bodies: unknown[] };
      await abortQueueOf(env).send(bodies);
      return new Response(null, { status: 204 });
    }
    return new Response('not found', { status: 404 });
  },

  async queue(batch: CloudflareMessageBatch, env: Env): Promise<void> {
    if (batch.queue === 'contract-work-dlq') return reportDead(env, '/dead', batch);
    if (batch.queue === 'contract-abort-dlq') return reportDead(env, '/abort-dead', batch);
    if (batch.queue === 'contract-abort') {
      await abortQueueOf(env).consume(batch, async (messages) => {
        for (const m of messages) {
          const res = await fetch(`${env.CONTROL_URL}/abort`, { method: 'POST', body: JSON.stringify({ id: m.id, body: m.body, attempts: m.attempts }) });
          const { kind } = (await res.json()) as { kind: 'ack' | 'throw' };
          if (kind === 'throw') throw new Error(`fatal error on ${JSON.stringify(m.body)}`);
          m.ack();
        }
      });
      return;
    }
    await queueOf(env).consume(batch, async (messages) => {
      await Promise.all(
        messages.map(async (m) => {
          const res = await fetch(`${env.CONTROL_URL}/deliver`, { method: 'POST', body: JSON.stringify({ id: m.id, body: m.body, attempts: m.attempts }) });
          const s = (await res.json()) as Settlement;
          if (s.kind === 'ack') m.ack();
          else if (s.kind === 'retry') m.retry(s);
          else if (s.kind === 'deadLetter') m.deadLetter(s.reason);
        }),
      );
    });
  },
};
