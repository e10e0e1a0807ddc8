-- A deleted account's purge (functions/index/account-deletion.ts) removes its gate versions and its OP thread replies
-- by the DID in their URIs, as it removes its post_agg rows (post_agg_did_idx, 0003). Without an index on that DID each
-- purge read both tables whole, once per account deletion (tests/integration/index/gate-plans.test.ts).
create index if not exists gate_version_did_idx on gate_version (split_part("postUri", '/', 3));
create index if not exists op_thread_reply_did_idx on op_thread_reply (split_part(uri, '/', 3));
