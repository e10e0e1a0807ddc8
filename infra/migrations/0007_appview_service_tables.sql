-- The AppView's tables that no record fills (@atproto/bsky 0.0.280's data plane): what its own services write (bsync's
-- mutes, bookmarks, drafts, activity subscriptions and private data; push tokens; takedowns of blobs; suggestions and
-- view parameters set by its operators; its DID cache). Skytide never writes them. They are here so that a team
-- pointing the AppView's data plane and API at this database finds every table its code reads and writes, with the
-- same columns, keys and indexes, without running the AppView's own migrations over ours (they would fail on the
-- tables both create). tests/integration/postgres/appview-schema.test.ts checks that every table of the AppView's
-- current schema is here.
-- Left out on purpose: the AppView's legacy moderation tables (moderation_action, moderation_event, moderation_report,
-- their resolution and blob tables, moderation_subject_status), which its migrations still create but no current
-- code reads (moderation moved to Ozone; takedowns are the `takedownRef` columns).
-- Every statement is IF NOT EXISTS: a database that already has them (created by hand from the AppView's migrations)
-- migrates without error.

-- bsync: what a user mutes, bookmarks and drafts, whose activity they follow, and their private preferences.
create table if not exists mute (
  "subjectDid" varchar not null,
  "mutedByDid" varchar not null,
  "createdAt" varchar not null,
  "onlyReposts" boolean not null default false,
  "onlyQuoteposts" boolean not null default false,
  primary key ("mutedByDid", "subjectDid")
);
create table if not exists list_mute (
  "listUri" varchar not null,
  "mutedByDid" varchar not null,
  "createdAt" varchar not null,
  primary key ("mutedByDid", "listUri")
);
create table if not exists thread_mute (
  "rootUri" varchar not null,
  "mutedByDid" varchar not null,
  "createdAt" varchar not null,
  primary key ("rootUri", "mutedByDid")
);
create table if not exists bookmark (
  creator varchar not null,
  key varchar not null,
  "subjectUri" varchar not null,
  "subjectCid" varchar not null,
  "indexedAt" varchar not null,
  primary key (creator, key),
  constraint bookmark_unique_uri_creator unique ("subjectUri", creator)
);
create table if not exists draft (
  creator varchar not null,
  key varchar not null,
  "createdAt" varchar not null,
  "updatedAt" varchar not null,
  payload text not null,
  primary key (creator, key)
);
create index if not exists draft_creator_updated_at_key_idx on draft (creator, "updatedAt", key);
create table if not exists activity_subscription (
  creator varchar not null,
  "subjectDid" varchar not null,
  key varchar not null,
  "indexedAt" varchar not null,
  post boolean not null,
  reply boolean not null,
  primary key (creator, key),
  constraint activity_subscription_unique_creator_subject_did unique (creator, "subjectDid")
);
create table if not exists private_data (
  "actorDid" varchar not null,
  namespace varchar not null,
  key varchar not null,
  payload text not null,
  "indexedAt" varchar not null,
  "updatedAt" varchar not null,
  primary key ("actorDid", namespace, key)
);

-- Notifications: when a user last read theirs, and where to push them.
create table if not exists actor_state (
  did varchar primary key,
  "lastSeenNotifs" varchar not null,
  "priorityNotifs" boolean not null default false
);
create table if not exists notification_push_token (
  did varchar not null,
  platform varchar not null,
  token varchar not null,
  "appId" varchar not null,
  primary key (did, token)
);

-- Moderation that lives in the AppView: blobs taken down (records and accounts carry `takedownRef` themselves).
create table if not exists blob_takedown (
  did varchar not null,
  cid varchar not null,
  "takedownRef" varchar not null,
  primary key (did, cid)
);

-- Set by the AppView's operators: suggested feeds and follows, tagged suggestions, view parameters.
create table if not exists suggested_feed (
  uri varchar primary key,
  "order" integer not null
);
create table if not exists suggested_follow (
  did varchar primary key,
  "order" integer not null
);
create table if not exists tagged_suggestion (
  tag varchar not null,
  subject varchar not null,
  "subjectType" varchar not null,
  primary key (tag, subject)
);
create table if not exists view_param (
  name varchar primary key,
  value varchar
);

-- The AppView's own bookkeeping: its DID document cache, its firehose subscriptions' state, and the record a
-- duplicate pointed to (skytide keeps every record, so it writes no duplicates).
create table if not exists did_cache (
  did varchar primary key,
  doc jsonb not null,
  "updatedAt" bigint not null
);
create table if not exists subscription (
  service varchar not null,
  method varchar not null,
  state varchar not null,
  primary key (service, method)
);
create table if not exists duplicate_record (
  uri varchar primary key,
  cid varchar not null,
  "duplicateOf" varchar not null,
  "indexedAt" varchar not null
);
create index if not exists duplicate_record_duplicate_of_idx on duplicate_record ("duplicateOf");
