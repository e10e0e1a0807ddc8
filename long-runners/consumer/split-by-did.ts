// One read of an index stream indexed as several transactions at once (INDEXER_SPLIT), its events split by DID: no
// repo is in two parts, and each part keeps the stream order of its events. Two loops on one stream read
// interleaved batches instead, so one repo's events sat in both and each loop waited for the other's row and
// advisory locks (and an account change could commit after a later one, README "Batches in flight"); a split read
// gets the parallelism of STREAM_SHARDS=2 while rsky's stream names stay. Every part settles before the read does.
import { dependencyErrorIn, InvariantError } from '../../functions/errors.ts';
import { didHash } from '../../adapters/redis/keys.ts';
import type { ItemOutcome } from '../../functions/result.ts';
import { handleChecked, type BatchHandler } from './isolate-failures.ts';

/** Any basis but FNV's own. */
const PART_BASIS = 0x9747b28c;

/**
 * The part of a DID among `parts`: the shard hash from another basis (adapters/redis/keys.ts). With STREAM_SHARDS=2
 * every DID of one shard has the same shard hash modulo 2, and splitting by that hash again would leave one part empty.
 */
export function didPart(did: string, parts: number): number {
  return parts <= 1 ? 0 : didHash(did, PART_BASIS) % parts;
}

/** Positions of `items` in each non-empty part, in stream order. */
export function partsByDid<T>(items: readonly T[], parts: number, didOf: (item: T) => string): number[][] {
  const groups: number[][] = Array.from({ length: Math.max(1, parts) }, () => []);
  items.forEach((item, i) => (groups[didPart(didOf(item), parts)] as number[]).push(i));
  return groups.filter((g) => g.length > 0);
}

/**
 * Calls `handle` once per part, all at once, and returns the outcomes in the order of `items`. When a part throws,
 * the others are still waited for (they commit or not on their own), then the error is thrown: a broken contract
 * first (it stops the consumer), then an outage's (the caller waits it out rather than bisecting). The parts that
 * committed are applied again on the retry, which the index's rev rule makes a no-op.
 */
export async function handleSplit<T>(
  items: readonly T[],
  parts: number,
  didOf: (item: T) => string,
  handle: BatchHandler<T>,
): Promise<ItemOutcome[]> {
  const groups = partsByDid(items, parts, didOf);
  if (groups.length <= 1) return handle([...items]);
  const settled = await Promise.allSettled(groups.map((g) => handleChecked(handle, g.map((i) => items[i] as T))));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length > 0) {
    throw failures.find((err) => err instanceof InvariantError) ?? failures.find((err) => dependencyErrorIn(err) !== undefined) ?? failures[0];
  }
  const outcomes: ItemOutcome[] = new Array<ItemOutcome>(items.length);
  groups.forEach((g, k) => {
    const got = (settled[k] as PromiseFulfilledResult<ItemOutcome[]>).value;
    g.forEach((position, j) => (outcomes[position] = got[j] as ItemOutcome));
  });
  return outcomes;
}
