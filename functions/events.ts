// The stream entry contracts (README.md, "Contracts"), shared with rsky and the TypeScript pipeline before
// it: one JSON object per entry in field `event` of firehose_live / firehose_backfill, tagged by `type`, and one in
// field `repo` of repo_backfill. parseStreamEvent and parseRepoBackfillEntry are the edge parsers: everything past
// them may trust the type. Readers ignore unknown fields.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Backfill events carry this seq; rsky wrote -1, which readers treat the same way. */
export const SEQ_BACKFILL = -2;
export const SEQ_BACKFILL_RSKY = -1;

export function isBackfillSeq(seq: number): boolean {
  return seq === SEQ_BACKFILL || seq === SEQ_BACKFILL_RSKY;
}

/**
 * The latest `time` an event may carry when received at `nowMs`: later ones are set to `nowMs` (capTime). An event's
 * time orders its account's status changes and dates its records (functions/index), so an upstream clock far ahead
 * would otherwise outrank every later change: one `#account` dated in the year 9999 would make its account immune to
 * a takedown. Canonical times (toISOString's form, which the frame decoder gives every event) compare as strings.
 */
export function timeLimit(nowMs: number, driftMs: number): string {
  return new Date(nowMs + driftMs).toISOString();
}

/** `event` with its time set to `nowMs` when it is later than `limit` (timeLimit), else `event` itself. */
export function capTime<E extends { time: string }>(event: E, limit: string, nowMs: number): E {
  // A year past 9999 prints as `+010000-…`, which sorts before every four-digit year.
  if (event.time <= limit && event.time.charCodeAt(0) !== 0x2b) return event;
  return { ...event, time: new Date(nowMs).toISOString() };
}

interface EventBase {
  seq: number;
  /** The event's own time, ISO 8601 with `Z`. */
  time: string;
  did: string;
}

export interface RecordWriteEvent extends EventBase {
  type: 'create' | 'update';
  commit: string;
  rev: string;
  collection: string;
  rkey: string;
  cid: string;
  /** lex-JSON: `{"$link"}`, `{"$bytes"}`, blobs with `ref: {"$link"}`. */
  record: JsonObject;
  since?: string | null;
  /**
   * A backfill's write only: when its rkey (a TID) says the record was made, where earlier than `time` (when the
   * backfill read the repo). A quote first written by a backfill is dated by it, so a delete of its subject made after
   * it takes it as the stream's order would (found by the chaos suite: dated by the backfill, it outlived the delete).
   */
  madeAt?: string;
}

export interface RecordDeleteEvent extends EventBase {
  type: 'delete';
  commit: string;
  rev: string;
  collection: string;
  rkey: string;
  since?: string | null;
}

/** Commit bookkeeping without record ops (backfill emits one per repo). Never emitted live: that is repo noise. */
export interface RepoCommitEvent extends EventBase {
  type: 'repo';
  commit: string;
  rev: string;
}

export interface AccountEvent extends EventBase {
  type: 'account';
  active: boolean;
  /** Lowercase lexicon status; unknown future values are kept as strings. */
  status?: string;
}

export interface IdentityEvent extends EventBase {
  type: 'identity';
  handle?: string;
}

export type StreamEvent = RecordWriteEvent | RecordDeleteEvent | RepoCommitEvent | AccountEvent | IdentityEvent;
export type RecordEvent = RecordWriteEvent | RecordDeleteEvent;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(o: Record<string, unknown>, key: string, errors: string[]): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0) {
    errors.push(`${key} must be a non-empty string`);
    return '';
  }
  return v;
}

function optSeq(o: Record<string, unknown>, errors: string[]): number {
  const v = o['seq'];
  // TS-pipeline repo events have no seq; rsky defaults it to -1.
  if (v === undefined || v === null) return SEQ_BACKFILL_RSKY;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    errors.push('seq must be an integer');
    return 0;
  }
  return v;
}

function optSince(o: Record<string, unknown>): { since?: string | null } {
  const v = o['since'];
  if (typeof v === 'string' || v === null) return { since: v };
  return {};
}

/** The fields every record op carries: its commit, rev, collection and rkey. */
function opFields(o: Record<string, unknown>, errors: string[]): { commit: string; rev: string; collection: string; rkey: string } {
  return { commit: str(o, 'commit', errors), rev: str(o, 'rev', errors), collection: str(o, 'collection', errors), rkey: str(o, 'rkey', errors) };
}

/** Parse one entry's `event` JSON (already JSON.parsed) into a StreamEvent, or say exactly what is wrong. */
export function parseStreamEvent(input: unknown): ParseResult<StreamEvent> {
  if (!isObject(input)) return { ok: false, message: 'event is not an object' };
  const errors: string[] = [];
  const type = input['type'];
  const seq = optSeq(input, errors);
  const time = str(input, 'time', errors);
  const did = str(input, 'did', errors);
  let value: StreamEvent | undefined;
  switch (type) {
    case 'create':
    case 'update': {
      const record = input['record'];
      if (!isObject(record)) errors.push('record must be an object');
      const op = opFields(input, errors);
      value = { type, seq, time, did, ...op, cid: str(input, 'cid', errors), record: (isObject(record) ? record : {}) as JsonObject, ...optSince(input) };
      break;
    }
    case 'delete':
      value = { type, seq, time, did, ...opFields(input, errors), ...optSince(input) };
      break;
    case 'repo':
      value = { type, seq, time, did, commit: str(input, 'commit', errors), rev: str(input, 'rev', errors) };
      break;
    case 'account': {
      const active = input['active'];
      if (typeof active !== 'boolean') errors.push('active must be a boolean');
      const status = input['status'];
      if (status !== undefined && status !== null && typeof status !== 'string') errors.push('status must be a string');
      value = { type, seq, time, did, active: active === true };
      // rsky wrote the Rust enum name (`Takendown`); the lexicon value is lowercase.
      if (typeof status === 'string' && status.length > 0) value.status = status.toLowerCase();
      break;
    }
    case 'identity': {
      const handle = input['handle'];
      if (handle !== undefined && handle !== null && typeof handle !== 'string') errors.push('handle must be a string');
      value = { type, seq, time, did };
      if (typeof handle === 'string' && handle.length > 0) value.handle = handle;
      break;
    }
    default:
      return { ok: false, message: `unknown event type ${JSON.stringify(type)}` };
  }
  if (errors.length > 0) return { ok: false, message: errors.join('; ') };
  return { ok: true, value };
}

export function recordUri(event: { did: string; collection: string; rkey: string }): string {
  return `at://${event.did}/${event.collection}/${event.rkey}`;
}

/**
 * A repo_backfill entry: a repo to fetch whole from its PDS. The sweeper writes what listRepos said about it (rsky's
 * BackfillEvent: `host` is the relay that listed it, `rev` its latest commit there, `active` and `status` its account
 * state there); the live path writes `reason` (why the stream alone cannot keep it right).
 */
export interface RepoBackfillEntry {
  did: string;
  /** Where the repo was listed (a relay). Never where it is fetched from: that is the DID document's PDS. */
  host?: string;
  rev?: string;
  active?: boolean;
  /** Lowercase lexicon status (rsky wrote the Rust enum name). */
  status?: string;
  reason?: string;
}

/**
 * One entry's `repo` JSON as every writer puts it in repo_backfill: in rsky's BackfillEvent shape, whose `host`, `rev`
 * and `active` rsky-backfiller requires (rsky-backfiller/src/lib.rs; one it cannot read it acknowledges and deletes),
 * so entries skytide leaves behind survive a switch back to rsky. What the entry does not know is written as rsky
 * reads nothing into it and parseRepoBackfillEntry reads it back as absent: `""` for host and rev, `active: true`
 * (absent and true mean the same: listed-in-sync.ts).
 */
export function repoBackfillJson(entry: RepoBackfillEntry): string {
  const { did, host, rev, active, status, reason } = entry;
  return JSON.stringify({
    did, host: host ?? '', rev: rev ?? '', active: active ?? true,
    ...(status === undefined ? {} : { status }), ...(reason === undefined ? {} : { reason }),
  });
}

/** Parse one entry's `repo` JSON (already JSON.parsed), or say exactly what is wrong. Null means absent. */
export function parseRepoBackfillEntry(input: unknown): ParseResult<RepoBackfillEntry> {
  if (!isObject(input)) return { ok: false, message: '`repo` is not an object' };
  const errors: string[] = [];
  const did = str(input, 'did', errors);
  const entry: RepoBackfillEntry = { did };
  for (const key of ['host', 'rev', 'status', 'reason'] as const) {
    const v = input[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string') errors.push(`${key} must be a string`);
    else if (v.length > 0) entry[key] = key === 'status' ? v.toLowerCase() : v;
  }
  const active = input['active'];
  if (typeof active === 'boolean') entry.active = active;
  else if (active !== undefined && active !== null) errors.push('active must be a boolean');
  if (errors.length > 0) return { ok: false, message: errors.join('; ') };
  return { ok: true, value: entry };
}
