// How many repos are in each sync state (repo_sync), for `skytide status`, `GET /` and the skytide_repo_sync gauge.
// Counting reads every repo_sync row, so, as for the label states, it is cached: the first read waits for a count,
// later reads answer at once with the last count and its age, and a count older than REPO_SYNC_MAX_AGE_MS is redone
// in the background, at most one at a time. A scrape therefore costs nothing in the size of the network; the age is
// stated beside the numbers (`asOf`, `ageSeconds`, and the skytide_repo_sync_age_seconds gauge).
import type { Clock, Log, SqlExecutor } from '../../functions/ports.ts';
import { describeError } from '../../functions/errors.ts';

export const REPO_SYNC_MAX_AGE_MS = 60_000;
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
  const maxAge = options.maxAgeMs ?? REPO_SYNC_MAX_AGE_MS;
  let last: { counts: Record<string, number>; at: number } | undefined;
  let inflight: Promise<{ counts: Record<string, number>; at: number }> | undefined;
  const count = () =>
    (inflight ??= (async () => {
      const at = options.clock.now();
      const rows = await options.sql.query<{ status: string; n: number }>(`select status, count(*)::int as n from repo_sync group by status`);
      const counts: Record<string, number> = Object.fromEntries(REPO_SYNC_STATES.map((s) => [s, 0]));
      for (const row of rows) counts[row.status] = row.n;
      return (last = { counts, at });
    })().finally(() => (inflight = undefined)));
  const view = (v: { counts: Record<string, number>; at: number }): RepoSyncStates => ({
    counts: { ...v.counts },
    asOf: new Date(v.at).toISOString(),
    ageSeconds: Math.max(0, Math.round((options.clock.now() - v.at) / 1000)),
  });
  return {
    async read() {
      if (last === undefined) return view(await count());
      if (options.clock.now() - last.at > maxAge) {
        count().catch((err) => options.log.warn('repo sync count failed', { err: describeError(err) }));
      }
      return view(last);
    },
  };
}
