// The `backfill-repo` function: a batch of DIDs, each fetched whole from its PDS, verified (hashes, commit DID,
// signature, MST), and indexed through the index function under the rev rule, so live data newer than the CAR is
// never overwritten. Records the index holds that the CAR no longer has, and whose rev is older, are tombstoned. Every
// repo ends with its state in repo_sync, an empty one included. Known permanent answers (RepoNotFound, RepoTakendown,
// RepoSuspended, RepoDeactivated) are acted on once the DID document was asked again (the account may have moved) and
// are not retried, as is a PLC directory that answers the DID tombstoned (410: a confirmed deletion; a 404 is an
// identity_failed like any other); what they and a served repo say about the account (status, deletion, restore,
// handle) is account.ts's business. A repo whose deletion it undid is fetched once more (backfillOne). Pure over its ports.
//
// Outcomes are verdicts on the repo alone: `dead` for a repo that cannot be trusted (PERMANENT_FAILURES), `retry` for
// what may pass on another try (its PDS failing, a repo it served cut short, a commit rev beyond the allowed clock
// drift: `future_rev`, never taken as the repo's floor). An outage of our own dependencies
// (Postgres, Redis, the PLC directory, DNS: a DependencyError anywhere in the cause chain) is no verdict: it is
// thrown, repo_sync is left as it was (never `desynchronized` for an outage), and the caller waits and tries again.
// Anything else thrown (not a SkytideError) is thrown too: the consumer's probe tells a poison entry from an outage.
import pLimit from 'p-limit';
import type { BasePorts, Fetch, HostSlots, Sql } from '../ports.ts';
import type { RecordDeleteEvent, RecordWriteEvent, RepoBackfillEntry, RepoCommitEvent, StreamEvent } from '../events.ts';
import { SEQ_BACKFILL } from '../events.ts';
import { dead, ok, retry, wait, type ItemOutcome } from '../result.ts';
import type { Reason } from '../reasons.ts';
import { SkytideError, dependencyErrorIn, describeError } from '../errors.ts';
import { indexBatch, type RecordFate } from '../index/handler.ts';
import type { DeletionProof } from '../index/account-deletion.ts';
import { DidTombstonedError, type AtprotoIdentity, type IdentityResolver } from '../atproto/identity/did-document.ts';
import type { HandleResolver } from '../atproto/identity/handle.ts';
import { DEFAULT_REPO_LIMITS, type RepoLimits } from '../atproto/repo/read-car.ts';
import { recordsIn, verifyRepo, type RepoRecord, type VerifiedRepo } from '../atproto/repo/verify-repo.ts';
import { isValidDid } from '../atproto/syntax/did.ts';
import { isFutureRev, MAX_REV_DRIFT_MS, tidMicros } from '../atproto/syntax/tid-time.ts';
import { isValidTid } from '../atproto/syntax/tid.ts';
import { DEFAULT_PDS_RETRY, downloadRepo, RepoFetchError, type PdsRetry, type RepoDownload } from './fetch-car.ts';
import { linkSignals } from '../linked-signal.ts';
import { didTombstoned, documentTick, recheckHandle, refreshedIdentity, repoServed, repoUnavailable } from './account.ts';
import { collectionsKept, keepsCollection, keepsDid, keepsEverything, KEEP_EVERYTHING, type EventFilter } from '../event-filter.ts';
import { checkRows } from '../sql-rows.ts';
import { listedInactive, listedInSync } from '../listed-in-sync.ts';

/** A repo_backfill entry (functions/events.ts) or a DID asked for directly (POST /reprocess/:did). */
export type BackfillItem = RepoBackfillEntry;

export interface BackfillPorts extends BasePorts {
  sql: Sql;
  fetch: Fetch;
  /**
   * At most so many downloads at once from any one PDS host (BACKFILLER_PER_HOST): each download (getRepo, its tries and
   * the pauses between them, the CAR read whole) runs once a slot of its host is held, and its deadline and stall timer
   * start then, so a wait in our own queue is never charged to the PDS. Absent: downloads are not limited.
   */
  hostSlots?: HostSlots;
  identity: IdentityResolver;
  /** Verifies each account's handle both ways (as #identity does); without it handles are left as they are. */
  handles?: HandleResolver;
  limits?: RepoLimits;
  /** Rows of the index read per page while removing what a repo no longer holds (PRIOR_PAGE). */
  priorPageRows?: number;
  /**
   * Deadline for downloading one repo (getRepo and its retries), from the moment its host's slot is held. Verifying and
   * indexing are bounded by the size limits instead: a repo of a million records must not be cut off mid-index forever.
   */
  timeoutMs?: number;
  /**
   * A try of the download that receives nothing for this long is cut as stalled (BACKFILLER_STALL_MS); absent: only
   * `timeoutMs` cuts it. A download that is moving reports each chunk (`onProgress`, phase `download`).
   */
  stallMs?: number;
  /**
   * The process is stopping (SIGTERM): a download in progress is cut short and its repo waits (no failure recorded,
   * no delivery counted) for the next process, instead of the stop sitting out the download's deadline.
   */
  stop?: AbortSignal;
  /** How getRepo is tried again within one call while the PDS fails as a restart would (DEFAULT_PDS_RETRY). */
  pdsRetry?: PdsRetry;
  concurrency?: number;
  /**
   * Where the repo's events go. Unset: indexed here through the index function. Set: handed over instead (the
   * adapter writes them to firehose_backfill in rsky's format, for teams that keep separate indexers).
   */
  emit?: (events: StreamEvent[]) => Promise<void>;
  /** Told where each repo stands (phase, records indexed of the repo's total), for a person watching (`skytide reprocess`). */
  onProgress?: (progress: RepoProgress) => void;
  /**
   * What is kept (INGESTER_COLLECTIONS, INGESTER_DIDS, INGESTER_EXCLUDE_DIDS); absent: everything. A dropped DID is
   * not fetched at all; a kept one is fetched and verified whole, and only its kept collections are indexed.
   */
  filter?: EventFilter;
}

export interface RepoProgress {
  did: string;
  phase: 'identity' | 'download' | 'verify' | 'index' | 'done';
  /** Records delivered so far and the repo's leaf count, during and after `index`. */
  records?: { done: number; total: number };
  /** Bytes of the CAR received so far by this try of the download, reported as each chunk arrives, during `download`. */
  bytes?: number;
}

/**
 * What a backfill did with one repo. The record counts are what the index wrote, from the rows its statements returned
 * (index/handler.ts, RecordFate), not from the rows read before: a record the rev rule did not write is never counted
 * as created or updated. Each of the repo's leaves is counted once, in created, updated, unchanged, stale, skipped or
 * filtered; each removal of a record the CAR no longer has in deleted or stale. With `emit` (events handed to
 * firehose_backfill) nothing is written here: the counts then compare the CAR with the rows read, and the separate
 * indexer's rev rule decides.
 */
export interface RepoReport {
  did: string;
  /**
   * `identity`: a `handle_unverified` follow-up, which checks the handle only and leaves the repo as it is.
   * `filtered`: a DID the filters drop, left untouched.
   */
  status: 'synchronized' | 'unavailable' | 'failed' | 'identity' | 'filtered';
  rev?: string;
  /** Records written where the index held none. */
  created: number;
  /** Records written over a version with another CID. */
  updated: number;
  /**
   * Records the index removed: those it held that the CAR no longer has (older than the CAR), or, when the account's
   * deletion was confirmed, every record it had.
   */
  deleted: number;
  /** Records the index already held with the same CID (as read before indexing): written again at the CAR's rev, or left. */
  unchanged: number;
  /**
   * Records (and removals of records the CAR no longer has) not written because the index holds newer data: a version
   * or a deletion of the record at the CAR's rev or newer (live events indexed since the CAR was cut), a newer
   * verified snapshot of the repo, or the account's deletion.
   */
  stale: number;
  /**
   * Leaves whose key or record is unusable (not an NSID, a bad record key, a record outside the data model), and
   * records their lexicon or the AppView's insert refuses (index/plan.ts, index/refused-writes.ts: not indexed).
   */
  skipped: number;
  /** Records of collections the filters drop (not decoded, not indexed). */
  filtered?: number;
  durationMs: number;
  reason?: string;
  /** Not fetched: repo_sync already says synchronized at the rev the entry was listed with, or a newer one. */
  alreadySynchronized?: boolean;
}

const CHUNK = 1000;

/**
 * How often a repo waiting for a slot of its PDS's host says it is alive (onProgress, phase `download`): a legitimate
 * wait, bounded by the downloads ahead of it, which the supervisor's watchdog must not take for a hang.
 */
const SLOT_WAIT_BEAT_MS = 10_000;

/** repo_sync.reason and the report's reason for a DID the PLC directory tombstoned (as account-deletion.ts's marker). */
const DID_TOMBSTONED: DeletionProof = 'DidTombstoned';

/** Failures that asking again will not change: the repo itself is bad. Everything else is retried. */
const PERMANENT_FAILURES: ReadonlySet<Reason> = new Set<Reason>(['forbidden_address', 'bad_signature', 'wrong_did', 'invalid_commit', 'invalid_mst', 'mst_too_large', 'cid_mismatch', 'repo_too_large', 'too_large_for_worker', 'invalid_syntax', 'invalid_car']);

/**
 * Indexed here, or handed to `emit`, CHUNK events at a time. Indexed, what became of each record event (by position);
 * handed over, undefined: nothing was written here.
 */
async function deliver(events: StreamEvent[], ports: BackfillPorts): Promise<(RecordFate | undefined)[] | undefined> {
  if (ports.emit !== undefined) {
    for (let i = 0; i < events.length; i += CHUNK) await ports.emit(events.slice(i, i + CHUNK));
    return undefined;
  }
  const fates: (RecordFate | undefined)[] = [];
  for (let i = 0; i < events.length; i += CHUNK) fates.push(...(await indexBatch(events.slice(i, i + CHUNK), ports)).fates);
  return fates;
}

/**
 * Counts one record write of the CAR in the report by what the index did with it (`fate`; undefined: the event was
 * dead). Handed over to `emit` instead, by the row read before (`before`). Written again or left, a record whose CID
 * the index held is unchanged.
 */
function countWrite(report: RepoReport, cid: string, before: { cid: string } | undefined, fate: RecordFate | 'handed over' | undefined): void {
  const same = before?.cid === cid;
  const outcome = fate === 'handed over' ? (before === undefined ? 'inserted' : 'replaced') : fate;
  if (outcome === 'inserted') report.created++;
  else if (outcome === 'replaced') report[same ? 'unchanged' : 'updated']++;
  else if (outcome === 'stale') report[same ? 'unchanged' : 'stale']++;
  // Not counted for its account: deleted (or deactivated) after getRepo was sent, which is newer than the CAR.
  else if (outcome === 'skipped') report.stale++;
  // Refused by its lexicon, or dead (a write is never 'deleted').
  else report.skipped++;
}

/**
 * Records a repo's sync state. A confirmed deletion stays: only restoreAccount (a valid repo served) lifts it. The rev
 * and its data CID only move forward: an older CAR (a reprocess racing a newer one, a PDS restored from a backup)
 * leaves the newer pair in place, as the rev rule leaves the newer records.
 */
async function setSync(ports: BackfillPorts, did: string, status: string, rev: string | null, data: string | null, reason: string | null): Promise<void> {
  await ports.sql.query(
    `insert into repo_sync (did, status, rev, "dataCid", reason, "updatedAt", collections) values ($1, $2, $3, $4, $5, $6, $7)
     on conflict (did) do update set status = excluded.status,
       rev = case when excluded.rev is null or repo_sync.rev > excluded.rev then repo_sync.rev else excluded.rev end,
       "dataCid" = case when excluded.rev is null or repo_sync.rev > excluded.rev then repo_sync."dataCid"
         else coalesce(excluded."dataCid", repo_sync."dataCid") end,
       reason = excluded.reason, "updatedAt" = excluded."updatedAt", collections = excluded.collections
     where repo_sync.status <> 'deleted'`,
    // The collections this process keeps: a repo synchronized under them is held only while they cover today's.
    [did, status, rev, data, reason, new Date(ports.clock.now()).toISOString(), collectionsKept(ports.filter ?? KEEP_EVERYTHING)],
  );
}

/**
 * The repo failed: desynchronized, with the reason. Unless it was synchronized after this attempt began (a call that
 * outlived its claim while another consumer synchronized the same repo): a stale verdict never overwrites a newer one.
 * Nor a confirmed deletion: only restoreAccount (a valid repo served) lifts that.
 */
async function recordFailure(ports: BackfillPorts, did: string, reason: Reason, startedAt: number): Promise<void> {
  await ports.sql.query(
    `insert into repo_sync (did, status, reason, "updatedAt") values ($1, 'desynchronized', $2, $3)
     on conflict (did) do update set status = excluded.status, reason = excluded.reason, "updatedAt" = excluded."updatedAt"
       where not (repo_sync.status = 'synchronized' and repo_sync."updatedAt" > $4) and repo_sync.status <> 'deleted'`,
    [did, reason, new Date(ports.clock.now()).toISOString(), new Date(startedAt).toISOString()],
  );
}

/**
 * What repo_sync holds that makes fetching a listed repo pointless (the sweepers decide the same way:
 * functions/listed-in-sync.ts): its rev, when the repo is synchronized at the listed rev or newer (TIDs sort as strings)
 * and its account's stored state is the listed one (a takedown or reactivation whose #account was missed changes no
 * rev, so such a listing is not held: the PDS is asked, and its answer applied: account.ts); or, for an account listed
 * inactive and held inactive in the same state, whatever rev is held ('' for none): its PDS refuses its repo, or the
 * relay took it down itself, and a fetch would change nothing.
 */
async function syncedAt(ports: BackfillPorts, item: BackfillItem & { rev: string }): Promise<string | undefined> {
  const rows = checkRows(await ports.sql.query(
    `select r.rev, r.status = 'synchronized' as synchronized, coalesce(a.active, true) as active, a.status, r.collections
     from repo_sync r left join account_state a on a.did = r.did where r.did = $1`,
    [item.did],
  ), { rev: 'string?', synchronized: 'boolean', active: 'boolean', status: 'string?', collections: 'string?' });
  const held = rows[0];
  if (held === undefined) return undefined;
  const repo = { rev: held.rev, synchronized: held.synchronized, active: held.active, status: held.active ? null : held.status, collections: held.collections };
  return listedInSync(item, repo, { orNewer: true, filter: ports.filter ?? KEEP_EVERYTHING }) ? (held.rev ?? '') : undefined;
}

/**
 * The repo's records as writes at `askedAt` (when getRepo was sent): the CAR holds what the account had then, so an
 * account the live path saw deactivated while it downloaded still gets them, as the stream in order would have.
 */
async function applyRepo(repo: VerifiedRepo, askedAt: number, ports: BackfillPorts, report: RepoReport): Promise<void> {
  const rev = repo.rev as string;
  const time = new Date(askedAt).toISOString();
  const base = { seq: SEQ_BACKFILL, time, did: repo.did, commit: repo.commit, rev };
  // A chunk of records is decoded, indexed and dropped before the next: a large repo's records never all live at once.
  const leaves = repo.leaves.keys.length;
  ports.onProgress?.({ did: repo.did, phase: 'index', records: { done: 0, total: leaves } });
  const filter = ports.filter === undefined || keepsEverything(ports.filter) ? undefined : ports.filter;
  const keep = filter === undefined ? undefined : (collection: string) => keepsCollection(filter, collection);
  // A chunk is CHUNK leaves, or fewer whose records reach RANGE_RECORD_BYTES (recordsIn): bounded in memory either way.
  // The repo's follows and list items go first, in chunks of their own: a thread gate's follower and list rules judge a
  // reply by those the index holds, and in key order every post comes before them (the snapshot's follows would be
  // missing for its own replies, in a batch's replay to each reply's place or in an earlier chunk).
  const ascii = asciiKeys(repo.leaves.keys);
  let done = 0;
  for (const [start, stop] of membershipsFirst(repo.leaves.keys, ascii)) for (let from = start, end = start; from < stop; from = end) {
    let records: RepoRecord[], skipped: number, filtered: number;
    ({ records, skipped, filtered, end } = recordsIn(repo, from, Math.min(from + CHUNK, stop), keep));
    done += end - from;
    report.skipped += skipped;
    if (filtered > 0) {
      report.filtered = (report.filtered ?? 0) + filtered;
      ports.metrics.inc('skytide_filtered_total', { where: 'backfill', why: 'collection' }, filtered);
    }
    const events: RecordWriteEvent[] = [];
    for (const r of records) events.push({ type: 'create', ...base, collection: r.collection, rkey: r.rkey, cid: r.cid, record: r.record, ...madeAt(r.rkey, askedAt) });
    // Counted from what the index wrote, which only its statements know (the rev rule against live rows), and the
    // rows the chunk's records had before: read a chunk at a time, so memory does not grow with the rows the index
    // holds for the repo.
    const before = await rowsOf(ports, events.map((e) => `at://${repo.did}/${e.collection}/${e.rkey}`));
    const fates = await deliver(events, ports);
    events.forEach((e, i) => countWrite(report, e.cid, before.get(`at://${repo.did}/${e.collection}/${e.rkey}`), fates === undefined ? 'handed over' : fates[i]));
    ports.onProgress?.({ did: repo.did, phase: 'index', records: { done, total: leaves } });
  }
  const holds = leafKeys(repo.leaves.keys, ascii);
  const prefix = `at://${repo.did}/`;
  let removals: StreamEvent[] = [];
  // A removal a live write newer than the CAR overtook (after its page was read) is not one.
  const removeSome = async (events: StreamEvent[]) => {
    const fates = await deliver(events, ports);
    events.forEach((e, i) => {
      if (e.type !== 'delete') return;
      if (fates === undefined || fates[i] === 'deleted') report.deleted++;
      else report.stale++;
    });
  };
  // The rows the repo no longer holds, a page at a time (an account that deleted most of what was indexed can hold
  // far more rows than its CAR), removed as they are found. Any leaf the repo holds keeps its row, one unusable now
  // included (too big, not a record): the live path drops such a write and keeps the version before it.
  for await (const page of priorPages(ports, repo.did, rev, ports.priorPageRows ?? PRIOR_PAGE)) {
    for (const row of page) {
      // Newer than the CAR: it came live after the CAR was cut. Older and gone from the repo: a delete we missed.
      if (row.rev >= rev || !row.uri.startsWith(prefix)) continue;
      const key = row.uri.slice(prefix.length);
      if (holds(key)) continue;
      const slash = key.indexOf('/');
      const collection = key.slice(0, slash);
      // Rows of a collection no longer kept are left as they are, as the live path leaves their deletes.
      if (slash < 0 || (keep !== undefined && !keep(collection))) continue;
      const event: RecordDeleteEvent = { type: 'delete', ...base, collection, rkey: key.slice(slash + 1) };
      removals.push(event);
    }
    if (removals.length >= CHUNK) {
      await removeSome(removals);
      removals = [];
    }
  }
  const commit: RepoCommitEvent = { type: 'repo', ...base };
  removals.push(commit);
  await removeSome(removals);
  await setSync(ports, repo.did, 'synchronized', rev, repo.data, null);
}

/** The rows the index holds at these URIs (a chunk's), by URI. */
async function rowsOf(ports: BackfillPorts, uris: string[]): Promise<Map<string, { cid: string }>> {
  if (uris.length === 0) return new Map();
  const rows = checkRows(await ports.sql.query(`select uri, cid from record where uri = any($1::text[])`, [uris]), { uri: 'string', cid: 'string' });
  return new Map(rows.map((r) => [r.uri, r]));
}

/** Rows of the index per page while removing what a repo no longer holds: bounded memory, few statements. */
const PRIOR_PAGE = 20_000;

/**
 * The index's record rows of a DID older than `rev` (what the CAR was cut at: the rows this backfill wrote, and any
 * newer, are not candidates), a page at a time, by URI in the database's own order (keyset: `uri > last`, so the
 * collation, whatever it is, orders and compares alike).
 */
async function* priorPages(ports: BackfillPorts, did: string, rev: string, size: number): AsyncGenerator<{ uri: string; rev: string }[]> {
  let after = '';
  for (;;) {
    const page = checkRows(await ports.sql.query(
      `select uri, rev from record where did = $1 and rev < $2 and uri > $3 order by uri limit $4`,
      [did, rev, after, size],
    ), { uri: 'string', rev: 'string' });
    if (page.length === 0) return;
    yield page;
    if (page.length < size) return;
    after = page[page.length - 1]!.uri;
  }
}

/** The collections a thread gate's rules read when a reply is judged: indexed before the rest of a repo. */
const MEMBERSHIPS = ['app.bsky.graph.follow', 'app.bsky.graph.listitem'];

/**
 * The leaves' index ranges, [start, stop), covering each once: the MEMBERSHIPS collections' first (each a contiguous
 * range of the sorted keys), then the rest in key order. Keys with other than ASCII characters (which the MST orders
 * by bytes, not as strings compare) are taken in key order alone.
 */
export function membershipsFirst(keys: readonly string[], ascii = asciiKeys(keys)): [number, number][] {
  if (!ascii) return keys.length === 0 ? [] : [[0, keys.length]];
  // `/` sorts just before `0`: every key of the collection lies in [`c/`, `c0`).
  const ranges = MEMBERSHIPS.map((c): [number, number] => [firstAtOrAfter(keys, `${c}/`), firstAtOrAfter(keys, `${c}0`)]).filter(([a, b]) => a < b);
  const rest: [number, number][] = [];
  let at = 0;
  for (const [a, b] of [...ranges].sort((x, y) => x[0] - y[0])) {
    if (at < a) rest.push([at, a]);
    at = b;
  }
  if (at < keys.length) rest.push([at, keys.length]);
  return [...ranges, ...rest];
}

/**
 * Whether the repo holds a leaf at `key`. Its leaves are in the MST's byte order, which is the strings' own for ASCII
 * keys (the spec's characters): a binary search, no second copy of the keys. Otherwise (keys the walk let through
 * with other characters), a set.
 */
function leafKeys(keys: readonly string[], ascii: boolean): (key: string) => boolean {
  if (!ascii) {
    const set = new Set(keys);
    return (key) => set.has(key);
  }
  return (key) => keys[firstAtOrAfter(keys, key)] === key;
}

/** Whether every key is ASCII: then the MST's byte order is the strings' own, and a binary search can be used. */
function asciiKeys(keys: readonly string[]): boolean {
  return keys.every((k) => /^[\x00-\x7f]*$/.test(k));
}

/** The index of the first of the sorted `keys` at or after `key` (keys.length when none is). */
function firstAtOrAfter(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((keys[mid] as string) < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The PLC directory tombstoned the DID (asked at `askedAt`): a confirmed deletion, purged as RepoNotFound is (account.ts),
 * unless a reactivation later than the answer stands; then the repo is desynchronized and that reactivation's resync
 * asks again. Not retried either way: asking the directory again would only hear the same answer.
 */
async function tombstoned(did: string, askedAt: number, ports: BackfillPorts, report: RepoReport): Promise<'unavailable'> {
  const records = await didTombstoned(did, askedAt, ports);
  if (records === undefined) await setSync(ports, did, 'desynchronized', null, null, DID_TOMBSTONED);
  report.deleted = records ?? 0;
  report.status = 'unavailable';
  report.reason = DID_TOMBSTONED;
  return 'unavailable';
}

/**
 * One look at the repo: its DID document, the download, the checks, then the account and its records applied;
 * `restored` when the repo served undid a confirmed deletion. Throws what backfillOne judges.
 */
async function syncRepo(item: BackfillItem, ports: BackfillPorts, report: RepoReport): Promise<'synchronized' | 'restored' | 'unavailable'> {
  ports.onProgress?.({ did: item.did, phase: 'identity' });
  // The tick first, then the document afresh when its handle is to be stored: it is stored only if no #identity
  // stored one after the tick (account.ts), and a cached copy could predate the tick, and a live handle with it.
  const tick = await documentTick(ports.sql);
  let identity: AtprotoIdentity;
  const resolvedAt = ports.clock.now();
  try {
    identity = await ports.identity.resolve(item.did, { forceRefresh: ports.handles !== undefined });
  } catch (err) {
    if (err instanceof DidTombstonedError) return tombstoned(item.did, resolvedAt, ports, report);
    throw err;
  }
  // One download from `pds`, once a slot of its host is held (hostSlots). The deadline is the download's own, started
  // then: time spent waiting on the database, the directory or our own per-host queue is not the PDS's. What the PDS
  // answers is the account as of `askedAt`, when getRepo is sent, not as of the end of the download: an #account
  // indexed live meanwhile is newer than the answer (account.ts), and the repo's writes are judged at this time too.
  const download = async (pds: string): Promise<{ fetched: RepoDownload; askedAt: number }> => {
    const deadline = AbortSignal.timeout(ports.timeoutMs ?? 120_000);
    // The stop signal lives as long as the process: linked per download and released once it is over (the CAR is read
    // whole by then), never through AbortSignal.any, which would keep a composite per repo (linked-signal.ts).
    const link = linkSignals(ports.stop === undefined ? [deadline] : [deadline, ports.stop]);
    try {
      const askedAt = ports.clock.now();
      const fetched = await downloadRepo(ports.fetch, pds, item.did, {
        signal: link.signal, limits: ports.limits ?? DEFAULT_REPO_LIMITS, retry: ports.pdsRetry ?? DEFAULT_PDS_RETRY,
        ...(ports.stallMs === undefined ? {} : { stallMs: ports.stallMs }),
        ...(ports.onProgress === undefined ? {} : { onBytes: (bytes: number) => ports.onProgress?.({ did: item.did, phase: 'download', bytes }) }),
      });
      return { fetched, askedAt };
    } finally {
      link.release();
    }
  };
  const fetchFrom = async (pds: string): Promise<{ fetched: RepoDownload; askedAt: number }> => {
    const slots = ports.hostSlots;
    if (slots === undefined) return download(pds);
    // Waiting behind other downloads of the same host (each bounded by its own deadline) is alive, not hung. A stop
    // cuts the downloads ahead, so the wait ends soon after, and this download then fails at once on the stop.
    const onProgress = ports.onProgress;
    const beat = onProgress === undefined ? undefined : setInterval(() => onProgress({ did: item.did, phase: 'download' }), SLOT_WAIT_BEAT_MS);
    try {
      return await slots.run(pds, () => {
        clearInterval(beat);
        return download(pds);
      });
    } finally {
      clearInterval(beat);
    }
  };
  ports.onProgress?.({ did: item.did, phase: 'download' });
  let { fetched, askedAt } = await fetchFrom(identity.pds);
  if (fetched.kind === 'unavailable') {
    // The account may have moved while the repo was asked for. Ask the document again, and the new PDS if it names
    // one, before taking the answer.
    const refreshedAt = ports.clock.now();
    let fresh: AtprotoIdentity;
    try {
      fresh = await refreshedIdentity(item.did, identity, ports);
    } catch (err) {
      if (err instanceof DidTombstonedError) return tombstoned(item.did, refreshedAt, ports, report);
      throw err;
    }
    if (fresh.pds !== identity.pds) ({ fetched, askedAt } = await fetchFrom(fresh.pds));
    identity = fresh;
  }
  if (fetched.kind === 'unavailable') {
    // RepoNotFound from the account's own PDS confirms a deletion: its rows go, and the counts they fed with them
    // (unless a reactivation later than askedAt stands: then, as the others, the repo is desynchronized).
    const purged = await repoUnavailable(item.did, fetched.error, identity, tick, askedAt, ports);
    if (purged === undefined) await setSync(ports, item.did, 'desynchronized', null, null, fetched.error);
    report.deleted = purged ?? 0;
    report.status = 'unavailable';
    report.reason = fetched.error;
    ports.log.info('repo unavailable', { did: item.did, error: fetched.error });
    return 'unavailable';
  }
  const car = fetched.car;
  ports.onProgress?.({ did: item.did, phase: 'verify' });
  let repo: VerifiedRepo;
  try {
    repo = await verifyRepo(car, { did: item.did, key: identity.signingKey });
  } catch (err) {
    if (!(err instanceof SkytideError) || err.reason !== 'bad_signature') throw err;
    // The key may have rotated while the repo downloaded: look again once, then reject.
    identity = await ports.identity.resolve(item.did, { forceRefresh: true });
    repo = await verifyRepo(car, { did: item.did, key: identity.signingKey });
  }
  if (repo.rev === undefined) throw new SkytideError('invalid_commit', 'repo commit has no rev (v2): the rev rule cannot protect newer data');
  report.rev = repo.rev;
  // A rev beyond the allowed clock drift would become the repo's floor and refuse every real later write: not
  // processed (as on the live path), and retried, since the PDS's clock may be put right.
  if (isFutureRev(repo.rev, ports.clock.now())) {
    throw new SkytideError('future_rev', `repo commit rev ${repo.rev} is more than ${MAX_REV_DRIFT_MS / 60_000} minutes in the future`, { did: item.did, rev: repo.rev });
  }
  // Its PDS serves the repo: the account is active (restored, if it was deleted), whatever an earlier answer or
  // event left, and its handle is verified. Unless the relay listed it inactive for a reason of the account's: a PDS
  // that took an account down (deactivated, suspended) refuses its repo, so one that serves it says only that the PDS
  // did not; the relay we follow did (its own takedown), and its state stands, as applying its stream in order would
  // leave it. Stored active, the listing differed from it at every sweep, and every sweep fetched the repo again.
  const listed = listedInactive(item) ? { active: false as const, status: (item.status ?? 'inactive').toLowerCase() } : undefined;
  const restored = await repoServed(identity, tick, askedAt, ports, listed);
  await applyRepo(repo, askedAt, ports, report);
  ports.onProgress?.({ did: item.did, phase: 'done', records: { done: repo.leaves.keys.length, total: repo.leaves.keys.length } });
  report.status = 'synchronized';
  return restored ? 'restored' : 'synchronized';
}

async function backfillOne(item: BackfillItem, ports: BackfillPorts): Promise<{ outcome: ItemOutcome; report: RepoReport }> {
  const started = ports.clock.now();
  const report: RepoReport = { did: item.did, status: 'failed', created: 0, updated: 0, deleted: 0, unchanged: 0, stale: 0, skipped: 0, durationMs: 0 };
  const finish = (outcome: ItemOutcome) => {
    report.durationMs = ports.clock.now() - started;
    if (outcome.status !== 'ok') report.reason = outcome.reason;
    return { outcome, report };
  };
  if (!isValidDid(item.did)) return finish(dead('invalid_syntax', `not a DID: ${JSON.stringify(item.did)}`));
  if (ports.filter !== undefined && !keepsDid(ports.filter, item.did)) {
    // Queued before the filter changed, or asked for by hand: not ours to fetch, index or mark.
    ports.metrics.inc('skytide_filtered_total', { where: 'backfill', why: 'did' });
    report.status = 'filtered';
    return finish(ok);
  }
  if (item.reason === 'handle_unverified') {
    // A follow-up of an #identity whose handle could not be verified: the handle only. An outage is let through.
    await recheckHandle(item.did, ports);
    report.status = 'identity';
    return finish(ok);
  }
  try {
    // Listed at a rev we already hold, in the account state we hold (a sweep queued it twice, or a resync finished
    // meanwhile): nothing to fetch.
    const held = item.rev === undefined ? undefined : await syncedAt(ports, { ...item, rev: item.rev });
    if (held !== undefined) {
      report.status = 'synchronized';
      report.rev = held;
      report.alreadySynchronized = true;
      return finish(ok);
    }
    await setSync(ports, item.did, 'in-progress', null, null, item.reason ?? null);
    if ((await syncRepo(item, ports, report)) === 'restored') {
      // Its live writes were skipped until the marker was lifted, those made while this CAR downloaded included, and
      // the CAR was cut before them: the repo is fetched once more, now that they count. A crash in between leaves
      // the repo in-progress, so a listed rev does not pass for held.
      await setSync(ports, item.did, 'in-progress', null, null, item.reason ?? null);
      const again: RepoReport = { did: item.did, status: 'failed', created: 0, updated: 0, deleted: 0, unchanged: 0, stale: 0, skipped: 0, durationMs: 0 };
      await syncRepo(item, ports, again);
      report.status = again.status;
      if (again.rev !== undefined) report.rev = again.rev;
      if (again.reason !== undefined) report.reason = again.reason;
      report.created += again.created;
      report.updated += again.updated;
      report.deleted += again.deleted;
    }
    return finish(ok);
  } catch (err) {
    // An outage is no verdict on the repo: nothing is recorded against it, and the caller waits and tries again.
    // A throw that is not ours (a bug, a statement the database refused) is not judged here either.
    if (dependencyErrorIn(err) !== undefined || !(err instanceof SkytideError)) throw err;
    const reason: Reason = err.reason;
    // Cut short by the stop, not judged: the repo waits for the next process as it was.
    if (ports.stop?.aborted === true) return finish(wait(reason, `stopped before the repo was synchronized: ${describeError(err)}`));
    ports.log.warn('backfill failed', { did: item.did, reason, err: describeError(err) });
    // If the database fails here, that is an outage again (thrown): the verdict is reached anew on the next try.
    await recordFailure(ports, item.did, reason, started);
    // A PDS still rate-limiting us once the tries within this delivery are spent (or asking, with Retry-After, for
    // longer than a delivery waits: fetch-car.ts) says nothing about the repo: the entry waits (no delivery counted)
    // rather than walk towards the DLQ while the PDS asks us to slow down.
    if (err instanceof RepoFetchError && err.rateLimited) return finish(wait(reason, describeError(err)));
    return finish(PERMANENT_FAILURES.has(reason) ? dead(reason, describeError(err)) : retry(reason, describeError(err)));
  }
}

/** Every item gets an outcome, or the call throws (an outage first, if any), once every repo in flight has stopped. */
export async function backfillRepos(items: readonly BackfillItem[], ports: BackfillPorts): Promise<{ outcomes: ItemOutcome[]; resync: []; reports: RepoReport[] }> {
  const limit = pLimit(ports.concurrency ?? 4);
  // Settled, not raced: a repo still being written when another one throws would go on beside its own retry.
  const settled = await Promise.allSettled(items.map((item) => limit(() => backfillOne(item, ports))));
  const failures = settled.flatMap((s) => (s.status === 'rejected' ? [s.reason as unknown] : []));
  if (failures.length > 0) throw failures.find((f) => dependencyErrorIn(f) !== undefined) ?? failures[0];
  const results = settled.map((s) => (s as PromiseFulfilledResult<{ outcome: ItemOutcome; report: RepoReport }>).value);
  return { outcomes: results.map((r) => r.outcome), resync: [], reports: results.map((r) => r.report) };
}

/** When a record's rkey (a TID) says it was made, where that is before `readAtMs` (events.ts, `madeAt`). */
function madeAt(rkey: string, readAtMs: number): { madeAt: string } | Record<string, never> {
  if (!isValidTid(rkey)) return {};
  const ms = Math.floor(tidMicros(rkey) / 1000);
  return ms < readAtMs ? { madeAt: new Date(ms).toISOString() } : {};
}
