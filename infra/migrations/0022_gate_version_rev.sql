-- The rev of the commit that wrote each gate version. Of two versions created at the same time the one with the larger
-- CID was in force, so an edit that kept its createdAt (a client editing with putRecord) lost to the version before it
-- whenever that one's CID sorted higher. The rev orders them as the repo wrote them (functions/index/gates.ts,
-- `versionInForce`). '' for versions written before this migration: they sort first, among themselves by CID as
-- before. A new column with a constant default: no rewrite.
alter table gate_version add column if not exists rev varchar not null default '';
