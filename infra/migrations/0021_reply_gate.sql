-- The thread-gate version each gated reply was judged under (its CID; '' for none in force). The AppView judges a
-- reply once, when it indexes it, by the follows and list items of that moment. skytide judges a reply again when the
-- gate in force for it may have changed (a gate and a reply in batches in flight at once, a gate's history written
-- late, an account's purge): only a reply whose gate in force differs from the one it was judged under is judged
-- again, so an edit of the gate (hiding a reply writes a new version) or a replay never re-reads today's follows for
-- replies the gate did not change (functions/index/reply-gates.ts). Rows only for replies under a root with a gate
-- history, the replies indexed before this migration included (below).
create table if not exists reply_gate (
  uri varchar primary key,
  did varchar not null,
  "gateCid" varchar not null
);
-- A deleted account's rows go with it (account-deletion.ts).
create index if not exists reply_gate_did_idx on reply_gate (did);

-- The replies already indexed under a root with a thread-gate history: the version in force when each was created
-- (the latest created at or before it, ties by CID as then; '' for a delete), the one its verdict stands on. Without
-- it the first change of their gate judged every one of them again by today's follows. Driven from the gated roots
-- (`gate_version`, small) through post_reply_root_idx: the replies of gated threads are read, not every post.
insert into reply_gate (uri, did, "gateCid")
select p.uri, p.creator, coalesce((
    select case when g.json is null then '' else g.cid end from gate_version g
    where g.kind = 'thread' and g."postUri" = p."replyRoot" and g."createdAt" <= p."createdAt"
    order by g."createdAt" desc, g.cid desc limit 1), '')
from (select distinct "postUri" from gate_version where kind = 'thread') as r
join post p on p."replyRoot" = r."postUri"
on conflict (uri) do nothing;
