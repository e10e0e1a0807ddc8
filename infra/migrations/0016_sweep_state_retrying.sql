-- The Worker's listRepos sweep retries the ranges it skipped, as the Redis sweeper does (functions/sweep-skipped.ts):
-- when a pass reaches the end of the listing, `retrying` takes a copy of `skipped`, and the ticks that follow take
-- those ranges one page each (before any new pass), under the same attempt rules as any page (`failures`). A page
-- that comes is sent to the queue and its range leaves `skipped`; one that fails SWEEP_PAGE_ATTEMPTS ticks leaves
-- `retrying` only, kept in `skipped` for the next pass's end.
alter table sweep_state add column retrying text[] not null default '{}';
