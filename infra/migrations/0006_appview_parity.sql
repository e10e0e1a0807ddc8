-- The AppView's schema as its current migrations leave it (@atproto/bsky 0.0.280), where ours had fallen behind: the
-- columns its code reads on `actor` and `labeler`, and the indexes its read queries use (author feeds, likes of a
-- post by time, follows by creator, the lists a user is in, feed generators and starter packs by creator, search
-- by handle, display name and starter-pack name). Without them AppView code pointed at this database fails on a
-- missing column or reads whole tables. tests/integration/postgres/appview-schema.test.ts compares the two schemas.
-- The deliberate differences stay (0001_appview.sql): no UNIQUE(creator, subject) and its kin, so the same columns
-- are indexed without UNIQUE; and the indexes skytide's own statements need.
-- On a large database these builds hold writes to their tables until the migration commits (the pipeline waits; the
-- streams keep everything). Every statement is IF NOT EXISTS, so an operator may build the indexes beforehand with
-- CREATE INDEX CONCURRENTLY under the same names (infra/README.md), and this migration then only records them.

-- actor: written by the AppView's moderation and age-assurance flows, never by record indexing; read with the rest.
alter table actor add column if not exists "trustedVerifier" boolean not null default false;
alter table actor add column if not exists "ageAssuranceStatus" text;
alter table actor add column if not exists "ageAssuranceLastInitiatedAt" varchar;
alter table actor add column if not exists "ageAssuranceAccess" text;
alter table actor add column if not exists "ageAssuranceCountryCode" text;
alter table actor add column if not exists "ageAssuranceRegionCode" text;

-- labeler: the AppView orders labelers by sortAt.
alter table labeler add column if not exists "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored;

-- post: the AppView's shapes of two indexes we had, serving the same lookups (by creator; by reply parent).
create index if not exists post_creator_cursor_idx on post (creator, "sortAt", cid);
drop index if exists post_creator_idx;
create index if not exists post_replyparent_idx on post ("replyParent") include (uri);
drop index if exists post_reply_parent_idx;

create index if not exists like_subject_sort_at_creator_idx on "like" (subject, "sortAt" desc) include (creator);
create index if not exists follow_creator_cursor_idx on follow (creator, "sortAt", cid);
create index if not exists repost_order_by_idx on repost ("sortAt", cid);
create index if not exists feed_item_cursor_idx on feed_item ("sortAt", cid);
create index if not exists feed_generator_creator_index on feed_generator (creator);
create index if not exists labeler_order_by_idx on labeler ("sortAt", cid);
create index if not exists list_item_creator_idx on list_item (creator);
create index if not exists list_item_subject_idx on list_item ("subjectDid");
create index if not exists starter_pack_creator_order_by_idx on starter_pack (creator, "sortAt", cid);
create index if not exists profile_starter_pack_joined_idx on profile ("joinedViaStarterPackUri", "createdAt");
-- The AppView's is UNIQUE(subject, creator): here every verification record has its row, as for likes and follows.
create index if not exists verification_subject_creator_idx on verification (subject, creator);

-- Trigram search, as the AppView sets it up: pg_trgm in `public`, where every schema sees it (a trusted extension: the
-- database's owner may create it). Two schemas migrated at once may race to create it; the loser finds it made.
do $$
begin
  create extension if not exists pg_trgm with schema public;
exception
  when unique_violation or duplicate_object then null;
end
$$;

-- The operator class is named with the schema that holds the extension (public, unless it was installed elsewhere
-- before), since this schema's search_path need not include it.
do $$
declare
  ops text := (select quote_ident(n.nspname) || '.gist_trgm_ops' from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'pg_trgm');
begin
  if ops is null then
    raise exception 'pg_trgm is not installed in this database, and could not be created here';
  end if;
  execute format('create index if not exists actor_handle_tgrm_idx on actor using gist (handle %s)', ops);
  execute format('create index if not exists profile_display_name_tgrm_idx on profile using gist ("displayName" %s)', ops);
  execute format('create index if not exists starter_pack_name_tgrm_idx on starter_pack using gist (name %s)', ops);
end
$$;
