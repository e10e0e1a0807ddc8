-- The resync an applied #account change asked for (a reactivation: account_active; a deletion: account_deleted), and
-- the seq of the event that asked. A batch retried after its commit finds that change already stored (a duplicate)
-- and would ask nothing; when the duplicate is the same event (the same seq: a retry, or a redelivery after a stop),
-- the index asks again, so a request lost between the commit and the queue is not lost for good. The same change
-- from another relay (another seq) asks nothing. NULL: the current change asked for no resync.
alter table account_state add column if not exists "resyncSeq" bigint;
alter table account_state add column if not exists "resyncReason" varchar;
