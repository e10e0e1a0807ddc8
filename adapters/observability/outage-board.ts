// Which of our dependencies this process is waiting on, since when, and who waits. One board per process: every loop
// that waits out an outage (the stream consumers; the firehose adapter's identity waits) reports here, so that
// - the start and the end of an outage are logged once each (when the first waiter starts, when the last one stops),
//   never once per retry;
// - every wait is counted in skytide_outage_waits_total{dependency} (registered at zero for every dependency);
// - `/ready` (under `degraded`, through outagesDegradedCheck) and the status page show "waiting on <dependency> since
//   <time>", while the process stays ready: an outage is waited out, not a reason to take the instance out of service.
import type { Log, Metrics } from '../../functions/ports.ts';
import type { Dependency } from '../../functions/errors.ts';

export interface OutageState {
  dependency: Dependency;
  /** ISO 8601: when the first loop started waiting on it. */
  since: string;
  /** The loops waiting on it now (task or consumer names). */
  waiters: string[];
  /** Waits (backoff sleeps) since it started. */
  waits: number;
}

export interface OutageBoard {
  /** `waiter` is about to sleep because `dependency` is down (called once per wait: each one is counted). */
  waiting(waiter: string, dependency: Dependency, err?: string): void;
  /** `waiter` is no longer waiting on anything (its work went through, it gave up, or it stopped). */
  resumed(waiter: string): void;
  /** One line per dependency waited on: "waiting on postgres since 2025-01-01T00:00:00.000Z". */
  degraded(): string[];
  snapshot(): OutageState[];
}

export function createOutageBoard(o: { log: Log; metrics: Metrics; now?: () => number }): OutageBoard {
  const now = o.now ?? Date.now;
  const outages = new Map<Dependency, { since: number; waiters: Set<string>; waits: number }>();
  const waitingOn = new Map<string, Dependency>();

  const leave = (waiter: string): void => {
    const dependency = waitingOn.get(waiter);
    if (dependency === undefined) return;
    waitingOn.delete(waiter);
    const outage = outages.get(dependency);
    if (outage === undefined) return;
    outage.waiters.delete(waiter);
    if (outage.waiters.size > 0) return;
    outages.delete(dependency);
    o.log.info('outage ended', { dependency, since: new Date(outage.since).toISOString(), durationMs: now() - outage.since, waits: outage.waits });
  };

  return {
    waiting(waiter, dependency, err) {
      if (waitingOn.get(waiter) !== dependency) leave(waiter);
      waitingOn.set(waiter, dependency);
      let outage = outages.get(dependency);
      if (outage === undefined) {
        outage = { since: now(), waiters: new Set(), waits: 0 };
        outages.set(dependency, outage);
        o.log.warn('outage started', { dependency, waiter, since: new Date(outage.since).toISOString(), ...(err === undefined ? {} : { err }) });
      }
      outage.waiters.add(waiter);
      outage.waits++;
      o.metrics.inc('skytide_outage_waits_total', { dependency });
    },
    resumed: leave,
    degraded: () => [...outages].map(([dependency, outage]) => `waiting on ${dependency} since ${new Date(outage.since).toISOString()}`),
    snapshot: () =>
      [...outages].map(([dependency, outage]) => ({ dependency, since: new Date(outage.since).toISOString(), waiters: [...outage.waiters].sort(), waits: outage.waits })),
  };
}

/** The board as one of /ready's degraded checks (adapters/http/routes/health.ts): listed while anything waits. */
export function outagesDegradedCheck(board: OutageBoard): { name: string; check: () => Promise<Record<string, unknown> | undefined> } {
  return {
    name: 'outages',
    check: async () => {
      const outages = board.snapshot();
      return outages.length === 0 ? undefined : { waiting: board.degraded(), outages };
    },
  };
}
