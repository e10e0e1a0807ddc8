// The one loop that waits out an outage of a dependency around one step: the step is tried again with a capped,
// jittered backoff for as long as the outage lasts (never a verdict on the work, never a crash loop), each wait
// counted through `onWait`, the 1st, 10th, 100th... logged through `warn` (an outage of hours logs a handful of lines),
// and a stop request ends the waiting. Used by `run --migrate` (a Postgres still starting), the subscription core
// (a Redis refusing a batch's write) and the sweep (a Postgres down, a Redis refusing a page's write). Each caller
// says what an outage is, and words its own log lines.
import { dependencyErrorIn, type Dependency } from '../functions/errors.ts';
import { createBackoff } from '../functions/backoff.ts';
import { sleep } from './sleep.ts';

export interface WaitOutOptions {
  /** The outage `err` is, as the message to log and report; undefined for any other error, which is thrown. */
  outage: (err: unknown) => string | undefined;
  /** Delays between tries, doubling from `baseMs` up to `maxMs`, equal jitter. */
  backoff: { baseMs: number; maxMs: number };
  /** Ends the waiting (at once, or after the wait it cuts short); absent: waits for as long as it takes. */
  signal?: AbortSignal;
  /**
   * After a stop cut a wait short, try the step once more before giving up (a flush on stop that may still land);
   * without it, a stop during a wait gives up at once.
   */
  lastTryOnStop?: boolean;
  /** The task's beat (supervisor.ts): each wait is a legitimate one, however long the outage. */
  beat?: () => void;
  /** Every wait, before it sleeps: count it (a metric, the outage board). */
  onWait?: (wait: { waits: number; delayMs: number; why: string }) => void;
  /** The sampled waits (the 1st, 10th, 100th...): the caller's log line. */
  warn: (wait: { waits: number; delayMs: number; why: string }) => void;
}

/** The step's value and how many waits it took; or, stopped while the outage lasted, what the outage was. */
export type WaitedOut<T> = { value: T; waits: number } | { stopped: true; why: string; err: unknown };

export async function waitOut<T>(step: () => Promise<T>, o: WaitOutOptions): Promise<WaitedOut<T>> {
  const delays = createBackoff({ ...o.backoff, jitter: 'equal' });
  const signal = o.signal ?? new AbortController().signal;
  let waits = 0;
  for (;;) {
    try {
      return { value: await step(), waits };
    } catch (err) {
      const why = o.outage(err);
      if (why === undefined) throw err;
      if (signal.aborted) return { stopped: true, why, err };
      const wait = { waits: ++waits, delayMs: delays.next(), why };
      if (Number.isInteger(Math.log10(waits))) o.warn(wait);
      o.onWait?.(wait);
      await sleep(wait.delayMs, signal, o.beat);
      if (signal.aborted && o.lastTryOnStop !== true) return { stopped: true, why, err };
    }
  }
}

/** An outage of `dependency` (a DependencyError in the cause chain naming it), as its message; else undefined. */
export function outageOf(dependency: Dependency): (err: unknown) => string | undefined {
  return (err) => {
    const outage = dependencyErrorIn(err);
    return outage?.dependency === dependency ? outage.message : undefined;
  };
}
