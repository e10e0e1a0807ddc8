// Liveness (the process answers) and readiness (every dependency answers). Orchestrators restart on the first and
// route traffic on the second, so /health never touches a dependency. Work that waits out someone else's outage (DIDs
// whose identity cannot be learned now) is listed in `degraded` while /ready stays 200: taking the instance out of
// service would not end the outage, and it is still doing its job.
import type { Hono } from 'hono';
import { describeError } from '../../../functions/errors.ts';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

/** Answers details while degraded, undefined when not. */
export interface DegradedCheck {
  name: string;
  check: () => Promise<Record<string, unknown> | undefined>;
}

export function registerHealthRoutes(app: Hono, checks: readonly ReadinessCheck[], degradedChecks: readonly DegradedCheck[] = []): void {
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/ready', async (c) => {
    const results = await Promise.all(
      checks.map(async ({ name, check }) => {
        try {
          await check();
          return { name, ok: true as const };
        } catch (err) {
          return { name, ok: false as const, error: describeError(err) };
        }
      }),
    );
    const ready = results.every((r) => r.ok);
    const degraded = (
      await Promise.all(
        degradedChecks.map(async ({ name, check }) => {
          try {
            const details = await check();
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
