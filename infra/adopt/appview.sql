-- Adopts a database the official AppView made (@atproto/bsky 0.0.280's own kysely migrations, through
-- 20260904T130000000Z, in the schema the search_path picks) and filled: brings it to the schema infra/migrations
-- 0001..0015 leave, keeping every AppView row, so the migrations after 0015 apply to it as to any skytide database.
-- Run by `skytide migrate --adopt-appview` (adapters/postgres/adopt-appview.ts) in the one transaction that then
-- records 0001..0015 in skytide_migrations and applies the rest; never on its own. Nothing here drops a row.
-- Kept as the AppView left them, unused by skytide: kysely_migration (the AppView's migrator, pointed here again,
-- finds its migrations applied), its legacy moderation tables and the algo_whats_hot_view materialized view.
-- tests/integration/postgres/adopt-appview.test.ts compares the result with a freshly migrated schema.

-- In four steps, so that the locks that stop the AppView's API reading a table (ACCESS EXCLUSIVE, held to the commit)
-- are taken last, after the long work (infra/README.md, "Adopting an AppView database", says what each holds and for
-- how long): 1. skytide's own tables, new and empty or filled from AppView rows (reads only); 2. the indexes skytide has
-- beyond the AppView's (each build holds writes to its table, not reads; IF NOT EXISTS, so an operator may build them
-- beforehand with CREATE INDEX CONCURRENTLY under these names); 3. `label`, rewritten once; 4. the changes of
-- columns, constraints and index names, each instant or a short scan.

-- 1. skytide's own tables.

-- 0001: skytide's own per-repo sync state (empty: nothing is known of any repo until its first event or backfill),
-- with 0003's check and indexes.
create table repo_sync (
  did varchar primary key,
  status varchar not null,
  rev varchar,
  "dataCid" varchar,
  reason varchar,
  "updatedAt" varchar not null,
  constraint repo_sync_status_check check (status in ('synchronized', 'desynchronized', 'in-progress', 'deleted'))
);
create index repo_sync_status_idx on repo_sync (status);
create index repo_sync_deleted_idx on repo_sync (did) where status = 'deleted';

-- 0003, 0010: accounts' status history. A status the AppView stored counts as a change older than any event to come.
create table account_state (
  did varchar primary key,
  active boolean not null,
  status varchar,
  "changedAt" varchar not null,
  history jsonb not null,
  "resyncSeq" bigint,
  "resyncReason" varchar
);
insert into account_state (did, active, status, "changedAt", history)
select did, false, "upstreamStatus", '1970-01-01T00:00:00.000Z',
       jsonb_build_array(jsonb_build_object('time', '1970-01-01T00:00:00.000Z', 'active', false, 'status', "upstreamStatus"))
from actor where "upstreamStatus" is not null;
create table deleted_subject (
  did varchar not null,
  uri varchar not null,
  primary key (did, uri)
);
create index if not exists post_agg_did_idx on post_agg (split_part(uri, '/', 3));

-- 0004, 0012: the Worker sweep's state (empty).
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
  "updatedAt" varchar not null,
  failures integer not null default 0,
  skipped text[] not null default '{}'
);

-- 0005: the gate history. Each gate the AppView holds is the version in force from its createdAt on (its record's
-- json from `record`), so replies and quotes indexed from now on are judged by it, as the AppView judged them.
create table gate_version (
  kind varchar not null check (kind in ('thread', 'post')),
  "postUri" varchar not null,
  cid varchar not null,
  "createdAt" varchar not null,
  json text,
  primary key (kind, "postUri", "createdAt", cid)
);
insert into gate_version (kind, "postUri", cid, "createdAt", json)
select 'thread', g."postUri", g.cid, g."createdAt", r.json from thread_gate g join record r on r.uri = g.uri
union all
select 'post', g."postUri", g.cid, g."createdAt", r.json from post_gate g join record r on r.uri = g.uri
on conflict do nothing;

-- 0008: deleted records' revs. The AppView removes a deleted record's row: there is none to move.
create table record_tombstone (
  uri varchar primary key,
  did varchar not null,
  rev varchar not null,
  "indexedAt" varchar not null
);
create index record_tombstone_did_idx on record_tombstone (did);

-- 0013: handles stored from #identity events (none yet).
create sequence handle_clock;
create table live_handle (
  did varchar primary key,
  tick bigint not null
);
-- 0009: the AppView's UNIQUE constraints on like, repost, follow, actor_block, list_item and list_block are the ones
-- 0009 adds, under the same names, and its duplicate_record the table 0009 fills: nothing to settle.

-- 2. Indexes.

-- 0001/0006: the AppView's indexes under 0001's names (same definitions), and the ones 0001 has beyond them.
alter index actor_block_subjectdid_idx rename to actor_block_subject_idx;
alter index feed_item_originator_cursor_idx rename to feed_item_originator_idx;
alter index follow_subject_cursor_idx rename to follow_subject_idx;
alter index like_creator_cursor_idx rename to like_creator_idx;
alter index quote_subject_cursor_idx rename to quote_subject_idx;
alter index label_uri_index rename to label_uri_idx;
-- repost_subject_idx becomes (subject, creator): built under a name of its own here, swapped in at step 4.
create index if not exists repost_subject_creator_idx on repost (subject, creator);
create index if not exists repost_creator_idx on repost (creator, "sortAt", cid);
create index if not exists post_reply_root_idx on post ("replyRoot");
create index if not exists post_embed_record_embed_uri_idx on post_embed_record ("embedUri");
-- 0005/0006: verifications and reference-list opt-outs keep every record's row here (appview-schema.test.ts,
-- NOT_UNIQUE_BY_DESIGN): their UNIQUE constraints give way to these plain indexes on the same columns (step 4).
create index if not exists verification_subject_creator_idx on verification (subject, creator);
create index if not exists reference_list_opt_out_creator_idx on reference_list_opt_out (creator, "subjectUri");

-- 3. 0002, 0011, 0014, 0015: `label` as the label function stores it. Byte order on the compared columns (a rebuild of
-- the table's three indexes, no rewrite); the columns for what was signed, all null here: the AppView kept no
-- signatures, so its labels read back as unsigned ones.
-- One statement, so each index is rebuilt once.
alter table label alter column src type varchar collate "C", alter column uri type varchar collate "C",
  alter column cid type varchar collate "C", alter column val type varchar collate "C",
  alter column cts type varchar collate "C", alter column exp type varchar collate "C";
alter table label add column "labelVer" integer;
alter table label add column "labelSig" bytea;
alter table label add column "signingKey" varchar;
alter table label add column "ctsKey" varchar collate "C";
alter table label add column "expKey" varchar collate "C";
alter table label add column "negSigned" boolean;
alter table label add column "labelExp" varchar;

-- The sortable keys of cts and exp, as functions/label/instant.ts makes them (seconds since 0000-01-01T00:00:00Z,
-- 12 digits, '.', 9 fractional digits); null for a datetime it would not read. Only for this transaction.
create function pg_temp.skytide_instant_key(t text) returns text language plpgsql immutable as $$
declare
  m text[] := regexp_match(t, '^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:Z|([+-])(\d\d):(\d\d))$');
  y int;
  secs bigint;
begin
  if m is null then return null; end if;
  y := m[1]::int;
  -- Year 0000 is 1 BC (-1) to make_date; 0001-01-01 is day 367 of the count.
  secs := ((make_date(case when y = 0 then -1 else y end, m[2]::int, m[3]::int) - date '0001-01-01') + 367)::bigint * 86400
    + m[4]::int * 3600 + m[5]::int * 60 + m[6]::int;
  if m[8] is not null then
    secs := secs - (case when m[8] = '-' then -1 else 1 end) * (m[9]::int * 3600 + m[10]::int * 60);
  end if;
  return lpad(secs::text, 12, '0') || '.' || rpad(left(coalesce(m[7], ''), 9), 9, '0');
exception when others then
  -- An impossible date (month 13): no key, as for any datetime the label function refuses.
  return null;
end
$$;
-- A cts without a key sorts as the oldest, as 0002 did for the rows it met. One write of every label row.
update label set "ctsKey" = coalesce(pg_temp.skytide_instant_key(cts), ''), "expKey" = pg_temp.skytide_instant_key(exp);
alter table label alter column "ctsKey" set not null;
create index if not exists label_current_idx on label (uri, src, val, "ctsKey" desc, neg desc);
-- 0015: an exp Postgres cannot read as a timestamp moves to "labelExp"; exp holds its instant in UTC.
update label set "labelExp" = exp,
  exp = to_char(greatest(timestamp '0001-01-01 00:00:00' + ((split_part("expKey", '.', 1)::bigint - 31708800) * interval '1 second'),
    timestamp '0001-01-01 00:00:00'), 'YYYY-MM-DD"T"HH24:MI:SS".000Z"')
  where exp is not null and "expKey" is not null and exp ~ '^0000-|[+-](1[6-9]|2[0-9]):[0-9][0-9]$';
drop function pg_temp.skytide_instant_key(text);

-- 4. Columns, constraints and names.

-- 0001: record."rev", the rev rule's key. The AppView kept no revs, so its rows get the lowest TID there is
-- ('2222222222222', all zero bits): every rev a commit can carry is larger, so any event skytide applies afterwards
-- (an update, a delete, the create of a record deleted since) wins over the AppView's row, as the AppView's own
-- indexer, which applies every event whatever its rev, would have let it. A replay from an older cursor walks a
-- record through its versions again and ends on its last. A constant default adds the column without a rewrite;
-- dropping it leaves the existing rows their value and new rows must name theirs, as in 0001.
alter table record add column rev varchar not null default '2222222222222';
alter table record alter column rev drop default;

-- 0001's shapes where the AppView's differ. Its generated sort keys and profile."createdAt" are NOT NULL, 0001's
-- nullable (never null here: appview-schema.test.ts, NULLABILITY_DIFFERS); dropping NOT NULL reads and changes no row.
alter table actor_block alter column "sortAt" drop not null;
alter table feed_generator alter column "sortAt" drop not null;
alter table follow alter column "sortAt" drop not null;
alter table labeler alter column "sortAt" drop not null;
alter table "like" alter column "sortAt" drop not null;
alter table list alter column "sortAt" drop not null;
alter table list_block alter column "sortAt" drop not null;
alter table list_item alter column "sortAt" drop not null;
alter table post alter column "sortAt" drop not null;
alter table quote alter column "sortAt" drop not null;
alter table reference_list_opt_out alter column "sortAt" drop not null;
alter table repost alter column "sortAt" drop not null;
alter table starter_pack alter column "sortAt" drop not null;
alter table verification alter column "sortedAt" drop not null;
alter table profile alter column "createdAt" drop not null;
-- The lexicon requires a starter pack's name and the AppView indexes only valid records: a null here fails the
-- adopt (rolled back) rather than losing the row. A read of starter_pack.
alter table starter_pack alter column name set not null;
-- varchar to text is binary-coercible: no rewrite, no index rebuilt.
alter table post alter column text type text;

-- The indexes of step 2 take the place of the AppView's.
alter table verification drop constraint verification_unique_subject_creator;
alter table reference_list_opt_out drop constraint reference_list_opt_out_unique_subject;
drop index repost_subject_idx;
alter index repost_subject_creator_idx rename to repost_subject_idx;
