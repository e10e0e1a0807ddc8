// The closed set of failure and drop reasons. A reason is at once the metric label, the DLQ `reason` field and the
// log field, so every one is registered at zero on start-up. Add here first, then use.

export const REASONS = [
  // frames and events at the edge
  'invalid_frame', // CBOR that does not decode, or a header/body of the wrong shape
  'error_frame', // op = -1 from upstream
  'unknown_frame_type', // op = 1 with a `t` we do not know: ignored per the event-stream spec
  'unknown_op', // header op other than 1 / -1: ignored per the spec
  'invalid_event', // a stream entry whose JSON does not match the event contract
  'invalid_commit', // a #commit whose fields or CAR are unusable
  'invalid_car', // blocks that do not parse as a CAR
  'missing_block', // a create/update op whose record block is absent (tooBig or truncated): repo is resynced
  'invalid_record', // a record block that is not valid DAG-CBOR / not an object
  'invalid_syntax', // a DID, NSID, rkey, AT-URI or TID that fails the syntax rules
  'invalid_handle', // an #identity whose handle fails the handle syntax: the event is kept, the handle left out of it
  'too_big', // a #commit flagged tooBig, or a frame/block/record over its named limit
  'cid_mismatch', // a block whose bytes do not hash to its CID
  'sync_event', // a #sync: the repo's state was reset upstream, so it is fetched whole
  'future_rev', // a commit whose rev is further in the future than the allowed clock drift
  'future_time', // an event whose time is further in the future than the allowed clock drift: kept, dated when it was received
  'prev_data_mismatch', // a commit whose prevData is not the MST root we last saw: something was missed
  'since_mismatch', // a commit whose since is not the rev we last saw (and whose prevData matched or was absent): something was missed
  'account_deleted', // an #account deleted event: the resync confirms it with the PDS and removes the account's rows
  'account_active', // an account (re)activated: what it wrote while inactive is fetched whole
  'handle_unverified', // a handle could not be verified (an outage): kept, and verified again by an identity-only resync
  'future_cursor', // upstream rejected our cursor as ahead of its sequence
  'outdated_cursor', // upstream says our cursor is older than its window
  'cursor_gap', // upstream resumed past the cursor we asked for: the seqs between were not received
  'consumer_too_slow', // upstream dropped us
  'seq_not_increasing', // a frame whose seq is not above the last one accepted from its host: dropped, cursor untouched
  'seq_reset', // upstream sent only seqs at or below our cursor, many in a row, without FutureCursor: handled as FutureCursor
  'cursor_reset', // upstream answered FutureCursor (or seq_reset): the stored cursor was reset on purpose and its window replayed
  'cursor_rolled_back', // Redis came back with an older state (an older snapshot, a lagging replica): resumed from the stored cursor, upstream replays the lost seqs
  'identity_wait_overflow', // a DID waiting for its identity parked more frames than allowed: they go, its repo is resynced
  // consumer and functions
  'max_retries_exceeded', // an entry failed more than the retry limit: moved to the DLQ
  'handler_error', // the function threw (infrastructure): the batch is retried
  'stream_write_failed', // Redis refused part of a batch (EXEC aborted or a command failed): the writer stops
  'stale_rev', // a write older than what is stored: ignored by design
  // repos (backfill)
  'invalid_mst', // an MST node of the wrong shape, keys out of order or at the wrong height, or a tree not in the spec's canonical form
  'truncated_car', // a CAR that ends inside a block
  'bad_signature', // a commit (or a label) whose signature does not verify against its #atproto (#atproto_label) key
  'wrong_did', // a commit for another DID than the one asked for
  'repo_too_large', // a repo over the size or block limits
  'too_large_for_worker', // a repo over WORKER_MAX_REPO_BYTES, refused by a Worker before indexing (a container backfills it)
  'fetch_failed', // the PDS could not be reached, answered an error, or timed out
  'forbidden_address', // a URL from the network points at an internal address (or is not https) and is refused
  'identity_failed', // the DID document could not be resolved or has no usable key or PDS
  // sweeps
  'sweep_running', // a listRepos sweep of this host is already running (another holds its lease): refused, not queued
  'lease_lost', // a sweep's lease expired or was taken while it ran: it stops, and the next sweep resumes from the cursor
  // labels (functions/label)
  'invalid_label', // a label whose fields break the label spec (syntax, val over 128 bytes, ver other than 1)
  'future_cts', // a label whose cts is more than a day ahead of our clock (it would outrank every later label): refused
  'label_not_due', // a label whose cts is ahead of our clock by more than the allowed drift, less than a day: it waits until due
  'unsigned_label', // a label without `sig` from a source not in LABEL_TRUSTED_SOURCES
  'unversioned_label', // a label with `sig` but without `ver`: the spec requires ver 1 in what a label signs
  'wrong_labeler', // src's #atproto_labeler endpoint is not the host the label came from (or the entry names none)
  'no_label_key', // src's DID document has no usable #atproto_label key (never #atproto instead)
  'invalid_delayed_entry', // a member of a work queue's delayed set that is no entry (truncated, another version's): moved to its DLQ so the entries due after it are promoted
  'invalid_parked_entry', // a parked label_live entry that is no entry any more (truncated, another version's): moved to the DLQ so its host's others are released
  // outages: waited out, never a verdict (DependencyError)
  'dependency_unavailable', // Postgres, Redis, the PLC directory or DNS is down: the work waits and is tried again
  // named limits (functions/atproto/limits.ts), each refused before the work it would cost
  'too_deep', // a CBOR item nested deeper than MAX_CBOR_DEPTH: refused by the pre-scan, before decoding allocates
  'block_too_big', // a commit's blocks over 2,000,000 bytes (the lexicon's maxLength) or one block over 2 MiB
  'record_too_big', // a record block over 1 MB
  'too_many_ops', // a #commit with more than 200 ops
  'mst_too_large', // an MST deeper or a node wider than any real one
  'document_too_big', // a DID document (or a handle's answer) over its size limit
  'field_too_long', // a handle, DID or label field over its lexicon's length
  'body_too_big', // an HTTP request body over HTTP_BODY_LIMIT_BYTES
  'lexicon_mismatch', // a frame body that lacks a field its lexicon requires or has one of the wrong type or format
  // start-up
  'invalid_config', // a variable (env or Worker binding) that is missing, malformed or out of range: the process does not start
] as const;

export type Reason = (typeof REASONS)[number];
