// The sweeper: pages com.atproto.sync.listRepos of one relay (or PDS) into repo_backfill, so every repo gets a
// verified backfill. The listRepos cursor is stored as `repo_backfill:cursor:<host>` in the same write as the page's
// entries, and set to `!ingester-done` when the listing ends. Repos already synchronized at the listed rev, in the
// listed account state (active, status), are not queued (functions/listed-in-sync.ts). Above the high-water mark it waits for the backfill to drain. A page that keeps failing is skipped as a
// whole page when the cursor is numeric (its range is recorded in `repo_backfill:skipped:<host>`, replacing the ranges
// it overlaps); with an opaque cursor nothing can be skipped, so the sweep stops with an error and resumes from that
// page next time. A pass that reached the end of the listing then retries every recorded range, one page from its
// start under the same attempt rules (functions/sweep-skipped.ts): a page that comes is queued as any page and clears
// the range; one that fails again leaves it, for the next pass's end. The sweep is done only once those retries ran:
// stopped (SIGTERM, a lost lease) in them, it is not (`done` false; lease_lost for a lost lease).
// A page counts as failing only when it fails (in any way: an HTTP error, a body that is no page, a deadline, a dropped
// connection, TLS) while the relay answers another page (relayAnswers: listRepos from the start, one entry): a relay
// that is up but answers one page 500 or 400 every time. A relay that is down or overloaded (every request failing,
// the one from the start too, whether by 503, 404, an HTML maintenance page or a refused certificate; a 429 always)
// is waited out, however long, and no page skipped. SWEEP_MAX_SKIPPED_IN_A_ROW pages skipped in a row (a relay that
// answers from the start and fails everything else) stop the sweep with fetch_failed at the next one, where the next
// sweep resumes, rather than skip on through the listing;
// so is a Postgres that is down when a page's repos in sync are read, and a Redis that refuses the page's write (out
// of memory, read-only; the lease is renewed meanwhile).
// A page whose cursor sends the sweep back to one this pass used ends the pass (the page queued once; logged and
// counted in skytide_sweep_problems_total{problem="repeated_cursor"}), rather than list the same pages forever.
//
// One sweep per host at a time, across processes: a sweep runs under the host's lease in Redis
// (`repo_backfill:lease:<host>`, adapters/redis/lease.ts), taken before the cursor is read, renewed while it runs and
// released at the end. A second sweep of the host is refused (`sweep_running`) while the lease lives; a crashed
// holder's lease expires after its TTL. Every page is written by a script that checks the lease first, so a sweep
// that lost its lease (`lease_lost`) writes nothing more and the next one resumes from the stored cursor.
//
// DIDs the filters drop (INGESTER_DIDS, INGESTER_EXCLUDE_DIDS) are listed but never queued (counted as filtered).
// Entries with no valid DID are dropped as the page is read (adapters/xrpc/list-repos.ts), never queued: counted in
// `invalidDids` and skytide_sweep_problems_total{problem="invalid_syntax"}, logged sampled; the page still held them, so
// a page of only such entries does not end the listing (its cursor is followed).
import os from 'node:os';
import type { Redis } from 'ioredis';
import type { Fetch, Log, Metrics, Sql } from '../../functions/ports.ts';
import { SkytideError, describeError } from '../../functions/errors.ts';
import { keepsDid, type EventFilter } from '../../functions/event-filter.ts';
import { hostKey, STREAMS, SWEEP_DONE, sweepSkippedKey, type KeySpace } from '../../adapters/redis/keys.ts';
import { acquireLease, amendUnderLease, appendUnderLease, keepLease, renewLease, type KeptLease } from '../../adapters/redis/lease.ts';
import { writeSlotBatches } from '../../adapters/redis/stream-writer.ts';
import { writeRefusal } from '../../adapters/redis/write-refusal.ts';
import { sleep } from '../sleep.ts';
import { outageOf, waitOut } from '../wait-out.ts';
import { droppedEntries, judgePageFailure, listReposPage, passCursors, type ListedPage } from '../../adapters/xrpc/list-repos.ts';
import { createBackoff } from '../../functions/backoff.ts';
import { linkSignals } from '../../functions/linked-signal.ts';
import { syncedRepos } from '../../adapters/postgres/repo-sync-states.ts';
import { listedInSync } from '../../functions/listed-in-sync.ts';
import { repoBackfillJson } from '../../functions/events.ts';
import { DEFAULT_MAX_SKIPPED_IN_A_ROW, overlappedBy, rangeMember, rangesToRetry, restAfterRetry, skippedRangeAt } from '../../functions/sweep-skipped.ts';

/** The limits an operator may need to change (SWEEP_* variables). */
export interface SweepLimits {
  /** Repos asked for per listRepos page (the lexicon allows 1 to 1000). */
  pageSize: number;
  /** Deadline for one listRepos page. */
  pageTimeoutMs: number;
  /**
   * Tries of a page that fails in itself (or fails while the relay answers another page) before it is skipped (numeric
   * cursor) or the sweep stops (opaque cursor). A relay outage uses none of them.
   */
  pageAttempts: number;
  /** How long a host's lease lives without renewal; renewed every third of it. */
  leaseTtlMs: number;
  /** Pages skipped in a row before the sweep stops instead: SWEEP_MAX_SKIPPED_IN_A_ROW unless given. */
  maxSkippedInARow?: number;
}

export const DEFAULT_SWEEP_LIMITS: SweepLimits = { pageSize: 1000, pageTimeoutMs: 30_000, pageAttempts: 3, leaseTtlMs: 60_000 };
/** The first retry of a failing page waits this long; each further one twice as long. */
export const SWEEP_RETRY_BASE_MS = 1000;
/** The longest wait between two tries of a relay that is down (from SWEEP_RETRY_BASE_MS, doubling). */
export const SWEEP_OUTAGE_MAX_DELAY_MS = 30_000;
/** The longest Retry-After honoured: a relay asking for more is asked again after this. */
export const SWEEP_RETRY_AFTER_MAX_MS = 5 * 60_000;
/** Pages skipped in a row before the sweep stops instead (functions/sweep-skipped.ts). */
export const SWEEP_MAX_SKIPPED_IN_A_ROW = DEFAULT_MAX_SKIPPED_IN_A_ROW;
/** How often a sweep held back by the high-water mark looks at repo_backfill again. */
export const SWEEP_BACKPRESSURE_POLL_MS = 1000;

export interface SweepOptions {
  redis: Redis;
  keys: KeySpace;
  sql: Sql;
  fetch: Fetch;
  /** The relay or PDS to list; http:// for local networks, https:// or no scheme otherwise. */
  host: string;
  highWaterMark: number;
  pageSize?: number;
  pageAttempts?: number;
  pageTimeoutMs?: number;
  retryDelayMs?: number;
  /** SWEEP_OUTAGE_MAX_DELAY_MS unless given. */
  outageMaxDelayMs?: number;
  /** SWEEP_MAX_SKIPPED_IN_A_ROW unless given. */
  maxSkippedInARow?: number;
  leaseTtlMs?: number;
  /** Who sweeps, stored in the lease so a refused sweep can say who holds it; default hostname-pid. */
  holder?: string;
  /** The host's lease, already taken (POST /sweep takes it before answering); without one, runSweep takes it. */
  lease?: KeptLease;
  log: Log;
  metrics: Metrics;
  signal: AbortSignal;
  /** What is kept; DIDs it drops are not queued. Absent: every DID. */
  filter?: EventFilter;
  /** Called after each page, for progress output. */
  onPage?: (progress: SweepProgress) => void;
  /** The supervisor's beat: each page written, and every wait (backpressure, a relay or a dependency that is down). */
  beat?: () => void;
}

export interface SweepProgress {
  pages: number;
  listed: number;
  queued: number;
  skippedInSync: number;
  skippedPages: number;
  /** Skipped ranges retried after the listing ended whose page came: queued, and cleared. */
  retriedRanges: number;
  /** Skipped ranges still recorded for the host when the sweep ended (SCARD of repo_backfill:skipped:<host>). */
  skippedRanges: number;
  /** Listed DIDs the filters drop, not queued. */
  filtered: number;
  /** Listed entries dropped for having no valid DID, not queued (skytide_sweep_problems_total{problem="invalid_syntax"}). */
  invalidDids: number;
  /** The listing ended and the recorded skipped ranges were all retried (false when stopped before, in the retries too). */
  done: boolean;
}

/** The Redis key of a host's sweep lease. */
export function sweepLeaseKey(keys: KeySpace, host: string): string {
  return keys.beside(STREAMS.repoBackfill, `:lease:${hostKey(host)}`);
}

export function defaultHolder(): string {
  return `${os.hostname()}-${process.pid}`;
}

export type SweepClaim = { held: KeptLease } | { held?: undefined; holder: string | null };

/** Takes the host's lease (renewed from now on) or says who holds it. */
export async function claimSweep(redis: Redis, keys: KeySpace, host: string, holder: string, leaseTtlMs: number, log: Log): Promise<SweepClaim> {
  const got = await acquireLease(redis, sweepLeaseKey(keys, host), holder, leaseTtlMs);
  return got.acquired ? { held: keepLease(redis, got.lease, log) } : { holder: got.holder };
}

function sweepRunning(host: string, holder: string | null): SkytideError {
  return new SkytideError('sweep_running', `a sweep of ${host} is already running (held by ${holder ?? 'a holder whose lease just ended'})`, { host, holder });
}

function leaseLost(host: string): SkytideError {
  return new SkytideError('lease_lost', `the sweep of ${host} lost its lease; the next sweep resumes from the stored cursor`, { host });
}

/** Sweeps one host under its lease: the given one, or one taken here (refused with `sweep_running` when held). */
export async function runSweep(o: SweepOptions): Promise<SweepProgress> {
  if (o.lease !== undefined) return sweepUnderLease(o, o.lease);
  const claim = await claimSweep(o.redis, o.keys, o.host, o.holder ?? defaultHolder(), o.leaseTtlMs ?? DEFAULT_SWEEP_LIMITS.leaseTtlMs, o.log);
  if (claim.held === undefined) throw sweepRunning(o.host, claim.holder);
  try {
    return await sweepUnderLease(o, claim.held);
  } finally {
    await claim.held.release();
  }
}

async function sweepUnderLease(o: SweepOptions, kept: KeptLease): Promise<SweepProgress> {
  // Stopped by the caller (SIGTERM) or by losing the lease; either way what was written stays written. Linked, and let
  // go when the sweep ends: the caller's signal outlives every sweep (functions/linked-signal.ts).
  const link = linkSignals([o.signal, kept.lost]);
  try {
    return await sweepPages(o, kept, link.signal);
  } finally {
    link.release();
  }
}

async function sweepPages(o: SweepOptions, kept: KeptLease, signal: AbortSignal): Promise<SweepProgress> {
  const pageSize = o.pageSize ?? DEFAULT_SWEEP_LIMITS.pageSize;
  const attempts = o.pageAttempts ?? DEFAULT_SWEEP_LIMITS.pageAttempts;
  const pageTimeoutMs = o.pageTimeoutMs ?? DEFAULT_SWEEP_LIMITS.pageTimeoutMs;
  const cursorKey = o.keys.cursor(STREAMS.repoBackfill, o.host);
  const skippedKey = sweepSkippedKey(o.keys, o.host);
  const stream = o.keys.stream(STREAMS.repoBackfill);
  const shardStreams = o.keys.shardsOf(STREAMS.repoBackfill).map((name) => o.keys.stream(name));
  /** Lands a page's entries (those left after a sharded write) with its script, under the lease: false when lost. */
  type Land = (stream: string, values: readonly string[]) => Promise<boolean>;
  const writeOnce = async (page: { values: readonly string[] }, land: Land) => {
    let values = page.values;
    if (o.keys.tagged && values.length > 0) {
      // Sharded (STREAM_SHARDS, Redis Cluster): each DID goes to its shard, one MULTI per shard, then the cursor under
      // the lease. A MULTI cannot span slots, so a crash or a lost lease in between can queue a page twice, never
      // lose one: backfilling a repo twice changes nothing.
      if (!(await renewLease(o.redis, kept.lease))) throw leaseLost(o.host);
      await writeSlotBatches(o.redis, {
        ops: values.map((value) => ({ kind: 'entry' as const, entry: { stream: o.keys.stream(o.keys.shardFor(STREAMS.repoBackfill, didOfEntry(value))), fields: { repo: value } } })),
      });
      values = [];
      // Written: a refusal of the cursor's write below sends only that again.
      page.values = values;
    }
    // Tagged, the cursor's slot stands in for the stream's (no entries are left to add to it here).
    if (!(await land(o.keys.tagged ? cursorKey : stream, values))) throw leaseLost(o.host);
  };
  /**
   * A page and its cursor (or a skipped range's change), written under the lease. Redis refusing writes as a server
   * (out of memory, read-only: nothing of the write landed, write-refusal.ts) is waited out like a relay that is down,
   * each wait counted in skytide_outage_waits_total{dependency="redis"}, the lease renewed meanwhile. False when
   * stopped first: the page is not written, and the next sweep lists it again.
   */
  const writeWith = async (values: readonly string[], land: Land): Promise<boolean> => {
    const page = { values };
    return (await waitingOut(o, 'redis', writeRefusal, signal, async () => (await writeOnce(page, land), true))) ?? false;
  };
  const write = (values: readonly string[], cursor: string, setAdd?: { key: string; member: string }): Promise<boolean> =>
    writeWith(values, (streamKey, rest) => appendUnderLease(o.redis, kept.lease, { stream: streamKey, field: 'repo', values: rest, cursor: { key: cursorKey, value: cursor }, ...(setAdd === undefined ? {} : { setAdd }) }));
  const amend = (values: readonly string[], remove: readonly string[], add: readonly string[]): Promise<boolean> =>
    writeWith(values, (streamKey, rest) => amendUnderLease(o.redis, kept.lease, { stream: streamKey, field: 'repo', values: rest, set: { key: skippedKey, remove, add } }));
  /** The backfill entries of a listed page: its repos less those the filters drop and those in sync (counted). */
  const entriesOf = (page: ListedPage, synced: Awaited<ReturnType<typeof syncedRepos>>): string[] => {
    const filter = o.filter;
    return page.repos
      .filter((r) => {
        if (filter === undefined || keepsDid(filter, r.did)) return true;
        progress.filtered++;
        o.metrics.inc('skytide_filtered_total', { where: 'sweep', why: 'did' });
        return false;
      })
      .filter((r) => {
        const inSync = listedInSync(r, synced.get(r.did), o.filter === undefined ? {} : { filter: o.filter });
        if (inSync) progress.skippedInSync++;
        return !inSync;
      })
      .map((r) => repoBackfillJson({ did: r.did, host: o.host, ...(r.rev === undefined ? {} : { rev: r.rev }), ...(r.active === undefined ? {} : { active: r.active }), ...(r.status === undefined ? {} : { status: r.status }) }));
  };
  const backpressure = async () => {
    while ((await queuedLength(o.redis, shardStreams)) >= o.highWaterMark && !signal.aborted) await sleep(SWEEP_BACKPRESSURE_POLL_MS, signal, o.beat);
  };
  /**
   * Once the listing ended: each recorded range (this pass's too) retried as one page from its start, under the same
   * attempt rules as any page (fetchPage; a relay that is down waited out). A page that comes is queued as any page,
   * and its range cleared (or cut to the rest its cursor left, restAfterRetry) in the same write; one that fails again
   * stays recorded for the next pass's end. A member that is no range is dropped, logged. False when stopped (the
   * caller's signal, or the lease lost) before every range was tried: the sweep is not done, though its listing is.
   */
  const retrySkipped = async (): Promise<boolean> => {
    const { ranges, invalid } = rangesToRetry(await o.redis.smembers(skippedKey));
    if (invalid.length > 0) {
      if (!(await amend([], invalid, []))) return false;
      o.log.error('skipped listRepos ranges that are no range dropped', { host: o.host, members: invalid });
    }
    for (const { member, range } of ranges) {
      await backpressure();
      if (signal.aborted) return false;
      const page = await fetchPage(o, String(range.from), pageSize, attempts, pageTimeoutMs, signal);
      if (signal.aborted) return false;
      if (page === undefined) {
        o.log.error('skipped listRepos range failed again; kept for the next pass', { host: o.host, range: member });
        continue;
      }
      const before = { ...progress };
      const synced = await waitingOut(o, 'postgres', outageOf('postgres'), signal, () => syncedRepos(o.sql, page.repos.map((r) => r.did)));
      if (synced === undefined) return (Object.assign(progress, before), false);
      const entries = entriesOf(page, synced);
      const rest = restAfterRetry(range, page);
      if (!(await amend(entries, [member], rest === undefined ? [] : [rangeMember(rest)]))) return (Object.assign(progress, before), false);
      progress.pages++;
      progress.listed += page.repos.length;
      progress.queued += entries.length;
      progress.invalidDids += page.dropped ?? 0;
      progress.retriedRanges++;
      noteDropped(page, String(range.from));
      o.beat?.();
      o.log.info('skipped listRepos range retried and queued', { host: o.host, range: member, listed: page.repos.length, queued: entries.length, ...(rest === undefined ? {} : { rest: rangeMember(rest) }) });
    }
    return true;
  };
  const stored = await o.redis.get(cursorKey);
  // A finished sweep starts over; an interrupted one resumes where its last durable page ended.
  let cursor = stored === null || stored === SWEEP_DONE ? undefined : stored;
  const progress: SweepProgress = { pages: 0, listed: 0, queued: 0, skippedInSync: 0, skippedPages: 0, retriedRanges: 0, skippedRanges: 0, filtered: 0, invalidDids: 0, done: false };
  const cursors = passCursors({ host: o.host, start: cursor, log: o.log, metrics: o.metrics });
  /** Counts and logs (sampled) a written page's entries dropped for no valid DID. */
  const noteDropped = droppedEntries({ host: o.host, log: o.log, metrics: o.metrics });
  o.log.info('sweep started', { host: o.host, cursor: cursor ?? 'start' });
  const maxSkippedInARow = o.maxSkippedInARow ?? SWEEP_MAX_SKIPPED_IN_A_ROW;
  let skippedInARow = 0;

  while (!signal.aborted) {
    await backpressure();
    const from = cursor;
    const page = await fetchPage(o, from, pageSize, attempts, pageTimeoutMs, signal);
    if (signal.aborted) break;
    if (page === undefined) {
      const range = skippedRangeAt(cursor, pageSize);
      if (cursor === undefined || range === undefined) {
        throw new SkytideError('fetch_failed', `listRepos keeps failing at cursor ${cursor ?? '(start)'}; the sweep resumes there next time`, { host: o.host });
      }
      if (skippedInARow >= maxSkippedInARow) {
        throw new SkytideError('fetch_failed', `listRepos failed ${skippedInARow + 1} pages in a row while answering from the start; stopped at cursor ${cursor} (not skipped), where the next sweep resumes`, { host: o.host, cursor, skippedInARow });
      }
      skippedInARow++;
      // Skip the whole page: the range is recorded, never silently lost, and the ranges it overlaps (recorded by
      // earlier passes at other cursors) go: this pass listed up to it and goes on past it.
      const member = rangeMember(range);
      const next = String(range.to);
      if (!(await write([], next, { key: skippedKey, member }))) break;
      const replaced = overlappedBy(await o.redis.smembers(skippedKey), range).filter((m) => m !== member);
      if (replaced.length > 0 && !(await amend([], replaced, []))) break;
      o.log.error('listRepos page skipped after repeated failures', { host: o.host, from: cursor, to: next, ...(replaced.length > 0 ? { replaced } : {}) });
      progress.skippedPages++;
      cursor = next;
      continue;
    }
    skippedInARow = 0;
    // A page the sweep is stopped on before it is written is not counted (the next sweep lists it again).
    const before = { ...progress };
    progress.pages++;
    progress.listed += page.repos.length;
    progress.invalidDids += page.dropped ?? 0;
    const dids = page.repos.map((r) => r.did);
    const synced = await waitingOut(o, 'postgres', outageOf('postgres'), signal, () => syncedRepos(o.sql, dids));
    // Stopped while Postgres was down.
    if (synced === undefined) {
      Object.assign(progress, before);
      break;
    }
    const entries = entriesOf(page, synced);
    progress.queued += entries.length;
    // A page with a cursor but no entries ends the listing too (some servers answer so at the end; entries dropped for
    // no valid DID count, so a page of only those goes on), and so does a cursor this pass used (passCursors):
    // followed, it would list the same pages forever, holding the lease all along.
    const { next } = cursors.after(page, from);
    if (!(await write(entries, next ?? SWEEP_DONE))) {
      Object.assign(progress, before);
      break;
    }
    noteDropped(page, from);
    o.onPage?.({ ...progress, done: next === undefined });
    o.beat?.();
    o.log.info('sweep page queued', { host: o.host, page: progress.pages, listed: progress.listed, queued: progress.queued, inSync: progress.skippedInSync });
    if (next === undefined) {
      progress.done = true;
      break;
    }
    cursor = next;
  }
  // The listing ended; the sweep is done once the recorded ranges were retried too. Stopped (SIGTERM, the lease lost)
  // before, it is not: `skytide sweep` exits 143/130 (or fails with lease_lost), never 0, and the ranges stay recorded
  // for the next pass's end.
  if (progress.done) progress.done = await retrySkipped();
  if (kept.lost.aborted && !progress.done) throw leaseLost(o.host);
  progress.skippedRanges = await o.redis.scard(skippedKey);
  o.log.info(progress.done ? 'sweep finished' : 'sweep stopped', { host: o.host, ...progress });
  return progress;
}

/**
 * One page, tried until it comes or the sweep stops. A relay that is down or overloaded (judgePageFailure: `outage`,
 * any failure while the relay does not answer from the start either; a 429) is waited out with a capped backoff, its
 * Retry-After honoured up to SWEEP_RETRY_AFTER_MAX_MS, for as long as it takes: a relay restart, or maintenance behind
 * a 404 or an HTML page, must not skip pages. Only a page that fails while the relay answers another page (a relay
 * that is up answering this one 400 or 500 every time: waited out, it would hold the host's lease forever and never
 * end the sweep) uses up `attempts`; undefined then, and when the sweep was stopped.
 */
async function fetchPage(o: SweepOptions, from: string | undefined, pageSize: number, attempts: number, pageTimeoutMs: number, signal: AbortSignal): Promise<ListedPage | undefined> {
  const baseMs = o.retryDelayMs ?? SWEEP_RETRY_BASE_MS;
  const outage = createBackoff({ baseMs, maxMs: o.outageMaxDelayMs ?? SWEEP_OUTAGE_MAX_DELAY_MS, jitter: 'equal' });
  /** The failure judged, the relay asked within a page's deadline whether it answers another page. */
  const judge = async (err: unknown) => {
    const link = linkSignals([signal, AbortSignal.timeout(pageTimeoutMs)]);
    return judgePageFailure(o.fetch, o.host, err, link.signal).finally(link.release);
  };
  let failures = 0;
  let waits = 0;
  while (!signal.aborted) {
    try {
      // The page is read whole inside listReposPage: its link to the sweep's signal goes with it.
      const link = linkSignals([signal, AbortSignal.timeout(pageTimeoutMs)]);
      const page = await listReposPage(o.fetch, o.host, from, pageSize, link.signal).finally(link.release);
      if (waits > 0) o.log.info('listRepos relay answers again', { host: o.host, cursor: from, waits });
      return page;
    } catch (err) {
      // Once the sweep is stopped nothing more is tried or logged.
      if (signal.aborted) return undefined;
      const failure = await judge(err);
      if (signal.aborted) return undefined;
      if (failure.kind === 'outage') {
        waits++;
        o.metrics.inc('skytide_sweep_problems_total', { problem: 'relay_unavailable' });
        const delay = failure.retryAfterMs === undefined ? outage.next() : Math.min(failure.retryAfterMs, SWEEP_RETRY_AFTER_MAX_MS);
        // The 1st, 10th, 100th... wait of this page: an outage of hours logs a handful of lines.
        if (Number.isInteger(Math.log10(waits))) o.log.warn('listRepos relay unavailable; waiting', { host: o.host, cursor: from, waits, delayMs: delay, err: describeError(err) });
        await sleep(delay, signal, o.beat);
        continue;
      }
      failures++;
      o.log.warn(failure.relayUp ? 'listRepos page failed while the relay answers others' : 'listRepos page failed', { host: o.host, cursor: from, attempt: failures, err: describeError(err) });
      if (failures >= attempts) return undefined;
      await sleep(baseMs * 2 ** (failures - 1), signal, o.beat);
    }
  }
  return undefined;
}

/**
 * `attempt`, with an outage of `dependency` (what `outage` names one: its message, else undefined and the error goes
 * up) waited out (wait-out.ts) for as long as it takes rather than failing the host's sweep (a scheduled one would
 * wait for its next time): each wait counted in skytide_outage_waits_total, the 1st, 10th, 100th... logged. Used for a
 * Postgres that is down when a page's repos in sync are read, and a Redis that refuses the page's write (nothing of it
 * landed, write-refusal.ts). Undefined when the sweep is stopped meanwhile.
 */
async function waitingOut<T>(
  o: SweepOptions, dependency: 'postgres' | 'redis', outage: (err: unknown) => string | undefined, signal: AbortSignal, attempt: () => Promise<T>,
): Promise<T | undefined> {
  const result = await waitOut(attempt, {
    outage, signal, beat: o.beat, backoff: { baseMs: o.retryDelayMs ?? SWEEP_RETRY_BASE_MS, maxMs: o.outageMaxDelayMs ?? SWEEP_OUTAGE_MAX_DELAY_MS },
    onWait: () => o.metrics.inc('skytide_outage_waits_total', { dependency }),
    warn: ({ waits, delayMs, why }) => o.log.warn(`${dependency} unavailable; sweep waits`, { host: o.host, waits, delayMs, err: why }),
  });
  if ('stopped' in result) return undefined;
  if (result.waits > 0) o.log.info(`${dependency} is back: sweep goes on`, { host: o.host, waits: result.waits });
  return result.value;
}

async function queuedLength(redis: SweepOptions['redis'], streams: readonly string[]): Promise<number> {
  const lengths = await Promise.all(streams.map((key) => redis.xlen(key)));
  return lengths.reduce((a, b) => a + b, 0);
}

function didOfEntry(value: string): string {
  return (JSON.parse(value) as { did: string }).did;
}
