// What a plugin is: the typed rows of one record type. The processor decides WHETHER a record changes (the rev gate);
// a plugin only says HOW its rows look, and which aggregate deltas a row inserted or removed carries.
//
// Two forms. A row plugin (RowPlugin) only describes: its tables, and the rows of one record. The index writes the
// rows of every row plugin of a batch together (typed-rows.ts): one staging step and ONE insert statement for all
// tables, ONE delete statement for all removals, counts from what those statements really inserted or deleted. A
// statement plugin (Plugin) writes and removes its rows itself, a few statements per batch; it is run after the row
// plugins, in the same transaction, for what the declarative form cannot say.
import type { JsonObject, JsonValue } from '../../events.ts';
import type { SqlExecutor, SqlRow } from '../../ports.ts';
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
  /** When the stored version (or the delete a tombstone keeps) was indexed: its event time. */
  indexedAt?: string;
}
import type { Columns, Row } from '../rows.ts';
import type { MembershipHistory } from '../memberships-at.ts';

/** A live record whose write passed the rev gate. */
export interface IndexedRecord {
  uri: string;
  cid: string;
  did: string;
  collection: string;
  rkey: string;
  record: JsonObject;
  indexedAt: string;
  /** Its op's position in the batch (statement plugins' records), to place it among the batch's other ops. */
  position?: number;
  /** A backfill's write: when its rkey says it was made, where earlier than `indexedAt` (events.ts). */
  madeAt?: string;
}

/**
 * What a statement plugin's `insert` may read of the rest of its batch: the counted ops of the record types whose
 * every version matters (gates, verifications), superseded ones included, and what each of those records was
 * before the batch. A post reads its root's thread gate as it stood at the post's own position in the stream.
 */
export interface BatchOps {
  versioned: readonly CountedOp[];
  before: ReadonlyMap<string, StoredOp>;
  /**
   * For a plugin with `notifiedSubject` (kept-notifications.ts): the URIs whose notification made before the batch
   * stays when the row comes back naming the same subject, and those an earlier op of the batch notifies for.
   */
  kept?: ReadonlySet<string>;
  first?: ReadonlyMap<string, IndexedRecord>;
  /** Quotes whose quoted post a later op of the batch removed (post-fates.ts): written without their quote row. */
  cutQuotes?: ReadonlySet<string>;
  /** The batch's follow and list-item ops, replayed to each reply's place for its gate's rules (memberships-at.ts). */
  memberships?: readonly CountedOp[];
  /** The posts the batch removed, deleted, or made and removed, with its post ops, for replies' ancestors (post-notifications.ts). */
  gonePosts?: GonePosts;
}

/**
 * What a post's removal in the stream takes of the quote rows naming it that were committed before it (the AppView's
 * deleteFn): those written no later than `time`, the event time of its last removal, but none quoting `cid`, the CID
 * the post ends at when its last op is a write (a quote of that version came after it). A quote later in the stream
 * whose batch committed first (another lane ran ahead, or the removal's batch was delivered again after a crash)
 * keeps its row: across repos, event times stand in for the stream's order.
 */
export interface Removal {
  time: string;
  cid?: string;
  /**
   * The time of the batch's last delete of the post that a later write of it followed (an edit may come after that
   * write): no tombstone keeps the delete's time, so `post_removal` does, for a quote older than it that a lagging
   * lane indexes later (gates.ts), as one event at a time the write's settling of the tombstone would.
   */
  deletedAt?: string;
  /**
   * The versions of the author's own reply (its thread's root is the author's) that the batch wrote and then
   * removed: one event at a time each wrote its op_thread_reply row, then marked it deleted (and it stays so), so the
   * rows are written marked deleted (one per thread root, the first version's parent, as the insert keeps).
   */
  opReplies?: { rootUri: string; parentUri: string }[];
}

/** How a statement plugin's `remove` is asked to remove (the post plugin reads sameCid and cascade, follow kept). */
export interface RemoveOptions {
  /**
   * Writes whose old version may be the very same: uri -> the CID written. A record held at that CID is no removal
   * at all (a backfill or a replay writing it again) and keeps its rows.
   */
  sameCid?: ReadonlyMap<string, string>;
  /**
   * Removals in the stream, which also remove what other records hold of them (the AppView's deleteFn: the quote rows
   * naming a removed post), by uri: what each removal takes (`Removal`). Not for an account's purge,
   * where the AppView leaves other accounts' rows alone.
   */
  cascade?: ReadonlyMap<string, Removal>;
  /**
   * For a plugin with `notifiedSubject` (kept-notifications.ts): the URIs whose notifications made before the batch
   * stay, for insert() to judge.
   */
  kept?: ReadonlySet<string>;
  /** Filled by the post plugin: each post whose row it removed, with its parent (post-notifications.ts, `GonePosts`). */
  gone?: Map<string, string | null>;
  /** Filled by the post plugin: the posts written again at the CID they hold (their rows kept whole). */
  keptWhole?: Set<string>;
}

/** The posts the batch removed (uri -> parent), and the ops of the posts it deletes: only those can be gone by its end. */
export interface GonePosts {
  /** The posts whose rows the batch removed (deleted, or written over with another version), with their parent then. */
  gone: ReadonlyMap<string, string | null>;
  /** The posts the batch deletes, edits or removes: a reply's chain through one may have stood otherwise before. */
  changed: ReadonlySet<string>;
  /** Every post op of the batch when `changed` has some (none otherwise): where each post came and went. */
  ops: readonly CountedOp[];
  /** The posts new to the index in this batch (no record row before it): not there before their first op. */
  inserted: ReadonlySet<string>;
  /** The posts the batch wrote and then removed (post-notifications.ts, madeAndRemoved): replies below them notified. */
  made: readonly string[];
}

/** The metric label for a plugin's records; `other` for the collections only the generic `record` table holds. */
export const RECORD_FAMILIES = [
  'post', 'like', 'repost', 'follow', 'block', 'profile', 'list', 'listitem', 'listblock', 'feedgen', 'starterpack',
  'threadgate', 'postgate', 'labeler', 'verification', 'listoptout', 'other',
] as const;
export type RecordFamily = (typeof RECORD_FAMILIES)[number];

/**
 * The AppView's one row per subject (its UNIQUE constraints: a like per post and liker, a follow per pair, ...): a
 * repo may hold several records naming the same subject, and the AppView indexes one of them, keeping the others in
 * `duplicate_record`. Here the one indexed (the holder) is the live record with the smallest URI, a function of the
 * records alone, so batch boundaries and replays cannot change it (duplicates.ts).
 */
export interface UniqueSubject {
  /** The table with one row per subject, and the columns naming the subject (the AppView's constraint). */
  table: string;
  columns: readonly string[];
  /** Every table a holder has rows in (its notifications included), and those rows for one record. */
  tables: readonly TableSpec[];
  rows(record: IndexedRecord): Readonly<Record<string, readonly Row[]>> | undefined;
}

export interface Plugin {
  collection: string;
  family: RecordFamily;
  unique?: UniqueSubject;
  /** Writes typed rows; returns the uris whose records lack this plugin's shape (they keep only their `record` row). */
  insert(tx: SqlExecutor, records: readonly IndexedRecord[], deltas: AggregateDeltas, batch?: BatchOps): Promise<string[]>;
  /**
   * Removes the typed rows of these uris (an update or a delete), counting what was actually removed; the
   * notifications of `options.kept` ones stay for insert() to judge (kept-notifications.ts).
   */
  remove(tx: SqlExecutor, uris: readonly string[], deltas: AggregateDeltas, options?: RemoveOptions): Promise<void>;
  /**
   * The subject a record notifies, for a record type whose update keeps the notification its first version made (the
   * AppView's notifsForDelete(deleted, replacedBy) of a follow makes and deletes nothing) while it names the same
   * subject; undefined when the record lacks the shape (kept-notifications.ts).
   */
  notifiedSubject?: (record: JsonObject) => string | undefined;
  /**
   * Where the subject `notifiedSubject` reads is held once indexed (the plugin's main table and column): an update keeps
   * its notifications only when the row it replaces named the same subject, whether or not those notifications are
   * still there (kept-notifications.ts `sameSubjects`).
   */
  subjectRow?: { table: string; column: string };
  /**
   * Sees every op of its collection that counted in the batch, the ones superseded within it included, and what each
   * record was before the batch, before any row is removed or inserted: for record types whose every version matters
   * (gates keep a history, gates.ts; verifications notify on each change), so that batch boundaries change nothing.
   * `related` holds the batch's counted ops of the records `relatedUri` names, whose state before the batch is in
   * `before` too. `memberships`: the batch's follows and list items, which it writes after this, to replay up to an
   * op's place (memberships-at.ts; a thread gate judges stored replies by them). What it returns runs once every
   * plugin has written its rows.
   */
  versions?(
    tx: SqlExecutor, ops: readonly CountedOp[], deltas: AggregateDeltas, before: ReadonlyMap<string, StoredOp>, related: readonly CountedOp[],
    memberships?: MembershipHistory,
  ): Promise<void | AfterWrites>;
  /**
   * Sees the ops of its collection that are older than their repo's verified snapshot (a backfill's CAR, then the
   * stream catching up): writes, which write no row, since the snapshot holds each record's last version, and deletes,
   * which go through the rev rule as well. What one event at a time did with them beyond the record's own row is done
   * here: a gate's history keeps its versions, a post's edit or delete takes the quotes it took. The writes' accounts
   * were active at their time and their lexicons accept them.
   */
  pastVersions?(tx: SqlExecutor, ops: readonly CountedOp[], deltas: AggregateDeltas): Promise<void>;
  /** Another record whose ops `versions` replays beside this one's (a gate's post), or undefined. */
  relatedUri?(uri: string): string | undefined;
}

/** What a `versions` hook leaves for after the batch's rows are written (a flag on a post the batch writes later). */
export type AfterWrites = (tx: SqlExecutor) => Promise<void>;

/** One table a row plugin writes. Plugins that write the same table (feed_item) share one TableSpec. */
export interface TableSpec {
  table: string;
  /** Column names and the types they are read as (at most STAGE_WIDTH of them). */
  columns: Columns;
  /** The column holding the record's URI: rows are written in its order and removed by it. */
  key: string;
  /**
   * A condition a removed row must also meet (SQL on the table's columns), for a table other record types write too
   * under the same key column (notification: only the reasons this plugin's records make).
   */
  removeOnly?: string;
  /**
   * What follows `on conflict` (for example `(uri) do nothing`); absent, a plain insert, for a table whose only unique
   * key is generated (notification's serial id), where nothing can conflict and speculative insertion is pure cost.
   */
  onConflict?: string;
  /**
   * A dependent table's rows are written only for records whose row in their plugin's main (non-dependent) table was
   * inserted by this batch: a main row already there was written, and counted, before.
   */
  dependent?: boolean;
  /**
   * Rows an update keeps (a row plugin's notifications, as the AppView's update keeps a like's): those of a record
   * `kept` names (its row before the batch named the subject its new version names: sameSubjects) stay when its main
   * row comes back, and its new version writes none; otherwise they go and the new version's are written
   * (kept-notifications.ts).
   */
  kept?: true;
  /** Columns of inserted and deleted rows that `count` reads. */
  returning?: readonly string[];
  /** The aggregate deltas of one row inserted (sign 1) or removed (sign -1). */
  count?(row: SqlRow, sign: 1 | -1, deltas: AggregateDeltas): void;
}

export interface RowPlugin {
  collection: string;
  family: RecordFamily;
  unique?: UniqueSubject;
  /** Every table this plugin writes, main tables first. */
  tables: readonly TableSpec[];
  /** As Plugin's: the subject while which an update keeps the rows of its `kept` tables (kept-notifications.ts). */
  notifiedSubject?: (record: JsonObject) => string | undefined;
  /** As Plugin's. */
  subjectRow?: { table: string; column: string };
  /** The rows of one record by table name, or undefined when it lacks this plugin's shape. */
  rows(record: IndexedRecord): Readonly<Record<string, readonly Row[]>> | undefined;
}

export type AnyPlugin = Plugin | RowPlugin;

export function isRowPlugin(plugin: AnyPlugin): plugin is RowPlugin {
  return 'rows' in plugin;
}

export type { JsonObject, JsonValue };
