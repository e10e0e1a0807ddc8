// The work-queue port (work-queue.ts) over Cloudflare Queues, for Workers: the producer binding's send/sendBatch, and
// a consumer's MessageBatch turned into the port's messages. The binding types are declared here, structurally, so
// nothing outside the Worker entry depends on @cloudflare/workers-types.
// Cloudflare counts a message's deliveries itself (`attempts`) and moves it to the consumer's dead-letter queue after
// `max_retries`; the port needs two things it does not offer, so this adapter adds them:
// - An outage retry that counts no attempt: the message is sent again (with its delay) as a new message carrying the
//   attempts so far in its envelope, and the original is acked. `message.retry()` would count, and an outage longer
//   than max_retries deliveries would dead-letter good work.
// - A dead letter with a reason: `deadLetter(reason)`, and a retry at `maxAttempts`, send the envelope with its reason
//   to the dead-letter queue's producer binding and ack the original. Cloudflare's own max_retries (set above
//   maxAttempts in wrangler.toml) stays as the backstop for an invocation the platform kills (CPU, memory, wall
//   clock), which runs no code of ours; those letters carry no reason. Before it, a delivery past maxAttempts (the
//   ones before it killed) is dead-lettered untried, `max_retries_exceeded`: a repo that kills every invocation
//   costs maxAttempts of them, and its letter says why.
// Each settlement is passed on to the platform as it is made, never held until the batch ends (see `apply`). A
// handler that throws does not fail the invocation: its unsettled messages are retried here, so what it settled
// stands whatever the platform does with a failed invocation (see `consume`).
// Every body travels in an envelope `{ v: 1, body, prior }`; a message that is not one (sent by someone else) is taken
// as a bare body with no prior attempts.
import type { QueueHandler, QueueMessage, WorkQueue } from './work-queue.ts';

/** The producer binding (a `[[queues.producers]]` entry), as much of it as we use. */
export interface QueueProducerBinding<B> {
  send(body: B, options?: { delaySeconds?: number }): Promise<unknown>;
  sendBatch(messages: Iterable<{ body: B; delaySeconds?: number }>, options?: { delaySeconds?: number }): Promise<unknown>;
}

/** One message of a consumer's batch. */
export interface CloudflareMessage {
  readonly id: string;
  readonly body: unknown;
  readonly attempts: number;
  ack(): void;
  retry(options?: { delaySeconds?: number }): void;
}

export interface CloudflareMessageBatch {
  readonly queue: string;
  readonly messages: readonly CloudflareMessage[];
}

export interface Envelope<T> {
  v: 1;
  body: T;
  /** Deliveries counted before this message was sent (an outage re-send keeps them). */
  prior: number;
  /** Set on a dead letter: why, and after how many deliveries. */
  reason?: string;
  attempts?: number;
}

/** Cloudflare's limits: 100 messages per sendBatch, delays up to 12 hours. */
const BATCH_LIMIT = 100;
const MAX_DELAY_SECONDS = 43_200;

export function delaySeconds(delayMs: number | undefined): number {
  if (delayMs === undefined || delayMs <= 0) return 0;
  return Math.min(MAX_DELAY_SECONDS, Math.ceil(delayMs / 1000));
}

export function openEnvelope<T>(raw: unknown): Envelope<T> {
  if (typeof raw === 'object' && raw !== null && (raw as { v?: unknown }).v === 1 && 'body' in raw) {
    const e = raw as Envelope<T>;
    return { ...e, prior: typeof e.prior === 'number' && e.prior >= 0 ? e.prior : 0 };
  }
  return { v: 1, body: raw as T, prior: 0 };
}

export interface CloudflareWorkQueueOptions<T> {
  producer: QueueProducerBinding<Envelope<T>>;
  /** The producer binding of the consumer's dead_letter_queue. */
  deadLetters: QueueProducerBinding<Envelope<T>>;
  /** Deliveries after which a retried message is dead-lettered (keep it below the consumer's max_retries + 1). */
  maxAttempts: number;
  /** Told of a dead letter or outage re-send that failed; its message was retried (counted) instead of acked. */
  onSendFailed?: (failure: SendFailure) => void;
  /** Told when the handler threw: the messages it left unsettled were retried (counted), or dead-lettered at maxAttempts. */
  onHandlerError?: (failure: HandlerFailure) => void;
  /** Told of each message the dead-letter queue accepted, with its letter's reason (skytide_dead_letters_total). */
  onDeadLetter?: (reason: string) => void;
}

export interface HandlerFailure {
  err: unknown;
  /** Unsettled messages sent back to the queue, an attempt counted. */
  retried: string[];
  /** Unsettled messages at maxAttempts, sent to the dead-letter queue with the reason `handler_error`. */
  deadLettered: string[];
}

export interface SendFailure {
  id: string;
  what: 'dead_letter' | 'outage_resend';
  err: unknown;
}

export interface CloudflareWorkQueue<T> extends WorkQueue<T> {
  /** Runs the handler over a batch the `queue` export received, settling each message on the platform as the handler
   * settles it; resolves once every send it started has settled its message. */
  consume(batch: CloudflareMessageBatch, handler: QueueHandler<T>): Promise<void>;
}

type Settled = { kind: 'ack' } | { kind: 'retry'; delayMs?: number; outage: boolean; reason: string } | { kind: 'dead'; reason: string };

export function createCloudflareWorkQueue<T>(options: CloudflareWorkQueueOptions<T>): CloudflareWorkQueue<T> {
  const { producer, deadLetters, maxAttempts, onSendFailed, onHandlerError, onDeadLetter } = options;

  async function sendEnvelopes(envelopes: readonly Envelope<T>[], delayMs?: number): Promise<void> {
    const delay = delaySeconds(delayMs);
    for (let i = 0; i < envelopes.length; i += BATCH_LIMIT) {
      await producer.sendBatch(envelopes.slice(i, i + BATCH_LIMIT).map((body) => (delay > 0 ? { body, delaySeconds: delay } : { body })));
    }
  }

  // Each decision reaches the platform as soon as the handler makes it: Cloudflare keeps an explicit ack even when the
  // invocation dies later (a CPU, memory or wall-clock limit on the next repo), while a decision held back until the
  // batch ended would be lost with it, and the whole batch redelivered with an attempt counted on each message.
  // A send (dead letter, outage re-send) acks its original once it resolves; one that fails retries only its own
  // message (counted: the platform's max_retries still applies), since a message left alone when the consumer returns
  // counts as acked.
  function apply(raw: CloudflareMessage, envelope: Envelope<T>, attempts: number, s: Settled): Promise<void> | undefined {
    const sendThenAck = (send: () => Promise<unknown>, delayMs: number | undefined, what: SendFailure['what']) =>
      Promise.resolve()
        .then(send)
        .then(
          () => raw.ack(),
          (err: unknown) => {
            raw.retry({ delaySeconds: delaySeconds(delayMs) });
            onSendFailed?.({ id: raw.id, what, err });
          },
        );
    const letter = (reason: string) =>
      sendThenAck(async () => {
        await deadLetters.send({ v: 1, body: envelope.body, prior: envelope.prior, reason, attempts });
        onDeadLetter?.(reason);
      }, undefined, 'dead_letter');
    if (s.kind === 'dead') return letter(s.reason);
    if (s.kind === 'retry' && s.outage) {
      // Sent anew, then acked: a crash between the two delivers it twice (at least once), never loses it.
      const delay = delaySeconds(s.delayMs);
      return sendThenAck(() => producer.send({ v: 1, body: envelope.body, prior: attempts - 1 }, { delaySeconds: delay }), s.delayMs, 'outage_resend');
    }
    if (s.kind === 'retry' && attempts >= maxAttempts) return letter(s.reason);
    if (s.kind === 'retry') raw.retry({ delaySeconds: delaySeconds(s.delayMs) });
    else raw.ack();
    return undefined;
  }

  return {
    send: (bodies, sendOptions) => sendEnvelopes(bodies.map((body) => ({ v: 1, body, prior: 0 })), sendOptions?.delayMs),

    async consume(batch, handler) {
      const settled = new Set<string>();
      const sends: Promise<void>[] = [];
      const wrapped = batch.messages.map((raw) => {
        const envelope = openEnvelope<T>(raw.body);
        const attempts = envelope.prior + raw.attempts;
        const settle = (s: Settled) => {
          if (settled.has(raw.id)) return;
          settled.add(raw.id);
          const sending = apply(raw, envelope, attempts, s);
          if (sending !== undefined) sends.push(sending);
        };
        const message: QueueMessage<T> = {
          id: raw.id,
          body: envelope.body,
          attempts,
          ack: () => settle({ kind: 'ack' }),
          retry: (o) => settle({ kind: 'retry', ...(o?.delayMs === undefined ? {} : { delayMs: o.delayMs }), outage: o?.outage === true, reason: o?.reason ?? 'max_attempts' }),
          deadLetter: (reason) => settle({ kind: 'dead', reason }),
        };
        return { raw, message, settle };
      });
      // A delivery past maxAttempts means the ones before it ended with nothing of ours settling them (a retry at
      // maxAttempts is dead-lettered here): the platform killed those invocations (CPU, memory, wall clock). The repo
      // that does so on every delivery is not tried again: it goes to the dead-letter queue with a reason after
      // maxAttempts + 1 deliveries, instead of max_retries + 1 killed invocations and a letter without one.
      for (const { message, settle } of wrapped) {
        if (message.attempts > maxAttempts) settle({ kind: 'dead', reason: 'max_retries_exceeded' });
      }
      const tried = wrapped.filter((w) => !settled.has(w.raw.id));
      let thrown: { err: unknown } | undefined;
      try {
        if (tried.length > 0) await handler(tried.map((w) => w.message));
      } catch (err) {
        thrown = { err };
      }
      // Whatever the handler left unsettled is retried here (an attempt counted), whether it returned (as the port
      // promises) or threw. Not rethrown: a failed invocation is the platform's to settle, and a platform that
      // retries the whole batch then (wrangler dev's local queues do, explicit acks and all) would deliver again
      // what this one acked. A throw is as much the message's failure as a retry: at maxAttempts it is dead-lettered
      // with its reason, where Cloudflare's max_retries would drop it in the dead-letter queue with none.
      const retried: string[] = [];
      const deadLettered: string[] = [];
      for (const { raw, message, settle } of wrapped) {
        if (settled.has(raw.id)) continue;
        (message.attempts >= maxAttempts ? deadLettered : retried).push(raw.id);
        settle({ kind: 'retry', outage: false, reason: thrown === undefined ? 'unsettled' : 'handler_error' });
      }
      if (thrown !== undefined) onHandlerError?.({ err: thrown.err, retried, deadLettered });
      // The invocation lasts until every send has settled its message (each catches its own failure).
      await Promise.all(sends);
    },
  };
}
