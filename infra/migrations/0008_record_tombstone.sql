-- A deleted record's rev moves out of `record` into a table of its own. `record` then holds live records only, as
-- the AppView's does: its code reads a `record` row as a record that exists (its notification listing hides a
-- notification whose subject has no row; its record reads parse every row's json, and an empty one threw). The
-- tombstone still keeps the delete's rev, so an older create arriving later cannot resurrect the record
-- (functions/index/tombstone.ts, processor.ts).
-- On a large database the move reads `record` once; the pipeline waits for the migration.
create table if not exists record_tombstone (
  uri varchar primary key,
  did varchar not null,
  rev varchar not null,
  "indexedAt" varchar not null
);
-- A deleted account's tombstones go with it (account-deletion.ts).
create index if not exists record_tombstone_did_idx on record_tombstone (did);

insert into record_tombstone (uri, did, rev, "indexedAt")
  select uri, did, rev, "indexedAt" from record where cid = '' and json in ('', 'null')
  on conflict (uri) do nothing;
delete from record where cid = '' and json in ('', 'null');
