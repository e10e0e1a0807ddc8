// Liveness (the process answers) and readiness (every dependency answers). Orchestrators restart on the first and
// route traffic on the second, so /health never touches a dependency. Work that waits out someone else's outage (DIDs
// whose identity cannot be learned now) is listed in `degraded` while /ready stays 200: taking the instance out of
// service would not end the outage, and it is still doing its job.
import type { Hono } from 'hono';
import { describeError } from '../../../functions/errors.ts';
import { OPERATIONS_DEADLINE_MS, shareInFlight, withDeadline } from '../deadline.ts';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/** Answers details while degraded, undefined when not. */
export interface DegradedCheck {
  name: string;
  check: () => Promise<Record<string, unknown> | undefined>;
}

export type CheckResult = { name: string; ok: true } | { name: string; ok: false; error: string };

export interface Readiness {
  /** Runs every check (each bounded by OPERATIONS_DEADLINE_MS); never throws. */
  evaluate(): Promise<{ ready: boolean; results: CheckResult[] }>;
}

/**
 * The readiness verdict /ready answers, also taken before each scrape so the `skytide_ready` gauge is current whether
 * or not anyone polls /ready; `onVerdict` hears every verdict.
 */
export function createReadiness(checks: readonly ReadinessCheck[], onVerdict?: (ready: boolean) => void): Readiness {
  // Each check is bounded: a dependency that does not answer (the Redis client waits for a reconnect) is a failing
  // check, named in the 503, not a /ready that never answers. One probe per check in flight, however often polled.
  const bounded = checks.map(({ name, check }) => ({ name, check: shareInFlight(check) }));
  return {
    async evaluate() {
      const results = await Promise.all(
        bounded.map(async ({ name, check }): Promise<CheckResult> => {
          try {
            await withDeadline(check(), OPERATIONS_DEADLINE_MS, name);
            return { name, ok: true };
          } catch (err) {
            return { name, ok: false, error: describeError(err) };
          }
        }),
      );
      const ready = results.every((r) => r.ok);
      onVerdict?.(ready);
      return { ready, results };
    },
  };
}

export function registerHealthRoutes(app: Hono, readiness: Readiness, degradedChecks: readonly DegradedCheck[] = []): void {
  const boundedDegraded = degradedChecks.map(({ name, check }) => ({ name, check: shareInFlight(check) }));
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const { ready, results } = await readiness.evaluate();
    const degraded = (
      await Promise.all(
        boundedDegraded.map(async ({ name, check }) => {
          try {
            const details = await withDeadline(check(), OPERATIONS_DEADLINE_MS, name);
            return details === undefined ? undefined : { name, ...details };
          } catch (err) {
            return { name, error: describeError(err) };
          }
        }),
      )
    ).filter((d) => d !== undefined);
    return c.json({ status: ready ? 'ready' : 'not_ready', checks: results, degraded }, ready ? 200 : 503);
  });
}
