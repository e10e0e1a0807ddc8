-- The Worker's listRepos sweep keeps the Redis sweeper's rule for a page that keeps failing (adapters/runtime/
-- worker-sweep.ts): a page bad in itself (a 4xx other than 408 and 429, a body that is no page) is counted against
-- its cursor, and after SWEEP_PAGE_ATTEMPTS ticks a numeric cursor's page is skipped whole, its range recorded. A relay
-- that is down counts nothing: the next tick tries again.
--
-- failures: ticks in a row that failed on the page at `cursor` in itself; back to 0 when the cursor moves.
-- skipped: the ranges skipped (`<from>-<to>`, as `repo_backfill:skipped:<host>` in Redis), for a later retry.
alter table sweep_state add column failures integer not null default 0;
alter table sweep_state add column skipped text[] not null default '{}';
