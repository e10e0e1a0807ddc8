// Waiting that a stop request cuts short. Every loop that waits (reconnects, retries, schedules, backpressure) waits
// through this, so SIGTERM never sits out a backoff; given the task's beat, a wait is reported as one, not a hang.

/**
 * setTimeout's longest delay (2^31 - 1 ms, 24.8 days). Node fires a longer one after 1 ms (TimeoutOverflowWarning),
 * so a SWEEP_CRON whose next time is further away (a monthly or yearly one) swept again and again without a pause.
 */
const MAX_TIMER_MS = 2_147_483_647;

/** How often a sleep given a beat beats: a wait of any length (a cron's, an idle task's) is not taken for a hang. */
export const SLEEP_BEAT_MS = 10_000;

/**
 * Resolves after `ms` (however long: waits past the timer's limit are taken in steps), or at once when `signal` aborts.
 * With `beat` (the supervisor's, supervisor.ts), it beats as it starts and every SLEEP_BEAT_MS: a legitimate wait.
 */
export function sleep(ms: number, signal: AbortSignal, beat?: () => void): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    let left = ms;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      beat?.();
      const step = Math.min(left, beat === undefined ? MAX_TIMER_MS : SLEEP_BEAT_MS);
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
