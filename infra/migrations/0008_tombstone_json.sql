-- A deleted record's row in `record` (its tombstone, which keeps the delete's rev so that an older create cannot
-- resurrect it) holds the JSON `null` instead of '': the AppView's data plane parses `json` of every row it reads,
-- and '' made its JSON.parse throw, failing the whole request (a thread or feed that referred to a deleted post).
-- `null` with the tombstone's empty cid reads there as a record it never had (functions/index/tombstone.ts).
-- On a large database this reads the whole table once; the pipeline waits for the migration.
update record set json = 'null' where json = '' and cid = '';
