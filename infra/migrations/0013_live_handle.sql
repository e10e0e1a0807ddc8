-- When the live path last stored a DID's handle from an #identity event, so that a backfill never overwrites it with
-- a handle from an older DID document (backfill-repo/account.ts). skytide's own table: the AppView's `actor` keeps
-- its columns.
--
-- handle_clock orders two things on one counter: a backfill takes a value just BEFORE it fetches the DID document
-- whose handle it will store, and the index takes one when it stores a handle it verified with a document fetched
-- for that #identity. A backfill stores its handle only when the DID's tick is older than its own value: a newer tick
-- means the live path stored a handle after the backfill's document was fetched (from a document possibly newer than
-- the backfill's), and any change after the live path's own fetch brings an #identity of its own. The check and the
-- write hold the per-DID account lock the index holds for the DIDs of its #identity events (account-store.ts).
--
-- One row per DID that had an #identity stored; a backfill adds none.
create sequence if not exists handle_clock;
create table if not exists live_handle (
  did varchar primary key,
  tick bigint not null
);
