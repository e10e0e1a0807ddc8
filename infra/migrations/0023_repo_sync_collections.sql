-- The collections a repo was last synchronized under (INGESTER_COLLECTIONS, as functions/event-filter.ts writes it:
-- `collectionsKept`), null for every collection. A filter widened since (a feed generator adding follows) keeps
-- collections this repo's backfill left out: the repo is no longer taken as held at its rev, so the sweeps and the
-- backfill's shortcut fetch it again (functions/listed-in-sync.ts). Rows from before: null, as if every collection
-- had been kept, which is what the index had without a filter. A new nullable column: no rewrite.
alter table repo_sync add column if not exists collections varchar;
