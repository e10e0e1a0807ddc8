// The last rev and MST root seen per repo on the live stream, for continuity checks (a commit's prevData must be the
// root we saw last). Kept in Redis (`repo_state:<did>`, expiring after a week without activity, so the set stays the
// size of the active network) and written in the same MULTI as the events and the cursor; a bounded in-process map
// only saves reads, it is never the truth. A repo with no state yet is accepted and starts its chain.
import type { Redis } from 'ioredis';

export interface RepoState {
  rev: string;
  data?: string;
}

export interface RepoStateStore {
  get(did: string): Promise<RepoState | undefined>;
  /** Records the new state in memory and returns the SET to add to the batch's MULTI. */
  stage(did: string, state: RepoState): { key: string; value: string; ttlMs: number };
}

export function createRepoStateStore(redis: Redis, prefix: string, options: { ttlMs?: number; cacheSize?: number } = {}): RepoStateStore {
  const ttlMs = options.ttlMs ?? 7 * 24 * 3600_000;
  const cacheSize = options.cacheSize ?? 100_000;
  const cache = new Map<string, RepoState>();
  const key = (did: string) => `${prefix}repo_state:${did}`;
  const remember = (did: string, state: RepoState) => {
    cache.delete(did);
    cache.set(did, state);
    if (cache.size > cacheSize) cache.delete(cache.keys().next().value as string);
  };
  return {
    async get(did) {
      const hit = cache.get(did);
      if (hit !== undefined) return hit;
      const raw = await redis.get(key(did));
      if (raw === null) return undefined;
      try {
        const state = JSON.parse(raw) as RepoState;
        remember(did, state);
        return state;
      } catch {
        return undefined;
      }
    },
    stage(did, state) {
      remember(did, state);
      return { key: key(did), value: JSON.stringify(state), ttlMs };
    },
  };
}
