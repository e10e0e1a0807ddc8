// Reconnect delays: exponential with full jitter, capped, reset once a connection has stayed up long enough that the
// upstream is evidently healthy again. Full jitter keeps many instances from reconnecting in lockstep.
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** A connection that lived this long resets the delay. */
  healthyAfterMs: number;
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 60_000, healthyAfterMs: 30_000 };

export function createBackoff(options: BackoffOptions = DEFAULT_BACKOFF) {
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    /** The delay before the next attempt, given how long the last connection lived. */
    next(livedMs: number): number {
      if (livedMs >= options.healthyAfterMs) attempt = 0;
      const cap = Math.min(options.maxMs, options.baseMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      return Math.floor(random() * cap);
    },
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
