// Calls a batch function until it gives every entry an outcome, telling an outage from poison entries.
// - A throw is first taken for a blip: the whole batch is retried after a backoff.
// - A dependency probe that fails means an outage: wait and retry the whole batch, for as long as it takes, counting
//   nothing against the entries (their deliveries do not rise: the caller keeps them claimed before each wait).
// - After the whole batch threw twice, bisect it: entries that throw on their own are returned as THREW (the caller
//   leaves them pending, so each redelivery counts), the rest keep their outcomes.
// - If every entry threw on its own: with a probe, the probe decides; without one, several entries all failing
//   alone look like an outage, retried for a bounded number of rounds so that all-poison batches cannot block forever.
import type { Log } from '../../functions/ports.ts';
import { describeError, InvariantError } from '../../functions/errors.ts';
import { handleChecked, isolateFailures, THREW, type BatchHandler, type IsolatedOutcome } from './isolate-failures.ts';
import { sleep } from '../sleep.ts';
import { createBackoff } from '../../functions/backoff.ts';

export interface RetryBackoff {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY_BACKOFF: RetryBackoff = { baseMs: 250, maxMs: 30_000 };
/** Whole-batch throws before the batch is bisected. */
export const THROWS_BEFORE_SPLIT = 2;
/** Without a probe, rounds in which every entry threw alone that still count as an outage. */
export const UNPROBED_OUTAGE_ROUNDS = 5;

export interface RunBatchOptions<T> {
  handle: BatchHandler<T>;
  probe?: (() => Promise<void>) | undefined;
  backoff: RetryBackoff;
  signal: AbortSignal;
  /** Runs before every wait: keeps the batch's entries claimed so no one else takes them meanwhile. */
  beforeWait: () => Promise<void>;
  log: Log;
  stream: string;
}

/** Outcomes in input order, or 'aborted' when the signal fired while waiting (nothing is settled then). */
export async function runBatch<T>(items: readonly T[], o: RunBatchOptions<T>): Promise<IsolatedOutcome[] | 'aborted'> {
  const delays = createBackoff({ ...o.backoff, jitter: 'equal' });
  const nextDelay = () => delays.next();
  const onError = (err: unknown, size: number) => o.log.warn('batch function threw', { stream: o.stream, size, err: describeError(err) });
  const dependencyDown = async (): Promise<boolean> => {
    if (o.probe === undefined) return false;
    try {
      await o.probe();
      return false;
    } catch (err) {
      o.log.warn('dependency probe failed', { stream: o.stream, err: describeError(err) });
      return true;
    }
  };
  const wait = async (why: string): Promise<boolean> => {
    if (o.signal.aborted) return false;
    await o.beforeWait();
    const ms = nextDelay();
    o.log.warn('batch retry scheduled', { stream: o.stream, size: items.length, why, retryInMs: ms });
    await sleep(ms, o.signal);
    return !o.signal.aborted;
  };

  let throws = 0;
  let outageRounds = 0;
  for (;;) {
    try {
      return await handleChecked(o.handle, items);
    } catch (err) {
      if (err instanceof InvariantError) throw err;
      throws++;
      onError(err, items.length);
    }
    if (await dependencyDown()) {
      if (!(await wait('dependency down'))) return 'aborted';
      continue;
    }
    if (throws < THROWS_BEFORE_SPLIT) {
      if (!(await wait('batch threw'))) return 'aborted';
      continue;
    }
    const outcomes = await isolateFailures(items, o.handle, onError);
    if (!outcomes.every((outcome) => outcome === THREW)) return outcomes;
    const outage = o.probe !== undefined ? await dependencyDown() : items.length > 1 && outageRounds < UNPROBED_OUTAGE_ROUNDS;
    if (!outage) return outcomes;
    outageRounds++;
    throws = 0;
    if (!(await wait('every entry threw'))) return 'aborted';
  }
}
