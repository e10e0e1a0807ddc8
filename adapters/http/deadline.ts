// Bounds on the operations routes' reads of Redis and Postgres (and on the CLI's closing of both). The clients wait
// out an outage (a command waits for the reconnect: adapters/redis/client.ts), which is right for the pipeline's work
// and wrong for an answer an orchestrator or a scraper is waiting for: /ready must say 503, /metrics must still show
// the counters, and a stopping process must exit. withDeadline also bounds a handle's DNS lookups
// (identity/handle-resolver.ts) and a stopping consumer's take-back (long-runners/consumer/stream-consumer.ts).

/** How long /ready and /metrics wait for a dependency before answering without it. */
export const OPERATIONS_DEADLINE_MS = 2000;

export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/** `work`'s outcome, or a DeadlineError after `ms`, whichever comes first. `work` goes on: it cannot be cancelled. */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** A shared call pending longer than this is given up on: the next caller starts a fresh one (shareInFlight). */
export const STALE_PROBE_MS = 2 * OPERATIONS_DEADLINE_MS;
/** Calls given up on that may still be pending at once: each may hold a pooled connection. */
const MAX_ABANDONED = 2;

/**
 * `fn`, with one call in flight at a time: a call made while the last is pending joins it. A dependency that hangs
 * then holds one probe, not one more per scrape or readiness poll for as long as the outage lasts. A call pending past
 * `staleAfterMs` is given up on (at most MAX_ABANDONED at once): one stuck on a connection whose peer went silent (a
 * failover's old primary, a dropped NAT flow; Postgres has no client-side timeout) kept /ready at 503 for as long as
 * TCP took to give up, about 15 minutes, while fresh connections worked.
 */
export function shareInFlight<T>(fn: () => Promise<T>, staleAfterMs = STALE_PROBE_MS, now: () => number = Date.now): () => Promise<T> {
  let pending: { call: Promise<T>; at: number } | undefined;
  let abandoned = 0;
  return () => {
    if (pending !== undefined && (now() - pending.at < staleAfterMs || abandoned >= MAX_ABANDONED)) return pending.call;
    if (pending !== undefined) {
      abandoned++;
      const settled = () => void abandoned--;
      pending.call.then(settled, settled);
    }
    const call = Promise.resolve().then(fn);
    const entry = { call, at: now() };
    pending = entry;
    const clear = () => {
      if (pending === entry) pending = undefined;
    };
    call.then(clear, clear);
    return call;
  };
}
