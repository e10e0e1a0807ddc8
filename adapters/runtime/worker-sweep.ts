// The Worker's listRepos sweep, run by its cron trigger (`scheduled`): pages com.atproto.sync.listRepos of each
// configured relay and sends the repos that need a backfill to the backfill queue, resuming from the cursor kept in
// Postgres (`sweep_state`, infra/migrations/0004_sweep_state.sql), since a Worker cannot reach Redis. It keeps the
// Redis sweeper's rules (long-runners/sweeper/sweep.ts): a repo listed at the rev repo_sync holds as synchronized, in
// the account state stored for it (functions/listed-in-sync.ts), is not queued, nor a DID the filters drop (INGESTER_DIDS, INGESTER_EXCLUDE_DIDS); entries carry host, rev, active and
// status as listed; a page whose cursor sends the tick back to one it used (or started from) ends the pass, logged
// and counted in skytide_sweep_problems_total{problem="repeated_cursor"}. What differs is the shape of the work: a tick is
// one invocation, bounded in CPU time and subrequests, so it sweeps at most `pagesPerTick` pages per relay and the
// next tick goes on from the stored cursor. A pass that ended starts again `everyMs` after it started.
//
// One tick per relay at a time: a tick takes the row's lease (free or expired) before reading the cursor, writes the
// cursor only while it holds the lease, and renews the lease with each cursor it stores: a tick of many slow pages
// outlasts the cron interval, and the next tick must find the row busy rather than take it mid-tick. A page is sent
// before its cursor is stored, so a tick that dies in between sends that page again (the backfill skips a repo already
// synchronized at its rev): at least once, never lost.
// A page that fails in itself (judgePageFailure: any failure while a request from the start of the listing is
// answered, relayAnswers) is counted against its cursor in the row (`failures`, migration 0012); after `pageAttempts`
// such ticks a numeric cursor's page is skipped whole and its range recorded in `skipped` (replacing the ranges it
// overlaps), as the Redis sweeper does; an opaque cursor cannot be skipped and keeps failing. A relay that is down or
// overloaded (any failure, a 404, an HTML page or a refused TLS certificate as much as a 503, while the request from
// the start fails too; a 429) counts nothing: the tick fails and the next one, minutes later, tries the page again.
// When a pass reaches the end of the listing, the ranges in `skipped` are copied to `retrying` (migration 0016) and
// retried one page each, before anything else, by the ticks that follow (within `pagesPerTick`), under the same
// attempt rules: a page that comes is sent and its range leaves `skipped` (or is cut to the rest its cursor left); one
// that fails `pageAttempts` ticks in itself stays in `skipped`, for the next pass's end (functions/sweep-skipped.ts).
// A deployment runs this sweeper or the Redis one against a relay, never both: neither sees the other's cursor.
import type { Fetch, Log, Metrics, Sql } from '../../functions/ports.ts';
import type { RepoBackfillEntry } from '../../functions/events.ts';
import { SkytideError, describeError } from '../../functions/errors.ts';
import type { WorkQueue } from '../queue/work-queue.ts';
import { droppedEntries, judgePageFailure, listReposPage, passCursors, type ListedPage } from '../xrpc/list-repos.ts';
import { keepsDid, type EventFilter } from '../../functions/event-filter.ts';
import { checkRows } from '../../functions/sql-rows.ts';
import { syncedRepos } from '../postgres/repo-sync-states.ts';
import { listedInSync } from '../../functions/listed-in-sync.ts';
import { DEFAULT_MAX_SKIPPED_IN_A_ROW, overlappedBy, parseSkippedRange, rangeMember, restAfterRetry, skippedInARowAt, skippedRangeAt } from '../../functions/sweep-skipped.ts';

export interface WorkerSweepOptions {
  sql: Sql;
  fetch: Fetch;
  queue: WorkQueue<RepoBackfillEntry>;
  hosts: readonly string[];
  pageSize: number;
  pageTimeoutMs: number;
  pagesPerTick: number;
  /** Ticks a page may fail in itself before it is skipped (numeric cursor): SWEEP_PAGE_ATTEMPTS. */
  pageAttempts: number;
  /** Pages skipped in a row before a tick stops instead (SWEEP_MAX_SKIPPED_IN_A_ROW; functions/sweep-skipped.ts). */
  maxSkippedInARow?: number;
  everyMs: number;
  /** How long a tick holds a relay's row, renewed at each page stored (so above pageTimeoutMs); a tick that died
   * releases it by expiry. */
  leaseMs: number;
  holder: string;
  now: () => number;
  log: Log;
  metrics: Metrics;
  /** What is kept: DIDs it drops are not queued. Absent: every DID. */
  filter?: EventFilter;
}

export interface HostTick {
  host: string;
  /** `busy`: another tick holds the row; `waiting`: the last pass ended less than everyMs after it started. */
  state: 'swept' | 'done' | 'busy' | 'waiting' | 'failed';
  pages: number;
  listed: number;
  queued: number;
  /** Pages skipped by this tick after failing `pageAttempts` ticks in themselves. */
  skippedPages?: number;
  /** Skipped ranges retried by this tick whose page came: sent, and cleared. */
  retriedRanges?: number;
  /** Skipped ranges retried by this tick that failed `pageAttempts` ticks again: kept for the next pass's end. */
  keptRanges?: number;
  error?: string;
}

export async function sweepTick(o: WorkerSweepOptions): Promise<HostTick[]> {
  const out: HostTick[] = [];
  for (const host of o.hosts) {
    try {
      out.push(await sweepHost(o, host));
    } catch (err) {
      o.log.error('worker sweep failed', { host, err: describeError(err) });
      out.push({ host, state: 'failed', pages: 0, listed: 0, queued: 0, error: describeError(err) });
    }
  }
  return out;
}

async function sweepHost(o: WorkerSweepOptions, host: string): Promise<HostTick> {
  const iso = () => new Date(o.now()).toISOString();
  const tick: HostTick = { host, state: 'swept', pages: 0, listed: 0, queued: 0 };
  await o.sql.query(`insert into sweep_state (host, "updatedAt") values ($1, $2) on conflict (host) do nothing`, [host, iso()]);
  const taken = checkRows(await o.sql.query(
    `update sweep_state set holder = $2, "leaseUntil" = now() + $3::bigint * interval '1 millisecond', "updatedAt" = $4
     where host = $1 and (holder is null or "leaseUntil" < now())
     returning cursor, "startedAt", "doneAt"`,
    [host, o.holder, o.leaseMs, iso()],
  ), { cursor: 'string?', startedAt: 'string?', doneAt: 'string?' });
  const row = taken[0];
  if (row === undefined) return { ...tick, state: 'busy' };
  try {
    // Ranges left to retry from the pass that ended come before anything else.
    await retryRanges(o, host, tick);
    if (tick.pages >= o.pagesPerTick) return tick;
    let cursor = row.cursor;
    if (cursor === null) {
      // No pass in progress: start one, unless the last one started less than everyMs ago.
      if (row.doneAt !== null && row.startedAt !== null && o.now() - Date.parse(row.startedAt) < o.everyMs) return { ...tick, state: 'waiting' };
      await o.sql.query(`update sweep_state set "startedAt" = $2, "doneAt" = null, pages = 0, listed = 0, queued = 0 where host = $1 and holder = $3`, [host, iso(), o.holder]);
    }
    const cursors = passCursors({ host, start: cursor ?? undefined, log: o.log, metrics: o.metrics });
    // Entries without a valid DID are dropped, never queued: counted and logged (sampled), as the Redis sweeper does.
    const dropped = droppedEntries({ host, log: o.log, metrics: o.metrics });
    while (tick.pages < o.pagesPerTick) {
      const page = await pageOrSkip(o, host, cursor ?? undefined);
      if (page.skippedTo !== undefined) {
        tick.pages++;
        tick.skippedPages = (tick.skippedPages ?? 0) + 1;
        cursor = page.skippedTo;
        continue;
      }
      const entries = await entriesOf(o, host, page);
      await o.queue.send(entries);
      dropped(page, cursor ?? undefined);
      tick.pages++;
      tick.listed += page.repos.length;
      tick.queued += entries.length;
      const { next, looped } = cursors.after(page, cursor ?? undefined);
      // Followed, a cursor used before would send the same page at every tick forever: the pass ended there.
      if (looped) tick.error = `listRepos sent the sweep back to cursor ${page.cursor}; the pass ended there`;
      const stored = await o.sql.query(
        `update sweep_state set cursor = $2, "doneAt" = $3, failures = 0, pages = pages + 1, listed = listed + $4, queued = queued + $5, "updatedAt" = $6,
           "leaseUntil" = now() + $8::bigint * interval '1 millisecond', retrying = case when $2::varchar is null then skipped else retrying end
         where host = $1 and holder = $7 returning host`,
        [host, next ?? null, next === undefined ? iso() : null, page.repos.length, entries.length, iso(), o.holder, o.leaseMs],
      );
      if (stored.length === 0) throw new SkytideError('lease_lost', `the Worker sweep of ${host} lost its row to another tick`, { host });
      o.log.info('worker sweep page queued', { host, pages: tick.pages, listed: tick.listed, queued: tick.queued });
      // The listing ended: its skipped ranges are retried from the next tick on.
      if (next === undefined) return { ...tick, state: 'done' };
      cursor = next;
    }
    return tick;
  } finally {
    await o.sql.query(`update sweep_state set holder = null, "leaseUntil" = null where host = $1 and holder = $2`, [host, o.holder]);
  }
}

/** Extends this tick's lease on the host's row by leaseMs; a tick that lost the row stops here (lease_lost). */
async function renewLease(o: WorkerSweepOptions, host: string): Promise<void> {
  const kept = await o.sql.query(
    `update sweep_state set "leaseUntil" = now() + $3::bigint * interval '1 millisecond' where host = $1 and holder = $2 returning host`,
    [host, o.holder, o.leaseMs],
  );
  if (kept.length === 0) throw new SkytideError('lease_lost', `the Worker sweep of ${host} lost its row to another tick`, { host });
}

/** Whether a page's failure is the relay's (judgePageFailure: an outage, the tick fails and nothing is counted). */
async function relayIsDown(o: WorkerSweepOptions, host: string, err: unknown): Promise<boolean> {
  return (await judgePageFailure(o.fetch, host, err, AbortSignal.timeout(o.pageTimeoutMs))).kind === 'outage';
}

/**
 * The page at `cursor`, or, when it failed in itself for the `pageAttempts`-th tick in a row and the cursor is
 * numeric, the cursor past it (`skippedTo`, stored with the skipped range). Any other failure is thrown, failing the
 * tick: an outage counted nothing, a page's own failure was counted in the row first.
 */
async function pageOrSkip(o: WorkerSweepOptions, host: string, cursor: string | undefined): Promise<ListedPage & { skippedTo?: string }> {
  try {
    return await listReposPage(o.fetch, host, cursor, o.pageSize, AbortSignal.timeout(o.pageTimeoutMs));
  } catch (err) {
    // The page took up to pageTimeoutMs and the probe may take as long again: the lease is renewed between them, so
    // it need only outlast one request (the Worker's config asks SWEEP_LEASE_TTL_MS above SWEEP_PAGE_TIMEOUT_MS).
    await renewLease(o, host);
    if (await relayIsDown(o, host, err)) throw err;
    const iso = new Date(o.now()).toISOString();
    const counted = checkRows(await o.sql.query(
      `update sweep_state set failures = failures + 1, "updatedAt" = $3 where host = $1 and holder = $2 returning failures`,
      [host, o.holder, iso],
    ), { failures: 'number' });
    const failures = counted[0]?.failures;
    if (failures === undefined) throw new SkytideError('lease_lost', `the Worker sweep of ${host} lost its row to another tick`, { host });
    if (failures < o.pageAttempts || cursor === undefined || !/^\d+$/.test(cursor)) throw err;
    // Skip the whole page: the range is recorded, never silently lost, replacing the ranges it overlaps (this pass
    // listed up to it and goes on past it).
    const range = skippedRangeAt(cursor, o.pageSize);
    if (range === undefined) throw err;
    const next = String(range.to);
    const member = rangeMember(range);
    const recorded = await skippedOf(o, host);
    // The ranges recorded end to end up to this cursor are the pages skipped in a row before it: past the cap the
    // relay is broken, not its pages, and the tick stops here (failures stay counted: the next tick asks this page
    // once more, then stops again) rather than record range after range to the end of the listing, or past it for ever.
    const inARow = skippedInARowAt(recorded, cursor);
    const cap = o.maxSkippedInARow ?? DEFAULT_MAX_SKIPPED_IN_A_ROW;
    if (inARow >= cap) {
      throw new SkytideError('fetch_failed', `listRepos failed ${inARow + 1} pages in a row while answering from the start; stopped at cursor ${cursor} (not skipped), where the next tick resumes: ${describeError(err)}`, { host, cursor, skippedInARow: inARow });
    }
    const replaced = overlappedBy(recorded, range);
    const skipped = [...recorded.filter((m) => !replaced.includes(m)), member];
    const stored = await o.sql.query(
      `update sweep_state set cursor = $2, failures = 0, skipped = array(select json_array_elements_text($3::text::json)), "updatedAt" = $4,
         "leaseUntil" = now() + $6::bigint * interval '1 millisecond'
       where host = $1 and holder = $5 returning host`,
      [host, next, JSON.stringify(skipped), iso, o.holder, o.leaseMs],
    );
    if (stored.length === 0) throw new SkytideError('lease_lost', `the Worker sweep of ${host} lost its row to another tick`, { host });
    o.log.error('listRepos page skipped after repeated failures', { host, from: cursor, to: next, failures, err: describeError(err) });
    return { repos: [], skippedTo: next };
  }
}

/** The backfill entries of a listed page: its repos less those in sync and those the filters drop. */
async function entriesOf(o: WorkerSweepOptions, host: string, page: ListedPage): Promise<RepoBackfillEntry[]> {
  const synced = await syncedRepos(o.sql, page.repos.map((r) => r.did));
  return page.repos
    .filter((r) => {
      // Counted as the Redis sweeper counts them: a listed DID the filters drop.
      if (o.filter === undefined || keepsDid(o.filter, r.did)) return true;
      o.metrics.inc('skytide_filtered_total', { where: 'sweep', why: 'did' });
      return false;
    })
    .filter((r) => !listedInSync(r, synced.get(r.did), o.filter === undefined ? {} : { filter: o.filter }))
    .map((r) => ({
      did: r.did, host,
      ...(r.rev === undefined ? {} : { rev: r.rev }),
      ...(r.active === undefined ? {} : { active: r.active }),
      ...(r.status === undefined ? {} : { status: r.status }),
    }));
}

function stringsOf(value: unknown, column: string): string[] {
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new SkytideError('handler_error', `sweep_state.${column} is not a list of strings`, { column });
  }
  return value;
}

async function skippedOf(o: WorkerSweepOptions, host: string): Promise<string[]> {
  const rows = checkRows(await o.sql.query(`select to_json(skipped) as skipped from sweep_state where host = $1`, [host]), { skipped: 'json' });
  return stringsOf(rows[0]?.skipped ?? [], 'skipped');
}

/**
 * Retries the ranges in `retrying`, first first, one page each while the tick has pages left. A page that comes is
 * sent, and its range leaves `retrying` and `skipped` (its rest, when the page stopped inside it, stays in `skipped`);
 * one that fails in itself counts a failure against the row as any page does, failing the tick, and after
 * `pageAttempts` such ticks leaves `retrying` only; an outage fails the tick, counting nothing. A member that is no
 * range leaves both, logged.
 */
async function retryRanges(o: WorkerSweepOptions, host: string, tick: HostTick): Promise<void> {
  const lost = () => new SkytideError('lease_lost', `the Worker sweep of ${host} lost its row to another tick`, { host });
  while (tick.pages < o.pagesPerTick) {
    const rows = checkRows(await o.sql.query(`select to_json(retrying) as retrying from sweep_state where host = $1 and holder = $2`, [host, o.holder]), { retrying: 'json' });
    if (rows[0] === undefined) throw lost();
    const member = stringsOf(rows[0].retrying, 'retrying')[0];
    if (member === undefined) return;
    const iso = new Date(o.now()).toISOString();
    const settle = async (rest: string | undefined, drop: boolean, counts = { listed: 0, queued: 0 }) => {
      const done = await o.sql.query(
        `update sweep_state set retrying = array_remove(retrying, $3), failures = 0, "updatedAt" = $4,
           skipped = case when $5::boolean then array_remove(skipped, $3) || coalesce(array(select json_array_elements_text($6::text::json)), '{}') else skipped end,
           pages = pages + 1, listed = listed + $7, queued = queued + $8, "leaseUntil" = now() + $9::bigint * interval '1 millisecond'
         where host = $1 and holder = $2 returning host`,
        [host, o.holder, member, iso, drop, JSON.stringify(rest === undefined ? [] : [rest]), counts.listed, counts.queued, o.leaseMs],
      );
      if (done.length === 0) throw lost();
    };
    const range = parseSkippedRange(member);
    if (range === undefined) {
      await settle(undefined, true);
      o.log.error('skipped listRepos range that is no range dropped', { host, range: member });
      continue;
    }
    tick.pages++;
    let page: ListedPage;
    try {
      page = await listReposPage(o.fetch, host, String(range.from), o.pageSize, AbortSignal.timeout(o.pageTimeoutMs));
    } catch (err) {
      if (await relayIsDown(o, host, err)) throw err;
      const counted = checkRows(await o.sql.query(
        `update sweep_state set failures = failures + 1, "updatedAt" = $3 where host = $1 and holder = $2 returning failures`,
        [host, o.holder, iso],
      ), { failures: 'number' });
      const failures = counted[0]?.failures;
      if (failures === undefined) throw lost();
      if (failures < o.pageAttempts) throw err;
      await settle(undefined, false);
      tick.keptRanges = (tick.keptRanges ?? 0) + 1;
      o.log.error('skipped listRepos range failed again; kept for the next pass', { host, range: member, failures, err: describeError(err) });
      continue;
    }
    const entries = await entriesOf(o, host, page);
    await o.queue.send(entries);
    const rest = restAfterRetry(range, page);
    await settle(rest === undefined ? undefined : rangeMember(rest), true, { listed: page.repos.length, queued: entries.length });
    tick.listed += page.repos.length;
    tick.queued += entries.length;
    tick.retriedRanges = (tick.retriedRanges ?? 0) + 1;
    o.log.info('skipped listRepos range retried and sent', { host, range: member, listed: page.repos.length, queued: entries.length });
  }
}
