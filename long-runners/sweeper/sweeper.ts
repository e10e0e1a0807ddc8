// Sweeps of every configured relay, for the three ways a sweep starts (`skytide sweep`, SWEEP_CRON, POST /sweep):
// one wiring, one lease rule. `claim` takes each host's lease up front (so a caller can answer "already running"
// before any work starts, and a host is never half-claimed by two callers); `run` sweeps the held hosts one by one,
// releasing each lease when its host is done, and releasing the rest if it is stopped first. A host's failure is
// reported with its cause and does not stop the other hosts.
import type { Redis } from 'ioredis';
import type { Fetch, Log, Metrics, Sql } from '../../functions/ports.ts';
import type { KeySpace } from '../../adapters/redis/keys.ts';
import type { KeptLease } from '../../adapters/redis/lease.ts';
import type { EventFilter } from '../../functions/event-filter.ts';
import { claimSweep, runSweep, type SweepLimits, type SweepProgress } from './sweep.ts';

export interface SweeperDeps {
  redis: Redis;
  keys: KeySpace;
  sql: Sql;
  /** listRepos goes to configured relays, not to hosts from the network: the plain fetch. */
  fetch: Fetch;
  hosts: readonly string[];
  highWaterMark: number;
  limits: SweepLimits;
  /** What is kept: DIDs it drops are not queued. Absent: every DID. */
  filter?: EventFilter;
  /** This process, as named in the leases it holds. */
  holder: string;
  log: Log;
  metrics: Metrics;
}

export interface HostsClaim {
  held: { host: string; lease: KeptLease }[];
  busy: { host: string; holder: string | null }[];
}

export type HostOutcome = { host: string; progress: SweepProgress } | { host: string; error: unknown };

export interface Sweeper {
  readonly hosts: readonly string[];
  claim(): Promise<HostsClaim>;
  /** `beat`: the supervisor's, when a supervised task sweeps (each page, each wait). */
  run(claim: HostsClaim, signal: AbortSignal, onPage?: (host: string) => ((p: SweepProgress) => void) | undefined, beat?: () => void): Promise<HostOutcome[]>;
  /** Lets go of leases a claim holds that `run` will never use. */
  release(claim: HostsClaim): Promise<void>;
}

export function createSweeper(deps: SweeperDeps): Sweeper {
  const release = async (claim: HostsClaim) => void (await Promise.all(claim.held.map((h) => h.lease.release())));
  return {
    hosts: deps.hosts,
    async claim() {
      const claim: HostsClaim = { held: [], busy: [] };
      try {
        for (const host of deps.hosts) {
          const got = await claimSweep(deps.redis, deps.keys, host, deps.holder, deps.limits.leaseTtlMs, deps.log);
          if (got.held !== undefined) claim.held.push({ host, lease: got.held });
          else claim.busy.push({ host, holder: got.holder });
        }
      } catch (err) {
        await release(claim);
        throw err;
      }
      return claim;
    },
    async run(claim, signal, onPage, beat) {
      const outcomes: HostOutcome[] = [];
      try {
        for (const { host, lease } of claim.held) {
          if (signal.aborted) break;
          try {
            const pageHook = onPage?.(host);
            const progress = await runSweep({
              redis: deps.redis, keys: deps.keys, sql: deps.sql, fetch: deps.fetch, host, highWaterMark: deps.highWaterMark,
              pageSize: deps.limits.pageSize, pageAttempts: deps.limits.pageAttempts, pageTimeoutMs: deps.limits.pageTimeoutMs,
              ...(deps.limits.maxSkippedInARow === undefined ? {} : { maxSkippedInARow: deps.limits.maxSkippedInARow }),
              lease, log: deps.log, metrics: deps.metrics, signal, beat, ...(deps.filter === undefined ? {} : { filter: deps.filter }), ...(pageHook === undefined ? {} : { onPage: pageHook }),
            });
            outcomes.push({ host, progress });
          } catch (error) {
            outcomes.push({ host, error });
          } finally {
            await lease.release();
          }
        }
      } finally {
        await release(claim);
      }
      return outcomes;
    },
    release,
  };
}
