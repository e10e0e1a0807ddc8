// Waiting that a stop request cuts short. Every loop that waits (reconnects, retries, schedules, backpressure) waits
// through this, so SIGTERM never sits out a backoff.

/**
 * setTimeout's longest delay (2^31 - 1 ms, 24.8 days). Node fires a longer one after 1 ms (TimeoutOverflowWarning),
 * so a SWEEP_CRON whose next time is further away (a monthly or yearly one) swept again and again without a pause.
 */
const MAX_TIMER_MS = 2_147_483_647;

/** Resolves after `ms` (however long: waits past the timer's limit are taken in steps), or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    let left = ms;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      const step = Math.min(left, MAX_TIMER_MS);
      left -= step;
      timer = setTimeout(left > 0 ? arm : done, step);
    };
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
    arm();
  });
}
