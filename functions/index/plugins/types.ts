// What a plugin is: the typed rows of one record type. The processor decides WHETHER a record changes (the rev gate);
// a plugin only says HOW its rows look, writes them, removes them, and reports the aggregate deltas of the rows it
// actually touched.
import type { JsonObject, JsonValue } from '../../events.ts';
import type { SqlExecutor } from '../../ports.ts';
import type { AggregateDeltas } from '../aggregates.ts';
import type { RecordEvent } from '../../events.ts';

/** A record op that counted (its account active, not stale against a snapshot), as `versions` sees it. */
export interface CountedOp {
  position: number;
  uri: string;
  event: RecordEvent;
}

/** What `record` held for a uri before the batch: its op's rev and cid, and the record (null: a tombstone). */
export interface StoredOp {
  rev: string;
  cid: string;
  record: JsonObject | null;
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
  /** Removes the typed rows of these uris (an update or a delete), counting what was actually removed. */
  remove(tx: SqlExecutor, uris: readonly string[], deltas: AggregateDeltas): Promise<void>;
  /**
   * Sees every op of its collection that counted in the batch, the ones superseded within it included, and what each
   * record was before the batch, before any row is removed or inserted: for record types whose every version matters
   * (gates keep a history, gates.ts; verifications notify on each change), so that batch boundaries change nothing.
   */
  versions?(tx: SqlExecutor, ops: readonly CountedOp[], deltas: AggregateDeltas, before: ReadonlyMap<string, StoredOp>): Promise<void>;
}

export type { JsonObject, JsonValue };
