-- The thread-gate version each gated reply was judged under (its CID; '' for none in force). The AppView judges a
-- reply once, when it indexes it, by the follows and list items of that moment. skytide judges a reply again when the
-- gate in force for it may have changed (a gate and a reply in batches in flight at once, a gate's history written
-- late, an account's purge): only a reply whose gate in force differs from the one it was judged under is judged
-- again, so an edit of the gate (hiding a reply writes a new version) or a replay never re-reads today's follows for
-- replies the gate did not change (functions/index/reply-gates.ts). Rows only for replies under a root with a gate
-- history.
create table if not exists reply_gate (
  uri varchar primary key,
  did varchar not null,
  "gateCid" varchar not null
);
-- A deleted account's rows go with it (account-deletion.ts).
create index if not exists reply_gate_did_idx on reply_gate (did);
