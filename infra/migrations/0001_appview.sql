-- The Bluesky AppView tables skytide indexes, with the AppView's quoted camelCase columns and ISO-string timestamps,
-- so a team can point AppView code at this database. Schema-relative: the search_path picks the schema.
-- Deliberate differences, each for the rev rule or exact counts: record."rev" is NOT NULL and every write is gated on
-- it; like/repost/follow/actor_block have no UNIQUE(creator, subject) and no duplicate_record table, so every record
-- in a repo has its row and the aggregates count records exactly as a person reading the repos would.

create table record (
  uri varchar primary key,
  cid varchar not null,
  did varchar not null,
  json text not null,
  rev varchar not null,
  "indexedAt" varchar not null,
  "takedownRef" varchar,
  tags jsonb
);
create index record_did_idx on record (did);

create table actor (
  did varchar primary key,
  handle varchar unique,
  "indexedAt" varchar not null,
  "takedownRef" varchar,
  "upstreamStatus" varchar
);

create table actor_sync (
  did varchar primary key,
  "commitCid" varchar not null,
  "repoRev" varchar
);

create table post (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  text text not null,
  "replyRoot" varchar,
  "replyRootCid" varchar,
  "replyParent" varchar,
  "replyParentCid" varchar,
  langs jsonb,
  tags jsonb,
  "invalidReplyRoot" boolean,
  "violatesThreadGate" boolean,
  "violatesEmbeddingRules" boolean,
  "hasThreadGate" boolean,
  "hasPostGate" boolean,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index post_creator_idx on post (creator);
create index post_reply_parent_idx on post ("replyParent");
create index post_reply_root_idx on post ("replyRoot");
create index post_order_by_idx on post ("sortAt", cid);

create table post_embed_image (
  "postUri" varchar not null,
  position varchar not null,
  "imageCid" varchar not null,
  alt varchar not null,
  primary key ("postUri", position)
);

create table post_embed_external (
  "postUri" varchar primary key,
  uri varchar not null,
  title varchar not null,
  description varchar not null,
  "thumbCid" varchar
);

create table post_embed_record (
  "postUri" varchar not null,
  "embedUri" varchar not null,
  "embedCid" varchar not null,
  primary key ("postUri", "embedUri")
);
create index post_embed_record_embed_uri_idx on post_embed_record ("embedUri");

create table post_embed_video (
  "postUri" varchar primary key,
  "videoCid" varchar not null,
  alt varchar
);

create table quote (
  uri varchar primary key,
  cid varchar not null,
  subject varchar not null,
  "subjectCid" varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index quote_subject_idx on quote (subject, "sortAt", cid);

create table feed_item (
  uri varchar primary key,
  cid varchar not null,
  type varchar not null,
  "postUri" varchar not null,
  "originatorDid" varchar not null,
  "sortAt" varchar not null
);
create index feed_item_originator_idx on feed_item ("originatorDid", "sortAt", cid);
create index feed_item_post_uri_idx on feed_item ("postUri");

create table "like" (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  subject varchar not null,
  "subjectCid" varchar not null,
  via varchar,
  "viaCid" varchar,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index like_subject_creator_idx on "like" (subject, creator);
create index like_creator_idx on "like" (creator, "sortAt", cid);

create table repost (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  subject varchar not null,
  "subjectCid" varchar not null,
  via varchar,
  "viaCid" varchar,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index repost_subject_idx on repost (subject, creator);
create index repost_creator_idx on repost (creator, "sortAt", cid);

create table follow (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "subjectDid" varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index follow_creator_subject_idx on follow (creator, "subjectDid");
create index follow_subject_idx on follow ("subjectDid", "sortAt", cid);

create table actor_block (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "subjectDid" varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index actor_block_creator_subject_idx on actor_block (creator, "subjectDid");
create index actor_block_subject_idx on actor_block ("subjectDid");

create table profile (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "displayName" varchar,
  description varchar,
  "avatarCid" varchar,
  "bannerCid" varchar,
  "joinedViaStarterPackUri" varchar,
  "pinnedPost" varchar,
  "pinnedPostCid" varchar,
  "createdAt" varchar,
  "indexedAt" varchar not null
);
create index profile_creator_idx on profile (creator);

create table list (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  name varchar not null,
  purpose varchar not null,
  description varchar,
  "descriptionFacets" varchar,
  "avatarCid" varchar,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index list_creator_idx on list (creator);

create table list_item (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "subjectDid" varchar not null,
  "listUri" varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index list_item_list_uri_idx on list_item ("listUri", "subjectDid");

create table list_block (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "subjectUri" varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index list_block_creator_idx on list_block (creator, "subjectUri");

create table feed_generator (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "feedDid" varchar not null,
  "displayName" varchar,
  description varchar,
  "descriptionFacets" varchar,
  "avatarCid" varchar,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);

create table starter_pack (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  name varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);

create table thread_gate (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "postUri" varchar not null unique,
  "createdAt" varchar not null,
  "indexedAt" varchar not null
);

create table post_gate (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "postUri" varchar not null unique,
  "createdAt" varchar not null,
  "indexedAt" varchar not null
);

create table labeler (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null
);

create table verification (
  uri varchar primary key,
  cid varchar not null,
  rkey varchar not null,
  creator varchar not null,
  subject varchar not null,
  handle varchar not null,
  "displayName" varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortedAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);

create table post_agg (
  uri varchar primary key,
  "likeCount" bigint not null default 0,
  "replyCount" bigint not null default 0,
  "repostCount" bigint not null default 0,
  "quoteCount" bigint not null default 0,
  "bookmarkCount" bigint not null default 0
);

create table profile_agg (
  did varchar primary key,
  "followersCount" bigint not null default 0,
  "followsCount" bigint not null default 0,
  "postsCount" bigint not null default 0
);

create table label (
  src varchar not null,
  uri varchar not null,
  cid varchar not null,
  val varchar not null,
  neg boolean not null,
  cts varchar not null,
  exp varchar,
  primary key (src, uri, cid, val)
);
create index label_uri_idx on label (uri);
create index label_cts_idx on label (cts);

-- skytide's own per-repo sync state (the sync spec's record-level pattern): whether the index of a repo can be
-- trusted, at which rev and MST root, and why not when it cannot.
create table repo_sync (
  did varchar primary key,
  status varchar not null check (status in ('synchronized', 'desynchronized', 'in-progress')),
  rev varchar,
  "dataCid" varchar,
  reason varchar,
  "updatedAt" varchar not null
);
create index repo_sync_status_idx on repo_sync (status);
