// The sweeper: pages com.atproto.sync.listRepos of one relay (or PDS) into repo_backfill, so every repo gets a
// verified backfill. The listRepos cursor is stored as `repo_backfill:cursor:<host>` in the same MULTI as the page's
// entries, and set to `!ingester-done` when the listing ends. Repos already synchronized at the listed rev are not
// queued. Above the high-water mark it waits for the backfill to drain. A page that keeps failing is skipped as a
// whole page when the cursor is numeric (its range is recorded in `repo_backfill:skipped:<host>` for a later retry);
// with an opaque cursor nothing can be skipped, so the sweep stops with an error and resumes from that page next time.
import type { Redis } from 'ioredis';
import type { Fetch, Log, Metrics, Sql } from '../../functions/ports.ts';
import { SkytideError, describeError } from '../../functions/errors.ts';
import { isValidDid } from '../../functions/atproto/syntax/did.ts';
import { hostKey, STREAMS, SWEEP_DONE, type KeySpace } from '../../adapters/redis/keys.ts';
import { appendBatch } from '../../adapters/redis/stream-writer.ts';
import { sleep } from '../sleep.ts';

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
  retryDelayMs?: number;
  log: Log;
  metrics: Metrics;
  signal: AbortSignal;
  /** Called after each page, for progress output. */
  onPage?: (progress: SweepProgress) => void;
}

export interface SweepProgress {
  pages: number;
  listed: number;
  queued: number;
  skippedInSync: number;
  skippedPages: number;
  done: boolean;
}

interface ListedRepo {
  did: string;
  rev?: string;
  active?: boolean;
  status?: string;
}

function baseUrl(host: string): string {
  const h = host.replace(/\/+$/, '');
  return /^https?:\/\//.test(h) ? h : `https://${h}`;
}

async function fetchPage(fetch: Fetch, host: string, cursor: string | undefined, limit: number): Promise<{ repos: ListedRepo[]; cursor?: string }> {
  const url = `${baseUrl(host)}/xrpc/com.atproto.sync.listRepos?limit=${limit}${cursor === undefined ? '' : `&cursor=${encodeURIComponent(cursor)}`}`;
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new SkytideError('fetch_failed', `listRepos: HTTP ${res.status}`, { host, cursor });
  const body = (await res.json()) as { repos?: unknown; cursor?: unknown };
  if (!Array.isArray(body.repos)) throw new SkytideError('fetch_failed', 'listRepos: no repos array', { host, cursor });
  const repos = (body.repos as ListedRepo[]).filter((r) => typeof r?.did === 'string' && isValidDid(r.did));
  return typeof body.cursor === 'string' && body.cursor.length > 0 ? { repos, cursor: body.cursor } : { repos };
}

export async function runSweep(o: SweepOptions): Promise<SweepProgress> {
  const pageSize = o.pageSize ?? 1000;
  const attempts = o.pageAttempts ?? 3;
  const cursorKey = o.keys.cursor(STREAMS.repoBackfill, o.host);
  const skippedKey = `${o.keys.stream(STREAMS.repoBackfill)}:skipped:${hostKey(o.host)}`;
  const stream = o.keys.stream(STREAMS.repoBackfill);
  const stored = await o.redis.get(cursorKey);
  // A finished sweep starts over; an interrupted one resumes where its last durable page ended.
  let cursor = stored === null || stored === SWEEP_DONE ? undefined : stored;
  const progress: SweepProgress = { pages: 0, listed: 0, queued: 0, skippedInSync: 0, skippedPages: 0, done: false };
  o.log.info('sweep started', { host: o.host, cursor: cursor ?? 'start' });

  while (!o.signal.aborted) {
    while ((await o.redis.xlen(stream)) >= o.highWaterMark && !o.signal.aborted) await sleep(1000, o.signal);
    let page: { repos: ListedRepo[]; cursor?: string } | undefined;
    for (let attempt = 1; attempt <= attempts && page === undefined && !o.signal.aborted; attempt++) {
      try {
        page = await fetchPage(o.fetch, o.host, cursor, pageSize);
      } catch (err) {
        o.log.warn('listRepos page failed', { host: o.host, cursor, attempt, err: describeError(err) });
        if (attempt < attempts) await sleep((o.retryDelayMs ?? 1000) * 2 ** (attempt - 1), o.signal);
      }
    }
    if (o.signal.aborted) break;
    if (page === undefined) {
      if (cursor === undefined || !/^\d+$/.test(cursor)) {
        throw new SkytideError('fetch_failed', `listRepos keeps failing at cursor ${cursor ?? '(start)'}; the sweep resumes there next time`, { host: o.host });
      }
      // Skip the whole page: the range is recorded, never silently lost.
      const next = String(Number(cursor) + pageSize);
      await o.redis.multi().sadd(skippedKey, `${cursor}-${next}`).set(cursorKey, next).exec();
      o.log.error('listRepos page skipped after repeated failures', { host: o.host, from: cursor, to: next });
      progress.skippedPages++;
      cursor = next;
      continue;
    }
    progress.pages++;
    progress.listed += page.repos.length;
    const dids = page.repos.map((r) => r.did);
    const synced = new Map(
      (await o.sql.query<{ did: string; rev: string | null }>(
        `select did, rev from repo_sync where status = 'synchronized' and did in (select json_array_elements_text($1::text::json))`,
        [JSON.stringify(dids)],
      )).map((r) => [r.did, r.rev]),
    );
    const entries = page.repos
      .filter((r) => {
        const inSync = r.rev !== undefined && synced.get(r.did) === r.rev;
        if (inSync) progress.skippedInSync++;
        return !inSync;
      })
      .map((r) => ({ stream, fields: { repo: JSON.stringify({ did: r.did, host: o.host, ...(r.rev === undefined ? {} : { rev: r.rev }), ...(r.active === undefined ? {} : { active: r.active }), ...(r.status === undefined ? {} : { status: r.status }) }) } }));
    progress.queued += entries.length;
    const nextCursor = page.cursor ?? SWEEP_DONE;
    await appendBatch(o.redis, { entries, cursor: { key: cursorKey, value: nextCursor } });
    o.onPage?.({ ...progress, done: page.cursor === undefined });
    o.log.info('sweep page queued', { host: o.host, page: progress.pages, listed: progress.listed, queued: progress.queued, inSync: progress.skippedInSync });
    if (page.cursor === undefined || page.repos.length === 0) {
      if (page.cursor !== undefined) await o.redis.set(cursorKey, SWEEP_DONE);
      progress.done = true;
      break;
    }
    cursor = page.cursor;
  }
  o.log.info('sweep finished', { host: o.host, ...progress });
  return progress;
}
