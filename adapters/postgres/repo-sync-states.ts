// How many repos are in each sync state (repo_sync), for `skytide status`, `GET /` and the skytide_repo_sync gauge.
// Counting reads every repo_sync row, so, as for the label states, it is cached: the first read waits for a count,
// later reads answer at once with the last count and its age, and a count older than REPO_SYNC_MAX_AGE_MS is redone
// in the background, at most one at a time. A scrape therefore costs nothing in the size of the network; the age is
// stated beside the numbers (`asOf`, `ageSeconds`, and the skytide_repo_sync_age_seconds gauge). Also the synchronized
// repos both sweepers (Redis and Worker) compare a listRepos page with (functions/listed-in-sync.ts).
import type { Clock, Log, SqlExecutor } from '../../functions/ports.ts';
import { createAgedCount } from './aged-count.ts';
import { checkRows } from '../../functions/sql-rows.ts';
import type { HeldRepo } from '../../functions/listed-in-sync.ts';

export const REPO_SYNC_MAX_AGE_MS = 60_000;

/**
 * Each of these DIDs that repo_sync holds: its rev, whether it is synchronized (and under which collections), and its account's stored state
 * (account_state's current change; none: active), in one statement, so a page costs one round trip however many DIDs
 * it lists (functions/listed-in-sync.ts decides what they mean).
 */
export async function syncedRepos(sql: SqlExecutor, dids: readonly string[]): Promise<Map<string, HeldRepo>> {
  const rows = checkRows(await sql.query(
    `select r.did, r.rev, r.status = 'synchronized' as synchronized, coalesce(a.active, true) as active, a.status, r.collections
     from repo_sync r left join account_state a on a.did = r.did
     where r.did = any($1::text[])`,
    [dids],
  ), { did: 'string', rev: 'string?', synchronized: 'boolean', active: 'boolean', status: 'string?', collections: 'string?' });
  return new Map(rows.map((r) => [r.did, { rev: r.rev, synchronized: r.synchronized, active: r.active, status: r.active ? null : r.status, collections: r.collections }]));
}
export const REPO_SYNC_STATES = ['synchronized', 'desynchronized', 'in-progress', 'deleted'] as const;

export interface RepoSyncStates {
  counts: Record<string, number>;
  /** When the count was taken (ISO 8601). */
  asOf: string;
  ageSeconds: number;
}

export interface RepoSyncStatesCache {
  read(): Promise<RepoSyncStates>;
}

export function createRepoSyncStatesCache(options: { sql: SqlExecutor; clock: Clock; log: Log; maxAgeMs?: number }): RepoSyncStatesCache {
  const cache = createAgedCount({
    what: 'repo sync',
    clock: options.clock,
    log: options.log,
    maxAgeMs: options.maxAgeMs ?? REPO_SYNC_MAX_AGE_MS,
    count: async () => {
      const rows = checkRows(await options.sql.query(`select status, count(*)::int as n from repo_sync group by status`), { status: 'string', n: 'number' });
      const counts: Record<string, number> = Object.fromEntries(REPO_SYNC_STATES.map((s) => [s, 0]));
      for (const row of rows) counts[row.status] = row.n;
      return counts;
    },
  });
  return {
    async read() {
      const { value, asOf, ageSeconds } = await cache.read();
      return { counts: { ...value }, asOf, ageSeconds };
    },
  };
}
