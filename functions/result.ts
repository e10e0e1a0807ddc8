// What a per-batch function returns: one outcome per input item, plus follow-up work the caller enqueues.
// Functions mark items; they throw only for broken infrastructure (the whole batch retries) or a broken invariant.
import type { Reason } from './reasons.ts';

export type ItemOutcome =
  | { status: 'ok' }
  | { status: 'retry'; reason: Reason; message?: string }
  | { status: 'dead'; reason: Reason; message?: string }
  /**
   * The entry is fine, but something it depends on that the consumer's probe cannot check (a did:web labeler's own
   * host) is unavailable: it stays pending and comes back later, and this delivery does not count toward the DLQ.
   * It may be taken up after later entries of its lane, so only for functions whose result does not depend on order.
   * `on`: what it waits on (the label function: the did:web source whose host is down), so that the caller may move
   * it aside to wait per host (label-parking.ts) rather than keep it in the stream.
   */
  | { status: 'wait'; reason: Reason; message?: string; on?: string };

/** A repo whose index cannot be trusted from the live stream alone and must be re-fetched whole. */
export interface ResyncRequest {
  did: string;
  reason: Reason;
}

export interface BatchResult {
  /** Same length and order as the input batch. */
  outcomes: ItemOutcome[];
  resync: ResyncRequest[];
}

export const ok: ItemOutcome = { status: 'ok' };

export function retry(reason: Reason, message?: string): ItemOutcome {
  return message === undefined ? { status: 'retry', reason } : { status: 'retry', reason, message };
}

export function wait(reason: Reason, message?: string, on?: string): ItemOutcome {
  const outcome: ItemOutcome = message === undefined ? { status: 'wait', reason } : { status: 'wait', reason, message };
  return on === undefined ? outcome : { ...outcome, on };
}

export function dead(reason: Reason, message?: string): ItemOutcome {
  return message === undefined ? { status: 'dead', reason } : { status: 'dead', reason, message };
}
