// Calls a batch function until it gives every entry an outcome, telling an outage from poison entries.
// - A throw that carries a DependencyError (anywhere in its cause chain) is an outage at once: wait with backoff
//   (jittered, capped) and call again with the same batch, for as long as it takes; no bisection. Nothing counts
//   against the entries (their deliveries do not rise: the caller keeps them claimed before each wait). Each wait is
//   reported to the outage board (counted, the outage's start and end logged once, shown as degraded).
// - Any other throw is first taken for a blip: the whole batch is retried after a backoff.
// - A dependency probe that fails then means an outage too, waited out the same way.
// - After the whole batch threw twice, bisect it: entries that throw on their own are returned as Threw (the caller
//   leaves them pending, so each redelivery counts), the rest keep their outcomes.
// - If every entry threw on its own: with a probe, the probe decides; without one, several entries all failing
//   alone look like an outage, retried for a bounded number of rounds so that all-poison batches cannot block forever.
import type { Log } from '../../functions/ports.ts';
import { DependencyError, dependencyErrorIn, describeError, InvariantError, type Dependency } from '../../functions/errors.ts';
import type { OutageBoard } from '../../adapters/observability/outage-board.ts';
import { handleChecked, isolateFailures, isThrew, type BatchHandler, type IsolatedOutcome } from './isolate-failures.ts';
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
  /** What a probe that fails without naming a DependencyError is taken to mean. Default: postgres (`select 1`). */
  probeDependency?: Dependency | undefined;
  backoff: RetryBackoff;
  /** The longest single wait, so that `beforeWait` claims the entries again before anyone else may take them. */
  maxWaitMs?: number | undefined;
  /** Where this loop (`waiter`) reports its outage waits. */
  outages?: { board: OutageBoard; waiter: string } | undefined;
  signal: AbortSignal;
  /** The supervisor's beat: every wait (an outage, a retry's backoff) is a legitimate one. */
  beat?: (() => void) | undefined;
  /** Runs before every wait: keeps the batch's entries claimed so no one else takes them meanwhile. */
  beforeWait: () => Promise<void>;
  log: Log;
  stream: string;
}

/** Outcomes in input order, or 'aborted' when the signal fired while waiting (nothing is settled then). */
export async function runBatch<T>(items: readonly T[], o: RunBatchOptions<T>): Promise<IsolatedOutcome[] | 'aborted'> {
  const delays = createBackoff({ ...o.backoff, jitter: 'equal' });
  const nextDelay = () => delays.next();
  const outageDelays = createBackoff({ ...o.backoff, jitter: 'equal' });
  const nextOutageDelay = () => outageDelays.next();
  const onError = (err: unknown, size: number) => o.log.warn('batch function threw', { stream: o.stream, size, err: describeError(err) });
  /** The outage the probe finds, if any. */
  const probeOutage = async (): Promise<DependencyError | undefined> => {
    if (o.probe === undefined) return undefined;
    try {
      await o.probe();
      return undefined;
    } catch (err) {
      return dependencyErrorIn(err) ?? new DependencyError(o.probeDependency ?? 'postgres', 'the dependency probe failed', {}, { cause: err });
    }
  };
  const sleepFor = async (ms: number): Promise<boolean> => {
    if (o.signal.aborted) return false;
    await o.beforeWait();
    await sleep(Math.min(ms, o.maxWaitMs ?? Number.POSITIVE_INFINITY), o.signal, o.beat);
    return !o.signal.aborted;
  };
  const wait = async (why: string): Promise<boolean> => {
    const ms = nextDelay();
    o.log.warn('batch retry scheduled', { stream: o.stream, size: items.length, why, retryInMs: ms });
    return sleepFor(ms);
  };
  // Logged once per outage by the board (start and end), so each wait is only a debug line.
  const waitOutage = async (outage: DependencyError): Promise<boolean> => {
    const ms = nextOutageDelay();
    o.outages?.board.waiting(o.outages.waiter, outage.dependency, describeError(outage));
    o.log.debug('waiting out an outage', { stream: o.stream, size: items.length, dependency: outage.dependency, retryInMs: ms });
    return sleepFor(ms);
  };

  let throws = 0;
  let lastError: unknown;
  let outageRounds = 0;
  try {
    for (;;) {
      try {
        return await handleChecked(o.handle, items);
      } catch (err) {
        if (err instanceof InvariantError) throw err;
        const outage = dependencyErrorIn(err);
        if (outage !== undefined) {
          if (!(await waitOutage(outage))) return 'aborted';
          continue;
        }
        throws++;
        lastError = err;
        onError(err, items.length);
      }
      const probed = await probeOutage();
      if (probed !== undefined) {
        if (!(await waitOutage(probed))) return 'aborted';
        continue;
      }
      if (throws < THROWS_BEFORE_SPLIT) {
        if (!(await wait('batch threw'))) return 'aborted';
        continue;
      }
      let outcomes: IsolatedOutcome[];
      try {
        outcomes = await isolateFailures(items, o.handle, onError, lastError);
      } catch (err) {
        // An outage began while bisecting: the halves proved nothing. Wait it out, then start over.
        const outage = dependencyErrorIn(err);
        if (outage === undefined) throw err;
        throws = 0;
        if (!(await waitOutage(outage))) return 'aborted';
        continue;
      }
      if (!outcomes.every(isThrew)) return outcomes;
      if (o.probe !== undefined) {
        const again = await probeOutage();
        if (again === undefined) return outcomes;
        throws = 0;
        if (!(await waitOutage(again))) return 'aborted';
        continue;
      }
      if (items.length <= 1 || outageRounds >= UNPROBED_OUTAGE_ROUNDS) return outcomes;
      outageRounds++;
      throws = 0;
      if (!(await wait('every entry threw'))) return 'aborted';
    }
  } finally {
    o.outages?.board.resumed(o.outages.waiter);
  }
}
