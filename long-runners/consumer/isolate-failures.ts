// A batch function that keeps throwing may be down, or one entry may be poison. Bisect the batch until every part
// that throws is a single entry: those entries are marked as having thrown (with what they threw, for the DLQ), the
// rest keep their real outcomes. The caller calls
// this only once the whole batch has thrown, so that call is not repeated. Cost: O(k log n) calls for k poison
// entries in n; when every entry throws (an outage), 2n - 2 calls, which is why the caller retries whole batches first.
// A DependencyError met on the way is an outage, not a poison entry: it ends the bisection (thrown to the caller).
import { dependencyErrorIn, describeError, InvariantError } from '../../functions/errors.ts';
import type { ItemOutcome } from '../../functions/result.ts';

/** An entry that made the function throw on its own: no outcome, only the error. */
export interface Threw {
  readonly threw: string;
}
export type IsolatedOutcome = ItemOutcome | Threw;

export const threw = (err: unknown): Threw => ({ threw: describeError(err) });
export const isThrew = (outcome: IsolatedOutcome | undefined): outcome is Threw => outcome !== undefined && 'threw' in outcome;

export type BatchHandler<T> = (items: T[]) => Promise<ItemOutcome[]>;

/** Calls `handle` and insists on one outcome per item: anything else is our bug, not the entries' fault. */
export async function handleChecked<T>(handle: BatchHandler<T>, items: readonly T[]): Promise<ItemOutcome[]> {
  const outcomes = await handle([...items]);
  if (outcomes.length !== items.length) throw new InvariantError(`batch function returned ${outcomes.length} outcomes for ${items.length} items`);
  return outcomes;
}

/** `items` is known to throw as a whole: `error` is what it threw. */
export async function isolateFailures<T>(
  items: readonly T[],
  handle: BatchHandler<T>,
  onError: (err: unknown, size: number) => void,
  error: unknown,
): Promise<IsolatedOutcome[]> {
  if (items.length <= 1) return items.map(() => threw(error));
  const mid = Math.ceil(items.length / 2);
  const halves = [items.slice(0, mid), items.slice(mid)];
  const outcomes: IsolatedOutcome[] = [];
  for (const half of halves) {
    try {
      outcomes.push(...(await handleChecked(handle, half)));
    } catch (err) {
      if (err instanceof InvariantError || dependencyErrorIn(err) !== undefined) throw err;
      onError(err, half.length);
      outcomes.push(...(await isolateFailures(half, handle, onError, err)));
    }
  }
  return outcomes;
}
