// Retry delays for everything that tries again (subscription reconnects, consumer outages, identity waits and the
// identity outage breaker; pure, so adapters and long-runners share this one generator):
// exponential from `baseMs`, capped at `maxMs`, with jitter so that many instances never retry in lockstep.
// - `full` jitter (the default) draws from [0, cap): the widest spread, for reconnect storms against one upstream.
// - `equal` jitter draws from [cap/2, cap): never close to zero, for retries that must not spin.
// p-retry (a dependency) wraps one call; these loops need the delays themselves (they keep entries claimed, reset
// after a healthy connection, wait on a signal), so this small generator is the one source of them.

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  jitter?: 'full' | 'equal';
  random?: () => number;
}

export interface Backoff {
  /** The delay before the next attempt; each call doubles the cap up to `maxMs`. */
  next(): number;
  /** Back to `baseMs`: the thing being retried is evidently healthy again. */
  reset(): void;
  /** Delays handed out since the last reset. */
  readonly attempts: number;
}

/** 2^30 times any base is past every cap: the exponent stops growing there. */
const MAX_EXPONENT = 30;

export function createBackoff(options: BackoffOptions): Backoff {
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    next() {
      const cap = Math.min(options.maxMs, options.baseMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, MAX_EXPONENT);
      return options.jitter === 'equal' ? Math.round(cap / 2 + (random() * cap) / 2) : Math.floor(random() * cap);
    },
    reset() {
      attempt = 0;
    },
    get attempts() {
      return attempt;
    },
  };
}
