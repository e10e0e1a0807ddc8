// What a plugin is: the typed rows of one record type. The processor decides WHETHER a record changes (the rev gate);
// a plugin only says HOW its rows look, writes them, removes them, and reports the aggregate deltas of the rows it
// actually touched.
import type { JsonObject, JsonValue } from '../../events.ts';
import type { SqlExecutor } from '../../ports.ts';
import type { AggregateDeltas } from '../aggregates.ts';
import type { RecordEvent } from '../../events.ts';

/** A record op that counted (its account active, not stale against a snapshot), as `versions` sees it. */
export interface CountedOp {
  uri: string;
  event: RecordEvent;
}

/** A live record whose write passed the rev gate. */
export interface IndexedRecord {
  uri: string;
  cid: string;
  did: string;
  collection: string;
  rkey: string;
  record: JsonObject;
  indexedAt: string;
}

/** The metric label for a plugin's records; `other` for the collections only the generic `record` table holds. */
export const RECORD_FAMILIES = [
  'post', 'like', 'repost', 'follow', 'block', 'profile', 'list', 'listitem', 'listblock', 'feedgen', 'starterpack',
  'threadgate', 'postgate', 'labeler', 'verification', 'listoptout', 'other',
] as const;
export type RecordFamily = (typeof RECORD_FAMILIES)[number];

export interface Plugin {
  collection: string;
  family: RecordFamily;
  /** Writes typed rows; returns the uris whose records lack this plugin's shape (they keep only their `record` row). */
  insert(tx: SqlExecutor, records: readonly IndexedRecord[], deltas: AggregateDeltas): Promise<string[]>;
  /**
   * Removes the typed rows of these uris (an update or a delete), counting what was actually removed. `times` holds
   * the time of the event that removed each uri, when there was one (a purge has none).
   */
  remove(tx: SqlExecutor, uris: readonly string[], deltas: AggregateDeltas, times?: ReadonlyMap<string, string>): Promise<void>;
  /**
   * Sees every op of its collection that counted in the batch, the ones superseded within it included, before any
   * row is removed or inserted: for record types whose every version matters (thread and post gates keep a history,
   * gates.ts), so that where the batch boundaries fall changes nothing.
   */
  versions?(tx: SqlExecutor, ops: readonly CountedOp[], deltas: AggregateDeltas): Promise<void>;
}

export type { JsonObject, JsonValue };
