// One page of com.atproto.sync.listRepos, read and checked at the edge: the one reader both sweepers use (the Redis
// one in long-runners/sweeper and the Worker's cron in adapters/runtime/worker-sweep.ts). Entries whose `did` is not
// a DID are dropped, and said so (`dropped`: the page still held them, so it is not the end of the listing; counted and
// logged by droppedEntries); `rev`, `active` and `status` are kept only when they have the lexicon's types. The body is
// read up to LIST_REPOS_MAX_BYTES and no further. A failed page is judged here too (judgePageFailure), for both
// sweepers: the relay, or the way to it, being down is waited out; only a page that is bad in itself counts toward
// skipping it. No failure tells which by itself: a 5xx or a dropped connection may be one page's alone (a relay that
// is up failing that page every time), and a 404, an HTML maintenance page or a refused TLS certificate may be the
// whole relay's (every request failing so). So every failure but a 429 asks the relay for another page
// (relayAnswers): one that answers is up, and the failure is the page's; one that fails too is down, and waited out.
import type { Fetch, Log, Metrics } from '../../functions/ports.ts';
import type { Reason } from '../../functions/reasons.ts';
import { SkytideError, dependencyErrorIn } from '../../functions/errors.ts';
import { classifyNetworkFailure } from '../../functions/network-failure.ts';
import { readBodyPrefix } from '../../functions/body-prefix.ts';
import { retryAfterMs } from '../../functions/retry-after.ts';
import { isValidDid } from '../../functions/atproto/syntax/did.ts';

export interface ListedRepo {
  did: string;
  rev?: string;
  active?: boolean;
  status?: string;
}

export interface ListedPage {
  repos: ListedRepo[];
  /** Absent on the last page. */
  cursor?: string;
  /**
   * Entries of the answer left out of `repos` for having no valid DID (absent: none). The answer still held them: a
   * page of only such entries is not the end of the listing.
   */
  dropped?: number;
  /** The first of them, for the log: its `did` (or the entry as JSON when it has none), cut to 100 characters. */
  droppedExample?: string;
}

/**
 * The most of a listRepos page read. A page of 1,000 entries (a DID, a head CID, a rev and a status each) is about
 * 200 KB; 8 MB leaves room for long did:web names and extra fields, and bounds what an endless body costs.
 */
export const LIST_REPOS_MAX_BYTES = 8 * 1024 * 1024;

/** A listRepos answer that is no page: an HTTP error (`status`, with its Retry-After) or a body that is not one. */
export class ListReposError extends SkytideError {
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, context: Record<string, unknown>, status?: number, retryAfterMs?: number) {
    super('fetch_failed', message, context);
    this.name = 'ListReposError';
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * What a sweep (either sweeper) met and worked around, counted in skytide_sweep_problems_total{problem}.
 * `repeated_cursor`: a page answered a cursor already used in this pass; followed, it would list the same page
 * forever, so the pass ends there. `relay_unavailable`: a wait for a relay whose page failed (in any way: refused,
 * dropped, DNS, a deadline, TLS, any HTTP error, a body that is no page) that did not answer another page either
 * (relayAnswers), or that answered 429; one per wait; no page is held to blame for it. `invalid_syntax` (the reason of functions/reasons.ts): a listed entry dropped for
 * having no valid DID (missing, not a string, or failing the DID syntax), one per entry; never queued.
 */
export const SWEEP_PROBLEMS = ['repeated_cursor', 'relay_unavailable', 'invalid_syntax' satisfies Reason] as const;
export type SweepProblem = (typeof SWEEP_PROBLEMS)[number];

/** Where a pass goes after a page: `next` (undefined: the pass ends), and whether that is because the relay looped. */
export interface PassStep {
  next: string | undefined;
  looped: boolean;
}

/** How many entries the answer held: its repos and those dropped for no valid DID. */
export function entriesIn(page: ListedPage): number {
  return page.repos.length + (page.dropped ?? 0);
}

/**
 * Follows a pass's cursors, for both sweepers: `start` is where it began (a stored cursor), then `after(page)` gives
 * where it goes next. A page with no entries (those dropped for no valid DID count: entriesIn) or no cursor ends the
 * pass, as the lexicon says the listing ends; so does a cursor the pass already used, which followed would list the
 * same pages forever: logged and counted (skytide_sweep_problems_total{problem="repeated_cursor"}). Bounded: past
 * `max` cursors it starts afresh, so a pass of millions of pages keeps at most `max` strings (a loop shorter than that
 * is still seen).
 */
export function passCursors(o: { host: string; start: string | undefined; log: Log; metrics: Metrics }, max = 10_000): { after(page: ListedPage, from: string | undefined): PassStep } {
  const seen = new Set<string>();
  const repeated = (cursor: string) => {
    if (seen.has(cursor)) return true;
    if (seen.size >= max) seen.clear();
    seen.add(cursor);
    return false;
  };
  if (o.start !== undefined) repeated(o.start);
  return {
    after(page, from) {
      const next = entriesIn(page) === 0 ? undefined : page.cursor;
      if (next === undefined || !repeated(next)) return { next, looped: false };
      o.log.error('listRepos sent the sweep back to a cursor it had used; the pass ends here', { host: o.host, from: from ?? 'start', cursor: next });
      o.metrics.inc('skytide_sweep_problems_total', { problem: 'repeated_cursor' });
      return { next: undefined, looped: true };
    },
  };
}

/** A relay or PDS host as configured (with or without a scheme) to its XRPC base URL. */
export function xrpcBase(host: string): string {
  const h = host.replace(/\/+$/, '');
  return /^https?:\/\//.test(h) ? h : `https://${h}`;
}

/**
 * Counts, for one sweep, the entries its pages dropped for no valid DID (skytide_sweep_problems_total{problem=
 * "invalid_syntax"}, one per entry) and logs them sampled: the 1st, 10th, 100th... page with any, with how many and one
 * of them, so a relay listing millions of such entries logs a handful of lines.
 */
export function droppedEntries(o: { host: string; log: Log; metrics: Metrics }): (page: ListedPage, from: string | undefined) => void {
  let pages = 0;
  return (page, from) => {
    const dropped = page.dropped ?? 0;
    if (dropped === 0) return;
    pages++;
    o.metrics.inc('skytide_sweep_problems_total', { problem: 'invalid_syntax' }, dropped);
    if (Number.isInteger(Math.log10(pages))) {
      o.log.warn('listRepos entries without a valid DID dropped', { host: o.host, cursor: from ?? 'start', dropped, example: page.droppedExample, pagesWithDrops: pages });
    }
  };
}

/** What `value` is, in at most 100 characters, for a log line. */
function example(value: unknown): string {
  const v = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)['did'] : undefined;
  const text = typeof v === 'string' ? v : (JSON.stringify(value) ?? String(value));
  return text.length > 100 ? `${text.slice(0, 100)}… (${text.length} characters)` : text;
}

function listedRepo(value: unknown): ListedRepo | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v['did'] !== 'string' || !isValidDid(v['did'])) return undefined;
  return {
    did: v['did'],
    ...(typeof v['rev'] === 'string' ? { rev: v['rev'] } : {}),
    ...(typeof v['active'] === 'boolean' ? { active: v['active'] } : {}),
    ...(typeof v['status'] === 'string' ? { status: v['status'] } : {}),
  };
}

export async function listReposPage(fetch: Fetch, host: string, cursor: string | undefined, limit: number, signal: AbortSignal): Promise<ListedPage> {
  const url = `${xrpcBase(host)}/xrpc/com.atproto.sync.listRepos?limit=${limit}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
  const res = await fetch(url, { signal });
  if (!res.ok) {
    // The error body is not read: let the connection go.
    await res.body?.cancel().catch(() => {});
    throw new ListReposError(`listRepos: HTTP ${res.status}`, { host, cursor }, res.status, retryAfterMs(res.headers.get('retry-after'), Date.now()));
  }
  const { bytes, whole } = await readBodyPrefix(res, LIST_REPOS_MAX_BYTES);
  if (!whole) throw new ListReposError(`listRepos: page over ${LIST_REPOS_MAX_BYTES} bytes`, { host, cursor });
  let body: { repos?: unknown; cursor?: unknown };
  try {
    body = JSON.parse(new TextDecoder().decode(bytes)) as { repos?: unknown; cursor?: unknown };
  } catch {
    throw new ListReposError('listRepos: the page is not JSON', { host, cursor });
  }
  if (typeof body !== 'object' || body === null || !Array.isArray(body.repos)) throw new ListReposError('listRepos: no repos array', { host, cursor });
  const repos: ListedRepo[] = [];
  let dropped = 0;
  let droppedExample = '';
  for (const entry of body.repos as unknown[]) {
    const repo = listedRepo(entry);
    if (repo !== undefined) repos.push(repo);
    else if (dropped++ === 0) droppedExample = example(entry);
  }
  return {
    repos,
    ...(typeof body.cursor === 'string' && body.cursor.length > 0 ? { cursor: body.cursor } : {}),
    ...(dropped > 0 ? { dropped, droppedExample } : {}),
  };
}

/**
 * Whether the relay answers listRepos at all: true when it lists a page of one from the start (no cursor), false when
 * that fails too (in any way). Asked whenever a page failed (but for a 429): a relay that answers is up, and the
 * failure is that page's own (counted toward skipping it); one that does not is down, and waited out. A relay that
 * cannot list its very first entry answers neither, and is waited out.
 */
export async function relayAnswers(fetch: Fetch, host: string, signal: AbortSignal): Promise<boolean> {
  return listReposPage(fetch, host, undefined, 1, signal).then(() => true, () => false);
}

/**
 * What a failed page looks like, from the failure alone. `outage`: what the relay, or the way to it, being down or
 * overloaded gives (refused or dropped connections, DNS, a deadline, 5xx, 408, 429). `bad_page`: what a page bad in
 * itself gives (another 4xx, a body that is no page, a failure we do not recognise). `throttled` (429): the relay
 * asked us to slow down; it is up, and no page is to blame. Neither is a verdict but the 429's: a relay that is up may
 * fail one page 500 every time, and a relay that is down may answer every request 404, an HTML page or a refused TLS
 * certificate. judgePageFailure, which both sweepers use, asks the relay before calling any other failure either.
 */
export function judgeListFailure(err: unknown): { kind: 'outage'; retryAfterMs?: number; throttled?: true } | { kind: 'bad_page' } {
  if (err instanceof ListReposError) {
    const status = err.status;
    if (status === undefined) return { kind: 'bad_page' };
    if (status >= 500 || status === 408 || status === 429) {
      return { kind: 'outage', ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }), ...(status === 429 ? { throttled: true as const } : {}) };
    }
    return { kind: 'bad_page' };
  }
  if (dependencyErrorIn(err) !== undefined) return { kind: 'outage' };
  // The relay is configuration, not an input: a name of it that does not resolve is waited out as DNS failing.
  return classifyNetworkFailure(err).kind === 'unknown' ? { kind: 'bad_page' } : { kind: 'outage' };
}

/**
 * What a failed page means for a sweep (both sweepers): `outage`, waited out for as long as it lasts and never held
 * against the page (the relay is down: a 429, or any other failure while relayAnswers fails too: a relay answering
 * every request 404 or an HTML maintenance page, or behind a TLS certificate we refuse, is down, not a run of bad
 * pages); or `bad_page`, counted toward skipping it: failing while the relay answers another page. `relayUp`: the
 * failure was one an outage gives (5xx, 408, a deadline, a dropped connection), the page's own only because the relay
 * answered meanwhile (a relay that is up answering that page 500 every time, which waited out held the sweep forever).
 */
export async function judgePageFailure(fetch: Fetch, host: string, err: unknown, signal: AbortSignal): Promise<{ kind: 'outage'; retryAfterMs?: number } | { kind: 'bad_page'; relayUp: boolean }> {
  const failure = judgeListFailure(err);
  if (failure.kind === 'outage' && failure.throttled === true) return failure.retryAfterMs === undefined ? { kind: 'outage' } : { kind: 'outage', retryAfterMs: failure.retryAfterMs };
  if (await relayAnswers(fetch, host, signal)) return { kind: 'bad_page', relayUp: failure.kind === 'outage' };
  return failure.kind === 'outage' && failure.retryAfterMs !== undefined ? { kind: 'outage', retryAfterMs: failure.retryAfterMs } : { kind: 'outage' };
}
