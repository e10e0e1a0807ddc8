-- The Worker's listRepos sweep (adapters/runtime/worker-sweep.ts, issue 10 item 1). Redis is not reachable from a
-- Worker, so the cron sweeper keeps what the Redis sweeper keeps in `repo_backfill:cursor:<host>` and
-- `repo_backfill:lease:<host>` here, one row per relay host. A deployment runs either this sweeper or the Redis one
-- against a relay, never both: they do not see each other's cursor or lease.
--
-- cursor: the listRepos cursor to resume from; null with `doneAt` set when the listing ended (the next pass starts
--   again from the beginning once `doneAt` is older than the pass interval), null and no `doneAt` before the first page.
-- holder/leaseUntil: one tick at a time per host. A tick takes the lease when it is free or expired, writes the cursor
--   only while it still holds it (the update names the holder), and releases it at the end.
create table sweep_state (
  host varchar primary key,
  cursor varchar,
  "startedAt" varchar,
  "doneAt" varchar,
  pages bigint not null default 0,
  listed bigint not null default 0,
  queued bigint not null default 0,
  holder varchar,
  "leaseUntil" timestamptz,
  "updatedAt" varchar not null
);
