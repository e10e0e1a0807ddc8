-- The rest of the AppView's index (issue 11, items 1 and 2): notifications, reference-list opt-outs, and skytide's
-- own gate history, which decides the thread-gate and post-gate verdicts from the records' own times.

-- The AppView's notification table, same columns: one row per (recipient, record, reason). Rows are written for
-- blocked pairs too (the AppView hides them when listing).
create table notification (
  id bigserial primary key,
  did varchar not null,
  "recordUri" varchar not null,
  "recordCid" varchar not null,
  author varchar not null,
  reason varchar not null,
  "reasonSubject" varchar,
  "sortAt" varchar not null
);
create index notification_did_sortat_idx on notification (did, "sortAt");
create index notification_record_idx on notification ("recordUri");
create index notification_author_idx on notification (author);

-- app.bsky.graph.referenceListOptOut, as the AppView stores it (without its UNIQUE(creator, subjectUri): every record
-- has its row, as for likes and follows).
create table reference_list_opt_out (
  uri varchar primary key,
  cid varchar not null,
  creator varchar not null,
  "subjectUri" varchar not null,
  "createdAt" varchar not null,
  "indexedAt" varchar not null,
  "sortAt" varchar generated always as (least("createdAt", "indexedAt")) stored
);
create index reference_list_opt_out_creator_idx on reference_list_opt_out (creator, "subjectUri");

-- skytide's own: every version of a thread gate or post gate the index has seen (a delete is a version with no
-- record, at the delete's time). The gate in force at a time t is the version with the latest "createdAt" <= t, so a
-- reply or quote is judged against the gate that existed when it was created, whatever order the records arrive in
-- (live, backfill, replays), and a gate deleted later leaves the verdicts of what was created under it standing.
create table gate_version (
  kind varchar not null check (kind in ('thread', 'post')),
  "postUri" varchar not null,
  cid varchar not null,
  "createdAt" varchar not null,
  json text,
  primary key (kind, "postUri", "createdAt", cid)
);

-- The AppView's gallery embeds (app.bsky.embed.gallery, alone or as a recordWithMedia's media).
create table post_embed_gallery_image (
  "postUri" varchar not null,
  position varchar not null,
  "imageCid" varchar not null,
  alt varchar not null,
  primary key ("postUri", position)
);

-- The AppView's denormalised replies by a thread's author (its OP thread view). A deleted reply is soft-deleted, as
-- the AppView does, so the walk can still route through it.
create table op_thread_reply (
  "rootUri" varchar not null,
  "parentUri" varchar not null,
  uri varchar not null,
  "deletedAt" varchar,
  primary key ("rootUri", uri)
);
