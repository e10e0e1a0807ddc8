-- When a post that exists again was last deleted. A delete's time stays in `record_tombstone` until the record is
-- written again; then this keeps it, so that a quote older than the delete, indexed later by a lane that lagged,
-- still loses its row as the AppView's delete took it (functions/index/post-removals.ts). Rows only for posts deleted
-- and written again: few.
create table if not exists post_removal (
  uri varchar primary key,
  did varchar not null,
  "removedAt" varchar not null
);
-- A deleted account's rows go with it (account-deletion.ts).
create index if not exists post_removal_did_idx on post_removal (did);
