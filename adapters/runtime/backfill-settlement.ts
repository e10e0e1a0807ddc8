// How the Worker's backfill consumer (worker.ts) settles a message by backfill-repo's outcome, through the work-queue
// port (the Cloudflare adapter turns each call into the platform's ack, retry or send). Kept apart from the Worker
// entry so the mapping can be checked without workerd: `wait` must cost no attempt, as an outage does.
import type { ItemOutcome } from '../../functions/result.ts';
import type { QueueMessage } from '../queue/work-queue.ts';

/** The settlements counted in skytide_work_queue_messages_total{outcome}. */
export type BackfillSettlement = 'ack' | 'retry' | 'outage' | 'dead';

/** A repo's own failure (its PDS down) comes back after 1, 2, 4... minutes, at most 15. */
export const retryDelayMs = (attempts: number) => Math.min(15 * 60_000, 60_000 * 2 ** Math.max(0, attempts - 1));

export function settleBackfill<T>(message: QueueMessage<T>, outcome: ItemOutcome, o: { outageDelayMs: number }): BackfillSettlement {
  switch (outcome.status) {
    case 'ok':
      message.ack();
      return 'ack';
    case 'dead':
      message.deadLetter(outcome.reason);
      return 'dead';
    case 'wait':
      // Fine, but its PDS asks us to slow down (429): sent again later (WORKER_OUTAGE_DELAY_MS), no attempt counted,
      // as for an outage. Counted, it would reach the DLQ after max_retries of a PDS rate-limiting us.
      message.retry({ outage: true, delayMs: o.outageDelayMs, reason: outcome.reason });
      return 'outage';
    case 'retry':
      message.retry({ reason: outcome.reason, delayMs: retryDelayMs(message.attempts) });
      return 'retry';
  }
}
