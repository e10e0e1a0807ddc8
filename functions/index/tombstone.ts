// How `record` marks a deleted record. The row stays, with the delete's rev, so that an older create arriving later
// cannot resurrect it (processor.ts: the rev gate).

/**
 * The `json` of a deleted record's row (its tombstone, with an empty cid): the JSON `null`, which the AppView's data
 * plane reads as it reads a record it never had (it parses `json` and drops an entry without a cid). Before migration
 * 0008 it was '', on which the data plane's JSON.parse threw and failed the whole request
 * (tests/integration/postgres/appview-reads.test.ts).
 */
export const TOMBSTONE_JSON = 'null';
