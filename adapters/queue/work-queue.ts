// The work-queue port: the operations every runtime can offer for a queue of jobs (repos to backfill, first of all),
// whether it is a Redis stream with a consumer group (Node, containers), a Cloudflare Queue (Workers) or an
// in-process queue (`npm run dev` without Redis). One shared contract suite (tests/contract/) runs against each
// implementation: what it promises is exactly what the suite checks.
// Promises of every implementation:
// - `send` is durable when it resolves (as durable as the implementation's storage: the in-process one says it is
//   not); a `delayMs` keeps the message invisible at least that long.
// - Every message sent is delivered at least once to `receive`'s handler, with `attempts` = 1 on its first delivery
//   and one more on each later one; a message is never lost between deliveries.
// - `ack()` removes it for good. `retry()` delivers it again (after `delayMs` when given) with `attempts` + 1;
//   `retry({ outage: true })` delivers it again without counting an attempt (a dependency outage is not the message's
//   fault). A message neither acked nor retried when the handler returns is delivered again, as after a crash.
// - Past `maxAttempts` deliveries a message that is retried goes to the queue's dead-letter queue with its reason
//   (`deadLetter(reason)` sends it there at once, for a verdict on the message itself).
// Scope: work that is handed over whole, a message at a time (repos to backfill; label and index batches could follow).
// The firehose adapter's writes stay Redis-specific on purpose: entries, their cursor and each repo's continuity state
// land in one MULTI, an atomicity no queue service offers, and no Worker runs the firehose.
// Consumption differs by runtime (a pull loop on Node, a push handler on Workers), so `receive` is what a runtime
// calls with what arrived; the port does not say who drives it.

export interface QueueMessage<T> {
  readonly id: string;
  readonly body: T;
  /** Deliveries so far, this one included (outage retries not counted). */
  readonly attempts: number;
  ack(): void;
  retry(options?: { delayMs?: number; outage?: boolean; reason?: string }): void;
  deadLetter(reason: string): void;
}

export interface WorkQueue<T> {
  send(bodies: readonly T[], options?: { delayMs?: number }): Promise<void>;
}

/** The handler side: a batch of messages, each settled by the handler (ack, retry or deadLetter). */
export type QueueHandler<T> = (messages: readonly QueueMessage<T>[]) => Promise<void>;
