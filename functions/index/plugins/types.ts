// What a plugin is: the typed rows of one record type. The processor decides WHETHER a record changes (the rev gate);
// a plugin only says HOW its rows look, writes them, removes them, and reports the aggregate deltas of the rows it
// actually touched.
import type { JsonObject, JsonValue } from '../../events.ts';
import type { SqlExecutor } from '../../ports.ts';
import type { AggregateDeltas } from '../aggregates.ts';

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
export type RecordFamily = 'post' | 'like' | 'repost' | 'follow' | 'block' | 'profile' | 'other';

export interface Plugin {
  collection: string;
  family: RecordFamily;
  /** Writes typed rows; returns the uris whose records lack this plugin's shape (they keep only their `record` row). */
  insert(tx: SqlExecutor, records: readonly IndexedRecord[], deltas: AggregateDeltas): Promise<string[]>;
  /** Removes the typed rows of these uris (an update or a delete), counting what was actually removed. */
  remove(tx: SqlExecutor, uris: readonly string[], deltas: AggregateDeltas): Promise<void>;
}

export type { JsonObject, JsonValue };
