// When a batch function throws, find out whether one entry is poison or everything is failing. The batch is split in
// halves until each throwing part is a single entry; the entries that still throw on their own are marked, the rest
// get their real outcomes. Cost: O(k log n) calls for k poison entries in n.
import type { ItemOutcome } from '../../functions/result.ts';

export const THREW = Symbol('threw');
export type IsolatedOutcome = ItemOutcome | typeof THREW;

export async function handleIsolatingFailures<T>(
  items: readonly T[],
  handle: (items: T[]) => Promise<ItemOutcome[]>,
  onError: (err: unknown, size: number) => void,
): Promise<IsolatedOutcome[]> {
  try {
    const outcomes = await handle([...items]);
    if (outcomes.length !== items.length) throw new Error(`handler returned ${outcomes.length} outcomes for ${items.length} items`);
    return outcomes;
  } catch (err) {
    onError(err, items.length);
    if (items.length === 1) return [THREW];
    const mid = Math.ceil(items.length / 2);
    return [
      ...(await handleIsolatingFailures(items.slice(0, mid), handle, onError)),
      ...(await handleIsolatingFailures(items.slice(mid), handle, onError)),
    ];
  }
}
