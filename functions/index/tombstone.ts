// Where a deleted record's rev is kept. `record` holds live records only, as the AppView's does (its readers take a
// row there for a record that exists: its notification listing hides a notification whose subject has none). A
// delete's rev goes to `record_tombstone` (migration 0008), so that an older create arriving later (a backfill racing
// the live stream, a replay) cannot resurrect the record: processor.ts, the rev gate.

/**
 * The `json` of the row a delete writes into `record` inside its batch's transaction, where the rev gate's upsert
 * takes the URI's row lock and orders it against a concurrent batch's writes, before the row moves to
 * `record_tombstone` in the same transaction (nothing outside it ever sees it). The JSON `null`, which the AppView's
 * readers would read as no record.
 */
export const TOMBSTONE_JSON = 'null';
