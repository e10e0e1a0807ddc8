// The lanes of an index stream's reads (INDEXER_SPLIT): each read is split by DID into that many parts, indexed as
// transactions at once, and a DID's events always go to the same lane, which the consumer runs in stream order
// (stream-consumer.ts, `lanes`). No repo is in two transactions in flight. Two loops on one stream read interleaved
// batches instead, so one repo's events sat in both and each loop waited for the other's row and advisory locks (and
// an account change could commit after a later one, README "Batches in flight"); lanes get the parallelism of
// STREAM_SHARDS=2 while rsky's stream names stay.
import { didHash } from '../../adapters/redis/keys.ts';

/** Any basis but FNV's own. */
const PART_BASIS = 0x9747b28c;

/**
 * The part of a DID among `parts`: the shard hash from another basis (adapters/redis/keys.ts). With STREAM_SHARDS=2
 * every DID of one shard has the same shard hash modulo 2, and splitting by that hash again would leave one part empty.
 */
export function didPart(did: string, parts: number): number {
  return parts <= 1 ? 0 : didHash(did, PART_BASIS) % parts;
}

/**
 * Reads of an index stream in flight per loop (stream-consumer.ts, `batchesInFlight`): a lane done with its part of
 * one read starts on its part of the next while the other lanes finish theirs.
 */
export const INDEX_READS_IN_FLIGHT = 2;

/** The consumer's `lanes` for INDEXER_SPLIT = `parts`: an item's lane is its DID's part. */
export function didLanes<T>(parts: number, didOf: (item: T) => string): { count: number; of: (item: T) => number } {
  const count = Math.max(1, Math.floor(parts));
  return { count, of: (item) => didPart(didOf(item), count) };
}
