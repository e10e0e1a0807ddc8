-- Account-level state kept by skytide itself (issue 8, items 2, 7 and 8).
--
-- account_state: the #account changes applied per DID, in the order of their own `time`. An #account event older than
-- the last change applied changes nothing (several relays may deliver the same account's events at different
-- moments); `history` keeps the most recent changes (oldest first, at most 16) so that a write is judged by the
-- status its account had at the write's own time, whatever the batch it arrives in. The current status is the last
-- change, repeated in `active`, `status` and `changedAt` for operators. actor."upstreamStatus" mirrors it for the
-- AppView's readers while the actor row exists.
create table account_state (
  did varchar primary key,
  active boolean not null,
  status varchar,
  "changedAt" varchar not null,
  history jsonb not null
);

-- repo_sync.status 'deleted': the account's PDS confirmed the deletion (RepoNotFound after a fresh DID document), and
-- every AppView row of the DID was removed. Until a later valid repo of the DID is fetched, the index applies no event
-- of that DID (live or backfill) and no aggregate delta whose subject belongs to it.
alter table repo_sync drop constraint repo_sync_status_check;
alter table repo_sync add constraint repo_sync_status_check
  check (status in ('synchronized', 'desynchronized', 'in-progress', 'deleted'));
create index repo_sync_deleted_idx on repo_sync (did) where status = 'deleted';

-- The post_agg rows keyed by a deleted account's records, and the subjects of deltas dropped while it is deleted: the
-- subjects whose counts are recounted from the rows if the account comes back.
create table deleted_subject (
  did varchar not null,
  uri varchar not null,
  primary key (did, uri)
);

-- post_agg rows by the DID of their subject, for removing a deleted account's aggregate rows without a scan.
create index post_agg_did_idx on post_agg (split_part(uri, '/', 3));

-- Statuses stored before this migration count as changes older than any event to come.
insert into account_state (did, active, status, "changedAt", history)
select did, false, "upstreamStatus", '1970-01-01T00:00:00.000Z',
       jsonb_build_array(jsonb_build_object('time', '1970-01-01T00:00:00.000Z', 'active', false, 'status', "upstreamStatus"))
from actor where "upstreamStatus" is not null;

-- Accounts unindexed before this migration carry tombstones at the sentinel rev 'jzzzzzzzzzzzz' (the counts their
-- records fed were corrected then). They become deleted accounts: their remaining rows go, the marker stays.
create temporary table gone on commit drop as select distinct did from record where rev = 'jzzzzzzzzzzzz';
insert into repo_sync (did, status, reason, "updatedAt")
select did, 'deleted', 'RepoNotFound', to_char(now() at time zone 'utc', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') from gone
on conflict (did) do update set status = 'deleted', reason = 'RepoNotFound', "updatedAt" = excluded."updatedAt";
insert into account_state (did, active, status, "changedAt", history)
select did, false, 'deleted', '1970-01-01T00:00:00.000Z',
       jsonb_build_array(jsonb_build_object('time', '1970-01-01T00:00:00.000Z', 'active', false, 'status', 'deleted'))
from gone
on conflict (did) do update set active = false, status = 'deleted', history = excluded.history;
insert into deleted_subject (did, uri)
select split_part(p.uri, '/', 3), p.uri from post_agg p join gone g on split_part(p.uri, '/', 3) = g.did
on conflict do nothing;
delete from post_agg p using gone g where split_part(p.uri, '/', 3) = g.did;
delete from profile_agg p using gone g where p.did = g.did;
delete from record r using gone g where r.did = g.did;
delete from actor_sync a using gone g where a.did = g.did;
delete from actor a using gone g where a.did = g.did;
